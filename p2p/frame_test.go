package p2p

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, body := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{7}, 70000)} {
		var buf bytes.Buffer
		if err := writeFrame(&buf, body); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(&buf, len(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(body), len(got), err)
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, 10, ErrFrame},
		{"short header", []byte{0, 0, 1}, 10, ErrFrame},
		{"short body", []byte{0, 0, 0, 5, 'a', 'b'}, 10, ErrFrame},
		{"over limit", []byte{0, 0, 0, 11}, 10, errTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, 10, errTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := readFrame(bytes.NewReader(tc.in), tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeResponse(&buf, []byte("blocks"), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := readResponse(&buf, 100); err != nil || string(got) != "blocks" {
		t.Fatalf("ok response: %q, %v", got, err)
	}
	buf.Reset()
	_ = writeResponse(&buf, nil, errors.New("no such height"))
	if _, err := readResponse(&buf, 100); !errors.Is(err, ErrRemote) {
		t.Fatalf("error response: %v", err)
	}
	buf.Reset()
	_ = writeResponse(&buf, nil, ErrBusy)
	if _, err := readResponse(&buf, 100); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy response: %v", err)
	}
	buf.Reset()
	_ = writeResponse(&buf, make([]byte, 101), nil)
	if _, err := readResponse(&buf, 100); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("oversize response: %v", err)
	}
	buf.Reset()
	_ = writeResponse(&buf, nil, errors.New(string(bytes.Repeat([]byte("e"), 5000))))
	if _, err := readResponse(&buf, 100); !errors.Is(err, ErrRemote) {
		t.Fatalf("long error message is clipped, not refused: %v", err)
	}
	if _, err := readResponse(bytes.NewReader([]byte{9, 0, 0, 0, 0}), 100); !errors.Is(err, ErrFrame) {
		t.Fatalf("unknown status: %v", err)
	}
}

// FuzzReadResponse checks that no input panics the response decoder or
// makes it return more than the limit.
func FuzzReadResponse(f *testing.F) {
	var ok, bad bytes.Buffer
	_ = writeResponse(&ok, []byte("payload"), nil)
	_ = writeResponse(&bad, nil, errors.New("refused"))
	f.Add(ok.Bytes())
	f.Add(bad.Bytes())
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 4, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 64
		got, err := readResponse(bytes.NewReader(in), limit)
		if err == nil && len(got) > limit {
			t.Fatalf("returned %d bytes over the limit %d", len(got), limit)
		}
		if err != nil && got != nil {
			t.Fatal("returned data with an error")
		}
	})
}

// FuzzReadFrame checks the frame decoder against a reference: it returns
// exactly the declared bytes when they are present and within the limit.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c'}, 10)
	f.Add([]byte{0, 0, 0, 3, 'a'}, 10)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 10)
	f.Add([]byte{0, 0, 0, 0}, 0)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 0 || max > 1<<20 {
			return
		}
		r := bytes.NewReader(in)
		got, err := readFrame(r, max)
		if len(in) < 4 {
			if err == nil {
				t.Fatal("accepted a short header")
			}
			return
		}
		size := int(uint32(in[0])<<24 | uint32(in[1])<<16 | uint32(in[2])<<8 | uint32(in[3]))
		switch {
		case size > max:
			if !errors.Is(err, errTooLarge) {
				t.Fatalf("size %d over max %d: %v", size, max, err)
			}
		case size > len(in)-4:
			if !errors.Is(err, ErrFrame) || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Fatalf("truncated body: %v", err)
			}
		default:
			if err != nil || !bytes.Equal(got, in[4:4+size]) {
				t.Fatalf("got %q, %v; want %q", got, err, in[4:4+size])
			}
		}
	})
}

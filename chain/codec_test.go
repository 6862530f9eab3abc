package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestReadingRoundTrip(t *testing.T) {
	r := validReading(t, 3)
	got, err := DecodeReading(r.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), r.Encode()) {
		t.Fatalf("round trip changed the encoding")
	}
	if err := got.VerifySignature(testChainID); err != nil {
		t.Fatalf("signature after round trip: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := validReading(t, 1).Encode()
	// A reading whose device key is 31 bytes: field 1 with a 31-byte string.
	short := bytes.Replace(good, append([]byte{0x01, 0x58, 0x20}, good[4:36]...), append([]byte{0x01, 0x58, 0x1f}, good[4:35]...), 1)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"trailing byte", append(append([]byte{}, good...), 0x00)},
		{"truncated", good[:len(good)-1]},
		{"unknown field", withExtraField(t, good)},
		{"short key", short},
		{"not a map", []byte{0x80}},
		{"indefinite length map", append([]byte{0xbf}, append(good[1:], 0xff)...)},
		{"non-shortest integer", bytes.Replace(good, []byte{0x02, 0x01}, []byte{0x02, 0x18, 0x01}, 1)},
		{"tag", append([]byte{0xc0}, good...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeReading(tc.data)
			if err == nil {
				t.Fatalf("decoded %x", tc.data)
			}
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v wraps neither ErrDecode nor ErrInvalid", err)
			}
		})
	}
}

// withExtraField appends field 12 (unknown to Reading) to an encoded map of
// 11 or 12 pairs by rewriting its header.
func withExtraField(t *testing.T, enc []byte) []byte {
	t.Helper()
	if enc[0] < 0xa0 || enc[0] > 0xb6 {
		t.Fatalf("unexpected map header %x", enc[0])
	}
	out := append([]byte{enc[0] + 1}, enc[1:]...)
	// Key 12 sorts after 11 and before 15 (the signature), but Decode
	// rejects unknown fields before canonical order matters.
	return append(out, 0x0c, 0x00)
}

func TestDecodeRejectsOversizeList(t *testing.T) {
	// A block claiming a huge readings array: header 0x9a (4-byte length).
	data, _ := hex.DecodeString("a1029a7fffffff")
	var b Block
	if err := Decode(data, &b); err == nil {
		t.Fatal("decoded an oversize list")
	}
}

func TestEncodingIsStable(t *testing.T) {
	// The canonical encoding of a fixed reading is pinned: changing it
	// changes every hash and signature on existing chains.
	k, err := NewPrivateKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &Reading{Device: k.Public(), Seq: 1, Time: 1000, FlowRate: 5}
	got := hex.EncodeToString(r.SigningBytes())
	want := "aa0158203b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da290201031903e80405050006000700080009000a00"
	if got != want {
		t.Fatalf("signing bytes changed:\n got %s\nwant %s", got, want)
	}
}

func TestSignatureDomains(t *testing.T) {
	k := testKey(t, "v")
	msg := []byte("same bytes")
	sig := k.Sign(DomainVote, testChainID, msg)
	if err := Verify(k.Public(), DomainVote, testChainID, msg, sig); err != nil {
		t.Fatalf("own domain: %v", err)
	}
	if err := Verify(k.Public(), DomainTx, testChainID, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("vote signature accepted as tx: %v", err)
	}
	if err := Verify(k.Public(), DomainVote, "other-chain", msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature accepted on another chain: %v", err)
	}
	// The chain id is length-prefixed: moving a byte between the chain id
	// and the message must not verify.
	if err := Verify(k.Public(), DomainVote, testChainID+"s", msg[1:], sig); err == nil {
		t.Fatal("ambiguous concatenation verified")
	}
}

func TestTamperedReadingFailsSignature(t *testing.T) {
	r := validReading(t, 1)
	r.Volume++
	if err := r.VerifySignature(testChainID); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered reading verified: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tx := validTx(t, 4)
	raw, err := jsonMarshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	var back Tx
	if err := jsonUnmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != tx.Hash() {
		t.Fatalf("JSON round trip changed the tx: %s", raw)
	}
	if err := back.VerifySignature(testChainID); err != nil {
		t.Fatal(err)
	}
}

package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frames on request/response streams (and the hello handshake) are a 4-byte
// big-endian length followed by that many bytes. A response frame starts
// with a status byte: statusOK and the payload, or statusError and a UTF-8
// error message of at most maxErrorLen bytes.
const (
	statusOK    byte = 0
	statusError byte = 1
	maxErrorLen      = 1024
)

func writeFrame(w io.Writer, data []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// readFrame reads one frame of at most max bytes. It refuses a longer frame
// from its header alone, before allocating.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: length: %w", ErrFrame, err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if uint64(size) > uint64(max) {
		return nil, fmt.Errorf("%w: length %d exceeds the limit %d", errTooLarge, size, max)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: body of %d bytes: %w", ErrFrame, size, err)
	}
	return buf, nil
}

// errTooLarge is what readFrame wraps for an oversize frame; callers rewrap
// it as ErrRequestTooLarge or ErrResponseTooLarge.
var errTooLarge = errors.New("frame too large")

func writeResponse(w io.Writer, body []byte, herr error) error {
	if herr != nil {
		msg := herr.Error()
		if len(msg) > maxErrorLen {
			msg = msg[:maxErrorLen]
		}
		if _, err := w.Write([]byte{statusError}); err != nil {
			return err
		}
		return writeFrame(w, []byte(msg))
	}
	if _, err := w.Write([]byte{statusOK}); err != nil {
		return err
	}
	return writeFrame(w, body)
}

// readResponse reads a response of at most max payload bytes. A remote error
// is returned wrapping ErrRemote, with ErrBusy added when the peer was busy.
func readResponse(r io.Reader, max int) ([]byte, error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return nil, fmt.Errorf("%w: status: %w", ErrFrame, err)
	}
	switch status[0] {
	case statusOK:
		body, err := readFrame(r, max)
		if errors.Is(err, errTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrResponseTooLarge, err)
		}
		return body, err
	case statusError:
		msg, err := readFrame(r, maxErrorLen)
		if err != nil {
			return nil, err
		}
		if string(msg) == ErrBusy.Error() {
			return nil, fmt.Errorf("%w: %w", ErrRemote, ErrBusy)
		}
		return nil, fmt.Errorf("%w: %q", ErrRemote, msg)
	default:
		return nil, fmt.Errorf("%w: unknown status %d", ErrFrame, status[0])
	}
}

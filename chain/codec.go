package chain

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Size limits enforced by Decode. They bound the memory a hostile peer or
// client can make a node allocate with one message.
const (
	// MaxMessageSize is the largest encoded value Decode accepts.
	MaxMessageSize = 16 << 20
	// MaxListLen is the longest CBOR array Decode accepts.
	MaxListLen  = 1 << 17
	maxMapPairs = 64
	maxNesting  = 16
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxArrayElements:  MaxListLen,
		MaxMapPairs:       maxMapPairs,
		MaxNestedLevels:   maxNesting,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrDecode is returned (wrapped) by Decode for every input it rejects.
var ErrDecode = errors.New("invalid encoding")

// Encode returns the canonical encoding of v. It fails only for values that
// cannot be encoded at all, which is a programming error for the types of
// this package.
func Encode(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// MustEncode is Encode for values of this package's types, which always
// encode.
func MustEncode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chain: encode %T: %v", v, err))
	}
	return b
}

// Decode decodes the canonical encoding of a value into v, a non-nil pointer.
// It accepts exactly one data item in its canonical form: trailing bytes,
// unknown or duplicate fields, oversize lists, indefinite lengths, tags and
// non-canonical encodings (non-shortest integers, unsorted maps) are errors
// wrapping ErrDecode. It never panics.
func Decode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDecode, r)
		}
	}()
	if len(data) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes exceed the limit of %d", ErrDecode, len(data), MaxMessageSize)
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	// Re-encoding must give back the input: this rejects every non-canonical
	// form, so that a value has a single encoding and a single hash.
	again, err := encMode.Marshal(reflect.ValueOf(v).Elem().Interface())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if !bytes.Equal(again, data) {
		return fmt.Errorf("%w: not in canonical form", ErrDecode)
	}
	return nil
}

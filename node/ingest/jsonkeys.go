package ingest

import (
	"bytes"
	"encoding/json"
)

// maxKeyDepth is where walkKeys stops looking: encoding/json refuses
// documents nested deeper than 10,000 levels itself, and no reading or
// SenML record nests more than two.
const maxKeyDepth = 64

// objectKey is an object key met by walkKeys.
type objectKey struct {
	elem  int    // index of the element of the top-level array it is in; 0 in a top-level object
	depth int    // 1 for keys of the top-level object, 2 for those of an object in the top-level array, ...
	name  []byte // as encoding/json unquotes it
	// dup is set when the same object already has a key that encoding/json
	// would take for this one: equal under Unicode case folding, as
	// encoding/json matches keys to fields.
	dup bool
}

// walkKeys calls visit for every object key of body, in order, until visit
// returns an error, which walkKeys returns. It does not validate: on a body
// that is not JSON it stops early without an error, leaving the decoder to
// word the syntax error.
//
// encoding/json keeps the last of two equal keys, where another parser may
// keep the first or refuse: a reading whose signed value is not the one
// every parser reads must be refused, and this walk is what finds it. It
// costs one pass over the bytes and no allocation for keys without escapes
// (each object's keys are compared pairwise; objects here have a dozen).
func walkKeys(body []byte, visit func(objectKey) error) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    [][]byte
	}
	var stack []frame
	elem := -1
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '{', '[':
			if len(stack) >= maxKeyDepth {
				return nil
			}
			if len(stack) == 1 && !stack[0].object {
				elem++
			}
			if len(stack) < cap(stack) {
				stack = stack[:len(stack)+1]
				f := &stack[len(stack)-1]
				f.object, f.wantKey, f.keys = c == '{', c == '{', f.keys[:0]
			} else {
				stack = append(stack, frame{object: c == '{', wantKey: c == '{'})
			}
			i++
		case '}', ']':
			if len(stack) == 0 {
				return nil
			}
			stack = stack[:len(stack)-1]
			i++
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
			i++
		case '"':
			end, escaped := stringEnd(body, i)
			if end < 0 {
				return nil
			}
			n := len(stack)
			if n == 0 || !stack[n-1].object || !stack[n-1].wantKey {
				i = end
				continue
			}
			top := &stack[n-1]
			top.wantKey = false
			name := body[i+1 : end-1]
			if escaped {
				var s string
				if json.Unmarshal(body[i:end], &s) != nil {
					return nil
				}
				name = []byte(s)
			}
			k := objectKey{elem: max(elem, 0), depth: n, name: name}
			for _, prev := range top.keys {
				if bytes.EqualFold(prev, name) {
					k.dup = true
					break
				}
			}
			if err := visit(k); err != nil {
				return err
			}
			top.keys = append(top.keys, name)
			i = end
		default:
			i++
		}
	}
	return nil
}

// stringEnd returns the index just after the string that starts with the
// quote at body[start], and whether it has a backslash escape; -1 if it
// does not end.
func stringEnd(body []byte, start int) (end int, escaped bool) {
	for i := start + 1; i < len(body); {
		j := bytes.IndexAny(body[i:], `"\`)
		if j < 0 {
			return -1, escaped
		}
		i += j
		if body[i] == '"' {
			return i + 1, escaped
		}
		escaped = true
		i += 2 // the backslash and the character it escapes
	}
	return -1, escaped
}

package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrMalformed is wrapped by every error for a file that is not a
	// well-formed genesis document: bad JSON, wrong types, unknown or
	// duplicate fields, trailing data.
	ErrMalformed = errors.New("malformed genesis")
	// ErrInvalid is wrapped by every error of Validate: the document is well
	// formed but a value in it is wrong.
	ErrInvalid = errors.New("invalid genesis")
)

// FieldError names the field of a genesis that is wrong, why, and what to
// do about it. It wraps ErrInvalid.
type FieldError struct {
	Field  string // JSON path, such as "validators[2].node_key"
	Reason string
	Fix    string // what to do, may be empty
}

func (e *FieldError) Error() string {
	if e.Fix == "" {
		return e.Field + ": " + e.Reason
	}
	return e.Field + ": " + e.Reason + "; " + e.Fix
}

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// position turns a byte offset into "line L, column C" for people.
func position(data []byte, offset int64) string {
	if offset < 0 {
		offset = 0
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// describeJSONError rewrites an encoding/json error so that it names the
// place in the file and the field, and wraps ErrMalformed.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: %s: %v", ErrMalformed, position(data, syn.Offset), syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Errorf("%w: %s at %s: want %s, got JSON %s", ErrMalformed, field, position(data, typ.Offset), typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		where := ""
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			where = locateKey(data, unq)
		}
		if name == `"heartbeat"` {
			// The field of genesis files made before the idle interval.
			return fmt.Errorf("%w: unknown field %s%s; it was replaced by params.idle_interval (how long an idle lane stays quiet, such as \"10m\")", ErrMalformed, name, where)
		}
		return fmt.Errorf("%w: unknown field %s%s; check its spelling (fields are lower_case, as in the genesis written by waterchain testnet)", ErrMalformed, name, where)
	case err.Error() == "EOF":
		return fmt.Errorf("%w: empty file; want a JSON object", ErrMalformed)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// checkDuplicateKeys rejects a JSON document in which an object names a key
// twice: encoding/json would silently keep the last value, and two
// operators reading the same file must not disagree on what it says.
// Syntax errors are left to the decoder, which reports them with their
// position.
func checkDuplicateKeys(data []byte) error {
	var err error
	walkKeys(data, func(k keyAt) bool {
		if !k.dup {
			return true
		}
		where := k.parent
		if where == "" {
			where = "the top level"
		}
		err = fmt.Errorf("%w: field %q appears twice in %s at %s (names are matched ignoring case); keep one", ErrMalformed, k.key, where, position(data, k.offset))
		return false
	})
	return err
}

// locateKey returns the path and position of the first key named name, for
// errors of encoding/json that name a field but not where it is.
func locateKey(data []byte, name string) string {
	where := ""
	walkKeys(data, func(k keyAt) bool {
		if k.key != name {
			return true
		}
		path := k.key
		if k.parent != "" {
			path = k.parent + "." + k.key
		}
		where = fmt.Sprintf(" at %s (%s)", path, position(data, k.offset))
		return false
	})
	return where
}

// keyAt is an object key met by walkKeys.
type keyAt struct {
	parent string // path of the object, such as "validators[2]"; "" at the top
	key    string
	offset int64 // just after the key
	dup    bool  // the object already had this key (ignoring case)
}

// walkKeys calls visit for every object key of a JSON document, in order,
// until visit returns false or the document ends or turns out malformed.
func walkKeys(data []byte, visit func(keyAt) bool) {
	type frame struct {
		object  bool
		path    string // of this object or array, "" at the top level
		keys    map[string]bool
		key     string // objects: the key whose value comes next
		wantKey bool
		index   int // arrays: index of the next element
	}
	var stack []*frame
	childPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if !top.object {
			return fmt.Sprintf("%s[%d]", top.path, top.index)
		}
		if top.path == "" {
			return top.key
		}
		return top.path + "." + top.key
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', path: childPath(), keys: map[string]bool{}, wantKey: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				top := stack[n-1]
				// encoding/json matches field names case-insensitively, so
				// "chain_id" and "Chain_ID" would be the same field.
				folded := strings.ToLower(t)
				k := keyAt{parent: top.path, key: t, offset: dec.InputOffset(), dup: top.keys[folded]}
				if !visit(k) {
					return
				}
				top.keys[folded] = true
				top.key, top.wantKey = t, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

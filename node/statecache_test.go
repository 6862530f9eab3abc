package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
)

func TestStateCacheGetIterateApply(t *testing.T) {
	c := &stateCache{vals: map[string][]byte{}}
	c.apply([]store.Change{{Key: []byte("d/b"), Value: []byte("2")}, {Key: []byte("d/a"), Value: []byte("1")}, {Key: []byte("t/x"), Value: []byte("9")}})
	c.apply([]store.Change{{Key: []byte("d/c"), Value: []byte("3")}, {Key: []byte("d/b"), Delete: true}, {Key: []byte("d/a"), Value: []byte("1'")}})
	var got []string
	if err := c.Iterate([]byte("d/"), func(k, v []byte) error {
		got = append(got, fmt.Sprintf("%s=%s", k, v))
		_, err := c.Get(k) // nested reads are allowed
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[d/a=1' d/c=3]" {
		t.Fatalf("iterate d/: %v", got)
	}
	if _, err := c.Get([]byte("d/b")); !isNotFound(err) {
		t.Fatalf("deleted key: %v", err)
	}
	if v, err := c.Get([]byte("t/x")); err != nil || string(v) != "9" {
		t.Fatalf("t/x: %q %v", v, err)
	}
}

func isNotFound(err error) bool { return errors.Is(err, state.ErrNotFound) }

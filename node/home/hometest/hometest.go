// Package hometest holds what tests that write networks (home.WriteNetwork)
// share.
package hometest

import (
	"testing"

	"github.com/waterchain/waterchain/node/home"
)

// FreeBasePort is home.FreeBasePort for a test: a base port with the ports
// of nodes nodes free, below the kernel's ephemeral range, so that no
// outgoing connection of another test holds one of them. It fails the
// test when none is found.
func FreeBasePort(t testing.TB, nodes int) int {
	t.Helper()
	base, err := home.FreeBasePort(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

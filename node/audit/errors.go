package audit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/waterchain/waterchain/chain"
)

var (
	// ErrAudit is wrapped by every error of Verify that reports something
	// wrong with the store's chain: a bad block, entry, certificate or
	// state entry. Other errors (the store cannot be read at all, the
	// genesis is invalid) do not wrap it.
	ErrAudit = errors.New("audit failed")
)

// Check names what Verify found wrong, from cheap to expensive.
type Check string

// The checks of Verify, in the order each block goes through them.
const (
	CheckGenesis     Check = "genesis"      // the store belongs to another genesis
	CheckStored      Check = "stored block" // a record does not decode or disagrees with the others (entries root, certificate's block hash)
	CheckLink        Check = "hash link"    // chain id, height, previous hash, time, anchor monotonicity
	CheckAnchor      Check = "anchor"       // the anchor does not name a verified block of the other lane
	CheckValidators  Check = "validator set"
	CheckCertificate Check = "commit certificate"
	CheckSignature   Check = "entry signature"
	CheckExecution   Check = "execution" // re-execution fails or gives another state root
	CheckIndex       Check = "index"     // an index entry (block hash, reading seq or time, tx hash) is missing, points elsewhere or has no block
	CheckState       Check = "stored state"
)

// Failure is the first thing Verify found wrong. It wraps ErrAudit and the
// underlying error.
type Failure struct {
	// Lane and Height name the bad block; Lane is 0 for a failure outside
	// any block (genesis, stored state).
	Lane   chain.Lane
	Height uint64
	// Entry is the index of the bad reading or transaction in its block,
	// or -1.
	Entry int
	// StateKey names the bad state entry (printable prefix, then hex), or
	// is "".
	StateKey string
	Check    Check
	Err      error
}

func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString(ErrAudit.Error())
	b.WriteString(": ")
	switch {
	case f.Lane != 0:
		fmt.Fprintf(&b, "%s/%d", f.Lane, f.Height)
		if f.Entry >= 0 {
			what := "readings"
			if f.Lane == chain.LaneTx {
				what = "txs"
			}
			fmt.Fprintf(&b, " %s[%d]", what, f.Entry)
		}
		b.WriteString(": ")
	case f.StateKey != "":
		fmt.Fprintf(&b, "state key %s: ", f.StateKey)
	}
	fmt.Fprintf(&b, "%s: %v", f.Check, f.Err)
	return b.String()
}

// Unwrap returns ErrAudit and the underlying error.
func (f *Failure) Unwrap() []error { return []error{ErrAudit, f.Err} }

// stateKeyName prints a state key: its text segments ("t/", "ind/") as
// text, the binary rest (an address, a key, a height) as hex. State keys
// have at most two text segments of lowercase letters (see package
// state's key layout), which keeps binary bytes that happen to be
// letters out of the text.
func stateKeyName(k []byte) string {
	i := 0
	for seg := 0; seg < 2; seg++ {
		j := i
		for j < len(k) && k[j] >= 'a' && k[j] <= 'z' {
			j++
		}
		if j == i {
			break
		}
		if j == len(k) {
			i = j
			break
		}
		if k[j] != '/' {
			break
		}
		i = j + 1
	}
	if i == len(k) {
		return string(k)
	}
	return fmt.Sprintf("%s%x", k[:i], k[i:])
}

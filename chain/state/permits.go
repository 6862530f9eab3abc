package state

import (
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// PermitRecord is one version of an industry's permit: the one in effect
// from tx height From (the block that opened period Period with it; 0 for
// genesis) until the next record. The state keeps every version, so that
// anything judged against a permit (a discharge-limit alert, a report) can
// use the permit of the time rather than today's, and every node and
// auditor replaying the chain judges the same way.
type PermitRecord struct {
	From   uint64 `cbor:"1,keyasint,omitempty" json:"from_height"`
	Period int64  `cbor:"2,keyasint,omitempty" json:"period"`
	Permit Permit `cbor:"3,keyasint" json:"permit"`
}

func (p *PermitRecord) check() error {
	if err := p.Permit.Limits.Validate(); err != nil {
		return fmt.Errorf("permit from height %d: %v", p.From, err)
	}
	if p.Period < 0 {
		return fmt.Errorf("permit from height %d: negative period %d", p.From, p.Period)
	}
	return nil
}

func permitPrefix(a chain.Address) []byte           { return join(pfxPermit, a[:]) }
func permitKey(a chain.Address, from uint64) []byte { return join(pfxPermit, a[:], be64(from)) }

// putPermitVersion records that industry a holds p from tx height from on.
func putPermitVersion(o *overlay, a chain.Address, from uint64, period int64, p Permit) {
	putRecord(o, permitKey(a, from), &PermitRecord{From: from, Period: period, Permit: p})
}

// PermitAt returns the permit industry a held as of tx height txHeight:
// what Industry.Permit was in the state at that height. It fails with
// ErrUnknownIndustry when a has no permit recorded by then.
func PermitAt(r Reader, a chain.Address, txHeight uint64) (*PermitRecord, error) {
	rec, err := versionAt[PermitRecord](r, permitPrefix(a), txHeight)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: %s has no permit as of tx height %d", ErrUnknownIndustry, a, txHeight)
	}
	return rec, nil
}

// PermitHistory returns every version of industry a's permit, oldest first.
func PermitHistory(r Reader, a chain.Address) ([]PermitRecord, error) {
	return recordsUnder[PermitRecord](r, permitPrefix(a))
}

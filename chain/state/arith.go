package state

import (
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/waterchain/waterchain/chain"
)

// Checked arithmetic: state never wraps. add and mul return ErrOverflow
// naming the operands; sat* saturate, used only for measured quantities
// coming from meters, where a hostile device must not be able to make
// settlement fail (see doc.go).

func add(a, b uint64, what string) (uint64, error) {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return 0, fmt.Errorf("%w: %s %d + %d exceeds %d", ErrOverflow, what, a, b, uint64(math.MaxUint64))
	}
	return s, nil
}

func mul(a, b uint64, what string) (uint64, error) {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return 0, fmt.Errorf("%w: %s %d × %d exceeds %d", ErrOverflow, what, a, b, uint64(math.MaxUint64))
	}
	return lo, nil
}

func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// permille is ⌊num·1000/den⌋ capped at 1000, and 0 when den is 0.
func permille(num, den uint64) uint32 {
	if den == 0 {
		return 0
	}
	if num >= den {
		return 1000
	}
	hi, lo := bits.Mul64(num, 1000)
	q, _ := bits.Div64(hi, lo, den) // hi < den because num < den
	return uint32(q)
}

// scalePermille2 is ⌊x·a·b / 1 000 000⌋ for a, b ≤ 1000; the result never
// exceeds x.
func scalePermille2(x uint64, a, b uint32) uint64 {
	hi, lo := bits.Mul64(x, uint64(a)*uint64(b))
	q, _ := bits.Div64(hi, lo, 1_000_000) // hi < 10^6 because a·b ≤ 10^6
	return q
}

// FormatDrops writes an amount of smallest units as drops with up to six
// decimals: 5000000 → "5 drops", 1500000 → "1.5 drops", 7 → "0.000007 drops".
func FormatDrops(units uint64) string {
	whole, frac := units/chain.DropUnit, units%chain.DropUnit
	if frac == 0 {
		return fmt.Sprintf("%d drops", whole)
	}
	f := strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	return fmt.Sprintf("%d.%s drops", whole, f)
}

// formatML writes millilitres as litres with up to three decimals.
func formatML(ml uint64) string {
	whole, frac := ml/1000, ml%1000
	if frac == 0 {
		return fmt.Sprintf("%d L", whole)
	}
	f := strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	return fmt.Sprintf("%d.%s L", whole, f)
}

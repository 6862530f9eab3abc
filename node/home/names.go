package home

import (
	"fmt"
	"strings"
)

// industryProfile is a generated industry: a name people recognise in a
// demo and the flow its permit is sized for.
type industryProfile struct {
	name          string
	litresPerHour uint64
}

// industries are the generated industries, in the order validators get
// them; flows are typical of such plants' discharge.
var industries = []industryProfile{
	{"Riverside Textiles", 25_000},
	{"Northgate Brewery", 12_000},
	{"Lakeview Paper Mill", 60_000},
	{"Aqua Falls Water Park", 8_000},
	{"Valley Dairy Co-op", 15_000},
	{"Eastside Treatment Plant", 120_000},
	{"Summit Chemicals", 20_000},
	{"Old Mill Tannery", 10_000},
	{"Harbor Seafood Processing", 18_000},
	{"Greenfield Bottling", 9_000},
	{"Ironbridge Metal Finishing", 6_000},
	{"Meadowbrook Poultry", 14_000},
}

// industryFor is the profile of the i-th industry (from 0): the named ones,
// then "Industry 13", "Industry 14", ...
func industryFor(i int) industryProfile {
	if i < len(industries) {
		return industries[i]
	}
	return industryProfile{fmt.Sprintf("Industry %d", i+1), 15_000}
}

// slug makes a file name from a name: "Aqua Falls Water Park" gives
// "aqua-falls-water-park".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

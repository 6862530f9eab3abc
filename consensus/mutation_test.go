package consensus

import (
	"errors"
	"flag"
	"fmt"
	"testing"
)

var flagMutationSeeds = flag.Int("mutationseeds", 0, "TestSimulatorCatchesBrokenLocks: run this many seeds per broken rule and size and log how many of them catch it")

// lockMutations are the engine's lock rules, each broken on purpose by
// its switch in engine.go.
var lockMutations = []struct {
	name string
	on   *bool
}{
	{"line22-prevote-ignores-lock", &testIgnoreLocks},
	{"line28-takes-older-POL", &testIgnorePOLRound},
	{"line36-precommits-without-lock", &testSkipLock},
}

// withMutation runs f with one lock rule broken.
func withMutation(on *bool, f func()) {
	*on = true
	defer func() { *on = false }()
	f()
}

func TestSimulatorCatchesBrokenLocks(t *testing.T) {
	for _, m := range lockMutations {
		for _, n := range []int{4, 7, 10} {
			t.Run(fmt.Sprintf("%s/n=%d", m.name, n), func(t *testing.T) {
				if *flagMutationSeeds > 0 {
					caught, lone := 0, 0
					withMutation(m.on, func() {
						for seed := range uint64(*flagMutationSeeds) {
							s, err := runSeed(t, seedParams(n, seed, false, true), seed)
							if errors.Is(err, errAgreement) {
								caught++
							}
							if s.adv.split {
								lone++
							}
						}
					})
					t.Logf("%d of %d seeds caught it (%d lone decisions)", caught, *flagMutationSeeds, lone)
					return
				}
			})
		}
	}
}

package node

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
)

// BenchmarkEmptyBlockBytes measures what an empty block costs on disk:
// validators with an idle interval of 10 ms make b.N empty blocks on each
// lane; validator 0's badger directory is measured after a close before and
// after them (so the opening cost of the store is not counted). The
// figure, in B/block (apparent file sizes; disk-B/block counts allocated
// blocks), gives README's bytes per idle year:
//
//	go test ./node -run '^$' -bench EmptyBlockBytes -benchtime 1000x
func BenchmarkEmptyBlockBytes(b *testing.B) {
	for _, validators := range []int{1, 4} {
		b.Run(fmt.Sprintf("validators=%d", validators), func(b *testing.B) {
			tn := startTestNetWith(b, validators, 0, 0, testNetOptions{genesis: func(g *genesis.Genesis) {
				g.Params.IdleInterval = chain.Duration(10 * time.Millisecond)
			}})
			const warmup = 20
			waitBoth := func(h uint64) {
				waitFor(b, 10*time.Minute, fmt.Sprintf("both lanes at %d", h), func() bool {
					n := tn.nodes[0]
					return n.Height(chain.LaneData) >= h && n.Height(chain.LaneTx) >= h
				})
			}
			dir := filepath.Join(tn.nw.Nodes[0].Home, "data")
			measure := func() (uint64, int64, int64) {
				n := tn.nodes[0]
				blocks := n.Height(chain.LaneData) + n.Height(chain.LaneTx)
				if err := n.Close(); err != nil {
					b.Fatal(err)
				}
				size, disk := dirSize(b, dir)
				return blocks, size, disk
			}
			waitBoth(warmup)
			b0, s0, d0 := measure()
			tn.nodes[0] = tn.start(0)
			b.ResetTimer()
			waitBoth(warmup + uint64(b.N))
			b.StopTimer()
			b1, s1, d1 := measure()
			per := float64(b1 - b0)
			b.ReportMetric(float64(s1-s0)/per, "B/block")
			b.ReportMetric(float64(d1-d0)/per, "disk-B/block")
			b.ReportMetric(per, "blocks")
		})
	}
}

// dirSize sums the apparent sizes and the allocated bytes of the files
// under dir.
func dirSize(tb testing.TB, dir string) (size, disk int64) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			disk += st.Blocks * 512
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return size, disk
}

package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/report"
)

// reportChain is a valid chain (one validator, two industries of one
// meter each, 10-minute periods) of n data blocks 30 s apart, each with a
// reading of one meter in turn (a reading a minute per meter), a tx block
// a second into each period, and an alert record (one leak alert) for
// every tenth data block, built in memory and copied into a badger store.
// It returns the badger store, the chain (its genesis) and the last
// settled period.
func reportChain(b *testing.B, n int) (*store.Store, *audittest.Chain, int64) {
	mem := store.NewMemory()
	st, err := store.Open(mem)
	if err != nil {
		b.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{Validators: 1}))
	if err != nil {
		b.Fatal(err)
	}
	g0 := c.Genesis.GenesisTime
	devs := [2]chain.PubKey{c.Device(1, 1).Public(), c.Device(2, 1).Public()}
	industry := c.Industry(1).Public().Address()
	var recs []store.NodeRecord
	for h := 1; h <= n; h++ {
		at := g0.Add(time.Duration(h) * 30 * time.Second)
		if h%20 == 1 { // the first data block of a period
			if _, err := c.TxBlock(at.Add(-29 * time.Second)); err != nil {
				b.Fatalf("tx block before data/%d: %v", h, err)
			}
		}
		if _, err := c.DataBlock(at, c.Reading(devs[h%2], at, nil)); err != nil {
			b.Fatalf("data/%d: %v", h, err)
		}
		if h%10 == 0 {
			recs = append(recs, store.NodeRecord{Name: alertBlockName(uint64(h)), Value: chain.MustEncode([]alerts.Alert{{
				ID: chain.HashBytes([]byte(fmt.Sprint(h))), Device: devs[1], Industry: industry, Kind: alerts.KindLeak, Time: at, Height: uint64(h),
			}})})
		}
	}
	if err := st.PutNodeRecords(recs...); err != nil {
		b.Fatal(err)
	}
	// Into badger, in large batches.
	kv, err := store.OpenBadger(b.TempDir(), store.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kv.Close() })
	batch, pending := kv.NewBatch(), 0
	err = mem.Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		batch.Set(append([]byte(nil), k...), append([]byte(nil), v...))
		if pending++; pending == 5_000 {
			if err := batch.Write(); err != nil {
				return err
			}
			batch, pending = kv.NewBatch(), 0
		}
		return nil
	})
	if err == nil {
		err = batch.Write()
	}
	if err != nil {
		b.Fatal(err)
	}
	if st, err = store.Open(kv); err != nil {
		b.Fatal(err)
	}
	return st, c, int64(n/20) - 3
}

// BenchmarkReport is GET /v1/reports/{period} without HTTP and without the
// cache: the report of the last settled period of a chain of 1,000 and of
// 20,000 data blocks, as a node builds it (its alerts from the per-block
// alert records of the period's blocks) and as `waterchain audit report`
// does (the alert rules replayed from height 1). The node's cost does not
// depend on the chain's length; the replay's grows with it.
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		st, c, period := reportChain(b, n)
		log := alerts.NewLog(maxAlertsKept)
		for _, path := range []string{"node", "replay"} {
			b.Run(fmt.Sprintf("blocks=%d/%s", n, path), func(b *testing.B) {
				var opts report.ReportOptions
				if path == "node" {
					opts.Alerts = func(from, to uint64) ([]alerts.Alert, error) { return chainAlertsOf(st, log, from, to) }
				}
				for i := 0; i < b.N; i++ {
					rep, err := report.BuildReportWith(st, c.Genesis, fmt.Sprint(period), opts)
					if err != nil {
						b.Fatal(err)
					}
					if rep.Status != "settled" || rep.Rows[0].Readings != 10 || (path == "node" && rep.Rows[0].Alerts[alerts.KindLeak] != 2) {
						b.Fatalf("period %d: %s, %d readings, %d leak alerts; want settled, 10, 2", period, rep.Status, rep.Rows[0].Readings, rep.Rows[0].Alerts[alerts.KindLeak])
					}
				}
			})
		}
	}
}

package audit_test

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/audit"
)

func TestVerifyGoodChain(t *testing.T) {
	c, _, g := scenarioChain(t, 40)
	var calls, lastDone, lastTotal uint64
	sum, err := audit.Verify(c.Store, g, audit.VerifyOptions{Progress: func(done, total uint64) {
		calls++
		lastDone, lastTotal = done, total
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	dh, th := c.Store.Height(chain.LaneData), c.Store.Height(chain.LaneTx)
	if sum.DataHeight != dh || sum.TxHeight != th {
		t.Errorf("verified to %d/%d, store heads %d/%d", sum.DataHeight, sum.TxHeight, dh, th)
	}
	if sum.Readings != 40*6 || sum.Txs != 13 {
		t.Errorf("readings %d txs %d", sum.Readings, sum.Txs)
	}
	if sum.SettledPeriods < 3 || sum.Settlements != uint64(sum.SettledPeriods)*3 {
		t.Errorf("settled %d periods, %d records", sum.SettledPeriods, sum.Settlements)
	}
	if calls != dh+th || lastDone != dh+th || lastTotal != dh+th {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
}

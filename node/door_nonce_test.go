package node

import (
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

// TestDoorSkipsAppliedWaitingTxs: a sender's transaction final in a block
// applied to the node's state but not yet written (the commit writer
// holds it, and the pool still has it) must not make the door refuse the
// sender's next nonce, as it did once in TestSingleValidatorEndToEnd
// ("an earlier waiting transaction (nonce 2) no longer applies").
func TestDoorSkipsAppliedWaitingTxs(t *testing.T) {
	nw, err := home.WriteNetwork(t.TempDir(), home.NetworkOptions{Validators: 1, DevnetParams: true, BasePort: hometest.FreeBasePort(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	from := (&testNet{t: t, nw: nw}).account(0)
	n := openUnstarted(t, nw.Nodes[0].Home)
	defer n.Close()
	to := nw.Accounts[len(nw.Accounts)-1].Address
	transfer := func(nonce uint64) *chain.Tx {
		tx := &chain.Tx{From: from.Public(), Nonce: nonce, Transfer: &chain.Transfer{To: to, Amount: chain.DropUnit}}
		tx.Sign(n.chainID, from)
		return tx
	}
	first, second := transfer(1), transfer(2)
	if err := n.admitTx(first); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	// The first is final: its block is applied to n.state, and the pool
	// still holds it until the block is written.
	meta, err := state.GetTxMeta(n.state)
	if err != nil {
		t.Fatal(err)
	}
	h := &chain.Header{ChainID: n.chainID, Lane: chain.LaneTx, Height: meta.Height + 1, Time: meta.Time, Anchor: chain.Anchor{Height: meta.Anchor, Hash: n.genHash}}
	bld, err := state.NewTxBuilder(n.state, readingSource{n.store}, n.stateGen, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := bld.Add(first); err != nil {
		t.Fatal(err)
	}
	changes, _, err := bld.Finish()
	if err != nil {
		t.Fatal(err)
	}
	n.state.Apply(changes)
	if !n.txs.Has(first.Hash()) {
		t.Fatal("the pool no longer holds the first transaction")
	}
	if err := n.admitTx(second); err != nil {
		t.Fatalf("the next nonce, the first final but not yet written: %v", err)
	}
	// And the one after it, behind the waiting second.
	if err := n.admitTx(transfer(3)); err != nil {
		t.Fatalf("the third nonce behind a waiting second: %v", err)
	}
}

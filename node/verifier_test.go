package node

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/chain/verify"
	"github.com/waterchain/waterchain/node/audit"
	"github.com/waterchain/waterchain/node/audit/audittest"
	"github.com/waterchain/waterchain/node/config"
)

// tamperOpts is the chain every path of TestTamperedBlocksOneVerdict
// starts from: built the same way (keys derive from names), it is the same
// chain in the node's badger store and in each audited memory store.
var tamperOpts = audittest.Options{Industries: 2, DevicesPerIndustry: 2}

func tamperBase(t *testing.T, st *store.Store) *audittest.Chain {
	t.Helper()
	c, err := audittest.New(st, audittest.Genesis(tamperOpts))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(5, 2); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTamperedBlocksOneVerdict feeds the same tampered blocks to the three
// paths that accept a block — a validator's check of a proposal, block
// sync, and the audit of a store holding it — and wants each refused by
// all three with the same sentinel error. Each block breaks one rule and
// is certified again by the set that signs it (but for the certificate
// cases), so that only that rule is broken; the untampered block passes
// all three.
func TestTamperedBlocksOneVerdict(t *testing.T) {
	// The node: an unstarted validator over a badger store holding the
	// base chain.
	dir := t.TempDir()
	kv, st := openTestBadger(t, filepath.Join(dir, "data"))
	base := tamperBase(t, st)
	g := base.Genesis
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.DataDir = filepath.Join(dir, "data")
	n, err := New(Options{Home: dir, Config: cfg, Genesis: g, Key: audittest.Key(g.Validators[0].Name), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startEngines(); err != nil { // sync resets a lane's engine after a commit
		t.Fatal(err)
	}

	// header breaks a header field of the next data block and certifies it
	// again by the set that signs that block.
	header := func(f func(c *audittest.Chain, h *chain.Header)) func(*testing.T, *audittest.Chain, *chain.Block) *chain.Block {
		return func(t *testing.T, c *audittest.Chain, b *chain.Block) *chain.Block {
			vs, err := c.ValidatorSet(b.Header.Lane, b.Header.Height)
			if err != nil {
				t.Fatal(err)
			}
			b = b.WithCert(nil)
			f(c, &b.Header)
			if b, err = c.Certify(b, vs); err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	// cert breaks the certificate of the next data block.
	cert := func(f func(c *audittest.Chain, cert *chain.Certificate)) func(*testing.T, *audittest.Chain, *chain.Block) *chain.Block {
		return func(t *testing.T, c *audittest.Chain, b *chain.Block) *chain.Block {
			cc := *b.Cert
			cc.Sigs = append([]chain.CommitSig(nil), cc.Sigs...)
			f(c, &cc)
			return b.WithCert(&cc)
		}
	}
	cases := []struct {
		name   string
		tamper func(*testing.T, *audittest.Chain, *chain.Block) *chain.Block
		want   error // nil: the untampered block, accepted by all
		// certOnly: a proposal carries no certificate, so the proposal
		// path accepts the block and only sync and the audit refuse it.
		certOnly bool
	}{
		{name: "wrong chain id", want: verify.ErrWrongChain, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.ChainID = "another-chain" })},
		{name: "wrong prev hash", want: chain.ErrBadLink, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.PrevHash[0] ^= 1 })},
		{name: "time not after the parent", want: chain.ErrBadLink, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.Time = c.Head(chain.LaneData).Time })},
		{name: "anchor going backwards", want: chain.ErrBadAnchor, tamper: header(func(c *audittest.Chain, h *chain.Header) {
			// The tx block before the one the parent anchors to.
			prev, err := c.Store.Header(chain.LaneTx, h.Anchor.Height-1)
			if err != nil {
				panic(err)
			}
			h.Anchor = chain.Anchor{Height: prev.Height, Hash: prev.Hash()}
		})},
		{name: "anchor naming another block", want: chain.ErrBadAnchor, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.Anchor.Hash[3] ^= 1 })},
		{name: "wrong validator-set hash", want: verify.ErrValidatorSet, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.ValidatorsHash[0] ^= 1 })},
		{name: "proposer outside the set", want: verify.ErrProposer, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.Proposer = audittest.Key("x1").Public() })},
		{name: "wrong entries root", want: chain.ErrInvalid, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.EntriesRoot[0] ^= 1 })},
		{name: "wrong state root", want: state.ErrStateRootMismatch, tamper: header(func(c *audittest.Chain, h *chain.Header) { h.StateRoot[0] ^= 1 })},
		{name: "missing certificate signature", want: chain.ErrNoQuorum, certOnly: true, tamper: cert(func(c *audittest.Chain, cc *chain.Certificate) { cc.Sigs = cc.Sigs[:2] })},
		{name: "forged certificate signature", want: chain.ErrBadSignature, certOnly: true, tamper: cert(func(c *audittest.Chain, cc *chain.Certificate) {
			cc.Sigs[1].Sig = append(chain.Signature(nil), cc.Sigs[1].Sig...)
			cc.Sigs[1].Sig[5] ^= 1
		})},
		{name: "duplicate certificate signature", want: verify.ErrCertificate, certOnly: true, tamper: cert(func(c *audittest.Chain, cc *chain.Certificate) { cc.Sigs[1] = cc.Sigs[0] })},
		{name: "certificate by another validator set", want: verify.ErrCertificate, certOnly: true, tamper: func(t *testing.T, c *audittest.Chain, b *chain.Block) *chain.Block {
			var keys []chain.PubKey
			for _, name := range []string{"x1", "x2", "x3", "x4"} {
				k := audittest.Key(name)
				c.AddKey(k)
				keys = append(keys, k.Public())
			}
			vs, err := chain.NewValidatorSet(keys)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Certify(b, vs)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{name: "untampered", tamper: func(_ *testing.T, _ *audittest.Chain, b *chain.Block) *chain.Block { return b }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The same chain in memory, where the tampered block is
			// committed for the audit.
			mkv := store.NewMemory()
			mst, err := store.Open(mkv)
			if err != nil {
				t.Fatal(err)
			}
			c := tamperBase(t, mst)
			at := c.Head(chain.LaneData).Time + 60_000
			rs := []*chain.Reading{
				c.Reading(c.Device(1, 1).Public(), at, nil),
				c.Reading(c.Device(2, 1).Public(), at, nil),
			}
			bt, err := c.Build(chain.LaneData, at, rs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			orig := bt.Block
			b := tc.tamper(t, c, orig)

			// A validator checking it as a proposal (startValidation,
			// then finishValidation).
			proposal := n.checkStateless(b)
			if proposal == nil {
				_, proposal = n.validateProposal(b)
			}
			// Block sync (checkSync off the loop, then applySync); the node
			// must not commit it.
			_, _, synced := n.checkSync([]*chain.Block{b})
			if synced == nil {
				synced = n.applySync([]*chain.Block{b}, nil)
				n.fatal.Store(nil) // a certified block that does not execute stops the node
			}
			// The audit of a store holding it. The store refuses a block
			// that does not extend its head or whose entries do not hash
			// to its root: that one goes to the disk as an attacker
			// would write it, over the untampered block's records.
			if err := c.Commit(&audittest.Built{Block: b, Changes: bt.Changes}); err != nil {
				if err := c.Commit(bt); err != nil {
					t.Fatal(err)
				}
				overwrite(t, mkv, orig.Header.Height, b)
			}
			_, audited := audit.Verify(mst, c.Genesis, audit.VerifyOptions{})

			if tc.want == nil {
				for path, err := range map[string]error{"proposal": proposal, "sync": synced, "audit": audited} {
					if err != nil {
						t.Errorf("%s refuses the untampered block: %v", path, err)
					}
				}
				return
			}
			if tc.certOnly {
				if proposal != nil {
					t.Errorf("proposal path refuses a block whose header is right (a proposal has no certificate): %v", proposal)
				}
			} else if !errors.Is(proposal, tc.want) {
				t.Errorf("proposal path: %v, want %v", proposal, tc.want)
			}
			if !errors.Is(synced, tc.want) {
				t.Errorf("sync: %v, want %v", synced, tc.want)
			}
			var f *audit.Failure
			if !errors.Is(audited, tc.want) || !errors.As(audited, &f) || f.Lane != chain.LaneData || f.Height != b.Header.Height {
				t.Errorf("audit: %v, want %v at data/%d", audited, tc.want, b.Header.Height)
			}
			if got := n.Height(chain.LaneData); got != base.Head(chain.LaneData).Height {
				t.Fatalf("the node committed a tampered block: data height %d", got)
			}
		})
	}
}

// overwrite writes b's block record at data/height as an attacker with
// the disk would, in the layout of chain/store/record.go with every hash
// stored (none derived), adding the shared values it names that the store
// lacks.
func overwrite(t *testing.T, kv store.KV, height uint64, b *chain.Block) {
	t.Helper()
	batch := kv.NewBatch()
	ids := map[string]uint64{}
	if err := kv.Iterate([]byte{'v'}, store.IterOptions{}, func(k, v []byte) error {
		ids[string(v)] = uint64(binary.BigEndian.Uint32(k[1:]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := func(v []byte) uint64 {
		i, ok := ids[string(v)]
		if !ok {
			i = uint64(len(ids))
			ids[string(v)] = i
			batch.Set(binary.BigEndian.AppendUint32([]byte{'v'}, uint32(i)), v)
		}
		return i
	}
	h, c := &b.Header, b.Cert
	hash := h.Hash()
	rec := append([]byte{0x01}, hash[:]...)
	rec = append(rec, 1|2|4) // entries root, prev hash and anchor hash stored
	rec = binary.AppendUvarint(rec, id([]byte(h.ChainID)))
	rec = binary.AppendVarint(rec, int64(h.Time))
	rec = binary.AppendUvarint(rec, uint64(h.NumEntries))
	rec = append(rec, h.EntriesRoot[:]...)
	rec = append(rec, h.StateRoot[:]...)
	rec = append(rec, h.PrevHash[:]...)
	rec = binary.AppendUvarint(rec, h.Anchor.Height)
	rec = append(rec, h.Anchor.Hash[:]...)
	rec = binary.AppendUvarint(rec, id(h.ValidatorsHash[:]))
	rec = binary.AppendUvarint(rec, id(h.Proposer[:]))
	rec = binary.AppendUvarint(rec, uint64(c.Round))
	rec = binary.AppendUvarint(rec, uint64(len(c.Sigs)))
	for _, s := range c.Sigs {
		rec = binary.AppendUvarint(rec, id(s.Validator[:]))
		rec = binary.AppendUvarint(rec, uint64(len(s.Sig)))
		rec = append(rec, s.Sig...)
	}
	batch.Set(binary.BigEndian.AppendUint64([]byte{'h', byte(chain.LaneData)}, height), rec)
	if err := batch.Write(); err != nil {
		t.Fatal(err)
	}
}

func openTestBadger(t *testing.T, dir string) (*store.BadgerKV, *store.Store) {
	t.Helper()
	kv, err := store.OpenBadger(dir, store.BadgerOptions{Logger: slog.New(slog.DiscardHandler), MemTableSize: store.MinMemTableSize})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(kv)
	if err != nil {
		kv.Close()
		t.Fatal(err)
	}
	return kv, st
}

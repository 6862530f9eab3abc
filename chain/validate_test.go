package chain

import (
	"errors"
	"strings"
	"testing"
)

func TestReadingValidateBasic(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(r *Reading)
	}{
		{"device", func(r *Reading) { r.Device = PubKey{} }},
		{"seq", func(r *Reading) { r.Seq = 0 }},
		{"time", func(r *Reading) { r.Time = 0 }},
		{"volume", func(r *Reading) { r.Volume = -1 }},
		{"sig", func(r *Reading) { r.Sig = r.Sig[:10] }},
		{"image_hash", func(r *Reading) { r.ImageHash = &Hash{} }},
	} {
		r := validReading(t, 1)
		if err := r.ValidateBasic(); err != nil {
			t.Fatalf("valid reading: %v", err)
		}
		tc.mod(r)
		err := r.ValidateBasic()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("break %s: got %v, want a FieldError naming %s", tc.field, err, tc.field)
		}
	}
}

func TestTxValidateBasic(t *testing.T) {
	other := testKey(t, "x").Public()
	for _, tc := range []struct {
		field string
		mod   func(tx *Tx)
	}{
		{"from", func(tx *Tx) { tx.From = PubKey{} }},
		{"nonce", func(tx *Tx) { tx.Nonce = 0 }},
		{"sig", func(tx *Tx) { tx.Sig = nil }},
		{"body", func(tx *Tx) { tx.Transfer = nil }},
		{"body", func(tx *Tx) { tx.RevokeDevice = &RevokeDevice{Device: other} }},
		{"transfer.to", func(tx *Tx) { tx.Transfer.To = Address{} }},
		{"transfer.amount", func(tx *Tx) { tx.Transfer.Amount = 0 }},
		{"register_device.label", func(tx *Tx) {
			tx.Transfer = nil
			tx.RegisterDevice = &RegisterDevice{Device: other, Label: strings.Repeat("x", MaxLabelLen+1)}
		}},
		{"offer_allowance.price", func(tx *Tx) { tx.Transfer = nil; tx.OfferAllowance = &OfferAllowance{Volume: 1} }},
		{"accept_offer.offer", func(tx *Tx) { tx.Transfer = nil; tx.AcceptOffer = &AcceptOffer{Volume: 1} }},
		{"limits.turbidity", func(tx *Tx) {
			tx.Transfer = nil
			tx.SetPermit = &SetPermit{Industry: other.Address(), Allowance: 1, Limits: Limits{Turbidity: -1}}
		}},
	} {
		tx := validTx(t, 1)
		if err := tx.ValidateBasic(); err != nil {
			t.Fatalf("valid tx: %v", err)
		}
		tc.mod(tx)
		err := tx.ValidateBasic()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("break %s: got %v, want a FieldError naming %s", tc.field, err, tc.field)
		}
	}
}

func TestTxKinds(t *testing.T) {
	k := testKey(t, "x").Public()
	for _, tc := range []struct {
		tx   Tx
		want TxKind
	}{
		{Tx{Transfer: &Transfer{}}, KindTransfer},
		{Tx{RegisterDevice: &RegisterDevice{}}, KindRegisterDevice},
		{Tx{ValidatorChange: &ValidatorChange{Validator: k}}, KindValidatorAdd},
		{Tx{ValidatorChange: &ValidatorChange{Validator: k, Remove: true}}, KindValidatorRemove},
		{Tx{Evidence: &Evidence{}}, KindEvidence},
		{Tx{}, ""},
		{Tx{Transfer: &Transfer{}, CancelOffer: &CancelOffer{}}, ""},
	} {
		if got := tc.tx.Kind(); got != tc.want {
			t.Errorf("kind of %+v = %q, want %q", tc.tx, got, tc.want)
		}
	}
}

func TestBlockValidateBasic(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(b *Block)
		want string
	}{
		{"count", func(b *Block) { b.Header.NumEntries++ }, "header.num_entries"},
		{"root", func(b *Block) { b.Header.EntriesRoot[0] ^= 1 }, "header.entries_root"},
		{"reordered entries", func(b *Block) { b.Readings[0], b.Readings[1] = b.Readings[1], b.Readings[0] }, "header.entries_root"},
		{"tx on data lane", func(b *Block) { b.Txs = []*Tx{validTx(t, 1)} }, "txs"},
		{"null entry", func(b *Block) { b.Readings[1] = nil }, "readings[1]"},
		{"bad entry", func(b *Block) { b.Readings[2].Seq = 0 }, "seq"},
		{"chain id", func(b *Block) { b.Header.ChainID = "" }, "chain_id"},
		{"proposer", func(b *Block) { b.Header.Proposer = PubKey{} }, "proposer"},
	} {
		b, _, _ := validBlock(t, 4)
		if err := b.ValidateBasic(); err != nil {
			t.Fatalf("valid block: %v", err)
		}
		tc.mod(b)
		err := b.ValidateBasic()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
}

func TestVerifyEntrySignatures(t *testing.T) {
	b, _, _ := validBlock(t, 3)
	if err := b.VerifyEntrySignatures(testChainID, nil); err != nil {
		t.Fatal(err)
	}
	b.Readings[1].FlowRate++
	if err := b.VerifyEntrySignatures(testChainID, nil); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "readings[1]") {
		t.Fatalf("got %v, want a bad signature at readings[1]", err)
	}
	// An entry the caller has verified before is skipped.
	skipped := b.Readings[1].Hash()
	if err := b.VerifyEntrySignatures(testChainID, func(h Hash) bool { return h == skipped }); err != nil {
		t.Fatalf("verified entry checked again: %v", err)
	}
}

func TestVerifyLink(t *testing.T) {
	b, _, genesis := validBlock(t, 1)
	parent := b.Header
	if err := VerifyLink(nil, genesis, &parent); err != nil {
		t.Fatalf("height 1 over genesis: %v", err)
	}
	next := func() *Header {
		h := parent
		h.Height = 2
		h.PrevHash = parent.Hash()
		h.Time = parent.Time + 1000
		return &h
	}
	if err := VerifyLink(&parent, genesis, next()); err != nil {
		t.Fatalf("valid link: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(h *Header)
		want error
	}{
		{"height gap", func(h *Header) { h.Height = 3 }, ErrBadLink},
		{"prev hash", func(h *Header) { h.PrevHash[0] ^= 1 }, ErrBadLink},
		{"time", func(h *Header) { h.Time = parent.Time }, ErrBadLink},
		{"chain id", func(h *Header) { h.ChainID = "other" }, ErrBadLink},
		{"lane", func(h *Header) { h.Lane = LaneTx }, ErrBadLink},
		{"anchor rewritten", func(h *Header) { h.Anchor.Hash[0] ^= 1 }, ErrBadAnchor},
	} {
		h := next()
		tc.mod(h)
		if err := VerifyLink(&parent, genesis, h); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	wrongGenesis := parent
	wrongGenesis.PrevHash[0] ^= 1
	if err := VerifyLink(nil, genesis, &wrongGenesis); !errors.Is(err, ErrBadLink) {
		t.Errorf("height 1 over another genesis: %v", err)
	}
}

func TestCertificateVerify(t *testing.T) {
	b, vs, _ := validBlock(t, 1)
	h := b.Hash()
	if err := b.Cert.Verify(testChainID, vs, LaneData, 1, h); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	otherSet, err := NewValidatorSet([]PubKey{testKey(t, "o1").Public(), testKey(t, "o2").Public(), testKey(t, "o3").Public(), testKey(t, "o4").Public()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Certificate)
		vs   *ValidatorSet
		want string
	}{
		{"too few", func(c *Certificate) { c.Sigs = c.Sigs[:2] }, vs, "no quorum"},
		{"duplicate signer", func(c *Certificate) { c.Sigs[1] = c.Sigs[0] }, vs, "signed twice"},
		{"bad signature", func(c *Certificate) { c.Sigs[2].Sig = append(Signature{}, c.Sigs[3].Sig...) }, vs, "bad signature"},
		{"other block", func(c *Certificate) { c.BlockHash[0] ^= 1 }, vs, "certificate is for block"},
		{"other height", func(c *Certificate) { c.Height = 2 }, vs, "certificate is for data/2"},
		{"other round", func(c *Certificate) { c.Round = 1 }, vs, "bad signature"},
		{"other set", func(c *Certificate) {}, otherSet, "not in validator set"},
	} {
		c := *b.Cert
		c.Sigs = append([]CommitSig(nil), b.Cert.Sigs...)
		tc.mod(&c)
		err := c.Verify(testChainID, tc.vs, LaneData, 1, h)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestQuorumAndProposer(t *testing.T) {
	for n, want := range map[int]int{1: 1, 3: 3, 4: 3, 7: 5, 10: 7} {
		if got := Quorum(n); got != want {
			t.Errorf("Quorum(%d) = %d, want %d", n, got, want)
		}
	}
	_, vs := testValidators(t, 4)
	if vs.Proposer(5, 0) != vs.Key(1) || vs.Proposer(5, 2) != vs.Key(3) || vs.Proposer(5, 3) != vs.Key(0) {
		t.Error("proposer is not validators[(height+round) mod n]")
	}
	if _, err := NewValidatorSet([]PubKey{vs.Key(0), vs.Key(0)}); err == nil {
		t.Error("duplicate validator accepted")
	}
}

func TestEvidence(t *testing.T) {
	a := validVote(t, Prevote, "v1", HashBytes([]byte("a")))
	b := validVote(t, Prevote, "v1", HashBytes([]byte("b")))
	ev := &Evidence{VoteA: a, VoteB: b}
	if err := ev.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	if err := ev.VerifySignatures(testChainID); err != nil {
		t.Fatal(err)
	}
	if (&Evidence{VoteA: b, VoteB: a}).ID() != ev.ID() {
		t.Error("evidence id depends on the order of the pair")
	}
	same := &Evidence{VoteA: a, VoteB: a}
	if err := same.ValidateBasic(); err == nil {
		t.Error("two equal votes accepted as evidence")
	}
	other := validVote(t, Prevote, "v2", HashBytes([]byte("b")))
	if err := (&Evidence{VoteA: a, VoteB: other}).ValidateBasic(); err == nil {
		t.Error("votes of two validators accepted as evidence")
	}
}

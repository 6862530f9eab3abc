package state

import (
	"encoding/hex"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// txCtx applies one transaction on its own overlay, merged into the block's
// view only when every check has passed.
type txCtx struct {
	v    *TxView
	o    *overlay
	tx   *chain.Tx
	from chain.Address
}

func short(a chain.Address) string { return "wc" + hex.EncodeToString(a[:4]) + "…" }

func shortKey(k chain.PubKey) string { return k.Short() + "…" }

func shortHash(h chain.Hash) string { return h.Short() + "…" }

func (c *txCtx) apply() error {
	tx := c.tx
	if err := checkAmounts(tx); err != nil {
		return err
	}
	if err := tx.ValidateBasic(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedTx, err)
	}
	acct, err := loadAccount(c.o, c.from)
	if err != nil {
		return err
	}
	if tx.Nonce != acct.Nonce+1 || acct.Nonce+1 == 0 {
		return fmt.Errorf("%w: nonce %d, but the next nonce of %s is %d", ErrBadNonce, tx.Nonce, short(c.from), acct.Nonce+1)
	}
	acct.Nonce++
	putRecord(c.o, accountKey(c.from), &acct)

	switch tx.Kind() {
	case chain.KindTransfer:
		return c.transfer(tx.Transfer)
	case chain.KindRegisterDevice:
		return c.registerDevice(tx.RegisterDevice)
	case chain.KindRevokeDevice:
		return c.revokeDevice(tx.RevokeDevice)
	case chain.KindSetPermit:
		return c.setPermit(tx.SetPermit)
	case chain.KindOfferAllowance:
		return c.offerAllowance(tx.OfferAllowance)
	case chain.KindAcceptOffer:
		return c.acceptOffer(tx.AcceptOffer)
	case chain.KindCancelOffer:
		return c.cancelOffer(tx.CancelOffer)
	case chain.KindValidatorAdd, chain.KindValidatorRemove:
		return c.validatorChange(tx.ValidatorChange)
	case chain.KindEvidence:
		return c.evidence(tx.Evidence)
	}
	return fmt.Errorf("%w: unknown transaction kind", ErrMalformedTx)
}

// checkAmounts gives zero amounts their own error, before ValidateBasic
// would report them as malformed.
func checkAmounts(tx *chain.Tx) error {
	switch {
	case tx.Transfer != nil && tx.Transfer.Amount == 0:
		return fmt.Errorf("%w: a transfer of 0 drops; the amount must be positive", ErrZeroAmount)
	case tx.OfferAllowance != nil && tx.OfferAllowance.Volume == 0:
		return fmt.Errorf("%w: an offer of 0 L; the volume must be positive", ErrZeroAmount)
	case tx.OfferAllowance != nil && tx.OfferAllowance.Price == 0:
		return fmt.Errorf("%w: an offer at a price of 0 drops per litre; the price must be positive", ErrZeroAmount)
	case tx.AcceptOffer != nil && tx.AcceptOffer.Volume == 0:
		return fmt.Errorf("%w: accepting 0 L of an offer; the volume must be positive", ErrZeroAmount)
	}
	return nil
}

func loadAccount(r Reader, a chain.Address) (Account, error) {
	var acct Account
	_, err := getRecord(r, accountKey(a), &acct)
	return acct, err
}

func loadIndustry(r Reader, a chain.Address) (*Industry, bool, error) {
	var ind Industry
	found, err := getRecord(r, industryKey(a), &ind)
	if err != nil || !found {
		return nil, false, err
	}
	return &ind, true, nil
}

// senderIndustry loads the sender's industry or explains that only
// industries may do what the transaction does.
func (c *txCtx) senderIndustry(what string) (*Industry, error) {
	ind, found, err := loadIndustry(c.o, c.from)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s is not an industry; only industries %s", ErrNotIndustry, short(c.from), what)
	}
	if ind.Period != c.v.meta.Period {
		return nil, fmt.Errorf("%w: industry %q has counters of period %d in period %d", ErrCorruptState, ind.Name, ind.Period, c.v.meta.Period)
	}
	return ind, nil
}

func isRegulator(r Reader, a chain.Address) (bool, error) {
	var reg Regulator
	return getRecord(r, regulatorKey(a), &reg)
}

func (c *txCtx) credit(a chain.Address, amount uint64) error {
	acct, err := loadAccount(c.o, a)
	if err != nil {
		return err
	}
	if acct.Balance, err = add(acct.Balance, amount, "balance of "+short(a)); err != nil {
		return err
	}
	putRecord(c.o, accountKey(a), &acct)
	return nil
}

func (c *txCtx) debit(a chain.Address, amount uint64, what string) error {
	acct, err := loadAccount(c.o, a)
	if err != nil {
		return err
	}
	if acct.Balance < amount {
		return fmt.Errorf("%w: balance %s, %s needs %s", ErrInsufficientFunds, FormatDrops(acct.Balance), what, FormatDrops(amount))
	}
	acct.Balance -= amount
	putRecord(c.o, accountKey(a), &acct)
	return nil
}

func (c *txCtx) transfer(t *chain.Transfer) error {
	if err := c.debit(c.from, t.Amount, "transfer"); err != nil {
		return err
	}
	return c.credit(t.To, t.Amount)
}

func (c *txCtx) registerDevice(t *chain.RegisterDevice) error {
	if _, err := c.senderIndustry("register devices"); err != nil {
		return err
	}
	var d Device
	found, err := getRecord(c.o, deviceKey(t.Device), &d)
	if err != nil {
		return err
	}
	if found {
		if d.Revoked() {
			return fmt.Errorf("%w: device %s was registered to %s and revoked at tx height %d; a revoked key is never registered again, give the meter a new key", ErrDeviceExists, shortKey(t.Device), short(d.Owner), d.RevokedHeight)
		}
		return fmt.Errorf("%w: device %s is registered to %s since tx height %d", ErrDeviceExists, shortKey(t.Device), short(d.Owner), d.RegisteredHeight)
	}
	putRecord(c.o, deviceKey(t.Device), &Device{
		Key: t.Device, Owner: c.from, Label: t.Label,
		RegisteredHeight: c.v.height, RegisteredTime: c.v.time,
	})
	return nil
}

func (c *txCtx) revokeDevice(t *chain.RevokeDevice) error {
	var d Device
	found, err := getRecord(c.o, deviceKey(t.Device), &d)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: device %s is not registered", ErrUnknownDevice, shortKey(t.Device))
	}
	if d.Owner != c.from {
		reg, err := isRegulator(c.o, c.from)
		if err != nil {
			return err
		}
		if !reg {
			return fmt.Errorf("%w: %s may not revoke device %s, which belongs to %s; only its owner or a regulator may", ErrNotAllowed, short(c.from), shortKey(t.Device), short(d.Owner))
		}
	}
	if d.Revoked() {
		return fmt.Errorf("%w: device %s was already revoked at tx height %d", ErrDeviceRevoked, shortKey(t.Device), d.RevokedHeight)
	}
	d.RevokedHeight, d.RevokedTime, d.RevokedBy = c.v.height, c.v.time, c.from
	putRecord(c.o, deviceKey(t.Device), &d)
	return nil
}

func (c *txCtx) setPermit(t *chain.SetPermit) error {
	reg, err := isRegulator(c.o, c.from)
	if err != nil {
		return err
	}
	if !reg {
		return fmt.Errorf("%w: only a regulator may set permits, and %s is not one", ErrNotAllowed, short(c.from))
	}
	ind, found, err := loadIndustry(c.o, t.Industry)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s is not an industry of this chain", ErrUnknownIndustry, short(t.Industry))
	}
	if err := checkPermitAmounts(&c.v.g.Params.Reward, t.Allowance); err != nil {
		return fmt.Errorf("allowance of %d L: %w", t.Allowance, err)
	}
	ind.NextPermit = &Permit{Allowance: t.Allowance, Limits: t.Limits}
	putRecord(c.o, industryKey(t.Industry), ind)
	return nil
}

func (c *txCtx) offerAllowance(t *chain.OfferAllowance) error {
	ind, err := c.senderIndustry("sell allowance")
	if err != nil {
		return err
	}
	if _, err := mul(t.Volume, t.Price, "offer value in smallest drop units:"); err != nil {
		return err
	}
	if t.Volume > ind.Unoffered() {
		return fmt.Errorf("%w: %d L unused this period (%d L after trades, %d L already on offer), the offer needs %d L", ErrInsufficientAllowance, ind.Unoffered(), ind.AfterTrades(), ind.Escrow, t.Volume)
	}
	ind.Escrow += t.Volume
	putRecord(c.o, industryKey(c.from), ind)
	id := c.tx.Hash()
	putRecord(c.o, offerKey(id), &Offer{
		ID: id, Seller: c.from, Period: c.v.meta.Period, Price: t.Price,
		Volume: t.Volume, Remaining: t.Volume, Status: OfferOpen, Height: c.v.height,
	})
	return nil
}

// openOffer loads an offer that the sender may act on while it is open.
func (c *txCtx) openOffer(id chain.Hash) (*Offer, error) {
	var o Offer
	found, err := getRecord(c.o, offerKey(id), &o)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no offer has id %s", ErrOfferNotFound, shortHash(id))
	}
	switch {
	case o.Status == OfferExpired || (o.Status == OfferOpen && o.Period != c.v.meta.Period):
		return nil, fmt.Errorf("%w: offer %s was for period %s, which has ended", ErrOfferExpired, shortHash(id), c.v.periods.Label(o.Period))
	case o.Status != OfferOpen:
		return nil, fmt.Errorf("%w: offer %s is %s (at tx height %d)", ErrOfferClosed, shortHash(id), o.Status, o.ClosedHeight)
	}
	return &o, nil
}

func (c *txCtx) acceptOffer(t *chain.AcceptOffer) error {
	o, err := c.openOffer(t.Offer)
	if err != nil {
		return err
	}
	if o.Seller == c.from {
		return fmt.Errorf("%w: %s made offer %s and cannot accept it; cancel it instead", ErrOwnOffer, short(c.from), shortHash(o.ID))
	}
	buyer, err := c.senderIndustry("buy allowance")
	if err != nil {
		return err
	}
	if t.Volume > o.Remaining {
		return fmt.Errorf("%w: buying %d L, but offer %s has %d L left", ErrOfferExceeded, t.Volume, shortHash(o.ID), o.Remaining)
	}
	cost, err := mul(t.Volume, o.Price, "cost in smallest drop units:")
	if err != nil {
		return err
	}
	if buyer.Bought, err = add(buyer.Bought, t.Volume, "allowance bought"); err != nil {
		return err
	}
	if _, err := add(buyer.Allowance, buyer.Bought, "allowance after trades"); err != nil {
		return err
	}
	if err := c.debit(c.from, cost, fmt.Sprintf("buying %d L at %s per litre", t.Volume, FormatDrops(o.Price))); err != nil {
		return err
	}
	if err := c.credit(o.Seller, cost); err != nil {
		return err
	}
	seller, found, err := loadIndustry(c.o, o.Seller)
	if err != nil {
		return err
	}
	if !found || seller.Escrow < t.Volume {
		return fmt.Errorf("%w: seller %s of offer %s holds no escrow for it", ErrCorruptState, short(o.Seller), shortHash(o.ID))
	}
	seller.Escrow -= t.Volume
	seller.Sold += t.Volume
	putRecord(c.o, industryKey(o.Seller), seller)
	putRecord(c.o, industryKey(c.from), buyer)
	o.Remaining -= t.Volume
	if o.Remaining == 0 {
		o.Status, o.ClosedHeight = OfferFilled, c.v.height
	}
	putRecord(c.o, offerKey(o.ID), o)
	return nil
}

func (c *txCtx) cancelOffer(t *chain.CancelOffer) error {
	o, err := c.openOffer(t.Offer)
	if err != nil {
		return err
	}
	if o.Seller != c.from {
		return fmt.Errorf("%w: offer %s belongs to %s; only its seller may cancel it", ErrNotAllowed, shortHash(o.ID), short(o.Seller))
	}
	seller, err := c.senderIndustry("sell allowance")
	if err != nil {
		return err
	}
	if seller.Escrow < o.Remaining {
		return fmt.Errorf("%w: seller %s holds %d L in escrow, offer %s has %d L left", ErrCorruptState, short(c.from), seller.Escrow, shortHash(o.ID), o.Remaining)
	}
	seller.Escrow -= o.Remaining
	putRecord(c.o, industryKey(c.from), seller)
	o.Status, o.ClosedHeight = OfferCancelled, c.v.height
	putRecord(c.o, offerKey(o.ID), o)
	return nil
}

func (c *txCtx) evidence(e *chain.Evidence) error {
	if err := e.VerifySignatures(c.v.g.ChainID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEvidence, err)
	}
	offender := e.Offender()
	lane, height := e.Height()
	was, err := wasValidator(c.o, offender, c.v.height)
	if err != nil {
		return err
	}
	if !was {
		return fmt.Errorf("%w: %s accused of equivocating at %s height %d has never been a validator", ErrBadEvidence, shortKey(offender), lane, height)
	}
	id := e.ID()
	var prev EvidenceRecord
	found, err := getRecord(c.o, evidenceKey(id), &prev)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%w: evidence %s against %s was recorded at tx height %d", ErrDuplicateEvidence, shortHash(id), shortKey(offender), prev.TxHeight)
	}
	putRecord(c.o, evidenceKey(id), &EvidenceRecord{
		ID: id, Offender: offender, Lane: lane, Height: height,
		Reporter: c.from, TxHeight: c.v.height, Evidence: *e,
	})
	return nil
}

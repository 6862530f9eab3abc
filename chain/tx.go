package chain

import (
	"crypto/ed25519"
	"fmt"
)

// DropUnit is the number of smallest units in one drop. Balances, prices and
// amounts are in smallest units.
const DropUnit = 1_000_000

// MaxLabelLen bounds free-text labels in transactions.
const MaxLabelLen = 64

// Tx is a signed transaction of the tx lane. From signs it with its next
// nonce; exactly one body field is set, and it gives the transaction its
// Kind.
type Tx struct {
	From  PubKey `cbor:"1,keyasint" json:"from"`
	Nonce uint64 `cbor:"2,keyasint" json:"nonce"`

	Transfer        *Transfer        `cbor:"10,keyasint,omitempty" json:"transfer,omitempty"`
	RegisterDevice  *RegisterDevice  `cbor:"11,keyasint,omitempty" json:"register_device,omitempty"`
	RevokeDevice    *RevokeDevice    `cbor:"12,keyasint,omitempty" json:"revoke_device,omitempty"`
	SetPermit       *SetPermit       `cbor:"13,keyasint,omitempty" json:"set_permit,omitempty"`
	OfferAllowance  *OfferAllowance  `cbor:"14,keyasint,omitempty" json:"offer_allowance,omitempty"`
	AcceptOffer     *AcceptOffer     `cbor:"15,keyasint,omitempty" json:"accept_offer,omitempty"`
	CancelOffer     *CancelOffer     `cbor:"16,keyasint,omitempty" json:"cancel_offer,omitempty"`
	ValidatorChange *ValidatorChange `cbor:"17,keyasint,omitempty" json:"validator_change,omitempty"`
	Evidence        *Evidence        `cbor:"18,keyasint,omitempty" json:"evidence,omitempty"`

	Sig Signature `cbor:"31,keyasint,omitempty" json:"sig"`
}

// TxKind names the kind of a transaction, as the CLI and API spell it.
type TxKind string

const (
	KindTransfer        TxKind = "transfer"
	KindRegisterDevice  TxKind = "register-device"
	KindRevokeDevice    TxKind = "revoke-device"
	KindSetPermit       TxKind = "set-permit"
	KindOfferAllowance  TxKind = "offer-allowance"
	KindAcceptOffer     TxKind = "accept-offer"
	KindCancelOffer     TxKind = "cancel-offer"
	KindValidatorAdd    TxKind = "validator-add"
	KindValidatorRemove TxKind = "validator-remove"
	KindEvidence        TxKind = "evidence"
)

// Transfer moves Amount smallest units of drops from the sender to To.
type Transfer struct {
	To     Address `cbor:"1,keyasint" json:"to"`
	Amount uint64  `cbor:"2,keyasint" json:"amount"`
}

// RegisterDevice registers a meter's key to the sender's industry.
type RegisterDevice struct {
	Device PubKey `cbor:"1,keyasint" json:"device"`
	Label  string `cbor:"2,keyasint,omitempty" json:"label,omitempty"`
}

// RevokeDevice revokes a meter: by its owner, or by a regulator.
type RevokeDevice struct {
	Device PubKey `cbor:"1,keyasint" json:"device"`
}

// SetPermit (regulators only) sets an industry's allowance per settlement
// period, in litres, and its discharge limits, from the next period on.
type SetPermit struct {
	Industry  Address `cbor:"1,keyasint" json:"industry"`
	Allowance uint64  `cbor:"2,keyasint" json:"allowance"`
	Limits    Limits  `cbor:"3,keyasint" json:"limits"`
}

// OfferAllowance offers Volume litres of this period's unused allowance at
// Price smallest drop units per litre.
type OfferAllowance struct {
	Volume uint64 `cbor:"1,keyasint" json:"volume"`
	Price  uint64 `cbor:"2,keyasint" json:"price"`
}

// AcceptOffer buys Volume litres (all or part of what remains) of an offer,
// named by the hash of the transaction that made it.
type AcceptOffer struct {
	Offer  Hash   `cbor:"1,keyasint" json:"offer"`
	Volume uint64 `cbor:"2,keyasint" json:"volume"`
}

// CancelOffer withdraws the remainder of one's own offer.
type CancelOffer struct {
	Offer Hash `cbor:"1,keyasint" json:"offer"`
}

// ValidatorChange is a validator's vote to add (Remove false) or remove a
// validator node key. It takes effect once more than 2/3 of the current
// validators have voted for the same change.
type ValidatorChange struct {
	Validator PubKey `cbor:"1,keyasint" json:"validator"`
	Remove    bool   `cbor:"2,keyasint,omitempty" json:"remove,omitempty"`
}

// Kind returns the kind of the one body that is set, or "" when none or
// several are.
func (tx *Tx) Kind() TxKind {
	var kind TxKind
	n := 0
	set := func(present bool, k TxKind) {
		if present {
			kind = k
			n++
		}
	}
	set(tx.Transfer != nil, KindTransfer)
	set(tx.RegisterDevice != nil, KindRegisterDevice)
	set(tx.RevokeDevice != nil, KindRevokeDevice)
	set(tx.SetPermit != nil, KindSetPermit)
	set(tx.OfferAllowance != nil, KindOfferAllowance)
	set(tx.AcceptOffer != nil, KindAcceptOffer)
	set(tx.CancelOffer != nil, KindCancelOffer)
	if tx.ValidatorChange != nil {
		if tx.ValidatorChange.Remove {
			set(true, KindValidatorRemove)
		} else {
			set(true, KindValidatorAdd)
		}
	}
	set(tx.Evidence != nil, KindEvidence)
	if n != 1 {
		return ""
	}
	return kind
}

// SigningBytes is the canonical encoding of tx without its signature.
func (tx *Tx) SigningBytes() []byte {
	u := *tx
	u.Sig = nil
	return MustEncode(&u)
}

// Encode returns the canonical encoding of tx, signature included: the
// Merkle leaf of tx in its block.
func (tx *Tx) Encode() []byte { return MustEncode(tx) }

// Hash identifies tx: SHA-256 of its canonical encoding.
func (tx *Tx) Hash() Hash { return HashBytes(tx.Encode()) }

// Sign sets tx.Sig with the sender's key.
func (tx *Tx) Sign(chainID string, key *PrivateKey) {
	tx.Sig = key.Sign(DomainTx, chainID, tx.SigningBytes())
}

// VerifySignature checks the sender's signature.
func (tx *Tx) VerifySignature(chainID string) error {
	return Verify(tx.From, DomainTx, chainID, tx.SigningBytes(), tx.Sig)
}

// ValidateBasic checks what can be checked without state or signatures.
func (tx *Tx) ValidateBasic() error {
	if tx.From.IsZero() {
		return fieldErr("from", "missing")
	}
	if tx.Nonce == 0 {
		return fieldErr("nonce", "must start at 1")
	}
	if len(tx.Sig) != ed25519.SignatureSize {
		return fieldErr("sig", "want %d bytes, got %d", ed25519.SignatureSize, len(tx.Sig))
	}
	kind := tx.Kind()
	if kind == "" {
		return fieldErr("body", "exactly one transaction body must be set")
	}
	switch kind {
	case KindTransfer:
		if tx.Transfer.To.IsZero() {
			return fieldErr("transfer.to", "missing")
		}
		if tx.Transfer.Amount == 0 {
			return fieldErr("transfer.amount", "must be positive")
		}
	case KindRegisterDevice:
		if tx.RegisterDevice.Device.IsZero() {
			return fieldErr("register_device.device", "missing")
		}
		if len(tx.RegisterDevice.Label) > MaxLabelLen {
			return fieldErr("register_device.label", "longer than %d bytes", MaxLabelLen)
		}
		if err := keyFieldErr("register_device.device", tx.RegisterDevice.Device); err != nil {
			return err
		}
	case KindRevokeDevice:
		// Not CheckPublicKey: a device registered before that rule must
		// stay revocable.
		if tx.RevokeDevice.Device.IsZero() {
			return fieldErr("revoke_device.device", "missing")
		}
	case KindSetPermit:
		if tx.SetPermit.Industry.IsZero() {
			return fieldErr("set_permit.industry", "missing")
		}
		if err := tx.SetPermit.Limits.Validate(); err != nil {
			return fmt.Errorf("set_permit.%w", err)
		}
	case KindOfferAllowance:
		if tx.OfferAllowance.Volume == 0 {
			return fieldErr("offer_allowance.volume", "must be positive")
		}
		if tx.OfferAllowance.Price == 0 {
			return fieldErr("offer_allowance.price", "must be positive")
		}
	case KindAcceptOffer:
		if tx.AcceptOffer.Offer.IsZero() {
			return fieldErr("accept_offer.offer", "missing")
		}
		if tx.AcceptOffer.Volume == 0 {
			return fieldErr("accept_offer.volume", "must be positive")
		}
	case KindCancelOffer:
		if tx.CancelOffer.Offer.IsZero() {
			return fieldErr("cancel_offer.offer", "missing")
		}
	case KindValidatorAdd, KindValidatorRemove:
		if tx.ValidatorChange.Validator.IsZero() {
			return fieldErr("validator_change.validator", "missing")
		}
		// Only an added key is checked: a key that is already in the set
		// (from before this rule) can still be voted out.
		if kind == KindValidatorAdd {
			if err := keyFieldErr("validator_change.validator", tx.ValidatorChange.Validator); err != nil {
				return err
			}
		}
	case KindEvidence:
		if err := tx.Evidence.ValidateBasic(); err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
	}
	// The sender's key last, as it costs a square root: a small-order
	// sender would let anyone sign in the account's name.
	return keyFieldErr("from", tx.From)
}

// DecodeTx decodes one canonical transaction and checks it with
// ValidateBasic.
func DecodeTx(b []byte) (*Tx, error) {
	var tx Tx
	if err := Decode(b, &tx); err != nil {
		return nil, err
	}
	if err := tx.ValidateBasic(); err != nil {
		return nil, err
	}
	return &tx, nil
}

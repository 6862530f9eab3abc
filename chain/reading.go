package chain

import (
	"crypto/ed25519"
)

// Reading is one signed measurement of a meter (device). Values are integers
// on the scales of Measures:
//
//	flow_rate         mL/h          (L/h × 1000)
//	volume            mL            (volume in the reading interval)
//	volume_total      mL            (the meter's totalizer; never decreases)
//	conductivity      0.1 µS/cm     (µS/cm × 10)
//	suspended_solids  0.1 mg/L      (mg/L × 10)
//	absorbance        mAU           (UV254 absorbance × 1000)
//	turbidity         0.01 NTU      (NTU × 100)
//
// The device signs the canonical encoding of the reading without Sig in the
// "reading" domain. ImageHash, when set, binds a camera image to the reading.
type Reading struct {
	Device          PubKey    `cbor:"1,keyasint" json:"device"`
	Seq             uint64    `cbor:"2,keyasint" json:"seq"`
	Time            Time      `cbor:"3,keyasint" json:"time"`
	FlowRate        int64     `cbor:"4,keyasint" json:"flow_rate"`
	Volume          int64     `cbor:"5,keyasint" json:"volume"`
	VolumeTotal     int64     `cbor:"6,keyasint" json:"volume_total"`
	Conductivity    int64     `cbor:"7,keyasint" json:"conductivity"`
	SuspendedSolids int64     `cbor:"8,keyasint" json:"suspended_solids"`
	Absorbance      int64     `cbor:"9,keyasint" json:"absorbance"`
	Turbidity       int64     `cbor:"10,keyasint" json:"turbidity"`
	ImageHash       *Hash     `cbor:"11,keyasint,omitempty" json:"image_hash,omitempty"`
	Sig             Signature `cbor:"15,keyasint,omitempty" json:"sig"`
}

// SigningBytes is the canonical encoding of r without its signature.
func (r *Reading) SigningBytes() []byte { return r.appendCBOR(nil, false) }

// Encode returns the canonical encoding of r, signature included. This is
// the Merkle leaf of r in its block.
func (r *Reading) Encode() []byte { return r.appendCBOR(nil, true) }

// AppendEncoding appends r's canonical encoding (Encode) to dst, for
// callers that put many readings in one message.
func (r *Reading) AppendEncoding(dst []byte) []byte { return r.appendCBOR(dst, true) }

// ReadingEncodingCap bytes hold the canonical encoding of any reading
// signed with a key (a 64-byte signature): 228 bytes at most, every
// integer at its widest and an image hash (TestReadingEncodingCap). A
// buffer of that capacity takes a reading's encoding without allocating.
const ReadingEncodingCap = 256

// Hash identifies r: SHA-256 of its canonical encoding.
func (r *Reading) Hash() Hash {
	var buf [ReadingEncodingCap]byte // no allocation
	return HashBytes(r.appendCBOR(buf[:0], true))
}

// Sign sets r.Sig with the device key.
func (r *Reading) Sign(chainID string, key *PrivateKey) {
	r.Sig = key.Sign(DomainReading, chainID, r.SigningBytes())
}

// VerifySignature checks the device signature.
func (r *Reading) VerifySignature(chainID string) error {
	return Verify(r.Device, DomainReading, chainID, r.SigningBytes(), r.Sig)
}

// ValidateBasic checks what can be checked without state or signatures.
// Negative flow is a fault the alerts report, not a malformed reading, so it
// passes here.
func (r *Reading) ValidateBasic() error {
	switch {
	case r.Device.IsZero():
		return fieldErr("device", "missing")
	case r.Seq == 0:
		return fieldErr("seq", "must start at 1")
	case r.Time <= 0:
		return fieldErr("time", "missing")
	case r.Volume < 0:
		return fieldErr("volume", "must not be negative, got %d", r.Volume)
	case len(r.Sig) != ed25519.SignatureSize:
		return fieldErr("sig", "want %d bytes, got %d", ed25519.SignatureSize, len(r.Sig))
	case r.ImageHash != nil && r.ImageHash.IsZero():
		return fieldErr("image_hash", "all zeros")
	}
	return nil
}

// DecodeReading decodes one canonical reading and checks it with
// ValidateBasic.
func DecodeReading(b []byte) (*Reading, error) {
	var r Reading
	if err := Decode(b, &r); err != nil {
		return nil, err
	}
	if err := r.ValidateBasic(); err != nil {
		return nil, err
	}
	return &r, nil
}

package chain

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

// zip215Vectors are the 196 small-order cases of ZIP-215 (copied from
// ../shared/testvectors; the file names its source).
type zip215Vectors struct {
	Message string `json:"message_utf8"`
	Cases   []struct {
		VK  string `json:"vk"`
		Sig string `json:"sig"`
	} `json:"cases"`
}

func loadZIP215(t *testing.T) zip215Vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/ed25519_zip215_small_order.json")
	if err != nil {
		t.Fatal(err)
	}
	var v zip215Vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) != 196 {
		t.Fatalf("%d cases, want 196", len(v.Cases))
	}
	return v
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKey(t *testing.T, s string) PubKey {
	t.Helper()
	k, err := ParsePubKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The 14 distinct key encodings of the ZIP-215 vectors: the 8 small-order
// points, 6 of them also with a non-canonical encoding (y + p for y = 0 and
// y = 1, and the sign bit set on x = 0 for y = 1 and y = -1).
var (
	smallOrderCanonical = []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2: y = -1
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4: y = 0
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4: y = 0, -x
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	}
	smallOrderNonCanonical = []string{
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = 0 with sign bit
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = 0 with sign bit
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 4: y = p
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 4: y = p, -x
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity: y = p + 1
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // identity: y = p + 1, sign bit
	}
)

// smallOrderKeys returns the 14 encodings with the error CheckPublicKey
// gives for each. (Where a message checks for a missing key first, the
// all-zeros encoding is refused as missing instead.)
func smallOrderKeys() map[string]error {
	m := make(map[string]error)
	for _, k := range smallOrderCanonical {
		m[k] = ErrSmallOrderKey
	}
	for _, k := range smallOrderNonCanonical {
		m[k] = ErrNonCanonicalKey
	}
	return m
}

// TestZIP215SmallOrderVectorsVerifyButKeysAreRefused holds both halves of
// the rule: every one of the 196 cases still verifies, alone and in one
// batch (verification stays ZIP-215), and every one of the 14 keys they use
// is refused by CheckPublicKey.
func TestZIP215SmallOrderVectorsVerifyButKeysAreRefused(t *testing.T) {
	v := loadZIP215(t)
	want := smallOrderKeys()
	msg := []byte(v.Message)
	bv := NewBatchVerifier(len(v.Cases))
	seen := make(map[string]bool)
	for i, c := range v.Cases {
		pub := mustKey(t, c.VK)
		sig := Signature(mustHex(t, c.Sig))
		if !verifyMessage(pub, msg, sig) {
			t.Errorf("case %d (vk %s…): does not verify alone; ZIP-215 says valid", i, c.VK[:8])
		}
		bv.addMessage(pub, "zip215", msg, sig)
		seen[c.VK] = true
	}
	errs, all := bv.Verify()
	if !all {
		for i, err := range errs {
			if err != nil {
				t.Errorf("case %d: does not verify in the batch: %v", i, err)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct keys in the vectors, want %d", len(seen), len(want))
	}
	for vk := range seen {
		sentinel, listed := want[vk]
		if !listed {
			t.Errorf("key %s is not in the test's list of 14", vk)
			continue
		}
		err := CheckPublicKey(mustHex(t, vk))
		if !errors.Is(err, sentinel) {
			t.Errorf("CheckPublicKey(%s) = %v, want %v", vk, err, sentinel)
		}
	}
}

// TestSpeccheckKeys checks the public keys of the ed25519-speccheck cases
// (copied from ../shared/testvectors): the signatures verify as the file
// says for ZIP-215, alone and in a batch, and CheckPublicKey sorts each key
// as that project's README describes it (case 0-1: small-order A; 2-5, 8-9:
// mixed-order A; 6-7: an ordinary key; 10-11: a non-canonical encoding of
// the order-2 point).
// speccheckCase is one case of testdata/ed25519_speccheck.json.
type speccheckCase struct {
	Index   int    `json:"index"`
	Message string `json:"message"`
	PubKey  string `json:"pub_key"`
	Sig     string `json:"signature"`
	Valid   bool   `json:"zip215_valid"`
}

func loadSpeccheck(t *testing.T) []speccheckCase {
	data, err := os.ReadFile("testdata/ed25519_speccheck.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []speccheckCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != 12 {
		t.Fatalf("%d cases, want 12", len(f.Cases))
	}
	return f.Cases
}

func TestSpeccheckKeys(t *testing.T) {
	keyVerdict := map[string]error{
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa": ErrSmallOrderKey,
		"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43": nil, // mixed order
		"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d": nil, // mixed order
		"442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623": nil, // prime order
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff": ErrNonCanonicalKey,
	}
	for _, c := range loadSpeccheck(t) {
		pub := mustKey(t, c.PubKey)
		msg, sig := mustHex(t, c.Message), Signature(mustHex(t, c.Sig))
		if got := verifyMessage(pub, msg, sig); got != c.Valid {
			t.Errorf("case %d: verifies %v alone, speccheck says ZIP-215 gives %v", c.Index, got, c.Valid)
		}
		bv := NewBatchVerifier(1)
		bv.addMessage(pub, "speccheck", msg, sig)
		if _, got := bv.Verify(); got != c.Valid {
			t.Errorf("case %d: verifies %v in a batch, speccheck says ZIP-215 gives %v", c.Index, got, c.Valid)
		}
		want, listed := keyVerdict[c.PubKey]
		if !listed {
			t.Errorf("case %d: key %s has no expected verdict", c.Index, c.PubKey)
			continue
		}
		err := pub.Check()
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("case %d: Check(%s…) = %v, want %v", c.Index, c.PubKey[:8], err, want)
		}
	}
}

// TestBatchOfOneAgreesWithVerify holds the batch verifier's two ways to
// the rule of Verify on the public vectors: a signature queued alone
// (checked on its own) and the same signature beside a valid one (checked
// as a batch) both get the verdict verifyMessage gives, for the 12
// speccheck cases (valid and not) and the 196 ZIP-215 cases, and a
// signature of the wrong length is refused either way.
func TestBatchOfOneAgreesWithVerify(t *testing.T) {
	type vector struct {
		name     string
		pub      PubKey
		msg, sig []byte
	}
	var vs []vector
	for _, c := range loadSpeccheck(t) {
		vs = append(vs, vector{fmt.Sprintf("speccheck %d", c.Index), mustKey(t, c.PubKey), mustHex(t, c.Message), mustHex(t, c.Sig)})
	}
	z := loadZIP215(t)
	for i, c := range z.Cases {
		vs = append(vs, vector{fmt.Sprintf("zip215 %d", i), mustKey(t, c.VK), []byte(z.Message), mustHex(t, c.Sig)})
	}
	good := testKey(t, "batch-of-one")
	goodMsg := []byte("a valid signature beside it")
	goodSig := Signature(ed25519.Sign(good.key, goodMsg))
	invalid := 0
	for _, v := range vs {
		want := verifyMessage(v.pub, v.msg, v.sig)
		if !want {
			invalid++
		}
		alone := NewBatchVerifier(1)
		alone.addMessage(v.pub, "vector", v.msg, v.sig)
		if errs, ok := alone.Verify(); ok != want || (errs[0] == nil) != want {
			t.Errorf("%s alone: %v (%v), Verify says %v", v.name, ok, errs[0], want)
		}
		pair := NewBatchVerifier(2)
		pair.addMessage(good.Public(), "good", goodMsg, goodSig)
		pair.addMessage(v.pub, "vector", v.msg, v.sig)
		errs, _ := pair.Verify()
		if errs[0] != nil || (errs[1] == nil) != want {
			t.Errorf("%s in a batch of two: %v, %v; Verify says %v", v.name, errs[0], errs[1], want)
		}
	}
	if invalid == 0 {
		t.Fatal("no vector is invalid: the test would not see a verifier that accepts everything")
	}
	short := NewBatchVerifier(2)
	short.addMessage(good.Public(), "short", goodMsg, goodSig[:63])
	if _, ok := short.Verify(); ok {
		t.Error("a 63-byte signature alone verified")
	}
	short.addMessage(good.Public(), "good", goodMsg, goodSig)
	short.addMessage(good.Public(), "short", goodMsg, goodSig[:63])
	if errs, _ := short.Verify(); errs[0] != nil || errs[1] == nil {
		t.Errorf("a 63-byte signature beside a valid one: %v, %v", errs[0], errs[1])
	}
}

func TestCheckPublicKey(t *testing.T) {
	good := testKey(t, "keycheck").Public()
	// A mixed-order key: a prime-order key plus the order-8 point.
	var a, t8, sum curve.EdwardsPoint
	var ca, c8, csum curve.CompressedEdwardsY
	copy(ca[:], good[:])
	copy(c8[:], mustHex(t, smallOrderCanonical[6]))
	if _, err := a.SetCompressedY(&ca); err != nil {
		t.Fatal(err)
	}
	if _, err := t8.SetCompressedY(&c8); err != nil {
		t.Fatal(err)
	}
	csum.SetEdwardsPoint(sum.Add(&a, &t8))
	// y + p, for y < 19, is a second encoding of the point with y: a
	// non-canonical key even where the point itself is fine.
	yPlus := func(y byte) []byte {
		b := mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
		b[0] += y
		return b
	}
	three := make([]byte, 32)
	three[0] = 3
	if err := CheckPublicKey(three); err != nil {
		t.Fatalf("y = 3 is a point of large order, the non-canonical test below relies on it: %v", err)
	}

	for _, tc := range []struct {
		name string
		key  []byte
		want error
	}{
		{"generated key", good[:], nil},
		{"mixed order", csum[:], nil},
		{"31 bytes", good[:31], ErrKeyLength},
		{"33 bytes", append(good[:], 0), ErrKeyLength},
		{"empty", nil, ErrKeyLength},
		{"not a point", mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000"), ErrKeyNotOnCurve},
		{"y = p + 3, a large-order point", yPlus(3), ErrNonCanonicalKey},
		{"y = 2^255 - 1", mustHex(t, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), ErrNonCanonicalKey},
		{"identity", mustHex(t, smallOrderCanonical[0]), ErrSmallOrderKey},
	} {
		err := CheckPublicKey(tc.key)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	for i := 0; i < 64; i++ {
		k := testKey(t, "keycheck-"+string(rune('A'+i))).Public()
		if err := k.Check(); err != nil {
			t.Errorf("generated key %s: %v", k, err)
		}
	}
}

// TestTxValidateBasicRefusesWeakKeys: a register-device, a validator-add
// or any transaction from one of the 14 keys is refused by the cheap check,
// naming the field; revoking such a device or voting such a validator out
// stays possible.
func TestTxValidateBasicRefusesWeakKeys(t *testing.T) {
	for vk, sentinel := range smallOrderKeys() {
		k := mustKey(t, vk)
		if k.IsZero() {
			sentinel = ErrInvalid // "missing", the unset key
		}
		for _, tc := range []struct {
			field string
			tx    *Tx
		}{
			{"register_device.device", &Tx{RegisterDevice: &RegisterDevice{Device: k}}},
			{"validator_change.validator", &Tx{ValidatorChange: &ValidatorChange{Validator: k}}},
		} {
			tx := tc.tx
			tx.From, tx.Nonce = testKey(t, "industry-1").Public(), 1
			tx.Sign(testChainID, testKey(t, "industry-1"))
			err := tx.ValidateBasic()
			var fe *FieldError
			if !errors.Is(err, sentinel) || !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%s %s…: got %v, want %v in field %s", tx.Kind(), vk[:8], err, sentinel, tc.field)
			}
		}
		from := validTx(t, 1)
		from.From = k
		if err := from.ValidateBasic(); !errors.Is(err, sentinel) || !strings.HasPrefix(err.Error(), "from:") {
			t.Errorf("transfer from %s…: got %v, want %v on from", vk[:8], err, sentinel)
		}
		if k.IsZero() {
			continue // never got in
		}
		for _, tx := range []*Tx{
			{RevokeDevice: &RevokeDevice{Device: k}},
			{ValidatorChange: &ValidatorChange{Validator: k, Remove: true}},
		} {
			tx.From, tx.Nonce, tx.Sig = testKey(t, "industry-1").Public(), 1, make(Signature, 64)
			if err := tx.ValidateBasic(); err != nil {
				t.Errorf("%s %s…: %v; a key that got in before the rule must be removable", tx.Kind(), vk[:8], err)
			}
		}
	}
}

func BenchmarkCheckPublicKey(b *testing.B) {
	k := testKey(b, "bench").Public()
	for b.Loop() {
		if err := k.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

package state

import (
	"encoding/binary"

	"github.com/waterchain/waterchain/chain"
)

// The two namespaces. Every key of the tx lane's state starts with
// TxPrefix, every key of the data lane's with DataPrefix; each lane's state
// root commits to its namespace only.
const (
	TxPrefix   = "t/"
	DataPrefix = "d/"
)

// Key layout. Fixed-size binary parts (addresses, keys, hashes, big-endian
// heights and periods) keep iteration order meaningful.
const (
	keyGenesis       = "t/genesis" // genesisRecord
	keyTxMeta        = "t/meta"    // TxMeta
	pfxAccount       = "t/acct/"   // + address → Account
	pfxIndustry      = "t/ind/"    // + address → Industry
	pfxRegulator     = "t/reg/"    // + address → Regulator
	pfxDevice        = "t/dev/"    // + device key → Device
	pfxOffer         = "t/offer/"  // + offer id → Offer
	pfxSettlement    = "t/settle/" // + be64(period) + address → Settlement
	pfxClosed        = "t/closed/" // + be64(period) + address → Settlement of a closed period, figures of the tx lane only
	pfxValidatorSet  = "t/vset/"   // + be64(first height) → ValidatorSetRecord
	pfxValidatorVote = "t/vvote/"  // + change id → ValidatorVotes
	pfxEvidence      = "t/evid/"   // + evidence id → EvidenceRecord
	pfxPermit        = "t/permit/" // + address + be64(first tx height) → PermitRecord
	keyDataMeta      = "d/meta"    // DataMeta
	pfxDeviceData    = "d/dev/"    // + device key → DeviceData
)

// keyBuf is scratch space for the key of one read: a builder or checker
// keeps one and builds in it each key it reads, instead of allocating a
// key a read (made for every reading, they were a node's most frequent
// allocation in this package). The key of returns is valid until its next
// call; a Reader keeps no key it is given. Keys longer than the array are
// allocated.
type keyBuf struct{ b [48]byte }

// of is prefix followed by id.
func (k *keyBuf) of(prefix string, id []byte) []byte {
	return append(append(k.b[:0], prefix...), id...)
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func join(prefix string, parts ...[]byte) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p)
	}
	k := append(make([]byte, 0, n), prefix...) // one allocation: keys are made for every reading
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func accountKey(a chain.Address) []byte     { return join(pfxAccount, a[:]) }
func industryKey(a chain.Address) []byte    { return join(pfxIndustry, a[:]) }
func regulatorKey(a chain.Address) []byte   { return join(pfxRegulator, a[:]) }
func deviceKey(k chain.PubKey) []byte       { return join(pfxDevice, k[:]) }
func offerKey(id chain.Hash) []byte         { return join(pfxOffer, id[:]) }
func evidenceKey(id chain.Hash) []byte      { return join(pfxEvidence, id[:]) }
func deviceDataKey(k chain.PubKey) []byte   { return join(pfxDeviceData, k[:]) }
func validatorSetKey(from uint64) []byte    { return join(pfxValidatorSet, be64(from)) }
func validatorVoteKey(id chain.Hash) []byte { return join(pfxValidatorVote, id[:]) }

func settlementPrefix(period int64) []byte { return join(pfxSettlement, be64(uint64(period))) }
func settlementKey(period int64, a chain.Address) []byte {
	return join(pfxSettlement, be64(uint64(period)), a[:])
}

func closedPrefix(period int64) []byte { return join(pfxClosed, be64(uint64(period))) }
func closedKey(period int64, a chain.Address) []byte {
	return join(pfxClosed, be64(uint64(period)), a[:])
}

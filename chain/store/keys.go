package store

import (
	"encoding/binary"
	"fmt"

	"github.com/waterchain/waterchain/chain"
)

// Key prefixes: the first byte of every key names its table. The layout is
// documented in doc.go; changing it needs a new schemaVersion. Prefixes
// other packages may write under are reserved in reserved.go.
const (
	prefixMeta      = 'm' // m<name>                     metadata
	prefixHead      = 'l' // l<lane>                     lane head: height, header
	prefixHeader    = 'h' // h<lane><height>             block record: header and certificate (record.go)
	prefixCert      = 'c' // c<lane><height>             commit certificate, schema 3 and older (migrate.go)
	prefixEntry     = 'e' // e<lane><height><chunk>      entries chunk (chunks.go); schema 4 and older: one entry per index
	prefixBlockHash = 'b' // b<hash:8><lane><height>     (empty): blocks by hash
	prefixShared    = 'v' // v<id:4>                     a value block records share (shared.go)
	prefixReadSeq   = 'n' // n<device><seq>              time, height, index: readings in order (read.go)
	prefixReadLate  = 'q' // q<device><seq>              time, height, index: the other readings
	prefixReadTime  = 'r' // r<device><time><seq>        height, index: the other readings by time
	prefixReadHash  = 'd' // d<hash:8><height><index>    (empty): readings by hash
	prefixTx        = 'x' // x<tx hash>                  height, index
	prefixTxKind    = 'k' // k<kind><height><index>      (empty): txs by kind (kinds.go)
	prefixState     = 's' // s<state key>                state value
)

// schemaVersion is the layout version recorded under metaSchema.
const schemaVersion = 6 // 2: the reading hash index (d); 3: the tx kind index (k); 4: block records (h, v), short block hash index (b); 5: entries in chunks (e); 6: one device index (n, q, r)

// Metadata names.
const (
	metaSchema  = "schema"
	metaGenesis = "genesis"
)

const (
	heightLen   = 8
	indexLen    = 4
	hashLen     = len(chain.Hash{})
	pubKeyLen   = len(chain.PubKey{})
	locationLen = heightLen + indexLen
	// timedLocationLen is the length of a value of the device indexes
	// n and q: the reading's time, then its location.
	timedLocationLen = heightLen + locationLen
	// deviceSeqKeyLen is the length of a key of the device indexes n and q.
	deviceSeqKeyLen = 1 + pubKeyLen + heightLen
	blockRefLen     = 1 + heightLen
	// laneHeightKeyLen is the length of a block record key (h), or of
	// the prefix of a block's entries chunk keys (e); chunkKeyLen of a
	// chunk key.
	laneHeightKeyLen = 2 + heightLen
	chunkKeyLen      = laneHeightKeyLen + indexLen
	// headKeyLen is the length of a lane head key (l); headLen bounds
	// its value, the height and the header, for a chain id of at most
	// chain.MaxChainIDLen bytes.
	headKeyLen = 2
	headLen    = heightLen + chain.HeaderEncodingCap
	// blockHashKeyLen is the length of a block hash index key: the first
	// blockHashPrefixLen bytes of the hash, the lane and the height.
	blockHashPrefixLen = 8
	blockHashKeyLen    = 1 + blockHashPrefixLen + blockRefLen
	// readHashKeyLen is the length of a reading hash index key: the first
	// readHashPrefixLen bytes of the hash, the height and the index.
	readHashPrefixLen = 8
	readHashKeyLen    = 1 + readHashPrefixLen + locationLen
)

// readHashPrefix is the prefix of the reading hash index keys of the
// readings whose hash begins as h's: usually one, a few if hashes share
// their first bytes, which a lookup tells apart by the entries' hashes.
func readHashPrefix(h chain.Hash) []byte {
	return append([]byte{prefixReadHash}, h[:readHashPrefixLen]...)
}

func readHashKey(h chain.Hash, height uint64, index uint32) []byte {
	return appendLocation(append(make([]byte, 0, readHashKeyLen), readHashPrefix(h)...), height, index)
}

// blockHashPrefix is the prefix of the block hash index keys of the
// blocks whose hash begins as h's: usually one block, a few if hashes
// share their first bytes, which a lookup tells apart by the hash each
// block's record holds.
func blockHashPrefix(h chain.Hash) []byte {
	return append([]byte{prefixBlockHash}, h[:blockHashPrefixLen]...)
}

func blockHashKey(h chain.Hash, lane chain.Lane, height uint64) []byte {
	return appendBlockHashKey(make([]byte, 0, blockHashKeyLen), h, lane, height)
}

func appendBlockHashKey(k []byte, h chain.Hash, lane chain.Lane, height uint64) []byte {
	k = append(k, prefixBlockHash)
	k = append(k, h[:blockHashPrefixLen]...)
	k = append(k, byte(lane))
	return binary.BigEndian.AppendUint64(k, height)
}

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func headKey(lane chain.Lane) []byte { return []byte{prefixHead, byte(lane)} }

func laneHeightKey(prefix byte, lane chain.Lane, height uint64) []byte {
	return appendLaneHeight(make([]byte, 0, laneHeightKeyLen), prefix, lane, height)
}

// appendLaneHeight appends a key of a table keyed by lane and height
// (block records, and the prefix of entries chunks) to k.
func appendLaneHeight(k []byte, prefix byte, lane chain.Lane, height uint64) []byte {
	return binary.BigEndian.AppendUint64(append(k, prefix, byte(lane)), height)
}

func headerKey(lane chain.Lane, height uint64) []byte {
	return laneHeightKey(prefixHeader, lane, height)
}

func certKey(lane chain.Lane, height uint64) []byte {
	return laneHeightKey(prefixCert, lane, height)
}

// entriesPrefix is the prefix of the entry keys of one block; entry keys
// follow it with the big-endian index, so they iterate in block order.
func entriesPrefix(lane chain.Lane, height uint64) []byte {
	return laneHeightKey(prefixEntry, lane, height)
}

// entryKey is the key of one entry in schema 4 and older, which the
// migrations up to schema 5 read (migrate.go).
func entryKey(lane chain.Lane, height uint64, index uint32) []byte {
	return binary.BigEndian.AppendUint32(entriesPrefix(lane, height), index)
}

func hashKey(prefix byte, h chain.Hash) []byte {
	return append([]byte{prefix}, h[:]...)
}

func deviceKey(prefix byte, device chain.PubKey) []byte {
	k := make([]byte, 0, 1+pubKeyLen+2*heightLen)
	k = append(k, prefix)
	return append(k, device[:]...)
}

// timeBytes maps a time to 8 bytes whose byte order is the time order,
// negative times included.
func appendTime(k []byte, t chain.Time) []byte {
	return binary.BigEndian.AppendUint64(k, uint64(t)^(1<<63))
}

func readTimeKey(device chain.PubKey, t chain.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendTime(deviceKey(prefixReadTime, device), t), seq)
}

func readSeqKey(device chain.PubKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(deviceKey(prefixReadSeq, device), seq)
}

func readLateKey(device chain.PubKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(deviceKey(prefixReadLate, device), seq)
}

func stateKey(key []byte) []byte { return appendStateKey(make([]byte, 0, 1+len(key)), key) }

func appendStateKey(k, key []byte) []byte { return append(append(k, prefixState), key...) }

// keyName renders a key for error messages.
func keyName(k []byte) string {
	if len(k) == 0 {
		return "(empty key)"
	}
	body := k[1:]
	switch k[0] {
	case prefixMeta:
		return fmt.Sprintf("meta %q", body)
	case prefixHead:
		if len(body) == 1 {
			return fmt.Sprintf("head of %s", chain.Lane(body[0]))
		}
	case prefixHeader, prefixCert:
		if len(body) == 1+heightLen {
			what := "block record"
			if k[0] == prefixCert {
				what = "certificate"
			}
			return fmt.Sprintf("%s of %s/%d", what, chain.Lane(body[0]), binary.BigEndian.Uint64(body[1:]))
		}
	case prefixEntry:
		if len(body) == 1+heightLen {
			return fmt.Sprintf("entries of %s/%d", chain.Lane(body[0]), binary.BigEndian.Uint64(body[1:]))
		}
		if len(body) == 1+heightLen+indexLen {
			return fmt.Sprintf("entries chunk %d of %s/%d", binary.BigEndian.Uint32(body[1+heightLen:]), chain.Lane(body[0]), binary.BigEndian.Uint64(body[1:]))
		}
	case prefixBlockHash:
		if len(k) == blockHashKeyLen {
			return fmt.Sprintf("block hash index %x… %s/%d", body[:blockHashPrefixLen], chain.Lane(body[blockHashPrefixLen]), binary.BigEndian.Uint64(body[blockHashPrefixLen+1:]))
		}
		if len(body) == hashLen {
			return fmt.Sprintf("block hash index %x (schema 3)", body)
		}
	case prefixShared:
		if len(body) == 4 {
			return fmt.Sprintf("shared value %d", binary.BigEndian.Uint32(body))
		}
	case prefixTx, prefixReadHash:
		if len(body) == hashLen {
			what := map[byte]string{prefixTx: "tx index", prefixReadHash: "reading hash index (schema 5)"}[k[0]]
			return fmt.Sprintf("%s %x", what, body)
		}
		if k[0] == prefixReadHash && len(k) == readHashKeyLen {
			return fmt.Sprintf("reading hash index %x… data/%d[%d]", body[:readHashPrefixLen], binary.BigEndian.Uint64(body[readHashPrefixLen:]), binary.BigEndian.Uint32(body[readHashPrefixLen+heightLen:]))
		}
	case prefixReadTime:
		if len(body) == pubKeyLen+2*heightLen {
			t := chain.Time(binary.BigEndian.Uint64(body[pubKeyLen:]) ^ (1 << 63))
			return fmt.Sprintf("reading time index %x/%s/%d", body[:4], t, binary.BigEndian.Uint64(body[pubKeyLen+heightLen:]))
		}
	case prefixReadSeq, prefixReadLate:
		if len(body) == pubKeyLen+heightLen {
			what := map[byte]string{prefixReadSeq: "reading seq index", prefixReadLate: "late reading index"}[k[0]]
			return fmt.Sprintf("%s %x/%d", what, body[:4], binary.BigEndian.Uint64(body[pubKeyLen:]))
		}
	case prefixTxKind:
		if len(k) == kindKeyLen {
			return fmt.Sprintf("tx kind index %d/%d[%d]", body[0], binary.BigEndian.Uint64(body[1:]), binary.BigEndian.Uint32(body[1+heightLen:]))
		}
	case prefixState:
		return fmt.Sprintf("state %q", body)
	}
	if owner, ok := reservedPrefixes[k[0]]; ok {
		return fmt.Sprintf("%s record %q", owner, body)
	}
	return fmt.Sprintf("key %q", k)
}

// Location is where an entry is stored: its block's lane and height and its
// index among the block's entries (its Merkle leaf index).
type Location struct {
	Lane   chain.Lane `json:"lane"`
	Height uint64     `json:"height"`
	Index  uint32     `json:"index"`
}

func (l Location) String() string { return fmt.Sprintf("%s/%d[%d]", l.Lane, l.Height, l.Index) }

// appendLocation encodes the height and index of a location; the lane is
// implied by the index that holds it.
func appendLocation(b []byte, height uint64, index uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(b, height), index)
}

// appendTimedLocation encodes a value of the device indexes: the
// reading's time, as in keys, then its location.
func appendTimedLocation(b []byte, t chain.Time, height uint64, index uint32) []byte {
	return appendLocation(appendTime(b, t), height, index)
}

// decodeTimedLocation decodes a value of a device index stored under key.
func decodeTimedLocation(key, v []byte) (chain.Time, Location, error) {
	if len(v) != timedLocationLen {
		return 0, Location{}, corrupt(key, "time and location are %d bytes, want %d", len(v), timedLocationLen)
	}
	loc, err := decodeLocation(key, chain.LaneData, v[heightLen:])
	return decodeTime(v), loc, err
}

// decodeTime is the inverse of appendTime, on 8 bytes.
func decodeTime(b []byte) chain.Time {
	return chain.Time(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// decodeLocation decodes a location value stored under key.
func decodeLocation(key []byte, lane chain.Lane, v []byte) (Location, error) {
	if len(v) != locationLen {
		return Location{}, corrupt(key, "location is %d bytes, want %d", len(v), locationLen)
	}
	loc := Location{Lane: lane, Height: binary.BigEndian.Uint64(v), Index: binary.BigEndian.Uint32(v[heightLen:])}
	if loc.Height == 0 {
		return Location{}, corrupt(key, "location at height 0")
	}
	return loc, nil
}

// encodeHead encodes a lane head: its height and its header in full, so
// that Open loads the head without deriving fields from other records
// (a damaged record below the head is then the audit's to name, and does
// not stop the node from opening).
func encodeHead(h *chain.Header) []byte { return appendHead(make([]byte, 0, headLen), h) }

func appendHead(b []byte, h *chain.Header) []byte {
	return h.AppendEncoding(binary.BigEndian.AppendUint64(b, h.Height))
}

// decodeHead decodes the head of lane stored under key.
func decodeHead(key []byte, lane chain.Lane, v []byte) (chain.Header, error) {
	if len(v) < heightLen {
		return chain.Header{}, corrupt(key, "head is %d bytes, want at least %d", len(v), heightLen)
	}
	height, err := decodeHeight(key, v[:heightLen])
	if err != nil {
		return chain.Header{}, err
	}
	return decodeHeader(key, lane, height, v[heightLen:])
}

// decodeHeight decodes a head height stored under key.
func decodeHeight(key, v []byte) (uint64, error) {
	if len(v) != heightLen {
		return 0, corrupt(key, "height is %d bytes, want %d", len(v), heightLen)
	}
	h := binary.BigEndian.Uint64(v)
	if h == 0 {
		return 0, corrupt(key, "height 0")
	}
	return h, nil
}

func encodeBlockRef(lane chain.Lane, height uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{byte(lane)}, height)
}

// decodeBlockRef decodes the lane and height stored under a block hash.
func decodeBlockRef(key, v []byte) (chain.Lane, uint64, error) {
	if len(v) != blockRefLen {
		return 0, 0, corrupt(key, "block reference is %d bytes, want %d", len(v), blockRefLen)
	}
	lane, height := chain.Lane(v[0]), binary.BigEndian.Uint64(v[1:])
	if !lane.Valid() || height == 0 {
		return 0, 0, corrupt(key, "block reference names %s/%d", lane, height)
	}
	return lane, height, nil
}

// decodeHeader decodes the header stored under key, which must be the
// header of lane at height.
func decodeHeader(key []byte, lane chain.Lane, height uint64, v []byte) (chain.Header, error) {
	var h chain.Header
	if err := chain.Decode(v, &h); err != nil {
		return chain.Header{}, corrupt(key, "%v", err)
	}
	if err := h.ValidateBasic(); err != nil {
		return chain.Header{}, corrupt(key, "%v", err)
	}
	if h.Lane != lane || h.Height != height {
		return chain.Header{}, corrupt(key, "holds the header of %s/%d", h.Lane, h.Height)
	}
	if h.NumEntries > chain.MaxBlockEntries {
		return chain.Header{}, corrupt(key, "%d entries, more than %d", h.NumEntries, chain.MaxBlockEntries)
	}
	return h, nil
}

// decodeCert decodes the certificate stored under key, which must certify
// lane at height.
func decodeCert(key []byte, lane chain.Lane, height uint64, v []byte) (*chain.Certificate, error) {
	var c chain.Certificate
	if err := chain.Decode(v, &c); err != nil {
		return nil, corrupt(key, "%v", err)
	}
	if err := c.ValidateBasic(); err != nil {
		return nil, corrupt(key, "%v", err)
	}
	if c.Lane != lane || c.Height != height {
		return nil, corrupt(key, "holds the certificate of %s/%d", c.Lane, c.Height)
	}
	return &c, nil
}

// decodeReadingEntry decodes the reading stored under key.
func decodeReadingEntry(key, v []byte) (*chain.Reading, error) {
	r, err := chain.DecodeReading(v)
	if err != nil {
		return nil, corrupt(key, "%v", err)
	}
	return r, nil
}

// decodeTxEntry decodes the transaction stored under key.
func decodeTxEntry(key, v []byte) (*chain.Tx, error) {
	tx, err := chain.DecodeTx(v)
	if err != nil {
		return nil, corrupt(key, "%v", err)
	}
	return tx, nil
}

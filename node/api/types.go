package api

import (
	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/imaging"
)

// Status is GET /v1/status.
type Status struct {
	ChainID     string                `json:"chain_id"`
	GenesisHash chain.Hash            `json:"genesis_hash"`
	NodeID      string                `json:"node_id"`
	NodeKey     chain.PubKey          `json:"node_key"`
	Name        string                `json:"name,omitempty"`
	Role        string                `json:"role"`
	Lanes       map[string]LaneStatus `json:"lanes"`
	Peers       int                   `json:"peers"`
	Validators  []chain.PubKey        `json:"validators"`
	Syncing     bool                  `json:"syncing"`
	// Sync is block sync's progress while the node catches up (absent
	// otherwise).
	Sync    *SyncStatus   `json:"sync,omitempty"`
	Mempool MempoolStatus `json:"mempool"`
	Version string        `json:"version"`
	// Commit and GoVersion say which build of that version runs.
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	// P2PAddrs are the addresses this node announces to peers, with its
	// /p2p/ID: [p2p] external_addresses when set, else its listen
	// addresses. They are how peers reach it; a node behind NAT announcing
	// only private ones is unreachable from outside its network.
	P2PAddrs []string `json:"p2p_addrs"`
}

// LaneStatus is one lane's head in Status.
type LaneStatus struct {
	Height uint64     `json:"height"`
	Hash   chain.Hash `json:"hash"`
	// Time is when the last block was made (its header time; absent
	// before the first).
	Time chain.Time `json:"time"`
	// Round is the consensus round in progress at Height+1.
	Round uint32 `json:"round"`
	// NextBlockDue is when the lane makes its next block at the latest if
	// no entries arrive: the idle interval after its last block, or an
	// earlier settlement boundary (genesis params.idle_interval). Entries
	// waiting start a block at once.
	NextBlockDue chain.Time `json:"next_block_due"`
	// QuietReason says why the lane makes no block now and until when,
	// such as "idle: no entries waiting; next block by 10:42:00 UTC at the
	// latest (the idle interval 10m0s since the last block)"; empty while
	// it makes one (entries wait, or NextBlockDue has passed).
	QuietReason string `json:"quiet_reason,omitempty"`
	// Overdue is set when NextBlockDue passed more than a few rounds ago
	// and the lane has made no block since: it is stalled (too few
	// validators up, or this node cut off from them), not quiet.
	Overdue bool `json:"overdue,omitempty"`
}

// SyncStatus is block sync's progress: the heads it catches up to, how
// many blocks are left, and the rate and time left at the recent rate.
type SyncStatus struct {
	TargetData      uint64  `json:"target_data"`
	TargetTx        uint64  `json:"target_tx"`
	Remaining       uint64  `json:"remaining"`
	Synced          uint64  `json:"synced"`
	SyncedEntries   uint64  `json:"synced_entries"`
	BlocksPerSecond float64 `json:"blocks_per_second"`
	ETASeconds      float64 `json:"eta_seconds"`
}

// MempoolStatus counts entries waiting to be proposed.
type MempoolStatus struct {
	Readings int `json:"readings"`
	Txs      int `json:"txs"`
}

// Error is every error answer: {"error": "...", "code": "..."}, and
// with a Retry-After header, retry_after_ms: the same wait to the
// millisecond.
type Error struct {
	Message      string `json:"error"`
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// Error codes of the API.
const (
	CodeBadRequest    = "bad_request"
	CodeTooLarge      = "too_large"
	CodeBadSignature  = "bad_signature"
	CodeUnknownDevice = "unknown_device"
	CodeRevoked       = "device_revoked"
	CodeReplayed      = "replayed"
	CodeOutOfWindow   = "time_outside_window"
	CodeBadNonce      = "bad_nonce"
	CodeRejected      = "rejected"
	CodeNotFound      = "not_found"
	CodeMempoolFull   = "mempool_full"
	CodeDuplicate     = "duplicate"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	// CodeBadImage: an image upload that is not an acceptable JPEG or PNG
	// (415 for another format, 422 for a truncated, corrupt or oversized
	// one).
	CodeBadImage = "bad_image"
	// CodeHashMismatch: the uploaded bytes do not hash to the image hash
	// of the route (the reading's image_hash).
	CodeHashMismatch = "hash_mismatch"
)

// SubmitReadingsResult answers POST /v1/readings: one result per reading, in
// order. The status is 202 when all were accepted, 400/409/429 (the first
// error's) when none was, and 207 when some were. When readings were
// refused for now (429 mempool_full, or busy), RetryAfterMs is when to
// send them again, to the millisecond, and the answer's Retry-After
// header says it in whole seconds, 207 included.
type SubmitReadingsResult struct {
	Accepted     int           `json:"accepted"`
	Rejected     int           `json:"rejected"`
	RetryAfterMs int64         `json:"retry_after_ms,omitempty"`
	Results      []EntryResult `json:"results"`
}

// EntryResult is the fate of one submitted reading or transaction.
type EntryResult struct {
	Hash  chain.Hash `json:"hash"`
	Seq   uint64     `json:"seq,omitempty"`
	Error string     `json:"error,omitempty"`
	Code  string     `json:"code,omitempty"`
}

// SubmitTxResult answers POST /v1/txs.
type SubmitTxResult struct {
	Hash chain.Hash `json:"hash"`
}

// TxStatus answers GET /v1/txs/{hash}.
type TxStatus struct {
	Hash   chain.Hash `json:"hash"`
	Status string     `json:"status"` // "pending" | "final"
	Height uint64     `json:"height,omitempty"`
	Index  uint32     `json:"index,omitempty"`
	Tx     *chain.Tx  `json:"tx,omitempty"`
}

// Reading is a finalized reading with where it is on the data chain.
type Reading struct {
	chain.Reading
	Hash   chain.Hash `json:"hash"`
	Height uint64     `json:"height"`
	Index  uint32     `json:"index"`
	// Image summarizes the analysis of the reading's camera image, when
	// the node holds it (GET /v1/images/{hash}/analysis has all of it).
	Image *ImageSummary `json:"image,omitempty"`
}

// ImageSummary is what Reading shows of its image's analysis.
type ImageSummary struct {
	Hash chain.Hash `json:"hash"`
	// Class is clear, turbid, coloured or foamy.
	Class string `json:"class"`
	// TurbidityIndex is the image's turbidity index, 0..1000 (not NTU: it
	// sits beside the meter's own turbidity measure).
	TurbidityIndex uint16 `json:"turbidity_index"`
	// Dark is set for a frame too dark to judge.
	Dark bool `json:"dark,omitempty"`
	// Objects counts floating objects; ObjectArea is their cover in
	// permille of the frame.
	Objects    uint32 `json:"objects"`
	ObjectArea uint16 `json:"object_area"`
}

// ImageStored answers PUT /v1/images/{hash}.
type ImageStored struct {
	Hash  chain.Hash `json:"hash"`
	Bytes int        `json:"bytes"`
}

// Readings answers GET /v1/readings.
type Readings struct {
	Readings []Reading `json:"readings"`
}

// Account answers GET /v1/accounts/{address}.
type Account struct {
	Address  chain.Address `json:"address"`
	Balance  uint64        `json:"balance"`
	Nonce    uint64        `json:"nonce"`
	Industry string        `json:"industry,omitempty"`
}

// Device answers GET /v1/devices/{key}.
type Device struct {
	Key              chain.PubKey  `json:"key"`
	Owner            chain.Address `json:"owner"`
	Industry         string        `json:"industry,omitempty"`
	Label            string        `json:"label,omitempty"`
	Status           string        `json:"status"` // "active" | "revoked"
	RegisteredHeight uint64        `json:"registered_height"`
	RevokedHeight    uint64        `json:"revoked_height,omitempty"`
	LastSeq          uint64        `json:"last_seq"`
	LastTime         chain.Time    `json:"last_time,omitempty"`
	Missing          uint64        `json:"missing"`
}

// ReadingStatus answers GET /v1/readings/{hash}: "pending" while the
// reading waits in this node's mempool (a 202 from POST /v1/readings means
// only that), "final" once a data block holds it.
type ReadingStatus struct {
	Hash   chain.Hash `json:"hash"`
	Status string     `json:"status"` // "pending" | "final"
	// Height and Index locate a final reading on the data chain.
	Height  uint64         `json:"height,omitempty"`
	Index   *uint32        `json:"index,omitempty"`
	Reading *chain.Reading `json:"reading,omitempty"`
}

// FinalEvent is the payload of a "final" event on GET /v1/events: one
// reading became final.
type FinalEvent struct {
	Hash   chain.Hash   `json:"hash"`
	Device chain.PubKey `json:"device"`
	Seq    uint64       `json:"seq"`
	Time   chain.Time   `json:"time"`
	Height uint64       `json:"height"`
	Index  uint32       `json:"index"`
}

// Trade is one accepted allowance offer, for GET /v1/market/trades.
type Trade struct {
	Tx     chain.Hash    `json:"tx"`
	Offer  chain.Hash    `json:"offer"`
	Buyer  chain.Address `json:"buyer"`
	Seller chain.Address `json:"seller"`
	Volume uint64        `json:"volume"` // litres
	Price  uint64        `json:"price"`  // smallest drop units per litre
	Amount uint64        `json:"amount"` // drops paid, smallest units
	// Height and Index place the accept-offer transaction on the tx
	// chain; "height:index" of the last trade of a page is the next
	// page's before cursor.
	Height uint64     `json:"height"`
	Index  uint32     `json:"index"`
	Time   chain.Time `json:"time"`
}

// Evidence is one recorded equivocation, for GET /v1/evidence, with the
// place of the transaction that recorded it ("tx_height:tx_index" of the
// last of a page is the next page's before cursor).
type Evidence struct {
	state.EvidenceRecord
	TxIndex uint32 `json:"tx_index"`
}

// Industry is GET /v1/industries/{address}: the industry with its meters
// and every version of its permit, oldest first.
type Industry struct {
	*state.IndustryInfo
	Devices       []state.Device       `json:"devices"`
	PermitHistory []state.PermitRecord `json:"permit_history"`
}

// AuditStatus is GET /v1/audit on an auditor: what it has verified. An
// auditor commits only blocks it has checked (signatures, hash links,
// anchors, certificates, re-execution to the state root), so its heads are
// its verified heights.
type AuditStatus struct {
	Auditor  string `json:"auditor"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Verified struct {
		Data uint64 `json:"data"`
		Tx   uint64 `json:"tx"`
	} `json:"verified"`
	CheckedAt chain.Time `json:"checked_at"`
}

// ImageReport is GET /v1/images/{hash}/analysis.
type ImageReport struct {
	Hash     chain.Hash        `json:"hash"`
	Format   string            `json:"format"`
	Bytes    uint32            `json:"bytes"`
	Reading  *ImageReading     `json:"reading,omitempty"`
	Analysis *imaging.Analysis `json:"analysis"`
}

// ImageReading is the reading an image belongs to, as ImageReport shows
// it. Height is 0 while the reading waits in the mempool.
type ImageReading struct {
	Device          chain.PubKey `json:"device"`
	Seq             uint64       `json:"seq"`
	Time            chain.Time   `json:"time"`
	Height          uint64       `json:"height,omitempty"`
	Turbidity       int64        `json:"turbidity"`
	SuspendedSolids int64        `json:"suspended_solids"`
	Absorbance      int64        `json:"absorbance"`
}

// File is an answer served as bytes (an image), not JSON.
type File struct {
	ContentType string
	Body        []byte
}

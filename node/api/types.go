package api

import (
	"github.com/waterchain/waterchain/chain"
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
}

// LaneStatus is one lane's head in Status.
type LaneStatus struct {
	Height uint64     `json:"height"`
	Hash   chain.Hash `json:"hash"`
	Time   chain.Time `json:"time"`
	// Round is the consensus round in progress at Height+1.
	Round uint32 `json:"round"`
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

// Error is every error answer: {"error": "...", "code": "..."}.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
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
// error's) when none was, and 207 when some were.
type SubmitReadingsResult struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Results  []EntryResult `json:"results"`
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

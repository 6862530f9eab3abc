// Package images keeps the camera images of readings (issue 9) beside the
// chain: a reading may carry ImageHash, the SHA-256 of a JPEG or PNG
// frame, so the device signature covers the image; the bytes stay
// off-chain, in the node's KV under the prefix chain/store reserves for
// them (store.PrefixImages).
//
//   - Upload: Put stores a file only when a reading waiting in the
//     mempool or final on the data chain names its hash, and only once
//     imaging.DecodeVerified accepts it; the analysis is stored beside it
//     in the same batch. Anything refused leaves no trace.
//   - Index: when a data block commits, the node calls Index, which
//     records, for each image hash of the block, the first final reading
//     naming it (for the API and the upload check) and, when this node
//     lacks the file, a "missing" mark.
//   - Fetch: Run (the node's background goroutine) asks peers for missing
//     images over the Protocol request/response protocol, checks them
//     exactly like an upload and stores them; ServeRequest answers the
//     peers' requests. Auditors and nodes that never got the upload so end
//     up holding every image, verified against the chain's hash.
//   - Serve: File (the bytes), Analysis (the figures beside the reading's
//     own optical measures), Overlay (a PNG with the detected objects
//     outlined, cached by hash and rendered once for concurrent requests:
//     overlay.go), AttachSummaries (a summary in GET /v1/readings).
//   - Alerts: storing an image raises Local alerts through the AlertSink:
//     floating solids seen, and the image class of a device changing from
//     its previous frame's. They are Local because a node only raises them
//     once it holds the file; every node that holds it derives the same
//     ones.
//   - Restart (replay.go): image alerts are not derived from the chain, so
//     the node calls ReplayAlerts after its chain replay. It re-derives
//     them from the KV alone, storing nothing: the held images whose
//     reading is final, per device in seq order, through the same rules
//     (judgeFrame, frameAlerts), the class-change chain recomputed in
//     memory. An alert's ID hashes only its kind and reading, so a
//     restarted node lists the IDs it raised live whenever the frames had
//     been stored in seq order; frames stored out of order, or an orphan
//     (below) that moved the live class state, may differ. A frame stored
//     for a waiting reading that only becomes final after the restart has
//     its alerts back at the next restart, not before.
//   - Sweep (sweep.go): an image accepted for a waiting reading that never
//     became final (dropped, replaced, lost in a restart) is an orphan. Run
//     sweeps orphans at its start and every sweepInterval: it deletes the
//     file and metadata of each held image that no final reading and no
//     waiting reading names and that was stored (meta.StoredAt) more than
//     Config.OrphanGrace before the chain's time. The node sets the grace
//     to two reading windows plus a clock margin: a reading final in a
//     block is timed within a window of the block, and was accepted within
//     a window of this node's clock before its image was stored, so once
//     the image index has reached a block timed past the grace, no reading
//     waiting then can ever be final. An image a final reading names is
//     never deleted; a re-upload for a waiting reading refreshes StoredAt;
//     a record from before StoredAt counts as stored when New ran.
//
// # What the node must do
//
// Build one Images per node with New, over the node's KV and the narrow
// views it declares (Chain, Pool, Peers, AlertSink, Clock); register
// Collectors with its metrics registry and ServeRequest for Protocol with
// its p2p host; call Index on the loop after each data block commits,
// before the mempool forgets the block's readings; run Run in a goroutine
// once the p2p host is up. Every method is safe for concurrent use. The
// limits (decode slots, the write lock, the overlay cache) belong to the
// instance, so two nodes in one process do not share them.
package images

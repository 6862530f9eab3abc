package node

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/waterchain/waterchain/chain"
)

// verifyEntries checks the signatures of n entries in batches spread over
// the cores, skipping those in the cache and adding the good ones to it. It
// returns one error per entry (nil when valid). hashes are the entries'
// hashes; at(i) gives what to check for entry i. Block validation calls it
// with workers nil (all cores); the door with its own bounded workers.
func verifyEntries(cache *sigCache, workers *workerPool, chainID string, hashes []chain.Hash, at func(i int) (pub chain.PubKey, domain string, msg []byte, sig chain.Signature)) []error {
	errs := make([]error, len(hashes))
	todo := uncached(cache, hashes)
	if len(todo) == 0 {
		return errs
	}
	verifyIndexes(cache, workers, chainID, hashes, todo, errs, at)
	return errs
}

// uncached returns the indexes of hashes not in cache.
func uncached(cache *sigCache, hashes []chain.Hash) []int {
	var todo []int
	for i, h := range hashes {
		if cache == nil || !cache.Has(h) {
			todo = append(todo, i)
		}
	}
	return todo
}

// verifyIndexes checks the entries at todo, setting errs[i] for each bad one.
func verifyIndexes(cache *sigCache, workers *workerPool, chainID string, hashes []chain.Hash, todo []int, errs []error, at func(i int) (chain.PubKey, string, []byte, chain.Signature)) {
	n := runtime.GOMAXPROCS(0)
	if workers != nil {
		n = workers.size()
	}
	const minChunk = 64
	if w := (len(todo) + minChunk - 1) / minChunk; w < n {
		n = w
	}
	chunk := (len(todo) + n - 1) / n
	var wg sync.WaitGroup
	for start := 0; start < len(todo); start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if workers != nil {
				workers.acquire()
				defer workers.release()
			}
			bv := chain.NewBatchVerifier(len(part))
			for _, i := range part {
				pub, domain, msg, sig := at(i)
				bv.Add(pub, domain, chainID, msg, sig)
			}
			res, _ := bv.Verify()
			for k, i := range part {
				errs[i] = res[k]
				if res[k] == nil && cache != nil {
					cache.Add(hashes[i])
				}
			}
		}()
	}
	wg.Wait()
}

// workerPool bounds the goroutines checking signatures at once.
type workerPool struct{ tokens chan struct{} }

func newWorkerPool(n int) *workerPool { return &workerPool{tokens: make(chan struct{}, n)} }

func (p *workerPool) size() int { return cap(p.tokens) }
func (p *workerPool) acquire()  { p.tokens <- struct{}{} }
func (p *workerPool) release()  { <-p.tokens }

// errDoorBusy is returned by doorVerifier.verify when the entries would
// not fit the door's signature-check budget now.
var errDoorBusy = errors.New("the node is checking as many client signatures as it allows")

// doorVerifier checks the signatures of entries arriving from clients
// (HTTP, MQTT) within a budget, so that a flood of them can neither queue
// without bound nor take the cores block validation needs:
//
//   - at most inFlight entries are waiting or being checked at once; a
//     request that does not fit is refused at once (errDoorBusy), never
//     queued;
//   - at most workers goroutines check them at once (by default one fewer
//     than GOMAXPROCS), while block validation uses every core: a flood
//     of client signatures leaves at least one core to consensus.
//
// Gossip and blocks from peers (the validators of genesis) do not pass
// here.
type doorVerifier struct {
	max      int64
	inFlight *semaphore.Weighted
	workers  *workerPool
	// checked is called with the number of signatures checked (cache
	// misses), for the metrics.
	checked func(n int)
}

// newDoorVerifier returns a door verifier with a budget of inFlight
// entries and workers goroutines (0: GOMAXPROCS-1, at least 1).
func newDoorVerifier(inFlight, workers int, checked func(int)) *doorVerifier {
	if workers <= 0 {
		workers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	return &doorVerifier{max: int64(inFlight), inFlight: semaphore.NewWeighted(int64(inFlight)), workers: newWorkerPool(workers), checked: checked}
}

// verify is verifyEntries within the door's budget; it returns
// errDoorBusy, checking nothing, when the uncached entries do not fit now.
// A request of more entries than the whole budget waits for the whole
// budget to be free.
func (d *doorVerifier) verify(cache *sigCache, chainID string, hashes []chain.Hash, at func(i int) (chain.PubKey, string, []byte, chain.Signature)) ([]error, error) {
	errs := make([]error, len(hashes))
	todo := uncached(cache, hashes)
	if len(todo) == 0 {
		return errs, nil
	}
	weight := min(int64(len(todo)), d.max)
	if !d.inFlight.TryAcquire(weight) {
		return nil, fmt.Errorf("%w (door.verify_in_flight %d): %d signatures to check; retry after a second", errDoorBusy, d.max, len(todo))
	}
	defer d.inFlight.Release(weight)
	verifyIndexes(cache, d.workers, chainID, hashes, todo, errs, at)
	if d.checked != nil {
		d.checked(len(todo))
	}
	return errs, nil
}

// readingHashes hashes each reading once.
func readingHashes(rs []*chain.Reading) []chain.Hash {
	hs := make([]chain.Hash, len(rs))
	for i, r := range rs {
		hs[i] = r.Hash()
	}
	return hs
}

// readingSig is what verifyEntries checks of reading r.
func readingSig(r *chain.Reading) (chain.PubKey, string, []byte, chain.Signature) {
	return r.Device, chain.DomainReading, r.SigningBytes(), r.Sig
}

// txSig is what verifyEntries checks of transaction tx.
func txSig(tx *chain.Tx) (chain.PubKey, string, []byte, chain.Signature) {
	return tx.From, chain.DomainTx, tx.SigningBytes(), tx.Sig
}

// verifyReadings checks reading signatures with every core (blocks and
// gossip); hashes are the readings' hashes (nil: computed here). See
// verifyEntries.
func verifyReadings(cache *sigCache, chainID string, rs []*chain.Reading, hashes []chain.Hash) []error {
	if hashes == nil {
		hashes = readingHashes(rs)
	}
	return verifyEntries(cache, nil, chainID, hashes, func(i int) (chain.PubKey, string, []byte, chain.Signature) { return readingSig(rs[i]) })
}

// verifyTxs checks transaction signatures with every core; see
// verifyEntries.
func verifyTxs(cache *sigCache, chainID string, txs []*chain.Tx) []error {
	return verifyEntries(cache, nil, chainID, txHashes(txs), func(i int) (chain.PubKey, string, []byte, chain.Signature) { return txSig(txs[i]) })
}

func txHashes(txs []*chain.Tx) []chain.Hash {
	hashes := make([]chain.Hash, len(txs))
	for i, tx := range txs {
		hashes[i] = tx.Hash()
	}
	return hashes
}

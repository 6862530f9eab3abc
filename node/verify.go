package node

import (
	"runtime"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// verifyEntries checks the signatures of n entries in batches spread over
// all cores, skipping those in the cache and adding the good ones to it. It
// returns one error per entry (nil when valid). hashes are the entries'
// hashes; at(i) gives what to check for entry i.
func verifyEntries(cache *sigCache, chainID string, hashes []chain.Hash, at func(i int) (pub chain.PubKey, domain string, msg []byte, sig chain.Signature)) []error {
	errs := make([]error, len(hashes))
	var todo []int
	for i, h := range hashes {
		if cache == nil || !cache.Has(h) {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return errs
	}
	workers := runtime.GOMAXPROCS(0)
	const minChunk = 64
	if w := (len(todo) + minChunk - 1) / minChunk; w < workers {
		workers = w
	}
	chunk := (len(todo) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := 0; start < len(todo); start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		wg.Add(1)
		go func() {
			defer wg.Done()
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
	return errs
}

// readingHashes hashes each reading once.
func readingHashes(rs []*chain.Reading) []chain.Hash {
	hs := make([]chain.Hash, len(rs))
	for i, r := range rs {
		hs[i] = r.Hash()
	}
	return hs
}

// verifyReadings checks reading signatures; hashes are the readings'
// hashes (nil: computed here). See verifyEntries.
func verifyReadings(cache *sigCache, chainID string, rs []*chain.Reading, hashes []chain.Hash) []error {
	if hashes == nil {
		hashes = readingHashes(rs)
	}
	return verifyEntries(cache, chainID, hashes, func(i int) (chain.PubKey, string, []byte, chain.Signature) {
		r := rs[i]
		return r.Device, chain.DomainReading, r.SigningBytes(), r.Sig
	})
}

// verifyTxs checks transaction signatures; see verifyEntries.
func verifyTxs(cache *sigCache, chainID string, txs []*chain.Tx) []error {
	hashes := make([]chain.Hash, len(txs))
	for i, tx := range txs {
		hashes[i] = tx.Hash()
	}
	return verifyEntries(cache, chainID, hashes, func(i int) (chain.PubKey, string, []byte, chain.Signature) {
		tx := txs[i]
		return tx.From, chain.DomainTx, tx.SigningBytes(), tx.Sig
	})
}

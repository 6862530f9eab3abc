package node

import (
	"runtime"
	"sync"

	"github.com/waterchain/waterchain/chain"
)

// signed is an entry with one signature: a reading or a transaction.
type signed interface {
	Hash() chain.Hash
	SigningBytes() []byte
}

// verifyEntries checks the signatures of entries in batches spread over all
// cores, skipping those in the cache and adding the good ones to it. It
// returns one error per entry (nil when valid). signer, domain and sig
// extract what to check from entry i.
func verifyEntries(cache *sigCache, chainID string, n int, at func(i int) (h chain.Hash, pub chain.PubKey, domain string, msg func() []byte, sig chain.Signature)) []error {
	errs := make([]error, n)
	var todo []int
	hashes := make([]chain.Hash, n)
	for i := 0; i < n; i++ {
		h, _, _, _, _ := at(i)
		hashes[i] = h
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
		end := min(start+chunk, len(todo))
		part := todo[start:end]
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := chain.NewBatchVerifier(len(part))
			for _, i := range part {
				_, pub, domain, msg, sig := at(i)
				bv.Add(pub, domain, chainID, msg(), sig)
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

// verifyReadings checks reading signatures; see verifyEntries.
func verifyReadings(cache *sigCache, chainID string, rs []*chain.Reading) []error {
	return verifyEntries(cache, chainID, len(rs), func(i int) (chain.Hash, chain.PubKey, string, func() []byte, chain.Signature) {
		r := rs[i]
		return r.Hash(), r.Device, chain.DomainReading, r.SigningBytes, r.Sig
	})
}

// verifyTxs checks transaction signatures; see verifyEntries.
func verifyTxs(cache *sigCache, chainID string, txs []*chain.Tx) []error {
	return verifyEntries(cache, chainID, len(txs), func(i int) (chain.Hash, chain.PubKey, string, func() []byte, chain.Signature) {
		tx := txs[i]
		return tx.Hash(), tx.From, chain.DomainTx, tx.SigningBytes, tx.Sig
	})
}

// Package verifyrate measures this machine's signature verification rate on
// all cores: crypto/ed25519 one signature at a time (the yardstick every
// throughput figure of the project is compared with) and the chain's own
// batch verification. The bench command, the ingestion benchmark and the
// audit benchmark all measure it the same way, in the same run as what
// they compare with it.
package verifyrate

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// verifySamples is the number of distinct signed messages the verification
// measurements cycle through.
const verifySamples = 256

// sample is a reading-sized signed message.
type sample struct {
	key       *chain.PrivateKey
	pub       ed25519.PublicKey
	canonical []byte
	sig       chain.Signature
	digest    [32]byte
}

func makeSamples() ([]sample, error) {
	out := make([]sample, verifySamples)
	for i := range out {
		key, err := chain.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		r := &chain.Reading{Device: key.Public(), Seq: uint64(i + 1), Time: chain.TimeOf(time.Now()),
			FlowRate: 12_000_000, Volume: 3_000_000, VolumeTotal: 3_000_000,
			Conductivity: 8_500, SuspendedSolids: 250, Absorbance: 120, Turbidity: 450}
		r.Sign("waterchain-bench", key)
		pub := key.Public()
		out[i] = sample{key: key, pub: ed25519.PublicKey(pub[:]), canonical: r.SigningBytes(), sig: r.Sig,
			digest: chain.SignDigest(chain.DomainReading, "waterchain-bench", r.SigningBytes())}
	}
	return out, nil
}

// onAllCores runs work on GOMAXPROCS goroutines for d; work does one unit
// of k verifications and returns k (or an error). It returns the
// verifications per second.
func onAllCores(ctx context.Context, d time.Duration, work func(worker, i int) (int, error)) (float64, error) {
	workers := runtime.GOMAXPROCS(0)
	var stop atomic.Bool
	var total atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := w; !stop.Load() && ctx.Err() == nil; i++ {
				k, err := work(w, i)
				if err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				n += k
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(total.Load()) / elapsed.Seconds(), nil
}

// ErrVerify is returned when a measurement's own valid signature fails to
// verify: the measurement would be meaningless.
var ErrVerify = errors.New("verifyrate: a valid sample signature did not verify")

// Ed25519 measures crypto/ed25519.Verify per second on all cores
// (GOMAXPROCS goroutines) for d, over reading-sized messages: the bound the
// bench compares the network against.
func Ed25519(ctx context.Context, d time.Duration) (float64, error) {
	samples, err := makeSamples()
	if err != nil {
		return 0, err
	}
	return onAllCores(ctx, d, func(_, i int) (int, error) {
		s := &samples[i%len(samples)]
		if !ed25519.Verify(s.pub, s.digest[:], s.sig) {
			return 0, fmt.Errorf("%w: crypto/ed25519, sample %d", ErrVerify, i%len(samples))
		}
		return 1, nil
	})
}

// batchSize is the batch Batch verifies at once, about what
// a node's verification worker gets from a block of a few hundred readings.
const batchSize = 64

// Batch measures the chain's own batch verification
// (chain.BatchVerifier: ZIP-215 rules, curve25519-voi) per second on all
// cores for d, in batches of 64.
func Batch(ctx context.Context, d time.Duration) (float64, error) {
	samples, err := makeSamples()
	if err != nil {
		return 0, err
	}
	return onAllCores(ctx, d, func(_, i int) (int, error) {
		bv := chain.NewBatchVerifier(batchSize)
		for k := range batchSize {
			s := &samples[(i*batchSize+k)%len(samples)]
			bv.Add(s.key.Public(), chain.DomainReading, "waterchain-bench", s.canonical, s.sig)
		}
		res, _ := bv.Verify()
		for k, err := range res {
			if err != nil {
				return 0, fmt.Errorf("%w: batch entry %d: %v", ErrVerify, k, err)
			}
		}
		return batchSize, nil
	})
}

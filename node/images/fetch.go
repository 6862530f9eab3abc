package images

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// Protocol is the request/response protocol peers fetch images over: the
// request is a 32-byte image hash, the response the file, or an error when
// the peer lacks it.
const Protocol = "images/get"

const (
	// fetchInterval is how often the fetcher looks for missing images.
	fetchInterval = time.Second
	// fetchBatch bounds the missing images tried in one round.
	fetchBatch = 64
	// retryMin and retryMax bound the wait before asking the peers again
	// for an image none of them had (doubling in between).
	retryMin = time.Second
	retryMax = 5 * time.Minute
	// giveUp is how long after noticing it a node stops looking for an
	// image: a meter that never uploads its frame does not make every
	// node ask forever.
	giveUp = 24 * time.Hour
	// requestTimeout bounds one peer request for one image.
	requestTimeout = 20 * time.Second
)

// ServeRequest answers a peer's Protocol request with the file of the
// image it names; register it with the p2p host.
func (im *Images) ServeRequest(_ context.Context, _ chain.PubKey, req []byte) ([]byte, error) {
	h, err := parseRequest(req)
	if err != nil {
		return nil, err
	}
	data, err := im.kv.Get(recordKey(keyFile, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotHeld, h.Short())
	}
	return data, err
}

// parseRequest decodes a Protocol request.
func parseRequest(req []byte) (chain.Hash, error) {
	var h chain.Hash
	if len(req) != len(h) {
		return h, fmt.Errorf("%w: %d bytes, want a %d-byte hash", ErrBadRequest, len(req), len(h))
	}
	copy(h[:], req)
	if h.IsZero() {
		return h, fmt.Errorf("%w: zero hash", ErrBadRequest)
	}
	return h, nil
}

// Run fetches, until ctx ends, the images final readings name and this
// node lacks. An image no peer has is asked for again after a doubling
// wait (retryMin to retryMax), for giveUp at most. At its first round and
// every sweepInterval after, it sweeps orphan images (sweep.go).
func (im *Images) Run(ctx context.Context) {
	t := time.NewTicker(fetchInterval)
	defer t.Stop()
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	retries := map[chain.Hash]retry{}
	nextSweep := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !time.Now().Before(nextSweep) {
			im.runSweep()
			nextSweep = time.Now().Add(sweepInterval)
		}
		missing, err := im.missing(fetchBatch, func(h chain.Hash) bool { return time.Now().Before(retries[h].at) })
		if err != nil {
			im.log.Warn("image fetcher", "err", err)
			continue
		}
		for _, m := range missing {
			if ctx.Err() != nil {
				return
			}
			if im.clock.Now().Sub(m.noticed) > giveUp {
				im.log.Warn("giving up on an image no peer has", "hash", m.hash.Short(), "since", m.noticed)
				im.dropMissing(m.hash)
				delete(retries, m.hash)
				continue
			}
			if err := im.fetch(ctx, m.hash); err != nil {
				r := retries[m.hash]
				r.wait = min(max(2*r.wait, retryMin), retryMax)
				r.at = time.Now().Add(r.wait)
				retries[m.hash] = r
				im.log.Debug("image not fetched", "hash", m.hash.Short(), "retry_in", r.wait, "err", err)
				continue
			}
			delete(retries, m.hash)
		}
		if len(retries) > 4*fetchBatch {
			for h, r := range retries { // forget stale entries of images since stored or dropped
				if time.Since(r.at) > retryMax {
					delete(retries, h)
				}
			}
		}
	}
}

type missingImage struct {
	hash    chain.Hash
	noticed time.Time
}

// missing lists up to limit missing images, skipping those for which skip
// says so and dropping the marks of images held since.
func (im *Images) missing(limit int, skip func(chain.Hash) bool) ([]missingImage, error) {
	var out []missingImage
	var held []chain.Hash
	prefix := recordKey(keyMissing, nil)
	err := im.kv.Iterate(prefix, store.IterOptions{}, func(k, v []byte) error {
		var h chain.Hash
		if len(k) != len(prefix)+len(h) || len(v) != 8 {
			return fmt.Errorf("%w: missing-image mark %x", ErrRecord, k)
		}
		copy(h[:], k[len(prefix):])
		if ok, err := im.Held(h); err != nil {
			return err
		} else if ok {
			held = append(held, h)
			return nil
		}
		if skip(h) {
			return nil
		}
		out = append(out, missingImage{hash: h, noticed: time.UnixMilli(int64(binary.BigEndian.Uint64(v)))})
		if len(out) == limit {
			return store.ErrStop
		}
		return nil
	})
	for _, h := range held {
		im.dropMissing(h)
	}
	return out, err
}

func (im *Images) dropMissing(h chain.Hash) {
	b := im.kv.NewBatch()
	defer b.Discard()
	b.Delete(recordKey(keyMissing, h[:]))
	if err := b.Write(); err != nil {
		im.log.Warn("image fetcher: dropping a mark", "hash", h.Short(), "err", err)
	}
}

// fetch asks the peers, in random order, for image h until one sends a
// file that passes the upload checks, and stores it.
func (im *Images) fetch(ctx context.Context, h chain.Hash) error {
	o, ok, err := im.owner(h)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnreferenced, h.Short())
	}
	var peers []chain.PubKey
	if im.peers != nil {
		peers = im.peers.Peers()
	}
	if len(peers) == 0 {
		return fmt.Errorf("%w: %s", ErrNoPeers, h.Short())
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	var errs []error
	for _, p := range peers {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		data, err := im.peers.Request(rctx, p, Protocol, h[:])
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := im.store(h, data, o); err != nil {
			// A peer that sends bytes failing the checks is faulty or
			// hostile; another may have the right file.
			im.log.Warn("peer sent a bad image", "peer", p.Short(), "hash", h.Short(), "err", err)
			errs = append(errs, err)
			continue
		}
		im.log.Debug("image fetched from a peer", "peer", p.Short(), "hash", h.Short(), "bytes", len(data))
		return nil
	}
	return errors.Join(errs...)
}

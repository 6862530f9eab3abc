package mempool

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/waterchain/waterchain/chain"
)

var (
	// ErrFull is returned by Add when the pool holds its maximum.
	ErrFull = errors.New("mempool full")
	// ErrDuplicate is returned by Add for an entry already in the pool.
	ErrDuplicate = errors.New("already in the mempool")
)

// Readings is the pool of readings waiting for a data block.
type Readings struct {
	max int

	mu    sync.Mutex // guards the fields below
	order []chain.Hash
	byKey map[chain.Hash]*chain.Reading
	added map[chain.Hash]time.Time
	// seqs records, per device, the sequence numbers waiting, so the door
	// can refuse a second reading with the same device and seq.
	seqs map[seqKey]chain.Hash
	// staleSent marks readings Stale has returned.
	staleSent map[chain.Hash]bool
	// The door's rule (admission.go): admits is false until SetAdmission;
	// reserved counts the room Tickets hold and have not used; refused
	// holds, per device, the first seq refused for the window (forgotten
	// after its Retry-After and refusalSlack; last swept at refusedSwept).
	admission    Admission
	admits       bool
	rate         rateEstimate
	reserved     int
	refused      map[chain.PubKey]refusedSeq
	refusedSwept time.Time
	// pastRefused marks readings admitted past a refused seq of their
	// device (Entry.PastRefused).
	pastRefused map[chain.Hash]bool
	// held marks readings the block builder left out to wait for their
	// device's predecessors (MarkHeld); the door does not count them.
	held map[chain.Hash]bool
	// own marks readings this node's door admitted (Ticket.Add), ownHeld
	// counts those of them held, and ownRate is the rate at which they
	// are finalized: the door's share of the window (admission.go).
	own     map[chain.Hash]bool
	ownHeld int
	ownRate rateEstimate
	// blockLatency is how long the youngest reading of each finalized
	// block had waited here, and pipeline the part of it from the block's
	// building to its finality, in seconds, weighted over recent blocks
	// (FinalizedBlock). overloaded is set while the door refuses for the
	// window after readings waited longer than Admission.OverloadWait;
	// refusedAt is its latest refusal for the window, lastBlockAt when
	// the latest block was finalized (admission.go).
	blockLatency, pipeline float64
	overloaded             bool
	refusedAt, lastBlockAt time.Time
}

type seqKey struct {
	dev chain.PubKey
	seq uint64
}

// NewReadings makes a pool of at most max readings.
func NewReadings(max int) *Readings {
	return &Readings{
		max: max, byKey: make(map[chain.Hash]*chain.Reading), added: make(map[chain.Hash]time.Time),
		seqs: make(map[seqKey]chain.Hash), staleSent: make(map[chain.Hash]bool), pastRefused: make(map[chain.Hash]bool),
		held: make(map[chain.Hash]bool), own: make(map[chain.Hash]bool),
	}
}

// Add puts r in the pool. h must be r.Hash(). It checks the pool's max,
// not the door's rule: gossip adds with it what a peer's door admitted.
func (p *Readings) Add(h chain.Hash, r *chain.Reading) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addLocked(h, r, time.Now())
}

// addLocked is Add of a reading arriving at now; callers hold mu.
func (p *Readings) addLocked(h chain.Hash, r *chain.Reading, now time.Time) error {
	if _, ok := p.byKey[h]; ok {
		return ErrDuplicate
	}
	if other, ok := p.seqs[seqKey{r.Device, r.Seq}]; ok {
		return fmt.Errorf("%w: device %s seq %d is already waiting as %s", ErrDuplicate, r.Device.Short(), r.Seq, other.Short())
	}
	if len(p.byKey) >= p.max {
		return fmt.Errorf("%w: %d readings waiting", ErrFull, len(p.byKey))
	}
	p.byKey[h] = r
	p.added[h] = now
	p.seqs[seqKey{r.Device, r.Seq}] = h
	p.order = append(p.order, h)
	return nil
}

// Entry is a waiting reading and when it entered the pool.
type Entry struct {
	Reading *chain.Reading
	Added   time.Time
	// PastRefused: this node's door admitted it after refusing an
	// earlier seq of its device that was not sent again. The readings
	// between are not on their way through gossip, so the block builder
	// need not wait for them.
	PastRefused bool
}

// PeekEntries is Peek with each reading's arrival time.
func (p *Readings) PeekEntries(n int) []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.compact()
	if n > len(p.order) {
		n = len(p.order)
	}
	out := make([]Entry, 0, n)
	for _, h := range p.order[:n] {
		out = append(out, Entry{Reading: p.byKey[h], Added: p.added[h], PastRefused: p.pastRefused[h]})
	}
	return out
}

// Stale returns, in arrival order, up to n readings that entered the pool
// before cutoff and that Stale has not returned before: each reading once.
// The node gossips them again, since gossip may have lost them on the way
// to the next proposer.
func (p *Readings) Stale(cutoff time.Time, n int) []*chain.Reading {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*chain.Reading
	for _, h := range p.order {
		if len(out) >= n {
			break
		}
		r, ok := p.byKey[h]
		if !ok || p.staleSent[h] {
			continue
		}
		if !p.added[h].Before(cutoff) {
			break // arrival order: the rest are younger
		}
		p.staleSent[h] = true
		out = append(out, r)
	}
	return out
}

// MarkHeld records the readings the block builder left out of its latest
// block to wait for their device's predecessors (they may be on their way
// through gossip, or were refused at a peer's door and never come); the
// marks of an earlier build are dropped, so a reading whose predecessor
// has come since counts again. The door does not count held readings
// against the window: they wait on a predecessor, not on the network's
// throughput, and counting them let readings that were not proposable yet
// fill the window. The marks go with the readings.
func (p *Readings) MarkHeld(hashes []chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.held)
	p.ownHeld = 0
	for _, h := range hashes {
		if _, ok := p.byKey[h]; ok && !p.held[h] {
			p.held[h] = true
			if p.own[h] {
				p.ownHeld++
			}
		}
	}
}

// Has reports whether the pool holds h.
func (p *Readings) Has(h chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byKey[h]
	return ok
}

// Own reports whether the waiting reading with hash h was admitted by
// this node's door (Ticket.Add), not gossiped to it.
func (p *Readings) Own(h chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.own[h]
}

// Get returns the waiting reading with hash h. It changes nothing: a
// compact proposal is rebuilt from the readings it names by hash.
func (p *Readings) Get(h chain.Hash) (*chain.Reading, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.byKey[h]
	return r, ok
}

// Len is the number of readings waiting.
func (p *Readings) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byKey)
}

// Peek returns up to n readings in arrival order without removing them.
func (p *Readings) Peek(n int) []*chain.Reading {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.compact()
	if n > len(p.order) {
		n = len(p.order)
	}
	out := make([]*chain.Reading, 0, n)
	for _, h := range p.order[:n] {
		out = append(out, p.byKey[h])
	}
	return out
}

// Remove drops the readings with the given hashes (finalized or invalid).
func (p *Readings) Remove(hashes []chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(hashes)
}

// removeLocked is Remove; it returns how many of the readings this node's
// door had admitted. Callers hold mu.
func (p *Readings) removeLocked(hashes []chain.Hash) (own int) {
	for _, h := range hashes {
		if r, ok := p.byKey[h]; ok {
			if ref, ok := p.refused[r.Device]; ok && r.Seq >= ref.seq {
				delete(p.refused, r.Device) // its refused reading came by gossip
			}
			if p.own[h] {
				own++
			}
			p.forgetLocked(h, r)
		}
	}
	if len(p.order) > 2*len(p.byKey)+1024 {
		p.compact()
	}
	return own
}

// forgetLocked drops reading r (hash h) and its marks, but from the order
// list (compact). Callers hold mu.
func (p *Readings) forgetLocked(h chain.Hash, r *chain.Reading) {
	if p.own[h] && p.held[h] {
		p.ownHeld--
	}
	delete(p.byKey, h)
	delete(p.added, h)
	delete(p.seqs, seqKey{r.Device, r.Seq})
	delete(p.staleSent, h)
	delete(p.pastRefused, h)
	delete(p.held, h)
	delete(p.own, h)
}

// RemoveIf drops every reading for which stale returns true; the node
// calls it after a block with "seq at or below the device's last".
func (p *Readings) RemoveIf(stale func(*chain.Reading) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for h, r := range p.byKey {
		if stale(r) {
			p.forgetLocked(h, r)
			n++
		}
	}
	if n > 0 {
		p.compact()
	}
	return n
}

// compact drops removed hashes from the order list. Callers hold mu.
func (p *Readings) compact() {
	kept := p.order[:0]
	for _, h := range p.order {
		if _, ok := p.byKey[h]; ok {
			kept = append(kept, h)
		}
	}
	clear(p.order[len(kept):])
	p.order = kept
}

// Txs is the pool of transactions waiting for a tx block.
type Txs struct {
	max int

	mu       sync.Mutex // guards the fields below
	byHash   map[chain.Hash]*chain.Tx
	bySender map[chain.PubKey]map[uint64]chain.Hash
	arrival  map[chain.Hash]uint64
	next     uint64
}

// NewTxs makes a pool of at most max transactions.
func NewTxs(max int) *Txs {
	return &Txs{
		max: max, byHash: make(map[chain.Hash]*chain.Tx),
		bySender: make(map[chain.PubKey]map[uint64]chain.Hash), arrival: make(map[chain.Hash]uint64),
	}
}

// Add puts tx in the pool. h must be tx.Hash(). A second transaction with
// the same sender and nonce is refused: the first one stays.
func (p *Txs) Add(h chain.Hash, tx *chain.Tx) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byHash[h]; ok {
		return ErrDuplicate
	}
	if other, ok := p.bySender[tx.From][tx.Nonce]; ok {
		return fmt.Errorf("%w: nonce %d of %s is already waiting as %s", ErrDuplicate, tx.Nonce, tx.From.Address(), other.Short())
	}
	if len(p.byHash) >= p.max {
		return fmt.Errorf("%w: %d transactions waiting", ErrFull, len(p.byHash))
	}
	p.byHash[h] = tx
	if p.bySender[tx.From] == nil {
		p.bySender[tx.From] = make(map[uint64]chain.Hash)
	}
	p.bySender[tx.From][tx.Nonce] = h
	p.arrival[h] = p.next
	p.next++
	return nil
}

// Has reports whether the pool holds h.
func (p *Txs) Has(h chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byHash[h]
	return ok
}

// Len is the number of transactions waiting.
func (p *Txs) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byHash)
}

// Pending returns the transactions of sender in nonce order.
func (p *Txs) Pending(sender chain.PubKey) []*chain.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*chain.Tx
	for _, h := range p.bySender[sender] {
		out = append(out, p.byHash[h])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Nonce < out[j].Nonce })
	return out
}

// Peek returns up to n transactions: senders in order of their earliest
// waiting transaction's arrival, each sender's in nonce order. The block
// builder applies them in this order and skips those that do not apply.
func (p *Txs) Peek(n int) []*chain.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	all := make([]*chain.Tx, 0, len(p.byHash))
	first := make(map[chain.PubKey]uint64)
	for h, tx := range p.byHash {
		all = append(all, tx)
		a := p.arrival[h]
		if f, ok := first[tx.From]; !ok || a < f {
			first[tx.From] = a
		}
	}
	sort.Slice(all, func(i, j int) bool {
		fi, fj := first[all[i].From], first[all[j].From]
		if fi != fj {
			return fi < fj
		}
		return all[i].Nonce < all[j].Nonce
	})
	if n < len(all) {
		all = all[:n]
	}
	return all
}

// Remove drops the transactions with the given hashes.
func (p *Txs) Remove(hashes []chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range hashes {
		p.removeLocked(h)
	}
}

// RemoveIf drops every transaction for which stale returns true, such as
// nonces at or below the sender's committed nonce.
func (p *Txs) RemoveIf(stale func(*chain.Tx) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for h, tx := range p.byHash {
		if stale(tx) {
			p.removeLocked(h)
			n++
		}
	}
	return n
}

func (p *Txs) removeLocked(h chain.Hash) {
	tx, ok := p.byHash[h]
	if !ok {
		return
	}
	delete(p.byHash, h)
	delete(p.arrival, h)
	if m := p.bySender[tx.From]; m != nil {
		delete(m, tx.Nonce)
		if len(m) == 0 {
			delete(p.bySender, tx.From)
		}
	}
}

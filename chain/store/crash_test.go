package store_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

const (
	crashDirEnv = "WATERCHAIN_STORE_CRASH_DIR"
	// crashGroupEnv is how many blocks the child commits per call:
	// 1 by Commit, more by one CommitBlocks.
	crashGroupEnv = "WATERCHAIN_STORE_CRASH_GROUP"
)

// TestCrashChild is the process TestCrashResumes kills: it commits data
// blocks to the store in $WATERCHAIN_STORE_CRASH_DIR as fast as it can and
// prints each height once Commit has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashResumes")
	}
	kv, err := store.OpenBadger(dir, store.BadgerOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, kv)
	c := newTestChain(t)
	devices := []*chain.PrivateKey{key(t, "crash-a"), key(t, "crash-b")}
	group, _ := strconv.Atoi(os.Getenv(crashGroupEnv))
	var pending []store.BlockCommit
	for height := uint64(1); ; height++ {
		var readings []*chain.Reading
		for i := uint64(0); i < 20; i++ {
			readings = append(readings, reading(devices[i%2], height*10+i/2, baseTime+chain.Time(height*10+i)))
		}
		if group <= 1 {
			c.commit(s, chain.LaneData, readings, nil, set("d/height", fmt.Sprint(height)))
			fmt.Printf("committed %d\n", height)
			continue
		}
		b := c.next(chain.LaneData, readings, nil)
		c.advance(b)
		pending = append(pending, store.BlockCommit{Block: b, Changes: []store.Change{set("d/height", fmt.Sprint(height))}})
		if len(pending) == group {
			if err := s.CommitBlocks(pending); err != nil {
				t.Fatal(err)
			}
			pending = pending[:0]
			fmt.Printf("committed %d\n", height)
		}
	}
}

// TestCrashResumes kills a process that is committing blocks at an
// arbitrary instant (SIGKILL: no flush, no close) and reopens its store:
// every block whose commit returned is there, whole, and the store resumes
// at its last block with the state of that block. The child commits block
// by block (Commit), or eight blocks per write (CommitBlocks, as block
// sync does): then the store resumes at the end of a whole group.
func TestCrashResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	for _, group := range []int{1, 8} {
		t.Run(fmt.Sprintf("blocks-per-write=%d", group), func(t *testing.T) { crashResumes(t, group) })
	}
}

func crashResumes(t *testing.T, group int) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashGroupEnv, group))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it after at least 30 commits, in the middle of whatever it
	// is doing; the deadline only guards against a child that hangs.
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	var confirmed uint64
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if h, ok := strings.CutPrefix(lines.Text(), "committed "); ok {
			confirmed, _ = strconv.ParseUint(h, 10, 64)
			if confirmed >= 30 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if confirmed < 30 {
		t.Fatalf("the child confirmed only %d commits", confirmed)
	}

	kv := openBadgerIn(t, dir)
	s := openStore(t, kv)
	head, ok := s.Head(chain.LaneData)
	if !ok || head.Height < confirmed {
		t.Fatalf("after the crash the head is %d, but commits up to %d returned", head.Height, confirmed)
	}
	if head.Height%uint64(group) != 0 {
		t.Fatalf("resumed at height %d, inside a write of %d blocks", head.Height, group)
	}
	t.Logf("killed after %d confirmed commits; resumed at height %d", confirmed, head.Height)
	for h := uint64(1); h <= head.Height; h++ {
		b, err := s.Block(chain.LaneData, h)
		if err != nil {
			t.Fatalf("block %d after the crash: %v", h, err)
		}
		if len(b.Readings) != 20 {
			t.Fatalf("block %d has %d readings", h, len(b.Readings))
		}
	}
	if _, err := s.Header(chain.LaneData, head.Height+1); err == nil {
		t.Fatalf("a block above the head %d survived", head.Height)
	}
	if v, err := s.State([]byte("d/height")); err != nil || string(v) != fmt.Sprint(head.Height) {
		t.Fatalf("state after the crash is %q, %v; want that of block %d", v, err, head.Height)
	}
	n := 0
	if err := s.Readings(key(t, "crash-a").Public(), 0, 0, 0, func(*chain.Reading, store.Location) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != int(head.Height)*10 {
		t.Fatalf("%d readings of one device indexed, want %d", n, head.Height*10)
	}
}

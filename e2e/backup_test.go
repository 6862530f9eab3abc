package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// TestBackupRestoreRejoins backs up a running validator under load with
// "waterchain backup", loses its home, restores it with "waterchain
// restore" and its node key, and finds the restored node catching up by
// block sync and voting again.
func TestBackupRestoreRejoins(t *testing.T) {
	c := newCluster(t, clusterOptions{validators: 4, devices: 1})
	c.startAll()
	c.waitPeers(c.all(), 3)
	const victim = 3
	victimKey := c.nw.Nodes[victim].NodeKey
	victimHome := c.nw.Nodes[victim].Home

	ld := c.startLoad(0, 200*time.Millisecond, 1)
	ld.waitBatches(c, 5)
	c.waitHeights(c.all(), 4, 2, 60*time.Second)

	archive := filepath.Join(c.dir, "validator.tar.gz")
	out, err := runBinary("backup", "--home", victimHome, "--out", archive)
	if err != nil {
		t.Fatalf("backup of a running validator: %v\n%s", err, out)
	}
	if !strings.Contains(out, "running node") {
		t.Fatalf("backup output does not say it took the running node's snapshot:\n%s", out)
	}
	// A second backup to the same file is refused, the first kept.
	if out, err := runBinary("backup", "--home", victimHome, "--out", archive); err == nil || !strings.Contains(out, "exists") {
		t.Fatalf("a backup over an existing file: %v\n%s", err, out)
	}

	// The machine is lost: stop the node and remove its home, keeping
	// only the node key (kept apart from backups, as the help says).
	keyCopy := filepath.Join(c.dir, "validator-key.json")
	key, err := os.ReadFile(filepath.Join(victimHome, "node_key.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyCopy, key, 0o600); err != nil {
		t.Fatal(err)
	}
	c.signal(c.nodes[victim], syscall.SIGTERM)
	if err := os.RemoveAll(victimHome); err != nil {
		t.Fatal(err)
	}
	// Without a key the restore is refused and makes nothing.
	if out, err := runBinary("restore", "--in", archive, "--home", victimHome); err == nil {
		t.Fatalf("restore without a node key succeeded:\n%s", out)
	}
	if _, err := os.Stat(victimHome); err == nil {
		t.Fatal("a refused restore left a home behind")
	}
	if out, err := runBinary("restore", "--in", archive, "--home", victimHome, "--node-key", keyCopy); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}

	// Meanwhile the others went on.
	ld.waitBatches(c, 5)
	atRestart, _ := c.heights(0)
	c.start(victim)
	c.waitHeights([]int{victim}, atRestart, 0, 90*time.Second)
	caughtUp, _ := c.heights(victim)
	next := caughtUp + 1
	c.waitFor(60*time.Second, "a certificate with the restored validator's precommit", func() (bool, string) {
		top, _ := c.heights(0)
		for ; next <= top; next++ {
			b, err := c.block(0, chain.LaneData, next)
			if err != nil {
				return false, err.Error()
			}
			for _, s := range b.Cert.Sigs {
				if s.Validator == victimKey {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("no signature of %s in data blocks %d..%d", victimKey.Short(), caughtUp+1, top)
	})
	ld.waitBatches(c, 3)
	c.waitFinal(c.all(), ld.snapshot(), 60*time.Second)
	ld.stop()
	data, tx := c.sameChain(c.all())
	t.Logf("restored at data height %d, caught up to %d; identical blocks data 1..%d, tx 1..%d", atRestart, caughtUp, data, tx)
}

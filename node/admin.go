package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
)

// AdminSocketName is the node's admin socket in its home: a unix socket
// for operations that must not be open to the network. Only the home's
// owner can reach it: the home is mode 0700 and the socket 0600.
const AdminSocketName = "admin.sock"

// AdminBackupPath is the admin route that streams a consistent backup of
// the node's store (badger's backup format); its headers name the
// network and the heights the backup holds at least.
const AdminBackupPath = "/store/backup"

// Headers of an admin backup answer.
const (
	HeaderGenesisHash = "X-Waterchain-Genesis-Hash"
	HeaderDataHeight  = "X-Waterchain-Data-Height"
	HeaderTxHeight    = "X-Waterchain-Tx-Height"
	// TrailerBackupDone is a trailer sent after the whole stream: a
	// stream without it was cut short, even if at a frame boundary.
	TrailerBackupDone = "X-Waterchain-Backup-Done"
)

// maxUnixSocketPath is the longest path a unix socket can have on Linux
// (sun_path less its terminating NUL).
const maxUnixSocketPath = 107

// startAdmin serves the admin socket. A home whose path is too long for a
// unix socket gets none, with a warning: backups then need the node
// stopped.
func (n *Node) startAdmin() error {
	path := filepath.Join(n.opts.Home, AdminSocketName)
	if len(path) > maxUnixSocketPath {
		n.log.Warn("no admin socket: the home's path is too long for a unix socket; stop the node to back it up", "path", path)
		return nil
	}
	// A socket left by a killed node: this process holds the store's
	// lock, so no other node of this home is listening on it.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminBackupPath, n.serveBackup)
	n.adminSrv = &http.Server{Handler: mux}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin socket stopped", "err", err)
		}
	}()
	return nil
}

// serveBackup streams the store's backup. The heads are read before the
// snapshot is taken, so the backup holds at least those heights.
func (n *Node) serveBackup(w http.ResponseWriter, r *http.Request) {
	b, ok := n.kv.(store.Backuper)
	if !ok {
		http.Error(w, "this node's store cannot be backed up", http.StatusNotImplemented)
		return
	}
	w.Header().Set("Trailer", TrailerBackupDone)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(HeaderGenesisHash, n.genHash.String())
	w.Header().Set(HeaderDataHeight, strconv.FormatUint(n.Height(chain.LaneData), 10))
	w.Header().Set(HeaderTxHeight, strconv.FormatUint(n.Height(chain.LaneTx), 10))
	if _, err := b.Backup(w); err != nil {
		// The status line is gone: the missing trailer tells the client.
		n.log.Error("backup failed", "err", err)
		return
	}
	w.Header().Set(TrailerBackupDone, "true")
	n.log.Info("backup taken over the admin socket", "data_height", n.Height(chain.LaneData), "tx_height", n.Height(chain.LaneTx))
}

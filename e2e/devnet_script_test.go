package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/home"
	"github.com/waterchain/waterchain/node/home/hometest"
)

// TestDevnetScript runs scripts/devnet.sh with the binary under test: it
// writes a network, starts every node, says so once all answer, and on
// SIGINT stops them all and exits 0.
func TestDevnetScript(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	base := hometest.FreeBasePort(t, 3)
	script, err := filepath.Abs("../scripts/devnet.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "VALIDATORS=2", "AUDITORS=1", "DIR="+dir,
		fmt.Sprintf("BASE_PORT=%d", base), "WATERCHAIN_BIN="+binary, "WAIT=60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var out strings.Builder
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "devnet ready") {
				ready <- out.String()
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	select {
	case out := <-ready:
		t.Logf("devnet.sh:\n%s", out)
	case err := <-exited:
		t.Fatalf("devnet.sh exited before it was ready: %v\n%s", err, stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("devnet.sh not ready after 90 s\n%s", stderr.String())
	}
	m, err := home.LoadManifest(filepath.Join(dir, home.ManifestFileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Nodes) != 3 {
		t.Fatalf("manifest lists %d nodes", len(m.Nodes))
	}
	c := &cluster{t: t, client: &http.Client{Timeout: 10 * time.Second}}
	for _, n := range m.Nodes {
		var st api.Status
		if err := c.getJSON(n.API+"/v1/status", &st); err != nil || st.Role != n.Role {
			t.Fatalf("%s: role %q, %v", n.Name, st.Role, err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("devnet.sh after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("devnet.sh still running 30 s after SIGINT\n%s", stderr.String())
	}
	for _, n := range m.Nodes {
		var st api.Status
		if err := c.getJSON(n.API+"/v1/status", &st); err == nil {
			t.Errorf("%s still answers after the script stopped", n.Name)
		}
	}
}

package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the waterchain executable under test, built by TestMain.
var binary string

// TestMain builds the waterchain binary once for every test of the run, or
// takes a prebuilt one from WATERCHAIN_E2E_BIN (for CI, or a race build).
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if bin := os.Getenv("WATERCHAIN_E2E_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: WATERCHAIN_E2E_BIN:", err)
			return 2
		}
		binary = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "waterchain-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "waterchain")
	build := exec.Command("go", "build", "-o", binary, "github.com/waterchain/waterchain/cmd/waterchain")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the waterchain binary:", err)
		return 2
	}
	return m.Run()
}

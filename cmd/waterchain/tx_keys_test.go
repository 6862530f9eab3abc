package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/keys"
)

// TestTxRefusesWeakKeysBeforeAnythingElse: register-device and
// validator-add refuse a small-order or non-canonical key from their flag
// before they read the key file or ask the node; validator-remove lets any
// key through (one in the set from before the rule must be removable).
func TestTxRefusesWeakKeysBeforeAnythingElse(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.json")
	for _, tc := range []struct {
		cmd, flag, key string
		want           error
	}{
		{"register-device", "device", "0100000000000000000000000000000000000000000000000000000000000000", chain.ErrSmallOrderKey},
		{"register-device", "device", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", chain.ErrNonCanonicalKey},
		{"validator-add", "validator", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", chain.ErrSmallOrderKey},
		{"validator-remove", "validator", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", keys.ErrNotFound},
	} {
		cmd, _, err := rootCmd.Find([]string{"tx", tc.cmd})
		if err != nil || cmd.Name() != tc.cmd {
			t.Fatalf("waterchain tx %s: %v", tc.cmd, err)
		}
		for flag, value := range map[string]string{"key": missing, tc.flag: tc.key} {
			if err := cmd.Flags().Set(flag, value); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Flags().Set(flag, "") })
		}
		err = cmd.RunE(cmd, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("tx %s --%s %s…: got %v, want %v", tc.cmd, tc.flag, tc.key[:8], err, tc.want)
		}
		if err != nil && tc.want != keys.ErrNotFound && !strings.Contains(err.Error(), "--"+tc.flag) {
			t.Errorf("tx %s: %q does not name --%s", tc.cmd, err, tc.flag)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/keys"
)

// txCmd groups the commands that sign and submit a transaction. Each loads
// the sender's account key, asks the node for the chain id and the sender's
// next nonce, signs, submits and (unless --no-wait) waits until the
// transaction is final.
var txCmd = &cobra.Command{
	Use:   "tx",
	Short: "Sign and submit transactions: transfers, devices, permits, market, governance",
}

// txFlags are the flags every tx subcommand shares.
type txFlags struct {
	node    *string
	key     *string
	nonce   *uint64
	noWait  *bool
	timeout *time.Duration
}

func addTxFlags(cmd *cobra.Command) *txFlags {
	f := &txFlags{node: addNodeFlag(cmd)}
	f.key = cmd.Flags().String("key", "", "the sender's account key file (required)")
	f.nonce = cmd.Flags().Uint64("nonce", 0, "nonce to use (default: the account's next nonce, asked from the node)")
	f.noWait = cmd.Flags().Bool("no-wait", false, "return once the node accepted the transaction, without waiting for finality")
	f.timeout = cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for finality")
	_ = cmd.MarkFlagRequired("key")
	return f
}

// submitTx fills in From and Nonce, signs with the key file and submits.
func submitTx(cmd *cobra.Command, f *txFlags, tx *chain.Tx) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	key, err := keys.Load(*f.key)
	if err != nil {
		return err
	}
	c, err := newAPIClient(*f.node)
	if err != nil {
		return err
	}
	hash, err := signAndSubmit(ctx, c, key, tx, *f.nonce)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "submitted %s %s (nonce %d)\n", tx.Kind(), hash, tx.Nonce)
	if *f.noWait {
		return nil
	}
	height, err := waitFinal(ctx, c, hash, *f.timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "final in tx block %d\n", height)
	return nil
}

// signAndSubmit fills in tx's From and Nonce — nonce, or when 0 the
// account's next one as the node's final state has it — signs it for the
// node's chain with key and submits it. It returns the transaction's hash.
func signAndSubmit(ctx context.Context, c *apiClient, key *chain.PrivateKey, tx *chain.Tx, nonce uint64) (chain.Hash, error) {
	var st api.Status
	if err := c.get(ctx, "/v1/status", &st); err != nil {
		return chain.Hash{}, err
	}
	tx.From = key.Public()
	tx.Nonce = nonce
	if tx.Nonce == 0 {
		var acct api.Account
		if err := c.get(ctx, "/v1/accounts/"+key.Public().Address().String(), &acct); err != nil {
			return chain.Hash{}, fmt.Errorf("looking up the nonce of %s: %w", key.Public().Address(), err)
		}
		tx.Nonce = acct.Nonce + 1
	}
	tx.Sign(st.ChainID, key)
	if err := tx.ValidateBasic(); err != nil {
		return chain.Hash{}, err
	}
	var res api.SubmitTxResult
	if err := c.post(ctx, "/v1/txs", tx, &res); err != nil {
		return chain.Hash{}, err
	}
	return res.Hash, nil
}

// waitFinal polls the node until transaction hash is final and returns its
// tx block, or gives up after timeout.
func waitFinal(ctx context.Context, c *apiClient, hash chain.Hash, timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var ts api.TxStatus
		if err := c.get(ctx, "/v1/txs/"+hash.String(), &ts); err != nil {
			return 0, err
		}
		if ts.Status == "final" {
			return ts.Height, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("transaction %s is still %s after %s; check later with: waterchain query tx %s", hash.Short(), ts.Status, timeout, hash)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// parseDrops parses an amount of drops such as "12", "0.5" or "3.000001"
// into smallest units (1 drop = chain.DropUnit units).
func parseDrops(s string) (uint64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: want drops such as 12 or 0.5", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("amount %q: at most 6 decimals (1 drop = 1,000,000 units)", s)
	}
	f := uint64(0)
	if frac != "" {
		f, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("amount %q: want drops such as 12 or 0.5", s)
		}
	}
	if w > (^uint64(0)-f)/chain.DropUnit {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	return w*chain.DropUnit + f, nil
}

// The transactions of accounts and meters; tx_economy.go holds the market,
// permit and governance ones.
func init() {
	rootCmd.AddCommand(txCmd)
	txCmd.AddCommand(newTransferCmd(), newRegisterDeviceCmd(), newRevokeDeviceCmd())
}

// newTransferCmd is tx transfer: send drops to another account.
func newTransferCmd() *cobra.Command {
	transfer := &cobra.Command{
		Use:     "transfer --key FILE --to ADDRESS --amount DROPS",
		Short:   "Send drops to another account",
		Example: `  waterchain tx transfer --key accounts/industry-1.json --to wc5f1c...a2 --amount 12.5`,
		Args:    cobra.NoArgs,
	}
	tf := addTxFlags(transfer)
	to := transfer.Flags().String("to", "", "recipient address (wc…)")
	amount := transfer.Flags().String("amount", "", "drops to send, up to 6 decimals")
	transfer.RunE = func(cmd *cobra.Command, _ []string) error {
		addr, err := chain.ParseAddress(*to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		units, err := parseDrops(*amount)
		if err != nil {
			return fmt.Errorf("--amount: %w", err)
		}
		return submitTx(cmd, tf, &chain.Tx{Transfer: &chain.Transfer{To: addr, Amount: units}})
	}
	return transfer
}

// newRegisterDeviceCmd is tx register-device: an industry registers a
// meter's key; a key the chain would refuse is refused before signing.
func newRegisterDeviceCmd() *cobra.Command {
	reg := &cobra.Command{
		Use:     "register-device --key FILE --device PUBKEY [--label TEXT]",
		Short:   "Register a meter's key to your industry",
		Example: `  waterchain tx register-device --key accounts/industry-1.json --device $(waterchain keys show meter.json --public) --label "outfall A"`,
		Args:    cobra.NoArgs,
	}
	rf := addTxFlags(reg)
	regDev := reg.Flags().String("device", "", "the meter's public key (hex)")
	label := reg.Flags().String("label", "", "a label for people, such as \"outfall A\"")
	reg.RunE = func(cmd *cobra.Command, _ []string) error {
		dev, err := parseNewKey(*regDev)
		if err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		return submitTx(cmd, rf, &chain.Tx{RegisterDevice: &chain.RegisterDevice{Device: dev, Label: *label}})
	}
	return reg
}

// newRevokeDeviceCmd is tx revoke-device: a meter's owner or a regulator
// revokes it.
func newRevokeDeviceCmd() *cobra.Command {
	revoke := &cobra.Command{
		Use:     "revoke-device --key FILE --device PUBKEY",
		Short:   "Revoke a meter (its owner, or a regulator)",
		Example: `  waterchain tx revoke-device --key accounts/industry-1.json --device 3b6a27bc...`,
		Args:    cobra.NoArgs,
	}
	vf := addTxFlags(revoke)
	revDev := revoke.Flags().String("device", "", "the meter's public key (hex)")
	revoke.RunE = func(cmd *cobra.Command, _ []string) error {
		dev, err := chain.ParsePubKey(*revDev)
		if err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		return submitTx(cmd, vf, &chain.Tx{RevokeDevice: &chain.RevokeDevice{Device: dev}})
	}
	return revoke
}

// parseNewKey parses a key about to enter the chain (a device to register,
// a validator to add) and refuses, before anything is signed or sent, one
// the chain would refuse: small-order or non-canonically encoded.
func parseNewKey(s string) (chain.PubKey, error) {
	k, err := chain.ParsePubKey(s)
	if err != nil {
		return k, err
	}
	return k, k.Check()
}

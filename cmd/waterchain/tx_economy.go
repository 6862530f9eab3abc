package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
)

// The market, permit and governance transactions.
func init() {
	txCmd.AddCommand(
		newSetPermitCmd(),
		newOfferCmd(),
		newAcceptCmd(),
		newCancelCmd(),
		newValidatorChangeCmd(false),
		newValidatorChangeCmd(true),
	)
}

// newSetPermitCmd is tx set-permit: a regulator sets an industry's allowance
// and discharge limits from the next period.
func newSetPermitCmd() *cobra.Command {
	permit := &cobra.Command{
		Use:   "set-permit --key REGULATOR-KEY --industry ADDRESS --allowance LITRES [--conductivity N] ...",
		Short: "Set an industry's allowance and discharge limits from the next period (regulators only)",
		Long: `Set an industry's permit from the next settlement period on. Limits are on the
chain's integer scales: conductivity in 0.1 µS/cm, suspended solids in 0.1 mg/L,
absorbance in mAU, turbidity in 0.01 NTU; 0 means not limited.`,
		Example: `  waterchain tx set-permit --key accounts/regulator.json --industry wc5f1c...a2 \
    --allowance 2500000 --conductivity 25000 --suspended-solids 350 --turbidity 5000`,
		Args: cobra.NoArgs,
	}
	pf := addTxFlags(permit)
	industry := permit.Flags().String("industry", "", "the industry's account address (wc…)")
	allowance := permit.Flags().Uint64("allowance", 0, "allowance per settlement period, litres")
	var limits chain.Limits
	permit.Flags().Int64Var(&limits.Conductivity, "conductivity", 0, "conductivity limit, 0.1 µS/cm")
	permit.Flags().Int64Var(&limits.SuspendedSolids, "suspended-solids", 0, "suspended solids limit, 0.1 mg/L")
	permit.Flags().Int64Var(&limits.Absorbance, "absorbance", 0, "UV254 absorbance limit, mAU")
	permit.Flags().Int64Var(&limits.Turbidity, "turbidity", 0, "turbidity limit, 0.01 NTU")
	permit.RunE = func(cmd *cobra.Command, _ []string) error {
		addr, err := chain.ParseAddress(*industry)
		if err != nil {
			return fmt.Errorf("--industry: %w", err)
		}
		return submitTx(cmd, pf, &chain.Tx{SetPermit: &chain.SetPermit{Industry: addr, Allowance: *allowance, Limits: limits}})
	}
	return permit
}

// newOfferCmd is tx offer: an industry offers part of this period's unused
// allowance for sale.
func newOfferCmd() *cobra.Command {
	offer := &cobra.Command{
		Use:     "offer --key FILE --volume LITRES --price DROPS-PER-LITRE",
		Short:   "Offer part of this period's unused allowance for sale",
		Example: `  waterchain tx offer --key accounts/industry-1.json --volume 50000 --price 0.002`,
		Args:    cobra.NoArgs,
	}
	of := addTxFlags(offer)
	volume := offer.Flags().Uint64("volume", 0, "litres of allowance to sell")
	price := offer.Flags().String("price", "", "price in drops per litre, up to 6 decimals")
	offer.RunE = func(cmd *cobra.Command, _ []string) error {
		units, err := parseDrops(*price)
		if err != nil {
			return fmt.Errorf("--price: %w", err)
		}
		return submitTx(cmd, of, &chain.Tx{OfferAllowance: &chain.OfferAllowance{Volume: *volume, Price: units}})
	}
	return offer
}

// newAcceptCmd is tx accept: buy all or part of an open offer.
func newAcceptCmd() *cobra.Command {
	accept := &cobra.Command{
		Use:     "accept --key FILE --offer HASH --volume LITRES",
		Short:   "Buy all or part of an open allowance offer",
		Example: `  waterchain tx accept --key accounts/industry-2.json --offer 9f2c...e1 --volume 20000`,
		Args:    cobra.NoArgs,
	}
	af := addTxFlags(accept)
	offerID := accept.Flags().String("offer", "", "the offer: hash of the transaction that made it")
	buyVolume := accept.Flags().Uint64("volume", 0, "litres to buy")
	accept.RunE = func(cmd *cobra.Command, _ []string) error {
		id, err := chain.ParseHash(*offerID)
		if err != nil {
			return fmt.Errorf("--offer: %w", err)
		}
		return submitTx(cmd, af, &chain.Tx{AcceptOffer: &chain.AcceptOffer{Offer: id, Volume: *buyVolume}})
	}
	return accept
}

// newCancelCmd is tx cancel: withdraw the rest of one's own offer.
func newCancelCmd() *cobra.Command {
	cancel := &cobra.Command{
		Use:     "cancel --key FILE --offer HASH",
		Short:   "Withdraw the rest of your own offer",
		Example: `  waterchain tx cancel --key accounts/industry-1.json --offer 9f2c...e1`,
		Args:    cobra.NoArgs,
	}
	cf := addTxFlags(cancel)
	cancelID := cancel.Flags().String("offer", "", "the offer: hash of the transaction that made it")
	cancel.RunE = func(cmd *cobra.Command, _ []string) error {
		id, err := chain.ParseHash(*cancelID)
		if err != nil {
			return fmt.Errorf("--offer: %w", err)
		}
		return submitTx(cmd, cf, &chain.Tx{CancelOffer: &chain.CancelOffer{Offer: id}})
	}
	return cancel
}

// newValidatorChangeCmd is tx validator-add, or tx validator-remove when
// remove is set: a validator account's vote to change the validator set.
func newValidatorChangeCmd(remove bool) *cobra.Command {
	name, short := "validator-add", "Vote to add a validator node key (validators' accounts only)"
	if remove {
		name, short = "validator-remove", "Vote to remove a validator node key (validators' accounts only)"
	}
	cmd := &cobra.Command{
		Use:     name + " --key FILE --validator NODE-PUBKEY",
		Short:   short,
		Example: "  waterchain tx " + name + " --key validator-1/node_key.json --validator 8e1f...c4",
		Args:    cobra.NoArgs,
	}
	f := addTxFlags(cmd)
	target := cmd.Flags().String("validator", "", "the validator's node public key (hex)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		parse := parseNewKey
		if remove { // a key in the set from before the rule can still go
			parse = chain.ParsePubKey
		}
		k, err := parse(*target)
		if err != nil {
			return fmt.Errorf("--validator: %w", err)
		}
		return submitTx(cmd, f, &chain.Tx{ValidatorChange: &chain.ValidatorChange{Validator: k, Remove: remove}})
	}
	return cmd
}

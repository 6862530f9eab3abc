package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/genesis"
)

// maxProofSize bounds a proof file: a reading, a Merkle path of at most 64
// hashes, a header and certificate, and the validator-set changes since
// genesis with their certificates (at most MaxValidators sigs each) fit
// in far less, unless the set changed thousands of times.
const maxProofSize = 16 << 20

// errBadProofFile is wrapped when a proof file is not a proof bundle.
var errBadProofFile = errors.New("not a reading proof")

func init() { rootCmd.AddCommand(newProofCmd()) }

func newProofCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Fetch a reading's inclusion proof, and check one offline",
		Long: `A reading proof is a self-contained bundle: the reading, its RFC 6962
inclusion path to its block's entries root, the block header, its commit
certificate, and the validator-set changes since genesis. Anyone holding
the network's genesis file checks it with "proof verify", with nothing else.`,
		Example: `  waterchain proof reading --device 7f3a...e1 --seq 1042 --out reading-1042.json
  waterchain proof verify --genesis genesis.json reading-1042.json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newProofReadingCmd(), newProofVerifyCmd())
	return cmd
}

func newProofReadingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reading --device KEY --seq N [--out FILE]",
		Short: "Fetch the inclusion proof of one finalized reading from a node",
		Long: `Fetches GET /v1/proofs/readings/{device}/{seq} from a node and writes the
proof bundle as JSON, to standard output or to --out. Check it with
"waterchain proof verify".`,
		Example: `  waterchain proof reading --device 7f3a...e1 --seq 1042 --out reading-1042.json
  waterchain proof reading --node http://127.0.0.1:7071 --device 7f3a...e1 --seq 1`,
		Args: cobra.NoArgs,
	}
	node := addNodeFlag(cmd)
	device := cmd.Flags().String("device", "", "the meter's public key (hex)")
	seq := cmd.Flags().Uint64("seq", 0, "the reading's sequence number")
	outPath := cmd.Flags().String("out", "", "write the proof to FILE instead of standard output")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		dev, err := chain.ParsePubKey(*device)
		if err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		if *seq == 0 {
			return errors.New("--seq is required: the reading's sequence number, from 1")
		}
		c, err := newAPIClient(*node)
		if err != nil {
			return err
		}
		var p chain.ReadingProof
		if err := c.get(contextOf(cmd), "/v1/proofs/readings/"+dev.String()+"/"+strconv.FormatUint(*seq, 10), &p); err != nil {
			return err
		}
		if p.Reading == nil || p.Reading.Device != dev || p.Reading.Seq != *seq {
			return fmt.Errorf("the node answered with a proof of another reading than device %s seq %d", dev.Short(), *seq)
		}
		return writeOutput(cmd.OutOrStdout(), *outPath, func(w io.Writer) error { return printJSON(w, &p) })
	}
	return cmd
}

func newProofVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify --genesis FILE PROOF",
		Short: "Check a reading proof offline against the network's genesis",
		Long: `Checks a reading proof (a file, or - for standard input) with nothing but
the genesis file: the reading's device signature, its inclusion in the
block's entries root, the header, the commit certificate's quorum of valid
precommits by the validator set the header names, and that set's descent
from the genesis validators through certified set changes. Prints OK and
what was proven, or the reason it fails with exit status 1.`,
		Example: `  waterchain proof verify --genesis genesis.json reading-1042.json
  curl -s http://127.0.0.1:7070/v1/proofs/readings/7f3a...e1/1042 | waterchain proof verify --genesis genesis.json -`,
		Args: cobra.ExactArgs(1),
	}
	genesisPath := cmd.Flags().String("genesis", "", "the network's genesis.json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *genesisPath == "" {
			return errors.New("--genesis is required: the network's genesis.json")
		}
		g, err := genesis.Load(*genesisPath)
		if err != nil {
			return err
		}
		data, err := readProofFile(args[0], cmd.InOrStdin())
		if err != nil {
			return err
		}
		p, err := parseProof(data)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		vs := g.ValidatorSet()
		if vs == nil {
			return fmt.Errorf("genesis %s has no valid validator set", *genesisPath)
		}
		if err := p.Verify(g.ChainID, g.Hash(), vs.Keys()); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		printProven(cmd.OutOrStdout(), p)
		return nil
	}
	return cmd
}

// readProofFile reads the proof at path ("-": in), at most maxProofSize
// bytes.
func readProofFile(path string, in io.Reader) ([]byte, error) {
	r := in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("proof file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxProofSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxProofSize {
		return nil, fmt.Errorf("%w: %s is over %d bytes", errBadProofFile, path, maxProofSize)
	}
	return data, nil
}

// parseProof decodes a proof bundle's JSON strictly: unknown fields and
// anything after the object are refused, so a file that is something else
// (a block, a status answer) is named as such rather than half-read.
func parseProof(data []byte) (*chain.ReadingProof, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p chain.ReadingProof
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadProofFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the proof object", errBadProofFile)
	}
	if p.Reading == nil || p.Cert == nil {
		return nil, fmt.Errorf("%w: the reading or the certificate is missing", errBadProofFile)
	}
	return &p, nil
}

// printProven says what a verified proof proves.
func printProven(w io.Writer, p *chain.ReadingProof) {
	r, h := p.Reading, &p.Header
	fmt.Fprintf(w, "OK: reading seq %d of device %s, timed %s, is final on %s\n", r.Seq, r.Device, r.Time, p.ChainID)
	fmt.Fprintf(w, "  entry %d of %d in data block %d (%s, time %s)\n", p.Index, h.NumEntries, h.Height, h.Hash(), h.Time)
	fmt.Fprintf(w, "  certified by %d of %d validators in round %d; validator set %s", len(p.Cert.Sigs), len(p.Validators), p.Cert.Round, h.ValidatorsHash.Short())
	if len(p.SetChanges) == 0 {
		fmt.Fprintf(w, " (the genesis set)\n")
	} else {
		fmt.Fprintf(w, " (from genesis through %d certified change(s))\n", len(p.SetChanges))
	}
	var vals []string
	for _, m := range chain.Measures {
		v, _ := r.MeasureValue(m.Name)
		vals = append(vals, fmt.Sprintf("%s %d", m.Name, v))
	}
	fmt.Fprintf(w, "  values (chain scale): %s\n", strings.Join(vals, ", "))
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/audit/audittest"
)

// proofChain builds a chain in memory and the proof of one of its
// readings, as a node serves it (GET /v1/proofs/readings/...).
func proofChain(t testing.TB) (*audittest.Chain, *chain.ReadingProof) {
	t.Helper()
	st, err := store.Open(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	c, err := audittest.New(st, audittest.Genesis(audittest.Options{Industries: 2, DevicesPerIndustry: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Scenario(8, 3); err != nil {
		t.Fatal(err)
	}
	dev := c.Device(2, 1).Public()
	r, loc, err := st.Reading(dev, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Block(chain.LaneData, loc.Height)
	if err != nil {
		t.Fatal(err)
	}
	path, err := chain.InclusionProof(b.Leaves(), int(loc.Index))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := c.ValidatorSet(chain.LaneData, loc.Height)
	if err != nil {
		t.Fatal(err)
	}
	return c, &chain.ReadingProof{
		ChainID: c.Genesis.ChainID, GenesisHash: c.Genesis.Hash(),
		Reading: r, ReadingCBOR: r.Encode(), Index: uint64(loc.Index), Path: path,
		Header: b.Header, HeaderCBOR: chain.MustEncode(&b.Header), Cert: b.Cert, Validators: vs.Keys(),
	}
}

// runWithInput runs cmd under a fresh root with stdin.
func runWithInput(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "waterchain", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmd)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProofReadingAndVerify(t *testing.T) {
	c, p := proofChain(t)
	dev := p.Reading.Device
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/proofs/readings/"+dev.String()+"/5" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"no final reading of that device with that seq","code":"not_found"}`))
			return
		}
		json.NewEncoder(w).Encode(p)
	}))
	defer srv.Close()
	gpath := filepath.Join(t.TempDir(), "genesis.json")
	if err := c.Genesis.Save(gpath); err != nil {
		t.Fatal(err)
	}

	proofPath := filepath.Join(t.TempDir(), "reading-5.json")
	out, err := runSetupCmd(t, newProofCmd(), "proof", "reading", "--node", srv.URL, "--device", dev.String(), "--seq", "5", "--out", proofPath)
	if err != nil || !strings.Contains(out, "wrote "+proofPath) {
		t.Fatalf("proof reading: %v\n%s", err, out)
	}
	out, err = runSetupCmd(t, newProofCmd(), "proof", "verify", "--genesis", gpath, proofPath)
	if err != nil {
		t.Fatalf("proof verify: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "OK: reading seq 5 of device "+dev.String()) || !strings.Contains(out, "in data block 5") || !strings.Contains(out, "certified by 4 of 4 validators") {
		t.Errorf("proof verify output:\n%s", out)
	}

	// Standard input, as piped from curl.
	data, _ := os.ReadFile(proofPath)
	if out, err := runWithInput(t, newProofCmd(), string(data), "proof", "verify", "--genesis", gpath, "-"); err != nil || !strings.HasPrefix(out, "OK:") {
		t.Errorf("proof verify -: %v\n%s", err, out)
	}

	// A reading the node does not have.
	if _, err := runSetupCmd(t, newProofCmd(), "proof", "reading", "--node", srv.URL, "--device", dev.String(), "--seq", "99"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("proof of an unknown reading: %v", err)
	}
	for _, args := range [][]string{
		{"proof", "reading", "--node", srv.URL, "--device", "zz", "--seq", "5"},
		{"proof", "reading", "--node", srv.URL, "--device", dev.String()},
		{"proof", "verify", proofPath},
		{"proof", "verify", "--genesis", gpath},
	} {
		if _, err := runSetupCmd(t, newProofCmd(), args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestForgedProofsFail alters a good proof in every part (as a forger
// would, re-encoding what it changes) and wants proof verify to refuse
// each, naming why; the good one passes.
func TestForgedProofsFail(t *testing.T) {
	c, good := proofChain(t)
	gpath := filepath.Join(t.TempDir(), "genesis.json")
	if err := c.Genesis.Save(gpath); err != nil {
		t.Fatal(err)
	}
	clone := func() *chain.ReadingProof {
		data, _ := json.Marshal(good)
		var p chain.ReadingProof
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	if out, err := runSetupCmd(t, newProofCmd(), "proof", "verify", "--genesis", gpath, writeJSON(t, clone())); err != nil {
		t.Fatalf("the good proof: %v\n%s", err, out)
	}
	forger := audittest.Key("forger")
	cases := []struct {
		name   string
		mutate func(p *chain.ReadingProof)
		want   string
	}{
		{"value changed, bytes kept", func(p *chain.ReadingProof) { p.Reading.Conductivity++ }, "reading_cbor"},
		{"value changed and re-encoded", func(p *chain.ReadingProof) {
			p.Reading.Conductivity++
			p.ReadingCBOR = p.Reading.Encode()
		}, "signature"},
		{"reading of the forger's own meter", func(p *chain.ReadingProof) {
			p.Reading.Device = forger.Public()
			p.Reading.Sign(p.ChainID, forger)
			p.ReadingCBOR = p.Reading.Encode()
		}, "is not entry"},
		{"another index", func(p *chain.ReadingProof) { p.Index = (p.Index + 1) % uint64(p.Header.NumEntries) }, "is not entry"},
		{"path altered", func(p *chain.ReadingProof) { p.Path[0][0] ^= 1 }, "is not entry"},
		{"header altered", func(p *chain.ReadingProof) {
			p.Header.Time++
			p.HeaderCBOR = chain.MustEncode(&p.Header)
		}, "certificate"},
		{"certificate short of a quorum", func(p *chain.ReadingProof) { p.Cert.Sigs = p.Cert.Sigs[:2] }, "no quorum"},
		{"certificate signature altered", func(p *chain.ReadingProof) { p.Cert.Sigs[1].Sig[5] ^= 1 }, "signature"},
		{"validators of the forger's choosing", func(p *chain.ReadingProof) { p.Validators = []chain.PubKey{forger.Public()} }, "do not follow from genesis"},
		{"proof of another network", func(p *chain.ReadingProof) { p.ChainID = "other-net" }, "proof is for chain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := clone()
			tc.mutate(p)
			out, err := runSetupCmd(t, newProofCmd(), "proof", "verify", "--genesis", gpath, writeJSON(t, p))
			if !errors.Is(err, chain.ErrBadProof) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify = %v (want %q)\n%s", err, tc.want, out)
			}
			if strings.Contains(out, "OK") {
				t.Errorf("printed OK for a bad proof:\n%s", out)
			}
		})
	}

	// The genesis of another network (another validator set) refuses the
	// good proof.
	other := audittest.Genesis(audittest.Options{Validators: 5})
	opath := filepath.Join(t.TempDir(), "other.json")
	if err := other.Save(opath); err != nil {
		t.Fatal(err)
	}
	if _, err := runSetupCmd(t, newProofCmd(), "proof", "verify", "--genesis", opath, writeJSON(t, clone())); !errors.Is(err, chain.ErrBadProof) {
		t.Errorf("verify against another genesis: %v", err)
	}

	// Files that are not proofs.
	for name, body := range map[string]string{
		"a block":       `{"header":{},"cert":null}`,
		"two objects":   string(mustJSON(t, good)) + "{}",
		"truncated":     string(mustJSON(t, good))[:100],
		"empty":         ``,
		"no reading":    `{"chain_id":"x"}`,
		"unknown field": strings.Replace(string(mustJSON(t, good)), `"chain_id"`, `"chain":"x","chain_id"`, 1),
	} {
		path := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := runSetupCmd(t, newProofCmd(), "proof", "verify", "--genesis", gpath, path); !errors.Is(err, errBadProofFile) {
			t.Errorf("%s: %v, want errBadProofFile", name, err)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzParseProof feeds parseProof arbitrary bytes: it must never panic,
// and whatever it accepts must survive Verify without panicking.
func FuzzParseProof(f *testing.F) {
	c, p := proofChain(f)
	g := c.Genesis
	good, _ := json.Marshal(p)
	f.Add(good)
	f.Add([]byte(`{"reading":{},"cert":{}}`))
	f.Add([]byte(`{"path":["00"],"index":18446744073709551615}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"reading_cbor":"zz"}`))
	vs := g.ValidatorSet().Keys()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseProof(data)
		if err != nil {
			if !errors.Is(err, errBadProofFile) {
				t.Fatalf("error %v does not wrap errBadProofFile", err)
			}
			return
		}
		_ = p.Verify(g.ChainID, g.Hash(), vs)
	})
}

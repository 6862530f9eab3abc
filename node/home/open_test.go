package home

import (
	"testing"
)

func TestOpenNetworkReadsBackWhatWriteNetworkWrote(t *testing.T) {
	dir := t.TempDir()
	nw, err := WriteNetwork(dir, NetworkOptions{Validators: 3, Auditors: 1, DevicesPerIndustry: 2, DevnetParams: true, Manifest: "devnet.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nw.Devices) != 6 {
		t.Fatalf("%d devices, want 6", len(nw.Devices))
	}
	for _, ind := range nw.Genesis.Industries {
		if len(ind.Devices) != 2 {
			t.Fatalf("industry %s has %d devices in genesis, want 2", ind.Name, len(ind.Devices))
		}
	}
	back, err := OpenNetwork(dir, "devnet.json")
	if err != nil {
		t.Fatal(err)
	}
	if back.Genesis.Hash() != nw.Genesis.Hash() {
		t.Fatal("genesis differs")
	}
	if len(back.Nodes) != len(nw.Nodes) || len(back.Accounts) != len(nw.Accounts) || len(back.Devices) != len(nw.Devices) {
		t.Fatalf("read back %d nodes, %d accounts, %d devices; wrote %d, %d, %d",
			len(back.Nodes), len(back.Accounts), len(back.Devices), len(nw.Nodes), len(nw.Accounts), len(nw.Devices))
	}
	for i, n := range back.Nodes {
		if n.NodeKey != nw.Nodes[i].NodeKey || n.Industry != nw.Nodes[i].Industry || n.API != nw.Nodes[i].API {
			t.Errorf("node %d: read %+v, wrote %+v", i, n, nw.Nodes[i])
		}
	}
	for i, d := range back.Devices {
		if d.PubKey != nw.Devices[i].PubKey {
			t.Fatalf("device %d read back out of genesis order", i)
		}
	}
	want := map[string]string{}
	for _, d := range nw.Devices {
		want[d.PubKey.String()] = d.Industry
	}
	for _, d := range back.Devices {
		if want[d.PubKey.String()] != d.Industry {
			t.Errorf("device %s: industry %q, want %q", d.PubKey.Short(), d.Industry, want[d.PubKey.String()])
		}
	}
}

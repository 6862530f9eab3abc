package node

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/api"
)

// sseEvent is one server-sent event as a client reads it.
type sseEvent struct {
	kind string
	data []byte
}

// subscribeSSE opens GET path on n and delivers its events until the test
// ends.
func subscribeSSE(t *testing.T, n *Node, path string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+n.APIAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	out := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(strings.TrimPrefix(line, "data: "))
			case line == "" && ev.kind != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// TestReadingFinality follows readings from the door to finality as a
// meter vendor would: GET /v1/readings/{hash} says pending, then final at
// the height and index where the store holds it; a subscription filtered
// by device gets one final event per reading of that device and none of
// another's; an unknown hash is 404.
func TestReadingFinality(t *testing.T) {
	tn := startTestNet(t, 1, 0, 0)
	n := tn.nodes[0]
	industry := tn.account(0)
	var devs [2]*chain.PrivateKey
	var last chain.Hash
	var acct api.Account
	httpJSON(t, n, "GET", "/v1/accounts/"+industry.Public().Address().String(), nil, &acct)
	for i := range devs {
		var err error
		if devs[i], err = chain.GenerateKey(nil); err != nil {
			t.Fatal(err)
		}
		last = submitTx(t, n, industry, &chain.Tx{Nonce: acct.Nonce + 1 + uint64(i), RegisterDevice: &chain.RegisterDevice{Device: devs[i].Public()}})
	}
	waitFor(t, 20*time.Second, "devices registered", func() bool {
		var st api.TxStatus
		return httpJSON(t, n, "GET", "/v1/txs/"+last.String(), nil, &st) == 200 && st.Status == "final"
	})

	mine := subscribeSSE(t, n, "/v1/events?device="+devs[0].Public().String())
	plain := subscribeSSE(t, n, "/v1/events")
	waitFor(t, 5*time.Second, "subscriptions open", func() bool { return n.Events().Subscribers() >= 2 })

	start := time.Now().Add(-10 * time.Second)
	var batch []*chain.Reading
	for seq := uint64(1); seq <= 5; seq++ {
		for _, d := range devs {
			batch = append(batch, signedReading(n.ChainID(), d, seq, start.Add(time.Duration(seq)*time.Second)))
		}
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", batch, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	want := map[chain.Hash]*chain.Reading{}
	for i, r := range res.Results {
		if r.Hash != batch[i].Hash() {
			t.Fatalf("result %d: hash %s, the reading's is %s", i, r.Hash, batch[i].Hash())
		}
		if batch[i].Device == devs[0].Public() {
			want[r.Hash] = batch[i]
		}
	}
	var st api.ReadingStatus
	if code := httpJSON(t, n, "GET", "/v1/readings/"+res.Results[0].Hash.String(), nil, &st); code != 200 || (st.Status != "pending" && st.Status != "final") {
		t.Fatalf("just after submitting: %d %+v", code, st)
	}

	got := map[chain.Hash]api.FinalEvent{}
	deadline := time.After(20 * time.Second)
	for len(got) < len(want) {
		select {
		case ev, ok := <-mine:
			if !ok {
				t.Fatal("event stream ended")
			}
			if ev.kind != "final" {
				t.Fatalf("device subscription got a %q event: %s", ev.kind, ev.data)
			}
			var fe api.FinalEvent
			if err := json.Unmarshal(ev.data, &fe); err != nil {
				t.Fatal(err)
			}
			if want[fe.Hash] == nil || fe.Device != devs[0].Public() {
				t.Fatalf("final event of another device's reading: %s", ev.data)
			}
			got[fe.Hash] = fe
		case <-deadline:
			t.Fatalf("%d of %d final events after 20 s", len(got), len(want))
		}
	}
	for h, fe := range got {
		var st api.ReadingStatus
		if code := httpJSON(t, n, "GET", "/v1/readings/"+h.String(), nil, &st); code != 200 {
			t.Fatalf("final reading %s: status %d", h.Short(), code)
		}
		if st.Status != "final" || st.Height != fe.Height || st.Index == nil || *st.Index != fe.Index ||
			st.Reading == nil || st.Reading.Hash() != h || fe.Seq != want[h].Seq {
			t.Fatalf("reading %s: status %+v, event %+v", h.Short(), st, fe)
		}
		b, err := n.store.Block(chain.LaneData, fe.Height)
		if err != nil || b.Readings[fe.Index].Hash() != h {
			t.Fatalf("event says %d[%d], the block holds another reading (%v)", fe.Height, fe.Index, err)
		}
	}
	// The unfiltered stream has blocks and no finals.
	for len(plain) > 0 {
		if ev := <-plain; ev.kind == "final" {
			t.Fatalf("unfiltered subscription got a final event: %s", ev.data)
		}
	}
	var e api.Error
	if code := httpJSON(t, n, "GET", "/v1/readings/"+chain.Hash{7}.String(), nil, &e); code != 404 || e.Code != api.CodeNotFound {
		t.Fatalf("unknown reading: %d %+v", code, e)
	}
}

// TestMetricsPassPromlint: every series /metrics serves passes client
// golang's promlint (what promtool check metrics runs), libp2p's included.
func TestMetricsPassPromlint(t *testing.T) {
	tn := startTestNet(t, 1, 0, 0)
	n := tn.nodes[0]
	resp, err := http.Get("http://" + n.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The timeline: a step's figures second by second (Options.TimelineFile),
// to see what a jump in the offered rate does in its first seconds, where
// a step's totals average it away. Per second since the step began:
// readings due (offered), sent for the first time, sent again after an
// overload refusal, refused as overload, accepted (their answer came
// back) and final; and, with Processes, validator-1's admission window,
// finalized-rate estimate and data mempool at the second's end, with the
// readings and requests all the validators refused for the window in it.

// timelineMetrics are the node metrics the timeline samples.
var timelineMetrics = []string{
	"waterchain_mempool_admit_window",
	"waterchain_finalized_readings_rate",
	`waterchain_mempool_entries{lane="data"}`,
	"waterchain_readings_over_window_total",
	"waterchain_readings_over_window_requests_total",
}

// nodeSampler polls the processes' /metrics every interval while a step
// runs; samples[s] is the last sample taken in second s of the step, per
// node.
type nodeSampler struct {
	c    *processes
	t0   time.Time
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards samples
	samples map[int][]map[string]float64
}

// startSampler starts sampling cl's nodes from t0, or returns nil when cl
// runs no processes.
func startSampler(cl cluster, t0 time.Time) *nodeSampler {
	c, ok := cl.(*processes)
	if !ok {
		return nil
	}
	s := &nodeSampler{c: c, t0: t0, stop: make(chan struct{}), done: make(chan struct{}), samples: make(map[int][]map[string]float64)}
	go s.run()
	return s
}

func (s *nodeSampler) run() {
	defer close(s.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		sec := int(time.Since(s.t0) / time.Second)
		row := make([]map[string]float64, len(s.c.apis))
		for i, api := range s.c.apis {
			row[i] = scrapeMetrics(client, api+"/metrics")
		}
		s.mu.Lock()
		s.samples[sec] = row
		s.mu.Unlock()
	}
}

func (s *nodeSampler) close() {
	if s == nil {
		return
	}
	close(s.stop)
	<-s.done
}

// scrapeMetrics reads the timeline's metrics from a Prometheus text page;
// nil when the page could not be read.
func scrapeMetrics(client *http.Client, url string) map[string]float64 {
	resp, err := client.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range timelineMetrics {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
					out[name] = v
				}
			}
		}
	}
	return out
}

// writeTimeline appends the step's seconds to path.
func writeTimeline(path, label string, rate int, st *stepState, refusedAt, resentAt []int64, s *nodeSampler) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return formatTimeline(f, label, rate, st, refusedAt, resentAt, s)
}

func formatTimeline(w io.Writer, label string, rate int, st *stepState, refusedAt, resentAt []int64, s *nodeSampler) error {
	sec := func(ns int64) int { return int(ns / int64(time.Second)) }
	count := make(map[string]map[int]int)
	add := func(kind string, ns int64) {
		if count[kind] == nil {
			count[kind] = make(map[int]int)
		}
		count[kind][sec(ns)]++
	}
	last := 0
	for k := range st.readings {
		add("offered", int64(float64(k)/float64(rate)*float64(time.Second)))
		for kind, at := range map[string]int64{"sent": st.submitAt[k], "accepted": st.answerAt[k], "final": st.finalAt[k]} {
			if at > 0 {
				add(kind, at)
				last = max(last, sec(at))
			}
		}
	}
	for _, at := range refusedAt {
		add("refused", at)
		last = max(last, sec(at))
	}
	for _, at := range resentAt {
		add("resent", at)
	}
	fmt.Fprintf(w, "# %s %d/s: per second: offered, sent first, sent again, refused (overload), accepted, final; validator-1 window, rate, data mempool; all validators' readings and requests refused for the window\n", label, rate)
	fmt.Fprintf(w, "%4s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %6s\n", "s", "offer", "sent", "resent", "refused", "accept", "final", "window", "rate", "pool", "ovwin", "ovreq")
	var prev []map[string]float64
	for t := 0; t <= last; t++ {
		fmt.Fprintf(w, "%4d %7d %7d %7d %7d %7d %7d", t, count["offered"][t], count["sent"][t], count["resent"][t], count["refused"][t], count["accepted"][t], count["final"][t])
		var row []map[string]float64
		if s != nil {
			s.mu.Lock()
			row = s.samples[t]
			s.mu.Unlock()
		}
		if len(row) == 0 || row[0] == nil {
			fmt.Fprintln(w)
			continue
		}
		// The counters' growth since the last second sampled, -1 where a
		// node's sample is missing (its scrape failed).
		delta := func(name string) float64 {
			d := 0.0
			for i, m := range row {
				if m == nil || i >= len(prev) || prev[i] == nil {
					return -1
				}
				d += m[name] - prev[i][name]
			}
			return d
		}
		ovwin, ovreq := delta("waterchain_readings_over_window_total"), delta("waterchain_readings_over_window_requests_total")
		fmt.Fprintf(w, " %7.0f %7.0f %7.0f %8.0f %6.0f\n", row[0]["waterchain_mempool_admit_window"], row[0]["waterchain_finalized_readings_rate"],
			row[0][`waterchain_mempool_entries{lane="data"}`], ovwin, ovreq)
		prev = row
	}
	return nil
}

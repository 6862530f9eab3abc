// Command tracestages reads a Go runtime execution trace (waterchain run
// --trace, bench history --catchup-trace) and prints, per 100 ms of it,
// the CPU milliseconds each stage of a node ran: 200 in a row is both
// cores of this project's machine busy, and a row well under it with one
// stage high is that stage holding the others up.
//
//	go run ./scripts/tracestages FILE.trace
//
// (run from scripts/tracestages: it is its own module, so that the node's
// module does not depend on golang.org/x/exp.)
//
//	go run ./scripts/tracestages -blocked [-stage loop] FILE.trace
//
// prints instead where the goroutines (of one stage) waited, blocked and
// not runnable, summed by stage, reason and the innermost frames of the
// wait, most first: a stage idle in the first table shows here what it
// waited for (a channel of the next stage, badger's read watermark,
// y.(*WaterMark).WaitForMark under oracle.readTs, a lock).
//
// A goroutine's time goes to the first stage (in the order of stages)
// that a function of its stack names when it stops running, or to the
// stage it ran in last; the rest is "other". After the CPU columns, an
// "s:" column per stage gives the milliseconds its goroutines spent
// blocked in system calls (an fsync, a read): no CPU, but time the stage
// held the others up. The stages are those of block sync (node/sync.go);
// edit them for another question.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

// stages are matched against the functions of a goroutine's stack, first
// match in this order wins.
var stages = []struct{ pattern, name string }{
	{"checkSync", "check"},             // signatures and shapes, on every core
	{"doWrites", "bwrite"},             // badger's one write goroutine
	{"newSyncWriter", "writer"},        // store.CommitBlocks of each chunk
	{"flushMemtable", "flush"},         // badger memtable to level 0
	{"runCompactor", "compact"},        // badger compactions
	{"gcBgMarkWorker", "gc"},           // the garbage collector's workers
	{"fetch", "fetch"},                 // requests and decoding of answers
	{"(*Node).loop", "loop"},           // verification and execution
	{"yamux", "net"}, {"swarm", "net"}, // libp2p
}

const window = 100e6 // ns per row

// sysPrefix names the time a stage's goroutines spent blocked in system
// calls (an fsync, a read), which is no CPU but holds the stage up: a
// column of its own after the CPU columns, not counted in "all".
const sysPrefix = "s:"

func stageOf(st trace.Stack) string {
	best := len(stages)
	for f := range st.Frames() {
		for k, s := range stages {
			if k < best && strings.Contains(f.Func, s.pattern) {
				best = k
			}
		}
	}
	if best == len(stages) {
		return "other"
	}
	return stages[best].name
}

func main() {
	blocked := flag.Bool("blocked", false, "print where goroutines waited instead of the CPU per stage")
	only := flag.String("stage", "", "with -blocked: only the waits of this stage")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tracestages [-blocked [-stage NAME]] FILE.trace")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *blocked {
		if err := printBlocked(r, *only); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var t0 trace.Time
	running := map[trace.GoID]trace.Time{}
	inSyscall := map[trace.GoID]trace.Time{} // since when, of goroutines in a system call
	last := map[trace.GoID]string{}
	rows := map[int64]map[string]float64{}
	add := func(from, to trace.Time, stage string) {
		for from < to {
			row := int64(from-t0) / window
			end := min(t0+trace.Time((row+1)*window), to)
			if rows[row] == nil {
				rows[row] = map[string]float64{}
			}
			rows[row][stage] += float64(end-from) / 1e6
			from = end
		}
	}
	err = forTransitions(r, func(t trace.Time) { t0 = t }, func(ev *trace.Event, id trace.GoID, from, to trace.GoState) {
		if to == trace.GoRunning {
			running[id] = ev.Time()
		}
		if to == trace.GoSyscall {
			inSyscall[id] = ev.Time()
		}
		if from == trace.GoSyscall {
			if began, ok := inSyscall[id]; ok {
				add(began, ev.Time(), sysPrefix+last[id])
				delete(inSyscall, id)
			}
		}
		if from != trace.GoRunning {
			return
		}
		stage := stageOf(ev.Stack())
		if stage == "other" && last[id] != "" {
			stage = last[id]
		}
		last[id] = stage
		if began, ok := running[id]; ok {
			add(began, ev.Time(), stage)
			delete(running, id)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var keys []int64
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	names := []string{}
	for _, s := range stages {
		if len(names) == 0 || names[len(names)-1] != s.name {
			names = append(names, s.name)
		}
	}
	names = append(names, "other")
	// The stages that made system calls, after the CPU columns.
	sys := map[string]bool{}
	for _, r := range rows {
		for s := range r {
			if strings.HasPrefix(s, sysPrefix) {
				sys[s] = true
			}
		}
	}
	for _, n := range names {
		if sys[sysPrefix+n] {
			names = append(names, sysPrefix+n)
		}
	}
	fmt.Printf("%7s %5s", "s", "all")
	for _, n := range names {
		fmt.Printf(" %7s", n)
	}
	fmt.Println()
	for _, k := range keys {
		all := 0.0
		for s, v := range rows[k] {
			if !strings.HasPrefix(s, sysPrefix) {
				all += v
			}
		}
		fmt.Printf("%7.1f %5.0f", float64(k)*window/1e9, all)
		for _, n := range names {
			fmt.Printf(" %7.0f", rows[k][n])
		}
		fmt.Println()
	}
}

// blockedFrames is how many innermost frames name a wait in -blocked.
const blockedFrames = 8

// printBlocked sums the time goroutines spent blocked by stage, reason
// and the innermost frames of their stack when they blocked, and prints
// the 40 largest, of stage only unless it is empty.
func printBlocked(r *trace.Reader, only string) error {
	since := map[trace.GoID]trace.Time{}
	site := map[trace.GoID]string{}
	sum := map[string]float64{}
	err := forTransitions(r, nil, func(ev *trace.Event, id trace.GoID, from, to trace.GoState) {
		if from == trace.GoRunning && to == trace.GoWaiting {
			stage := stageOf(ev.Stack())
			if only != "" && stage != only {
				return
			}
			var frames []string
			for f := range ev.Stack().Frames() {
				if len(frames) == blockedFrames {
					break
				}
				fn := f.Func[strings.LastIndex(f.Func, "/")+1:]
				frames = append(frames, fmt.Sprintf("%s:%d", fn, f.Line))
			}
			since[id] = ev.Time()
			site[id] = fmt.Sprintf("%-7s %s @ %s", stage, ev.StateTransition().Reason, strings.Join(frames, " < "))
			return
		}
		if from == trace.GoWaiting {
			if t, ok := since[id]; ok {
				sum[site[id]] += float64(ev.Time()-t) / 1e6
				delete(since, id)
			}
		}
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(sum))
	for k := range sum {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return sum[keys[i]] > sum[keys[j]] })
	fmt.Printf("%9s  %s\n", "ms", "stage reason @ innermost frames")
	for _, k := range keys[:min(40, len(keys))] {
		fmt.Printf("%9.0f  %s\n", sum[k], k)
	}
	return nil
}

// forTransitions calls start with the time of r's first event, then fn
// for each goroutine state transition, in order.
func forTransitions(r *trace.Reader, start func(trace.Time), fn func(ev *trace.Event, id trace.GoID, from, to trace.GoState)) error {
	first := true
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if first && start != nil {
			start(ev.Time())
		}
		first = false
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		from, to := st.Goroutine()
		fn(&ev, st.Resource.Goroutine(), from, to)
	}
}

package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// Scenario sizes. The report keeps its whole run under ~3 minutes on a
// 2-core machine; see README.md for what each number means.
const (
	producers     = 4                // goroutines producing in the flat-out scenarios
	flatDuration  = 3 * time.Second  // produce-throughput run per peer and partition count
	pacedRate     = 20_000           // records/s in the latency scenario
	pacedRecords  = pacedRate * 5    // ~5 s at pacedRate
	settleTime    = 2 * time.Second  // pause before the after-load RSS reading
	startupRuns   = 5                // startup measurements per peer; the median is reported
	scenarioLimit = 60 * time.Second // bound on any one scenario
	reportLimit   = 8 * time.Minute  // bound on the whole report
	benchTopic    = "bench"          // topic of the flat-out produce and the fetch
	pacedTopic    = "paced"          // topic of the latency scenario
	idleTopic     = "idle"           // topic created before the idle RSS reading
)

var partitionCounts = []int{1, 8}

func inProcessKinds() []peerKind { return []peerKind{samsaInProcess(), kfakeInProcess()} }

// startForBench starts a fresh broker of kind for one benchmark call.
func startForBench(b *testing.B, kind peerKind, partitions int) *peer {
	b.Helper()
	p, err := kind.start(context.Background(), b.TempDir(), partitions)
	if err != nil {
		b.Fatalf("start %s: %v", kind.name, err)
	}
	b.Cleanup(p.close)
	return p
}

// BenchmarkProduce produces b.N 1 KiB records flat out (4 goroutines,
// acks=all, idempotent) to a fresh broker; ns/op is per record and MB/s is
// the produce throughput.
func BenchmarkProduce(b *testing.B) {
	for _, kind := range inProcessKinds() {
		for _, n := range partitionCounts {
			b.Run(fmt.Sprintf("%s/partitions=%d", kind.name, n), func(b *testing.B) {
				p := startForBench(b, kind, n)
				b.SetBytes(recordBytes)
				b.ResetTimer()
				r, err := produceFlat(context.Background(), p.addr, benchTopic, producers, time.Hour, int64(b.N))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.recsPerSec(), "records/s")
			})
		}
	}
}

// BenchmarkFetch reads back b.N records (produced before the timer starts)
// with a direct consumer from the start of the topic.
func BenchmarkFetch(b *testing.B) {
	for _, kind := range inProcessKinds() {
		for _, n := range partitionCounts {
			b.Run(fmt.Sprintf("%s/partitions=%d", kind.name, n), func(b *testing.B) {
				p := startForBench(b, kind, n)
				ctx := context.Background()
				w, err := produceFlat(ctx, p.addr, benchTopic, producers, time.Hour, int64(b.N))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(recordBytes)
				b.ResetTimer()
				// +1: the warm-up record produceFlat sends first.
				r, err := consumeAll(ctx, p.addr, benchTopic, w.records+1)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.recsPerSec(), "records/s")
			})
		}
	}
}

// BenchmarkProduceLatency produces b.N records paced at 20 000 records/s
// and reports per-record p50/p99 latency (Produce call to promise).
func BenchmarkProduceLatency(b *testing.B) {
	for _, kind := range inProcessKinds() {
		for _, n := range partitionCounts {
			b.Run(fmt.Sprintf("%s/partitions=%d", kind.name, n), func(b *testing.B) {
				p := startForBench(b, kind, n)
				b.ResetTimer()
				l, err := producePaced(context.Background(), p.addr, pacedTopic, pacedRate, max(b.N, 100))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(l.p50.Microseconds()), "p50-µs")
				b.ReportMetric(float64(l.p99.Microseconds()), "p99-µs")
			})
		}
	}
}

// TestReport runs every scenario against every peer in one go and prints a
// single side-by-side table. It reports; it asserts nothing about timings
// (only that each scenario ran). Run it with
//
//	SAMSA_BENCH=1 go test ./bench -run TestReport -v -timeout 10m
func TestReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("benchmark report; run with: SAMSA_BENCH=1 go test ./bench -run TestReport -v -timeout 10m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportLimit)
	defer cancel()

	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}
	newDir := func() string {
		d, err := os.MkdirTemp(root, "samsa-bench-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	bins, err := buildBinaries(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	rep := newReport()
	runStart := time.Now()
	all := map[string]peerKind{
		"samsa": samsaInProcess(), "kfake": kfakeInProcess(),
		"samsa-bin": binaryPeer(bins, "samsa-bin"), "kfake-bin": binaryPeer(bins, "kfake-bin"),
	}
	names := peerNames()
	for _, name := range names {
		if _, ok := all[name]; !ok {
			t.Fatalf("SAMSA_BENCH_PEERS: unknown peer %q (want samsa, kfake, samsa-bin, kfake-bin)", name)
		}
	}
	// Relaxed durability (flush.messages above 1) against kfake without
	// fsync: equal durability again, one partition, in process, each run
	// right after the same peer's durable runs so that both meet the disk
	// in the same state (writeback of earlier runs skews whatever runs
	// last).
	relaxed := map[string]peerKind{"samsa": samsaRelaxedInProcess(), "kfake": kfakeNoSyncInProcess()}
	for _, name := range names {
		for _, n := range partitionCounts {
			runScenarios(ctx, t, rep, all[name], newDir(), n)
		}
		if kind, ok := relaxed[name]; ok {
			runRelaxed(ctx, t, rep, kind, newDir())
		}
	}
	for _, name := range names {
		if strings.HasSuffix(name, "-bin") {
			measureStartupExec(ctx, t, rep, bins, name, newDir)
		} else {
			measureStartupInProcess(ctx, t, rep, name, newDir)
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsamsa vs kfake — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "machine: %d cores, %s; data dirs under %s\n", numCPU(), goVersion(), rootDesc)
	fmt.Fprintf(&sb, "durability: samsa fsyncs (group commit) before acking acks>=1; "+
		"kfake runs with DataDir + SyncWrites (fsync segment+index after every batch, before the ack)\n")
	fmt.Fprintf(&sb, "client: franz-go kgo, 1 KiB incompressible records, acks=all, idempotent, linger 10ms (default), "+
		"no compression; flat-out = %d goroutines for %s; paced = %d rec/s for %d records\n",
		producers, flatDuration, pacedRate, pacedRecords)
	fmt.Fprintf(&sb, "ratio = samsa / kfake; (hi) higher is better, (lo) lower is better\n\n")
	rep.write(&sb)
	fmt.Fprintf(&sb, "\nreport took %s\n", time.Since(runStart).Round(100*time.Millisecond))
	fmt.Print(sb.String())
}

// runScenarios runs the produce, fetch and latency scenarios against a
// fresh broker of kind, and for a separate process its RSS when idle and
// after the load.
func runScenarios(ctx context.Context, t *testing.T, rep *report, kind peerKind, dir string, partitions int) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 3*scenarioLimit)
	defer cancel()
	p, err := kind.start(sctx, dir, partitions)
	if err != nil {
		t.Errorf("start %s: %v", kind.name, err)
		return
	}
	defer p.close()
	suffix := fmt.Sprintf("%dp", partitions)
	fail := func(what string, err error) {
		t.Errorf("%s %s: %v", kind.name, what, err)
	}

	if p.pid != 0 {
		// Idle: started, one topic created, the creating client gone.
		cl, err := producerClient(p.addr, idleTopic)
		if err == nil {
			err = warmUp(sctx, cl)
			cl.Close()
		}
		if err != nil {
			fail("create idle topic", err)
		} else if rss, err := rssBytes(p.pid); err != nil {
			fail("rss", err)
		} else {
			rep.set("RSS idle, 1 topic "+suffix+" MiB (lo)", kind.name, mib(rss))
		}
	}

	if r, err := produceFlat(sctx, p.addr, benchTopic, producers, flatDuration, 0); err != nil {
		fail("produce "+suffix, err)
	} else {
		rep.set("produce "+suffix+" MB/s (hi)", kind.name, r.mbPerSec())
		rep.set("produce "+suffix+" records/s (hi)", kind.name, r.recsPerSec())
		// +1: the warm-up record produceFlat sends first.
		if f, err := consumeAll(sctx, p.addr, benchTopic, r.records+1); err != nil {
			fail("fetch "+suffix, err)
		} else {
			rep.set("fetch "+suffix+" MB/s (hi)", kind.name, f.mbPerSec())
		}
	}

	if l, err := producePaced(sctx, p.addr, pacedTopic, pacedRate, pacedRecords); err != nil {
		fail("paced produce "+suffix, err)
	} else {
		rep.set("latency "+suffix+" p50 ms @20k rec/s (lo)", kind.name, ms(l.p50))
		rep.set("latency "+suffix+" p99 ms @20k rec/s (lo)", kind.name, ms(l.p99))
		rep.set("latency "+suffix+" achieved rec/s", kind.name, l.achieved)
	}

	if p.pid != 0 {
		// A fixed settle time rather than a poll: there is no event that
		// says "the heap is done shrinking"; this is a measurement
		// protocol, not a synchronisation.
		select {
		case <-time.After(settleTime):
		case <-sctx.Done():
		}
		if rss, err := rssBytes(p.pid); err != nil {
			fail("rss", err)
		} else {
			rep.set("RSS after load "+suffix+" MiB (lo)", kind.name, mib(rss))
		}
	}
}

// runRelaxed measures one partition's produce throughput and paced latency
// with page-cache acknowledgements (samsa relaxed, kfake without fsync), as
// rows of their own beside the durable ones.
func runRelaxed(ctx context.Context, t *testing.T, rep *report, kind peerKind, dir string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 3*scenarioLimit)
	defer cancel()
	p, err := kind.start(sctx, dir, 1)
	if err != nil {
		t.Errorf("start %s relaxed: %v", kind.name, err)
		return
	}
	defer p.close()
	if r, err := produceFlat(sctx, p.addr, benchTopic, producers, flatDuration, 0); err != nil {
		t.Errorf("%s relaxed produce: %v", kind.name, err)
	} else {
		rep.set("produce 1p MB/s, no fsync per ack: samsa flush.messages=max vs kfake without SyncWrites (hi)", kind.name, r.mbPerSec())
	}
	if l, err := producePaced(sctx, p.addr, pacedTopic, pacedRate, pacedRecords); err != nil {
		t.Errorf("%s relaxed paced produce: %v", kind.name, err)
	} else {
		rep.set("latency 1p p50 ms @20k rec/s, no fsync per ack (lo)", kind.name, ms(l.p50))
		rep.set("latency 1p p99 ms @20k rec/s, no fsync per ack (lo)", kind.name, ms(l.p99))
	}
}

// measureStartupInProcess times Start (samsa.Start or kfake.NewCluster) on
// a fresh data dir up to the first acknowledged produce to a new topic.
func measureStartupInProcess(ctx context.Context, t *testing.T, rep *report, name string, newDir func() string) {
	t.Helper()
	kind := samsaInProcess()
	if name == "kfake" {
		kind = kfakeInProcess()
	}
	var runs []time.Duration
	for range startupRuns {
		dir := newDir()
		t0 := time.Now()
		p, err := kind.start(ctx, dir, 1)
		if err != nil {
			t.Errorf("startup %s: %v", name, err)
			return
		}
		actx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = firstAck(actx, p.addr)
		cancel()
		d := time.Since(t0)
		p.close()
		if err != nil {
			t.Errorf("startup %s: first produce: %v", name, err)
			return
		}
		runs = append(runs, d)
	}
	rep.set("startup to first ack, in-process ms (lo)", name, ms(median(runs)))
}

// measureStartupExec times exec of the broker binary (fresh data dir, port
// chosen beforehand) to the first acknowledged produce of a client that was
// already retrying its connection.
func measureStartupExec(ctx context.Context, t *testing.T, rep *report, bins binaries, kind string, newDir func() string) {
	t.Helper()
	var runs []time.Duration
	for range startupRuns {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		path, args := serveArgs(bins, kind, addr, newDir(), 1)
		actx, cancel := context.WithTimeout(ctx, 20*time.Second)
		acked := make(chan error, 1)
		t0 := time.Now()
		proc, err := startProcess(path, args)
		if err != nil {
			cancel()
			t.Errorf("startup %s: %v", kind, err)
			return
		}
		go func() { acked <- firstAck(actx, addr) }()
		err = <-acked
		d := time.Since(t0)
		cancel()
		proc.stop()
		if err != nil {
			t.Errorf("startup %s: first produce: %v (logs: %s)", kind, err, proc.tail())
			return
		}
		runs = append(runs, d)
	}
	rep.set("startup exec to first ack, median of 5, ms (lo)", kind, ms(median(runs)))
}

// peerNames is the peers to run, in order: SAMSA_BENCH_PEERS (comma
// separated) or all four.
func peerNames() []string {
	v := os.Getenv("SAMSA_BENCH_PEERS")
	if v == "" {
		return []string{"samsa", "kfake", "samsa-bin", "kfake-bin"}
	}
	return strings.Split(v, ",")
}

// report is the side-by-side table: one row per metric, one column per peer.
type report struct {
	rows []string                      // metric names in first-set order
	vals map[string]map[string]float64 // metric -> peer -> value
}

func newReport() *report { return &report{vals: map[string]map[string]float64{}} }

func (r *report) set(metric, peer string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string]float64{}
		r.rows = append(r.rows, metric)
	}
	r.vals[metric][peer] = v
}

// write prints the table: in-process samsa against in-process kfake, then
// the two binaries, each pair with its ratio.
func (r *report) write(sb *strings.Builder) {
	tw := tabwriter.NewWriter(sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tsamsa\tkfake\tratio\tsamsa-bin\tkfake-bin\tratio\t")
	rows := slices.Clone(r.rows)
	// Group rows by scenario so the table reads top-down.
	order := []string{"produce 1p", "produce 8p", "fetch", "latency 1p", "latency 8p", "startup", "RSS"}
	rank := func(m string) int {
		for i, p := range order {
			if strings.HasPrefix(m, p) {
				return i
			}
		}
		return len(order)
	}
	slices.SortStableFunc(rows, func(a, b string) int { return rank(a) - rank(b) })
	for _, m := range rows {
		v := r.vals[m]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m,
			cell(v, "samsa"), cell(v, "kfake"), ratio(v, "samsa", "kfake"),
			cell(v, "samsa-bin"), cell(v, "kfake-bin"), ratio(v, "samsa-bin", "kfake-bin"))
	}
	tw.Flush()
}

func cell(v map[string]float64, peer string) string {
	x, ok := v[peer]
	if !ok {
		return "-"
	}
	switch {
	case x >= 1000:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func ratio(v map[string]float64, a, b string) string {
	x, ok1 := v[a]
	y, ok2 := v[b]
	if !ok1 || !ok2 || y == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x/y)
}

func numCPU() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TestHelpers checks the report's small pure helpers, so a broken
// percentile or table does not go unnoticed when the report is skipped.
func TestHelpers(t *testing.T) {
	if got := median([]time.Duration{5, 1, 3, 4, 2}); got != 3 {
		t.Errorf("median = %v, want 3", got)
	}
	r := newReport()
	r.set("produce 1p MB/s (hi)", "samsa", 200)
	r.set("produce 1p MB/s (hi)", "kfake", 100)
	var sb strings.Builder
	r.write(&sb)
	if !strings.Contains(sb.String(), "2.00x") {
		t.Errorf("table lacks the 2.00x ratio:\n%s", sb.String())
	}
	if fs, _ := mountOf("/"); fs == "unknown" {
		t.Errorf("mountOf(/) found no mount")
	}
	if rss, err := rssBytes(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("rssBytes(self) = %d, %v", rss, err)
	}
}

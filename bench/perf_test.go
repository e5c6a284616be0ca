package bench

// The performance report of issue #10: samsa next to kfake (with and
// without fsync), the discard broker (the client's ceiling) and this
// disk's fdatasync, in one run, with the goals checked at the end.
//
//	SAMSA_BENCH=1 go test ./bench -run TestPerfReport -v -timeout 20m
//
// Scenarios, in the order they run (see README.md):
//
//  1. fdatasync probe: 1 KiB write + fdatasync, appending, into a
//     fallocated file, into a pre-zeroed file;
//  2. one record in flight: ProduceSync of one 1 KiB record at a time
//     (linger 0, acks=all), 1 partition, per peer;
//  3. ceiling: produceFlat to 8 partitions per peer, then consumeAll;
//  4. fixed rate: producePaced at 20 000 rec/s to 8 partitions per peer;
//  5. many partitions: samsa-bin with a 10 000-partition topic at 5 000
//     rec/s (round robin; two passes, the first one touching every
//     partition for the first time) next to 8 partitions at the same
//     rate; RSS; open fds; kill -9 and restart, exec to the ready log
//     line and to the first ack.
//
// SAMSA_PERF_PEERS (comma separated; default all five, in the order they
// run: discard first, on a quiet disk) picks the peers of scenarios 2-4;
// SAMSA_PERF_PARTITIONS (default 10000, 0 skips it) sizes scenario 5;
// SAMSA_BENCH_CLUSTER=1 also runs TestClusterReport (RF=3 vs RF=1).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

const (
	syncProbes      = 2000              // fdatasync calls per probe mode
	syncPrealloc    = 64 << 20          // bytes fallocated / pre-zeroed
	syncProbeLimit  = 20 * time.Second  // bound on one probe mode
	inflightRecords = 3000              // one-in-flight: at most this many records
	inflightTime    = 3 * time.Second   // ... or this long
	ceilingParts    = 8                 // partitions of the ceiling and fixed-rate rows
	wideRate        = 5000              // records/s of the many-partitions rows
	wideRecords     = wideRate * 5      // ~5 s at wideRate
	wideCreateLimit = 120 * time.Second // bound on creating the wide topic
	wideRestartMax  = 60 * time.Second  // bound on restart to first ack
	perfLimit       = 12 * time.Minute  // bound on the whole report
	inflightTopic   = "inflight"        // topic of the one-in-flight rows
	wideTopic       = "wide"            // the many-partition topic
	narrowTopic     = "narrow"          // its 8-partition comparison
	perfPeerList    = "discard,samsa,samsa-bin,kfake-fsync,kfake-mem"
	fdatasyncCol    = "fdatasync"      // the probe's column
	restartGoal     = 10 * time.Second // goal: restart to first ack
	ceilingGoal     = 0.8              // goal: samsa / discard produce MB/s
	pacedGoal       = 1.25             // goal: samsa / kfake-mem p99 at 20k rec/s
	fetchGoal       = 1.0              // goal: fetch / produce MB/s
	wideP99Goal     = 2.0              // goal: p99 on many partitions / on 8, same rate
	wideRSSGoalMiB  = 1024             // goal: RSS with many partitions
	settleWide      = 2 * time.Second  // pause before the after-load RSS and fd readings
	readyLimit      = 30 * time.Second // bound on a samsa-bin start
	killLimit       = 10 * time.Second // bound on a killed process's exit
	perfColumnsDesc = "columns: samsa = samsa.Start in the test process; samsa-bin = `samsa serve` child process; " +
		"kfake-fsync = kfake DataDir+SyncWrites; kfake-mem = kfake DataDir without fsync (page cache); discard = bench's discard broker (acks, keeps nothing)"
)

var perfColumns = []string{"samsa", "samsa-bin", "kfake-fsync", "kfake-mem", "discard", fdatasyncCol}

// Row names (metrics) of the report.
const (
	rowInflightP50 = "1 in flight, 1p: p50 ms (lo)"
	rowInflightP99 = "1 in flight, 1p: p99 ms (lo)"
	rowInflightRec = "1 in flight, 1p: records/s (hi)"
	rowCeilProduce = "ceiling 8p: produce MB/s (hi)"
	rowCeilFetch   = "ceiling 8p: fetch MB/s (hi)"
	rowPacedP50    = "fixed 20k rec/s 8p: p50 ms (lo)"
	rowPacedP99    = "fixed 20k rec/s 8p: p99 ms (lo)"
	rowPacedRate   = "fixed 20k rec/s 8p: achieved rec/s"
)

func syncRow(mode syncMode, pct string) string {
	return fmt.Sprintf("fdatasync 1 KiB, %s: %s µs (lo)", mode, pct)
}

// wideRows are the many-partition rows, for n partitions.
type wideRows struct {
	narrowP50, narrowP99, wideP50, wideP99, wideP99Again, create  string
	narrowRSS, wideRSS, narrowFDs, wideFDs, restartReady, restart string
}

func newWideRows(n int) wideRows {
	return wideRows{
		narrowP50:    "many partitions: p50 ms @5k rec/s, 8p (lo)",
		narrowP99:    "many partitions: p99 ms @5k rec/s, 8p (lo)",
		wideP50:      fmt.Sprintf("many partitions: p50 ms @5k rec/s, %dp, first pass (lo)", n),
		wideP99:      fmt.Sprintf("many partitions: p99 ms @5k rec/s, %dp, first pass (lo)", n),
		wideP99Again: fmt.Sprintf("many partitions: p99 ms @5k rec/s, %dp, second pass (lo)", n),
		create:       fmt.Sprintf("many partitions: create %dp topic s (lo)", n),
		narrowRSS:    "many partitions: RSS MiB after 8p load (lo)",
		wideRSS:      fmt.Sprintf("many partitions: RSS MiB after %dp load (lo)", n),
		narrowFDs:    "many partitions: open fds after 8p load",
		wideFDs:      fmt.Sprintf("many partitions: open fds after %dp load", n),
		restartReady: fmt.Sprintf("many partitions: kill -9, restart, exec to ready log line, %dp s (lo)", n),
		restart:      fmt.Sprintf("many partitions: kill -9, restart, exec to first ack, %dp s (lo)", n),
	}
}

func TestPerfReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("performance report (issue #10); run with: SAMSA_BENCH=1 go test ./bench -run TestPerfReport -v -timeout 20m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), perfLimit)
	defer cancel()
	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}
	newDir := func() string {
		d, err := os.MkdirTemp(root, "samsa-perf-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	wideN := 10_000
	if v := os.Getenv("SAMSA_PERF_PARTITIONS"); v != "" {
		if wideN, err = strconv.Atoi(v); err != nil {
			t.Fatalf("SAMSA_PERF_PARTITIONS: %v", err)
		}
	}
	bins, err := buildBinaries(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]peerKind{
		"samsa":       samsaInProcess(),
		"samsa-bin":   samsaBinPeer(bins),
		"kfake-fsync": kfakeInProcess(),
		"kfake-mem":   kfakeNoSyncInProcess(),
		"discard":     discardPeer(),
	}
	peers := strings.Split(perfPeerList, ",")
	if v := os.Getenv("SAMSA_PERF_PEERS"); v != "" {
		peers = strings.Split(v, ",")
	}
	for _, name := range peers {
		if _, ok := kinds[name]; !ok {
			t.Fatalf("SAMSA_PERF_PEERS: unknown peer %q (want some of %s)", name, perfPeerList)
		}
	}

	rep := newReport()
	var notes []string
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		notes = append(notes, s)
		t.Log(s)
	}
	runStart := time.Now()

	// 1. fdatasync, first, while nothing else of this test loads the disk.
	syncDirPath := newDir()
	for _, mode := range syncModes {
		rep.declare(syncRow(mode, "p50"))
		rep.declare(syncRow(mode, "p99"))
		p, err := probeFdatasync(syncDirPath, mode, syncProbes, syncPrealloc, syncProbeLimit)
		if err != nil {
			t.Errorf("fdatasync probe %s: %v", mode, err)
			continue
		}
		if p.n < syncProbes {
			note("fdatasync %s: only %d of %d calls within %s", mode, p.n, syncProbes, syncProbeLimit)
		}
		rep.set(syncRow(mode, "p50"), fdatasyncCol, us(p.p50))
		rep.set(syncRow(mode, "p99"), fdatasyncCol, us(p.p99))
	}

	// 2-4, peer by peer: a fresh 1-partition broker, then a fresh
	// 8-partition one.
	for _, row := range []string{rowInflightP50, rowInflightP99, rowInflightRec,
		rowCeilProduce, rowCeilFetch, rowPacedP50, rowPacedP99, rowPacedRate} {
		rep.declare(row)
	}
	for _, name := range peers {
		kind := kinds[name]
		withPeer(ctx, t, kind, newDir, 1, func(sctx context.Context, p *peer) {
			l, err := produceOneByOne(sctx, p.addr, inflightTopic, inflightRecords, inflightTime)
			if err != nil {
				t.Errorf("%s one in flight: %v", name, err)
				return
			}
			rep.set(rowInflightP50, name, ms(l.p50))
			rep.set(rowInflightP99, name, ms(l.p99))
			rep.set(rowInflightRec, name, l.achieved)
		})
		withPeer(ctx, t, kind, newDir, ceilingParts, func(sctx context.Context, p *peer) {
			if r, err := produceFlat(sctx, p.addr, benchTopic, producers, flatDuration, 0); err != nil {
				t.Errorf("%s ceiling produce: %v", name, err)
			} else {
				rep.set(rowCeilProduce, name, r.mbPerSec())
				if name != "discard" { // it keeps nothing to fetch
					// +1: the warm-up record produceFlat sends first.
					if f, err := consumeAll(sctx, p.addr, benchTopic, r.records+1); err != nil {
						t.Errorf("%s ceiling fetch: %v", name, err)
					} else {
						rep.set(rowCeilFetch, name, f.mbPerSec())
					}
				}
			}
			if l, err := producePaced(sctx, p.addr, pacedTopic, pacedRate, pacedRecords); err != nil {
				t.Errorf("%s fixed rate: %v", name, err)
			} else {
				rep.set(rowPacedP50, name, ms(l.p50))
				rep.set(rowPacedP99, name, ms(l.p99))
				rep.set(rowPacedRate, name, l.achieved)
			}
		})
	}

	// 5. Many partitions on one samsa-bin.
	if wideN > 0 {
		runWide(ctx, t, rep, note, bins, newDir(), wideN)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsamsa performance (issue #10) — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "machine: %d cores, %s; data dirs under %s; RLIMIT_NOFILE %s\n", numCPU(), goVersion(), rootDesc, nofile())
	fmt.Fprintln(&sb, perfColumnsDesc)
	fmt.Fprintf(&sb, "client: franz-go kgo, 1 KiB incompressible records, acks=all, idempotent, no compression; "+
		"1 in flight = ProduceSync one record at a time, linger 0, %d records or %s; ceiling = %d goroutines flat out for %s "+
		"(linger 10ms); fixed = %d records paced at %d rec/s; many partitions: samsa-bin, round-robin partitioner, %d records at %d rec/s\n",
		inflightRecords, inflightTime, producers, flatDuration, pacedRecords, pacedRate, wideRecords, wideRate)
	fmt.Fprintf(&sb, "fdatasync: %d × (1 KiB write + fdatasync) per mode in one file: append = growing file, "+
		"fallocate = %d MiB fallocated then overwritten in place, pre-zeroed = %d MiB of written+fsynced zeros overwritten in place\n\n",
		syncProbes, syncPrealloc>>20, syncPrealloc>>20)
	rep.writeColumns(&sb, perfColumns)
	fmt.Fprintf(&sb, "\ngoals\n")
	writeGoals(&sb, perfGoals(rep, wideN))
	if len(notes) > 0 {
		fmt.Fprintf(&sb, "\nnotes\n")
		for _, n := range notes {
			fmt.Fprintf(&sb, "- %s\n", n)
		}
	}
	fmt.Fprintf(&sb, "\nreport took %s\n", time.Since(runStart).Round(100*time.Millisecond))
	fmt.Print(sb.String())

	if os.Getenv("SAMSA_BENCH_CLUSTER") == "1" {
		t.Run("cluster", TestClusterReport)
	}
}

// withPeer starts a fresh broker of kind on a fresh data dir, runs fn
// against it with a bounded context, closes it and removes the data dir
// at once: a later peer must not meet the writeback of this one's unsynced
// data (kfake-mem writes hundreds of MB that no one fsyncs), which would
// stretch its fsyncs.
func withPeer(ctx context.Context, t *testing.T, kind peerKind, newDir func() string, partitions int, fn func(context.Context, *peer)) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 3*scenarioLimit)
	defer cancel()
	dir := newDir()
	defer os.RemoveAll(dir)
	p, err := kind.start(sctx, dir, partitions)
	if err != nil {
		t.Errorf("start %s (%d partitions): %v", kind.name, partitions, err)
		return
	}
	defer p.close()
	fn(sctx, p)
}

// produceOneByOne produces one record at a time, each with ProduceSync
// (linger 0), until max records or dur, and returns the latency of each
// ProduceSync: the habit of a client that waits for every send.
func produceOneByOne(ctx context.Context, addr, topic string, max int, dur time.Duration) (latency, error) {
	cl, err := producerClient(addr, topic, kgo.ProducerLinger(0))
	if err != nil {
		return latency{}, err
	}
	defer cl.Close()
	if err := warmUp(ctx, cl); err != nil {
		return latency{}, fmt.Errorf("warm-up produce: %w", err)
	}
	lats := make([]time.Duration, 0, max)
	start := time.Now()
	deadline := start.Add(dur)
	for len(lats) < max && time.Now().Before(deadline) {
		t0 := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: payload}).FirstErr(); err != nil {
			return latency{}, fmt.Errorf("record %d: %w", len(lats), err)
		}
		lats = append(lats, time.Since(t0))
	}
	elapsed := time.Since(start)
	slices.Sort(lats)
	n := len(lats)
	return latency{records: n, achieved: float64(n) / elapsed.Seconds(),
		p50: lats[n*50/100], p99: lats[n*99/100], max: lats[n-1]}, nil
}

// samsaBinArgs is the command line of a samsa-bin peer: no web console
// (its default port may belong to someone else on a shared machine).
func samsaBinArgs(bins binaries, addr, dir string, partitions int) []string {
	_, args := serveArgs(bins, "samsa-bin", addr, dir, partitions)
	return append(args, "--http-addr", "off")
}

// startSamsaBin execs samsa serve and waits (bounded) for its ready line.
func startSamsaBin(ctx context.Context, bins binaries, addr, dir string, partitions int) (*process, string, error) {
	p, err := startProcess(bins.samsa, samsaBinArgs(bins, addr, dir, partitions))
	if err != nil {
		return nil, "", err
	}
	select {
	case a := <-p.ready:
		return p, a, nil
	case <-p.exited:
		return nil, "", fmt.Errorf("samsa-bin exited before it was ready: %s", p.tail())
	case <-time.After(readyLimit):
		p.stop()
		return nil, "", fmt.Errorf("samsa-bin not ready after %s: %s", readyLimit, p.tail())
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

func samsaBinPeer(bins binaries) peerKind {
	return peerKind{name: "samsa-bin", start: func(ctx context.Context, dir string, partitions int) (*peer, error) {
		p, addr, err := startSamsaBin(ctx, bins, "127.0.0.1:0", dir, partitions)
		if err != nil {
			return nil, err
		}
		return &peer{name: "samsa-bin", addr: addr, pid: p.cmd.Process.Pid, close: p.stop}, nil
	}}
}

// runWide is scenario 5: one samsa-bin, 5 000 rec/s to an 8-partition
// topic, then to a topic of n partitions, RSS and open fds after each,
// then kill -9 and a restart on the same data dir and port, timed from
// exec to the first acknowledged produce to the wide topic. A failing
// step leaves its rows (and those after it) at "-" and says why in the
// notes; every wait is bounded.
func runWide(ctx context.Context, t *testing.T, rep *report, note func(string, ...any), bins binaries, dir string, n int) {
	t.Helper()
	rows := newWideRows(n)
	for _, r := range []string{rows.create, rows.narrowP50, rows.narrowP99, rows.wideP50, rows.wideP99, rows.wideP99Again,
		rows.narrowRSS, rows.wideRSS, rows.narrowFDs, rows.wideFDs, rows.restartReady, rows.restart} {
		rep.declare(r)
	}
	const col = "samsa-bin"
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	proc, _, err := startSamsaBin(ctx, bins, addr, dir, ceilingParts)
	if err != nil {
		note("many partitions: start: %v", err)
		return
	}
	running := proc
	defer func() {
		select {
		case <-running.exited:
		default:
			running.stop()
		}
	}()
	failed := func(step string, err error) {
		select {
		case <-running.exited:
			note("many partitions (%d): %s: %v; the broker exited; its last log lines:\n%s", n, step, err, indent(running.tail()))
		default:
			note("many partitions (%d): %s: %v; the broker's last log lines:\n%s", n, step, err, indent(running.tail()))
		}
	}
	rr := kgo.RecordPartitioner(kgo.RoundRobinPartitioner())
	readings := func(rssRow, fdRow string) {
		select {
		case <-time.After(settleWide):
		case <-ctx.Done():
			return
		}
		pid := running.cmd.Process.Pid
		if rss, err := rssBytes(pid); err == nil {
			rep.set(rssRow, col, mib(rss))
		}
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			rep.set(fdRow, col, float64(len(fds)))
		}
	}

	sctx, cancel := context.WithTimeout(ctx, scenarioLimit)
	l, err := producePaced(sctx, addr, narrowTopic, wideRate, wideRecords, rr)
	cancel()
	if err != nil {
		failed("8-partition paced produce", err)
		return
	}
	rep.set(rows.narrowP50, col, ms(l.p50))
	rep.set(rows.narrowP99, col, ms(l.p99))
	readings(rows.narrowRSS, rows.narrowFDs)

	took, err := createWide(ctx, addr, n)
	if err != nil {
		failed(fmt.Sprintf("create a %d-partition topic", n), err)
		return
	}
	rep.set(rows.create, col, took.Seconds())

	sctx, cancel = context.WithTimeout(ctx, scenarioLimit)
	l, err = producePaced(sctx, addr, wideTopic, wideRate, wideRecords, rr)
	cancel()
	if err != nil {
		failed(fmt.Sprintf("paced produce to %d partitions", n), err)
		return
	}
	rep.set(rows.wideP50, col, ms(l.p50))
	rep.set(rows.wideP99, col, ms(l.p99))
	// The first pass is the first record to every partition; the second
	// shows the steady state.
	sctx, cancel = context.WithTimeout(ctx, scenarioLimit)
	l, err = producePaced(sctx, addr, wideTopic, wideRate, wideRecords, rr)
	cancel()
	if err != nil {
		failed(fmt.Sprintf("second paced produce to %d partitions", n), err)
		return
	}
	rep.set(rows.wideP99Again, col, ms(l.p99))
	readings(rows.wideRSS, rows.wideFDs)

	// kill -9, then exec again on the same data dir and port.
	if err := running.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		failed("kill -9", err)
		return
	}
	select {
	case <-running.exited:
	case <-time.After(killLimit):
		failed("kill -9", fmt.Errorf("still running %s after SIGKILL", killLimit))
		return
	}
	actx, cancel := context.WithTimeout(ctx, wideRestartMax)
	defer cancel()
	t0 := time.Now()
	proc2, err := startProcess(bins.samsa, samsaBinArgs(bins, addr, dir, ceilingParts))
	if err != nil {
		failed("restart", err)
		return
	}
	running = proc2
	acked := make(chan error, 1)
	go func() { acked <- firstAckTo(actx, addr, wideTopic) }()
	readyAfter := make(chan time.Duration, 1)
	go func() {
		select {
		case <-proc2.ready:
			readyAfter <- time.Since(t0)
		case <-proc2.exited:
		case <-actx.Done():
		}
	}()
	select {
	case err = <-acked:
	case <-proc2.exited:
		cancel()
		<-acked
		err = errors.New("the restarted broker exited")
	}
	d := time.Since(t0)
	if err != nil {
		failed(fmt.Sprintf("restart after kill -9: first ack within %s", wideRestartMax), err)
		return
	}
	rep.set(rows.restart, col, d.Seconds())
	select {
	case r := <-readyAfter:
		rep.set(rows.restartReady, col, r.Seconds())
	case <-time.After(time.Second):
		note("many partitions (%d): no ready log line within 1s of the first ack after the restart", n)
	}
}

// createWide creates the wide topic with n partitions and waits (bounded)
// until metadata shows every partition with a leader.
func createWide(ctx context.Context, addr string, n int) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, wideCreateLimit)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(wideCreateLimit))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(wideCreateLimit / time.Millisecond))
	t0 := time.Now()
	resp, err := adm.CreateTopic(cctx, int32(n), 1, nil, wideTopic)
	if err == nil {
		err = resp.Err // kadm returns it as err too
	}
	if err != nil && resp.ErrMessage != "" {
		err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
	}
	if err != nil {
		return 0, fmt.Errorf("CreateTopics: %w", err)
	}
	for {
		m, err := adm.Metadata(cctx, wideTopic)
		if err == nil {
			td := m.Topics[wideTopic]
			led := 0
			for _, p := range td.Partitions {
				if p.Err == nil && p.Leader >= 0 {
					led++
				}
			}
			if led == n {
				return time.Since(t0), nil
			}
			err = fmt.Errorf("%d of %d partitions have a leader", led, n)
		}
		select {
		case <-cctx.Done():
			return 0, fmt.Errorf("after %s: %w (%v)", time.Since(t0).Round(time.Second), cctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func nofile() string {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return "?"
	}
	return fmt.Sprintf("%d (hard %d)", rl.Cur, rl.Max)
}

// declare adds a row that may stay empty ("-" in every column).
func (r *report) declare(metric string) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string]float64{}
		r.rows = append(r.rows, metric)
	}
}

func (r *report) get(metric, peer string) (float64, bool) {
	v, ok := r.vals[metric][peer]
	return v, ok
}

// writeColumns prints the rows in the order they were first declared or
// set, one column per peer in cols.
func (r *report) writeColumns(sb *strings.Builder, cols []string) {
	tw := tabwriter.NewWriter(sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	w := len("metric")
	for _, m := range r.rows {
		w = max(w, utf8.RuneCountInString(m))
	}
	fmt.Fprintf(tw, "%s\t%s\t\n", padRight("metric", w), strings.Join(cols, "\t"))
	for _, m := range r.rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cell(r.vals[m], c)
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", padRight(m, w), strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// goal is one of the targets, checked against a measured value.
type goal struct {
	name     string
	peer     string
	measured float64
	target   float64
	atMost   bool // pass when measured <= target (else >=)
	have     bool // both measured and target are known
}

func (g goal) result() string {
	switch {
	case !g.have:
		return "-"
	case g.atMost && g.measured <= g.target, !g.atMost && g.measured >= g.target:
		return "PASS"
	default:
		return "MISS"
	}
}

// perfGoals computes the goals of issue #10 from the report's rows.
func perfGoals(rep *report, wideN int) []goal {
	var gs []goal
	discardP50, okD := rep.get(rowInflightP50, "discard")
	syncP50, okS := rep.get(syncRow(syncAppend, "p50"), fdatasyncCol)
	syncP50 /= 1000 // µs -> ms
	discardMB, okDM := rep.get(rowCeilProduce, "discard")
	memP99, okM := rep.get(rowPacedP99, "kfake-mem")
	for _, p := range []string{"samsa", "samsa-bin"} {
		v, ok := rep.get(rowInflightP50, p)
		gs = append(gs, goal{name: "1 in flight p50 ms <= discard p50 + 2 × fdatasync(append) p50", peer: p,
			measured: v, target: discardP50 + 2*syncP50, atMost: true, have: ok && okD && okS})
	}
	for _, p := range []string{"samsa", "samsa-bin"} {
		v, ok := rep.get(rowCeilProduce, p)
		gs = append(gs, goal{name: "ceiling 8p produce MB/s, ratio to discard", peer: p,
			measured: v / discardMB, target: ceilingGoal, have: ok && okDM && discardMB > 0})
	}
	for _, p := range []string{"samsa", "samsa-bin"} {
		f, ok1 := rep.get(rowCeilFetch, p)
		w, ok2 := rep.get(rowCeilProduce, p)
		gs = append(gs, goal{name: "ceiling 8p fetch MB/s, ratio to its produce MB/s", peer: p,
			measured: f / w, target: fetchGoal, have: ok1 && ok2 && w > 0})
	}
	for _, p := range []string{"samsa", "samsa-bin"} {
		v, ok := rep.get(rowPacedP99, p)
		gs = append(gs, goal{name: "fixed 20k rec/s 8p p99, ratio to kfake-mem", peer: p,
			measured: v / memP99, target: pacedGoal, atMost: true, have: ok && okM && memP99 > 0})
	}
	if wideN > 0 {
		rows := newWideRows(wideN)
		narrow, okN := rep.get(rows.narrowP99, "samsa-bin")
		for _, r := range []string{rows.wideP99, rows.wideP99Again} {
			v, ok := rep.get(r, "samsa-bin")
			pass := "first"
			if r == rows.wideP99Again {
				pass = "second"
			}
			gs = append(gs, goal{name: fmt.Sprintf("%d partitions p99 @5k rec/s (%s pass), ratio to 8p", wideN, pass),
				peer: "samsa-bin", measured: v / narrow, target: wideP99Goal, atMost: true, have: ok && okN && narrow > 0})
		}
		rss, ok := rep.get(rows.wideRSS, "samsa-bin")
		gs = append(gs, goal{name: fmt.Sprintf("%d partitions: RSS MiB after load", wideN),
			peer: "samsa-bin", measured: rss, target: wideRSSGoalMiB, atMost: true, have: ok})
		v, ok := rep.get(rows.restart, "samsa-bin")
		gs = append(gs, goal{name: fmt.Sprintf("%d partitions: kill -9, restart, exec to first ack s", wideN),
			peer: "samsa-bin", measured: v, target: restartGoal.Seconds(), atMost: true, have: ok})
	}
	return gs
}

func writeGoals(sb *strings.Builder, gs []goal) {
	tw := tabwriter.NewWriter(sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	w := len("goal")
	for _, g := range gs {
		w = max(w, utf8.RuneCountInString(g.name))
	}
	fmt.Fprintf(tw, "%s\tpeer\tmeasured\ttarget\tresult\t\n", padRight("goal", w))
	for _, g := range gs {
		cmp := ">="
		if g.atMost {
			cmp = "<="
		}
		m, tg := "-", "-"
		if g.have {
			m, tg = fmtVal(g.measured), cmp+" "+fmtVal(g.target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", padRight(g.name, w), g.peer, m, tg, g.result())
	}
	tw.Flush()
}

// padRight pads s with spaces to w runes, so that a right-aligned
// tabwriter column of such cells reads left-aligned.
func padRight(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-utf8.RuneCountInString(s)))
}

func fmtVal(x float64) string { return cell(map[string]float64{"x": x}, "x") }

// TestPerfGoals checks the goal arithmetic and the report's column writer
// on made-up numbers (the report itself only runs with SAMSA_BENCH=1).
func TestPerfGoals(t *testing.T) {
	r := newReport()
	r.declare(rowInflightP99)
	r.set(rowInflightP50, "discard", 0.2)
	r.set(rowInflightP50, "samsa", 0.45)
	r.set(rowInflightP50, "samsa-bin", 0.6)
	r.set(syncRow(syncAppend, "p50"), fdatasyncCol, 150) // µs
	r.set(rowCeilProduce, "discard", 100)
	r.set(rowCeilProduce, "samsa", 85)
	r.set(rowPacedP99, "kfake-mem", 2)
	r.set(rowPacedP99, "samsa", 3)
	wide := newWideRows(10)
	r.set(wide.narrowP99, "samsa-bin", 10)
	r.set(wide.wideP99, "samsa-bin", 25)      // 2.5x: MISS
	r.set(wide.wideP99Again, "samsa-bin", 15) // 1.5x: PASS
	r.set(wide.wideRSS, "samsa-bin", 80)
	gs := perfGoals(r, 10)
	want := map[string]string{ // name|peer -> result
		"10 partitions p99 @5k rec/s (first pass), ratio to 8p|samsa-bin":         "MISS",
		"10 partitions p99 @5k rec/s (second pass), ratio to 8p|samsa-bin":        "PASS",
		"10 partitions: RSS MiB after load|samsa-bin":                             "PASS",
		"1 in flight p50 ms <= discard p50 + 2 × fdatasync(append) p50|samsa":     "PASS", // 0.45 <= 0.5
		"1 in flight p50 ms <= discard p50 + 2 × fdatasync(append) p50|samsa-bin": "MISS",
		"ceiling 8p produce MB/s, ratio to discard|samsa":                         "PASS",
		"ceiling 8p produce MB/s, ratio to discard|samsa-bin":                     "-",
		"fixed 20k rec/s 8p p99, ratio to kfake-mem|samsa":                        "MISS",
		"10 partitions: kill -9, restart, exec to first ack s|samsa-bin":          "-",
	}
	for _, g := range gs {
		if w, ok := want[g.name+"|"+g.peer]; ok && g.result() != w {
			t.Errorf("%s (%s): %s, want %s (%+v)", g.name, g.peer, g.result(), w, g)
		}
	}
	var sb strings.Builder
	r.writeColumns(&sb, perfColumns)
	writeGoals(&sb, gs)
	out := sb.String()
	for _, s := range []string{rowInflightP99, "PASS", "MISS", "<= 0.50"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

package interop

// Exactly-once on a three-node cluster under faults (KIP-98, KIP-447,
// KIP-890): a consume-transform-produce pipeline, running as its own
// process (testdata/eospipe), is kill -9'd and restarted while the broker
// coordinating its transactional id, a leader of its output, and then
// every broker are kill -9'd and restarted, and the coordinator is paused
// until replaced; the output, read read_committed, holds every input
// record exactly once, in order per key. Also: zombie fencing across a
// coordinator failover, and a commit finished by the next coordinator when
// the one that answered EndTxn is killed at once.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnClusterArgs: replicated topics (RF 3, acks=all needs 2 in sync), the
// transaction and offsets logs replicated the same way (Kafka's production
// defaults), timed-out transactions looked for every second, and groups
// that start rebalancing at once.
var txnClusterArgs = append(slices.Clone(clusterArgs),
	"--set", "transaction.state.log.replication.factor=3",
	"--set", "transaction.state.log.min.isr=2",
	"--set", "transaction.state.log.num.partitions=5",
	"--set", "offsets.topic.replication.factor=3",
	"--set", "offsets.topic.num.partitions=5",
	"--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
	"--set", "group.initial.rebalance.delay.ms=0",
)

// crash kills node id with kill -9 and takes its advertised address down,
// so that clients' connections to it are refused, as a dead broker's port
// refuses them (tcpProxy.Down says why that matters to kgo).
func (c *cluster) crash(id int32) {
	c.Kill9(id)
	c.Node(id).Adv.Down()
}

// recover restarts a crashed node and then opens its advertised address.
func (c *cluster) recover(id int32) {
	c.t.Helper()
	c.Restart(id)
	if err := c.Node(id).Adv.Up(); err != nil {
		c.t.Fatalf("node %d: listen on its advertised address again: %v", id, err)
	}
}

// createTxnTopic creates topic with RF 3 and min.insync.replicas=2.
func createTxnTopic(t *testing.T, c *cluster, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	minISR := "2"
	resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// txnCoordinator asks the live nodes, one at a time and directly (no
// client cache), for the coordinator of transactional id (FindCoordinator,
// key type 1) and returns the first answer without an error.
func txnCoordinator(t *testing.T, c *cluster, id string) int32 {
	t.Helper()
	return txnCoordinatorAmong(t, c, id, -1)
}

// txnCoordinatorAmong is txnCoordinator asking every live node but skip,
// and waiting for an answer other than skip.
func txnCoordinatorAmong(t *testing.T, c *cluster, id string, skip int32) int32 {
	t.Helper()
	var coord int32 = -1
	waitFor(t, 30*time.Second, func() error {
		var errs []error
		for _, nd := range c.Nodes {
			if nd.Proc == nil || nd.Proc.exited() || nd.ID == skip {
				continue
			}
			n, err := findTxnCoordinatorOn(nd.Adv.Addr(), id)
			if err == nil && n == skip {
				err = fmt.Errorf("the coordinator is still %d", skip)
			}
			if err == nil {
				coord = n
				return nil
			}
			errs = append(errs, fmt.Errorf("node %d: %w", nd.ID, err))
		}
		return errors.Join(errs...)
	})
	return coord
}

func findTxnCoordinatorOn(addr, id string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 1
	req.CoordinatorKey = id            // v0-v3
	req.CoordinatorKeys = []string{id} // v4+
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return -1, err
	}
	resp := kresp.(*kmsg.FindCoordinatorResponse)
	node, code := resp.NodeID, resp.ErrorCode
	if len(resp.Coordinators) > 0 {
		node, code = resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return -1, err
	}
	return node, nil
}

// buildEOSPipe builds testdata/eospipe into a temporary directory.
func buildEOSPipe(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eospipe")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./testdata/eospipe").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/eospipe: %v\n%s", err, out)
	}
	return bin
}

// pipeProc is one run of the eospipe process.
type pipeProc struct {
	instance int
	cmd      *exec.Cmd
	cancel   context.CancelFunc
	log      *logBuffer
	killed   bool          // by the test: an exit is expected
	done     chan struct{} // closed at exit; waitErr is then set
	waitErr  error
}

func startPipe(t *testing.T, bin string, instance int, args ...string) *pipeProc {
	t.Helper()
	// The context bounds the process's life, as launch's does.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	p := &pipeProc{instance: instance, cancel: cancel, log: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, append(args, "-instance", strconv.Itoa(instance))...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start eospipe: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.killed = true
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		cancel()
		if t.Failed() {
			t.Logf("eospipe instance %d log:\n%s", p.instance, p.log.String())
		}
	})
	return p
}

// summary counts the pipeline's committed and aborted transactions and
// its poll errors, from its log.
func (p *pipeProc) summary() string {
	var commits, aborts, pollErrs int
	for _, l := range strings.Split(p.log.String(), "\n") {
		_, event, _ := strings.Cut(l, " ") // after the time
		switch {
		case strings.HasPrefix(event, "committed "):
			commits++
		case strings.HasPrefix(event, "aborted "):
			aborts++
		case strings.HasPrefix(event, "poll error "):
			pollErrs++
		}
	}
	return fmt.Sprintf("instance %d: %d transactions committed, %d aborted, %d poll errors", p.instance, commits, aborts, pollErrs)
}

// events returns the last n event lines of the pipeline's log (without
// the client's messages).
func (p *pipeProc) events(n int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(p.log.String(), "\n"), "\n") {
		if !strings.Contains(l, " kgo ") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

func (p *pipeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status (-1 when killed by a signal); only after done.
func (p *pipeProc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

func (p *pipeProc) kill9(t *testing.T) {
	t.Helper()
	p.killed = true
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 eospipe: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("eospipe did not exit 10s after SIGKILL")
	}
}

// terminate stops the pipeline with SIGTERM (it ends its session), or
// SIGKILL after timeout.
func (p *pipeProc) terminate(timeout time.Duration) {
	p.killed = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// readBoth appends a non-transactional sentinel to every partition of
// topic, then reads it from the start twice, read_committed and
// read_uncommitted, each until the sentinel of every partition: the
// read_committed consumer reaches a sentinel only once every transaction
// before it has ended. It returns the other records by partition in
// offset order, for each isolation level, without the sentinels of this
// and earlier calls.
func readBoth(t *testing.T, c *cluster, topic string, timeout time.Duration) (committed, uncommitted map[int32][]*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var parts []int32
	waitFor(t, 30*time.Second, func() error { // a leader may have just died
		m, err := kadm.NewClient(c.Client()).Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td := m.Topics[topic]
		if td.Err != nil {
			return td.Err
		}
		parts = td.Partitions.Numbers()
		return nil
	})
	pr := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	mark := fmt.Sprintf("%s-%d", sentinel, time.Now().UnixNano()) // this call's
	for _, part := range parts {
		if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(mark)}).FirstErr(); err != nil {
			t.Fatalf("produce the sentinel to %s/%d: %v", topic, part, err)
		}
	}
	read := func(iso kgo.IsolationLevel, name string) map[int32][]*kgo.Record {
		offsets := map[int32]kgo.Offset{}
		for _, part := range parts {
			offsets[part] = kgo.NewOffset().AtStart()
		}
		cl := c.Client(kgo.FetchIsolationLevel(iso),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
			kgo.FetchMaxWait(500*time.Millisecond))
		defer cl.Close()
		out := map[int32][]*kgo.Record{}
		done := map[int32]bool{}
		for len(done) < len(parts) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s read of %s: sentinels of %d of %d partitions after %v: a transaction is still open, or the last stable offset does not move",
					name, topic, len(done), len(parts), timeout)
			}
			fs.EachError(func(tp string, part int32, err error) { t.Logf("%s fetch %s/%d: %v", name, tp, part, err) })
			fs.EachRecord(func(r *kgo.Record) {
				switch {
				case done[r.Partition]:
				case string(r.Value) == mark:
					done[r.Partition] = true
				case strings.HasPrefix(string(r.Value), sentinel): // an earlier call's
				default:
					out[r.Partition] = append(out[r.Partition], r)
				}
			})
		}
		return out
	}
	return read(kgo.ReadCommitted(), "read_committed"), read(kgo.ReadUncommitted(), "read_uncommitted")
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestTxnClusterExactlyOnceUnderFaults: 7 500 keyed records (30 keys,
// value "key:seq" with seq counting per key) in a 3-partition input topic
// are transformed by eospipe (kgo.GroupTransactSession, read_committed,
// a transaction per ≤30 records held open ≥100 ms, committing the group's
// offsets in the transaction) into a 3-partition output topic, all RF 3
// with min.insync.replicas 2, on three `samsa serve` processes. While it
// runs, in turn, each once the pipeline has committed more input:
//
//  1. the broker coordinating the pipeline's transactional id is killed
//     with kill -9, and restarted;
//  2. the pipeline is killed with kill -9 mid-transaction and started
//     again (its InitProducerId fences the dead instance and aborts its
//     open transaction);
//  3. a broker leading an output partition (not the coordinator, when
//     there is a choice) is killed with kill -9, and restarted;
//  4. the coordinator is paused with SIGSTOP until another broker
//     coordinates the transactional id, then resumed (a zombie
//     coordinator with the pipeline's requests waiting in its sockets);
//  5. every broker is killed with kill -9 at once, and all restarted.
//
// A pipeline that exits by itself (kgo gives up on End after a fault, as
// when the whole cluster is down) is started again, as by a supervisor;
// one that is fenced with no other instance running is an error.
//
// When the group's committed offsets reach the input's end, the output
// read read_committed must hold exactly one "out:key:seq" for every input
// record and, per key, seq 0, 1, 2, ... in order. The read_uncommitted
// view is logged: it may also hold aborted duplicates (when depends on
// timing, so it is not asserted).
func TestTxnClusterExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()
	bin := buildEOSPipe(t)
	c := startCluster(t, 3, txnClusterArgs...)
	const in, out, group, txnID = "eos-in", "eos-out", "eos-group", "eos-pipe"
	const keys, perKey = 30, 250
	const total = keys * perKey
	createTxnTopic(t, c, in, 3)
	createTxnTopic(t, c, out, 3)

	// The input, in seq order per key: an idempotent acks=all producer
	// keeps each key's order in its partition.
	fill := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	fctx, fcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer fcancel()
	var rs []*kgo.Record
	for seq := range perKey {
		for k := range keys {
			key := fmt.Sprintf("k%02d", k)
			rs = append(rs, &kgo.Record{Topic: in, Key: []byte(key), Value: fmt.Appendf(nil, "%s:%d", key, seq)})
		}
	}
	if err := fill.ProduceSync(fctx, rs...).FirstErr(); err != nil {
		t.Fatalf("fill %s: %v", in, err)
	}
	adm := kadm.NewClient(c.Client())
	inEnds := map[int32]int64{}
	var inTotal int64
	waitFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, in)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err
		}
		inTotal = 0
		ends.Each(func(o kadm.ListedOffset) { inEnds[o.Partition] = o.Offset; inTotal += o.Offset })
		return nil
	})
	if inTotal != total {
		t.Fatalf("input holds %d records (%v), want %d", inTotal, inEnds, total)
	}

	args := []string{"-brokers", strings.Join(c.Bootstrap(), ","), "-in", in, "-out", out,
		"-group", group, "-txn-id", txnID, "-batch", "30", "-interval", "100ms", "-v"}
	live := startLiveReader(t, c, out, 3)
	instance := 1
	pipe := startPipe(t, bin, instance, args...)
	var pipes []*pipeProc // every instance, for the summary at the end
	defer func() {
		for _, p := range append(pipes, pipe) {
			t.Log(p.summary())
		}
	}()
	started := time.Now()
	unplanned := 0 // pipeline exits the test did not cause

	// progress is the number of input records whose offsets the group has
	// committed (only a committed transaction commits them). A new client
	// each time: a client that cached a killed broker as the group's
	// coordinator keeps asking it (the proxy in front of a dead broker
	// accepts the connection and closes it, which kgo does not take as a
	// reason to look the coordinator up again).
	var paused int32 = -1 // a node under SIGSTOP: not a seed (it would hold each ask for its timeout)
	groupOffsets := func() (map[int32]int64, error) {
		var seeds []string
		for _, nd := range c.Nodes {
			if nd.ID != paused {
				seeds = append(seeds, nd.Adv.Addr())
			}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequestTimeoutOverhead(2*time.Second))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return committed(ctx, kadm.NewClient(cl), group, in)
	}
	progress := func() (int64, error) {
		got, err := groupOffsets()
		if err != nil {
			return 0, err
		}
		var n int64
		for _, o := range got {
			n += o
		}
		return n, nil
	}
	// waitProgress waits until the group has committed at least n input
	// records. A pipeline that exits on its own is logged and started
	// again, as a supervisor would; being fenced is an error (nothing but
	// a new instance may fence it, and the test starts one only after
	// killing the old).
	var last int64
	waitProgress := func(what string, n int64, timeout time.Duration) {
		t.Helper()
		n = min(n, total)
		t0 := time.Now()
		var asked time.Time
		var askErr error
		waitFor(t, timeout, func() error {
			if pipe.exited() && !pipe.killed {
				code := pipe.exitCode()
				unplanned++
				t.Logf("eospipe instance %d exited by itself (code %d, %v); log tail:\n%s", pipe.instance, code, pipe.waitErr, pipe.events(5))
				if code == 4 {
					t.Errorf("eospipe instance %d was fenced, with no other instance running", pipe.instance)
				}
				if unplanned > 5 {
					t.Fatalf("eospipe exited by itself %d times", unplanned)
				}
				instance++
				pipes = append(pipes, pipe)
				pipe = startPipe(t, bin, instance, args...)
			}
			if time.Since(asked) < 200*time.Millisecond {
				return askErr // do not ask the cluster every 20 ms
			}
			asked = time.Now()
			got, err := progress()
			if err != nil {
				askErr = fmt.Errorf("%s: group offsets: %w", what, err)
				return askErr
			}
			last = got
			if got < n {
				askErr = fmt.Errorf("%s: the group committed %d of %d input records, waiting for %d", what, got, total, n)
				return askErr
			}
			return nil
		})
		t.Logf("%-50s committed %4d/%d at %5.1fs (waited %v)", what, last, total, time.Since(started).Seconds(), time.Since(t0).Round(time.Millisecond))
	}
	step := int64(total / 12)
	// fault notes a fault that came after the pipeline had finished
	// (a slow machine): it then tested nothing, which the log says.
	fault := func(what string) {
		if last >= total {
			t.Logf("NOTE: %s after the pipeline had committed all input: that fault tested nothing", what)
		}
	}

	waitProgress("pipeline running", step, 60*time.Second)

	// 1. The transaction coordinator dies.
	coord := txnCoordinator(t, c, txnID)
	fault("killing the coordinator")
	c.crash(coord)
	waitProgress(fmt.Sprintf("coordinator %d killed", coord), last+step, 90*time.Second)
	c.recover(coord)
	c.waitBrokers(3, 60*time.Second)
	waitProgress(fmt.Sprintf("coordinator %d restarted", coord), last+step, 90*time.Second)

	// 2. The pipeline dies mid-transaction; a new instance takes over.
	fault("killing the pipeline")
	pipe.kill9(t)
	t.Logf("eospipe instance %d killed; log tail:\n%s", pipe.instance, pipe.events(3))
	instance++
	pipes = append(pipes, pipe)
	pipe = startPipe(t, bin, instance, args...)
	waitProgress(fmt.Sprintf("eospipe killed, instance %d started", instance), last+step, 90*time.Second)

	// 3. A leader of an output partition dies.
	coord2 := txnCoordinator(t, c, txnID)
	victim, victimPart := int32(-1), int32(-1)
	for part := range int32(3) {
		l := c.Leader(out, part)
		if l >= 0 && (victim < 0 || (victim == coord2 && l != coord2)) {
			victim, victimPart = l, part
		}
	}
	if victim < 0 {
		t.Fatalf("no leader for any partition of %s", out)
	}
	fault("killing an output leader")
	c.crash(victim)
	waitProgress(fmt.Sprintf("leader %d of %s/%d killed (coordinator %d)", victim, out, victimPart, coord2), last+step, 90*time.Second)
	c.recover(victim)
	c.waitBrokers(3, 60*time.Second)

	// 4. The coordinator is paused (SIGSTOP) until another broker has
	// taken its place, then resumed: a zombie coordinator, which wakes up
	// to the requests the pipeline sent it meanwhile (TCP still accepted
	// them) and must not act on them.
	coord3 := txnCoordinator(t, c, txnID)
	fault("pausing the coordinator")
	c.Stop(coord3)
	paused = coord3
	stopped := time.Now()
	coord4 := txnCoordinatorAmong(t, c, txnID, coord3)
	t.Logf("coordinator %d paused; %d took over after %v", coord3, coord4, time.Since(stopped).Round(time.Millisecond))
	c.Cont(coord3)
	paused = -1
	waitProgress(fmt.Sprintf("coordinator %d paused until replaced, resumed", coord3), last+step, 90*time.Second)
	c.waitBrokers(3, 60*time.Second)

	// 5. Every broker is killed at once (a power cut) and restarted.
	fault("killing every broker")
	for _, nd := range c.Nodes {
		_ = nd.Proc.cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, nd := range c.Nodes {
		select {
		case <-nd.Proc.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d did not exit after SIGKILL", nd.ID)
		}
		nd.Adv.Down()
	}
	c.Restart(1, 2, 3)
	for _, nd := range c.Nodes {
		if err := nd.Adv.Up(); err != nil {
			t.Fatalf("node %d: listen on its advertised address again: %v", nd.ID, err)
		}
	}
	c.waitBrokers(3, 60*time.Second)
	waitProgress("every broker killed at once and restarted", last+step, 90*time.Second)

	waitProgress("all input committed", total, 120*time.Second)
	pipe.terminate(10 * time.Second)
	if unplanned > 0 {
		t.Logf("eospipe exited by itself %d times (restarted each time)", unplanned)
	}

	// The committed offsets are the input's end offsets, no further.
	var final map[int32]int64
	waitFor(t, 20*time.Second, func() error {
		var err error
		final, err = groupOffsets()
		return err
	})
	if fmt.Sprint(final) != fmt.Sprint(inEnds) {
		t.Errorf("group %s committed %v, want the input's end offsets %v", group, final, inEnds)
	}

	com, unc := readBoth(t, c, out, 60*time.Second)

	// Exactly once, in order per key: read from the start after the
	// faults, and as a consumer reading all along saw it.
	nCommitted, byInstance := checkEOSOutput(t, "read_committed after the faults", com, keys, perKey)
	checkEOSOutput(t, "read_committed during the faults", live.finish(t, 60*time.Second), keys, perKey)

	// The uncommitted view: what the aborted transactions left in the log.
	seen := map[string]int{}
	var nUncommitted int
	abortedBy := map[string]int{}
	for _, recs := range unc {
		for _, r := range recs {
			nUncommitted++
			seen[string(r.Value)]++
		}
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups += n - 1
		}
	}
	comSet := map[string]bool{}
	for _, recs := range com {
		for _, r := range recs {
			comSet[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] = true
		}
	}
	for _, recs := range unc {
		for _, r := range recs {
			if !comSet[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] {
				abortedBy[header(r, "instance")]++
			}
		}
	}
	if nUncommitted < nCommitted {
		t.Errorf("read_uncommitted read %d records, fewer than read_committed's %d", nUncommitted, nCommitted)
	}
	t.Logf("output: %d records read_committed (by instance: %v), %d read_uncommitted: %d records of aborted transactions (by instance: %v), %d duplicate values there; %d pipeline instances, %v in all",
		nCommitted, byInstance, nUncommitted, nUncommitted-nCommitted, abortedBy, dups, instance, time.Since(started).Round(100*time.Millisecond))
}

// checkEOSOutput checks that byPart (an output topic's records by
// partition, in offset order) holds, for each of keys keys k00, k01, ...,
// the values out:key:0 .. out:key:perKey-1 exactly once and in order, and
// nothing else. It returns the number of records and their count by the
// pipeline instance that wrote them.
func checkEOSOutput(t *testing.T, what string, byPart map[int32][]*kgo.Record, keys, perKey int) (int, map[string]int) {
	t.Helper()
	next := map[string]int{}
	var n, bad int
	byInstance := map[string]int{}
	for part, recs := range byPart {
		for _, r := range recs {
			n++
			byInstance[header(r, "instance")]++
			key, seq, ok := parseOut(r)
			switch {
			case !ok || key != string(r.Key):
				bad++
				if bad <= 10 {
					t.Errorf("%s: %d@%d: key %q value %q: not a transformed input record", what, part, r.Offset, r.Key, r.Value)
				}
			case seq != next[key]:
				bad++
				if bad <= 10 {
					t.Errorf("%s: %d@%d: key %s seq %d, want %d (a duplicate when lower, a loss or reorder when higher)",
						what, part, r.Offset, key, seq, next[key])
				}
				next[key] = max(next[key], seq+1)
			default:
				next[key]++
			}
		}
	}
	for k := range keys {
		key := fmt.Sprintf("k%02d", k)
		if next[key] != perKey {
			t.Errorf("%s: key %s ends at seq %d, want %d", what, key, next[key]-1, perKey-1)
		}
	}
	if n != keys*perKey {
		t.Errorf("%s: %d records, want exactly %d (one per input record)", what, n, keys*perKey)
	}
	return n, byInstance
}

// liveReader is a read_committed consumer of a topic's partitions from
// the start, running while the test injects faults: what it returns is
// what a downstream application saw, last stable offsets moving over
// leader changes included. It stops at the sentinel of every partition.
type liveReader struct {
	cl     *kgo.Client
	parts  int
	mu     sync.Mutex
	recs   map[int32][]*kgo.Record
	ended  map[int32]bool
	errs   []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startLiveReader(t *testing.T, c *cluster, topic string, partitions int32) *liveReader {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for part := range partitions {
		offsets[part] = kgo.NewOffset().AtStart()
	}
	// Its own client, not c.Client's: that one's 60 s retry timeout is
	// too short to ride out every fault, and this one must not give up.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.RequestTimeoutOverhead(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &liveReader{cl: cl, parts: int(partitions), recs: map[int32][]*kgo.Record{}, ended: map[int32]bool{},
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			l.mu.Lock()
			fs.EachError(func(tp string, part int32, err error) {
				if !errors.Is(err, context.Canceled) {
					l.errs = append(l.errs, fmt.Sprintf("%s/%d: %v", tp, part, err))
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				switch {
				case l.ended[r.Partition]:
				case strings.HasPrefix(string(r.Value), sentinel):
					l.ended[r.Partition] = true
				default:
					l.recs[r.Partition] = append(l.recs[r.Partition], r)
				}
			})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-l.done; cl.Close() })
	return l
}

// finish waits (up to timeout) until the reader has seen every
// partition's sentinel, stops it and returns what it read.
func (l *liveReader) finish(t *testing.T, timeout time.Duration) map[int32][]*kgo.Record {
	t.Helper()
	waitFor(t, timeout, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.ended) < l.parts {
			return fmt.Errorf("the consumer reading during the faults has the sentinels of %d of %d partitions (fetch errors: %v)",
				len(l.ended), l.parts, l.errs)
		}
		return nil
	})
	l.cancel()
	<-l.done
	if len(l.errs) > 0 {
		t.Logf("the consumer reading during the faults got %d fetch errors (kgo retries them), first: %s", len(l.errs), l.errs[0])
	}
	return l.recs
}

// parseOut parses an output value "out:key:seq".
func parseOut(r *kgo.Record) (key string, seq int, ok bool) {
	rest, ok := strings.CutPrefix(string(r.Value), "out:")
	if !ok {
		return "", 0, false
	}
	key, s, ok := strings.Cut(rest, ":")
	if !ok {
		return "", 0, false
	}
	seq, err := strconv.Atoi(s)
	return key, seq, err == nil
}

// TestTxnClusterZombieFencedAcrossFailover: a producer (the zombie) writes
// to three partitions in a transaction; the broker coordinating its
// transactional id is killed with kill -9; a new instance with the same
// transactional id initializes on the new coordinator (which must know
// the zombie's epoch from the replicated __transaction_state, fence it and
// abort its open transaction), and commits its own transaction. The
// killed broker comes back. The zombie's commit then fails with
// PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before Kafka 2.7), and
// read_committed shows the new instance's records only.
func TestTxnClusterZombieFencedAcrossFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, txnClusterArgs...)
	const topic, id = "zfence", "zfence-tx"
	createTxnTopic(t, c, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	produce := func(cl *kgo.Client, prefix string) error {
		var rs []*kgo.Record
		for i := range 30 {
			rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		return cl.ProduceSync(ctx, rs...).FirstErr()
	}
	txnOpts := []kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(60 * time.Second), kgo.RequiredAcks(kgo.AllISRAcks())}

	zombie := c.Client(txnOpts...)
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce(zombie, "zombie"); err != nil {
		t.Fatalf("zombie produce: %v", err)
	}
	coord := txnCoordinator(t, c, id)
	c.crash(coord)
	killed := time.Now()

	next := c.Client(txnOpts...)
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce(next, "next"); err != nil {
		t.Fatalf("new instance produce (coordinator %d killed): %v", coord, err)
	}
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("new instance commit (coordinator %d killed): %v", coord, err)
	}
	t.Logf("the new instance committed %v after the coordinator was killed", time.Since(killed).Round(time.Millisecond))
	newCoord := txnCoordinator(t, c, id)
	c.recover(coord)
	c.waitBrokers(3, 60*time.Second)

	t0 := time.Now()
	endErr := zombie.EndTransaction(ctx, kgo.TryCommit)
	t.Logf("the zombie's EndTransaction returned after %v", time.Since(t0).Round(time.Millisecond))
	if !errors.Is(endErr, kerr.ProducerFenced) && !errors.Is(endErr, kerr.InvalidProducerEpoch) {
		t.Errorf("the zombie's commit after the new instance's (coordinator %d killed, then %d) returned %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH",
			coord, newCoord, endErr)
	}

	com, unc := readBoth(t, c, topic, 60*time.Second)
	var got []string
	for _, recs := range com {
		for _, r := range recs {
			got = append(got, string(r.Value))
		}
	}
	slices.Sort(got)
	var want []string
	for i := range 30 {
		want = append(want, fmt.Sprintf("next-%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("read_committed read %v\nwant exactly the new instance's %v", got, want)
	}
	nz := 0
	for _, recs := range unc {
		for _, r := range recs {
			if strings.HasPrefix(string(r.Value), "zombie-") {
				nz++
			}
		}
	}
	t.Logf("coordinator %d killed, %d took over; zombie's commit: %v; read_uncommitted holds %d of the zombie's 30 aborted records", coord, newCoord, endErr, nz)
}

// TestTxnClusterCommitSurvivesCoordinatorKill: a transaction over three
// partitions is committed (EndTxn answered: PrepareCommit is durable) and
// the coordinator is killed with kill -9 at once, most likely before it has
// written every commit marker. The broker that takes over must finish the
// commit: read_committed shows the transaction's records, and the last
// stable offsets move past it. Three rounds, each killing the coordinator
// of the moment, then restarting it.
func TestTxnClusterCommitSurvivesCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, txnClusterArgs...)
	const topic, id = "commitkill", "commitkill-tx"
	createTxnTopic(t, c, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var want []string
	for round := range 3 {
		cl := c.Client(kgo.TransactionalID(id), kgo.TransactionTimeout(60*time.Second), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		for i := range 30 {
			v := fmt.Sprintf("r%d-%d", round, i)
			rs = append(rs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v)})
			want = append(want, v)
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("round %d: produce: %v", round, err)
		}
		coord := txnCoordinator(t, c, id)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("round %d: commit: %v", round, err)
		}
		c.crash(coord)
		cl.Close()
		t.Logf("round %d: committed, then killed coordinator %d", round, coord)
		// The commit completes without the killed broker.
		com, _ := readBoth(t, c, topic, 60*time.Second)
		var got []string
		for _, recs := range com {
			for _, r := range recs {
				got = append(got, string(r.Value))
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {

			t.Fatalf("round %d: read_committed after the coordinator (%d) was killed holds %d records, want the %d committed: %v",
				round, coord, len(got), len(w), got)
		}
		c.recover(coord)
		c.waitBrokers(3, 60*time.Second)
	}
	// How often a new coordinator found the commit still to finish (the
	// kill came before every marker was written), from the brokers' logs:
	// informative only, the timing decides.
	finishing := 0
	for _, nd := range c.Nodes {
		for _, l := range strings.Split(nd.Proc.Logs(), "\n") {
			if strings.Contains(l, "loaded __transaction_state partition") && !strings.Contains(l, "completing=0") {
				finishing++
			}
		}
	}
	t.Logf("a new coordinator loaded a prepared transaction to complete it at least %d times in 3 rounds (a restarted broker's earlier log is gone)", finishing)
}

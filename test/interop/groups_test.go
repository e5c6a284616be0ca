package interop

// Consumer groups with real clients: kafka-python and confluent-kafka group
// members in their own processes, franz-go members in this one (classic
// protocol with the cooperative-sticky balancer, and KIP-848 once the broker
// serves it), and a group that outlives broker restarts.
//
// Records are numbered: record i has key k-<i> and value r-<i>, so what a
// member printed or handed back maps to a record number, and "processed
// exactly once" is a count per number.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fastGroups starts groups without group.initial.rebalance.delay.ms (3s by
// default, as in Kafka): the tests that time a first join use it.
var fastGroups = []string{"--set", "group.initial.rebalance.delay.ms=0"}

// createTopic creates topic with partitions partitions and waits until its
// metadata shows every partition with a leader.
func createTopic(t *testing.T, p *proc, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(p.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	waitFor(t, 10*time.Second, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td := md.Topics[topic]
		if td.Err != nil || len(td.Partitions) != int(partitions) {
			return fmt.Errorf("topic %s: %v, %d partitions", topic, td.Err, len(td.Partitions))
		}
		return nil
	})
}

// numbered returns record i of a numbered topic.
func numbered(i int) *kgo.Record {
	return &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: fmt.Appendf(nil, "r-%d", i)}
}

// recordNumber parses a value r-<i>; -1 if it is not one.
func recordNumber(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "r-"))
	if err != nil || !strings.HasPrefix(v, "r-") {
		return -1
	}
	return n
}

// producer returns a client for produceRange. Compression is off: kgo
// defaults to snappy, which the Debian kafka-python cannot decode without
// python3-snappy.
func producer(t *testing.T, p *proc) *kgo.Client {
	t.Helper()
	return p.client(t, kgo.ProducerBatchCompression(kgo.NoCompression()))
}

// produceRange produces records [from, to) to topic and waits for the acks.
func produceRange(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		r := numbered(i)
		r.Topic = topic
		rs = append(rs, r)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce records %d..%d to %s: %v", from, to-1, topic, err)
	}
}

// committed returns the group's committed offsets for topic, by partition.
func committed(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := resp.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, o := range resp.Offsets()[topic] {
		out[p] = o.At
	}
	return out, nil
}

// endOffsets returns topic's high watermarks by partition.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets of %s: %v %v", topic, err, ends.Error())
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// waitCommittedAt waits until the group's commits for topic equal want.
func waitCommittedAt(t *testing.T, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	waitFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := committed(ctx, adm, group, topic)
		if err != nil {
			return err
		}
		for p, o := range want {
			if got[p] != o {
				return fmt.Errorf("group %s commits %v, want %v", group, got, want)
			}
		}
		return nil
	})
}

// waitGroup waits until DescribeGroups shows group in state with members
// members.
func waitGroup(t *testing.T, adm *kadm.Client, group, state string, members int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		g := gs[group]
		if g.Err != nil {
			return g.Err
		}
		if g.State != state || len(g.Members) != members {
			return fmt.Errorf("group %s is %s with %d members, want %s with %d", group, g.State, len(g.Members), state, members)
		}
		return nil
	})
}

// memberLine is one line of py/group_member.py or py/ck_group.py output:
// a record, or an event (Ev set).
type memberLine struct {
	Ev        string  `json:"ev"`
	Parts     []int32 `json:"parts"`
	Err       string  `json:"err"`
	Partition int32   `json:"p"`
	Offset    int64   `json:"o"`
	Key       *string `json:"k"`
	Value     *string `json:"v"`
}

// pyMember is a running py/group_member.py: a kafka-python group member in
// its own process, printing what it processes.
type pyMember struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *logBuffer // stderr
	done  chan struct{}

	mu     sync.Mutex
	lines  []memberLine // everything printed, in order
	badOut []string     // lines that did not parse
}

// startPyMember starts a kafka-python member of group on topic with a
// session timeout of sessionMs. The process is killed at cleanup if still
// running.
func startPyMember(t *testing.T, p *proc, name, topic, group string, sessionMs int) *pyMember {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("py", "group_member.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	m := &pyMember{name: name, log: &logBuffer{}, done: make(chan struct{})}
	m.cmd = exec.CommandContext(ctx, pythonBin, script, p.Addr, topic, group, strconv.Itoa(sessionMs))
	m.cmd.Stderr = m.log
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l memberLine
			err := json.Unmarshal(sc.Bytes(), &l)
			m.mu.Lock()
			if err != nil {
				m.badOut = append(m.badOut, sc.Text())
			} else {
				m.lines = append(m.lines, l)
			}
			m.mu.Unlock()
		}
	}()
	go func() {
		<-read // all output read before Wait closes the pipe
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		if !m.exited() {
			_ = m.cmd.Process.Kill()
			<-m.done
		}
		cancel()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", m.name, m.log.String())
		}
	})
	return m
}

func (m *pyMember) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// snapshot returns the lines printed so far.
func (m *pyMember) snapshot() []memberLine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lines)
}

// records returns the record numbers processed so far, in order.
func (m *pyMember) records() []int {
	var out []int
	for _, l := range m.snapshot() {
		if l.Ev == "" {
			out = append(out, recordNumber(unhex(l.Value)))
		}
	}
	return out
}

// assignment returns the partitions of the last "assigned" event, or nil.
func (m *pyMember) assignment() []int32 {
	var last []int32
	for _, l := range m.snapshot() {
		if l.Ev == "assigned" {
			last = l.Parts
		}
	}
	return last
}

// events returns the events of kind ev (e.g. "commit_failed").
func (m *pyMember) events(ev string) []memberLine {
	var out []memberLine
	for _, l := range m.snapshot() {
		if l.Ev == ev {
			out = append(out, l)
		}
	}
	return out
}

// stop asks the member to close() (leaving the group) and waits for it.
func (m *pyMember) stop(t *testing.T) {
	t.Helper()
	_, _ = io.WriteString(m.stdin, "stop\n")
	_ = m.stdin.Close()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit 30s after stop; stderr:\n%s", m.name, m.log.String())
	}
	if len(m.events("closed")) != 1 {
		t.Errorf("%s exited without printing closed (exit %v); stderr:\n%s", m.name, m.cmd.ProcessState, m.log.String())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.badOut) > 0 {
		t.Errorf("%s printed lines that are not JSON: %q", m.name, m.badOut)
	}
}

// kill9 kills the member with SIGKILL: it neither leaves nor commits again.
func (m *pyMember) kill9(t *testing.T) {
	t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit 10s after SIGKILL", m.name)
	}
}

// countProcessed adds each member's record numbers to a count per number.
func countProcessed(lists ...[]int) map[int]int {
	c := map[int]int{}
	for _, l := range lists {
		for _, i := range l {
			c[i]++
		}
	}
	return c
}

// checkExactlyOnce reports records in [from, to) not processed exactly once,
// and any processed record outside it.
func checkExactlyOnce(t *testing.T, what string, counts map[int]int, from, to int) {
	t.Helper()
	var missing, dup, stray []int
	for i := from; i < to; i++ {
		switch counts[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	for i := range counts {
		if i < from || i >= to {
			stray = append(stray, i)
		}
	}
	sort.Ints(stray)
	if len(missing)+len(dup)+len(stray) > 0 {
		t.Errorf("%s: records %d..%d: %d never processed %v, %d processed more than once %v, %d outside the range %v",
			what, from, to-1, len(missing), firstInts(missing), len(dup), firstInts(dup), len(stray), firstInts(stray))
	}
}

func firstInts(s []int) []int {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// TestKafkaPythonGroupOfThree runs three kafka-python members (separate
// processes, commit after processing) in one group over a 6-partition
// topic: the partitions are split between them and every record is
// processed exactly once. Then one member leaves, more records arrive and
// the member comes back as a new process: the group resumes after its
// commits (nothing from before is processed again) and every new record is
// processed once, including by the returning member.
func TestKafkaPythonGroupOfThree(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	p := startBroker(t, t.TempDir(), fastGroups...)
	const topic, group, parts = "kp-group", "kp-three", 6
	const n, more = 600, 300
	createTopic(t, p, topic, parts)
	cl := producer(t, p)
	adm := kadm.NewClient(cl)

	ms := make([]*pyMember, 3)
	for i := range ms {
		ms[i] = startPyMember(t, p, fmt.Sprintf("kp-%d", i), topic, group, 6000)
	}
	// Produce only once all three share the topic, so no member reads it
	// all before the others join.
	waitGroup(t, adm, group, "Stable", 3, 45*time.Second)
	waitFor(t, 20*time.Second, func() error {
		owned := map[int32]string{}
		for _, m := range ms {
			a := m.assignment()
			if len(a) == 0 {
				return fmt.Errorf("%s has no partitions yet", m.name)
			}
			for _, part := range a {
				if prev, ok := owned[part]; ok {
					return fmt.Errorf("partition %d assigned to %s and %s", part, prev, m.name)
				}
				owned[part] = m.name
			}
		}
		if len(owned) != parts {
			return fmt.Errorf("assigned partitions %v, want all %d", owned, parts)
		}
		return nil
	})
	produceRange(t, cl, topic, 0, n)

	processed := func(lists ...[]int) map[int]int { return countProcessed(lists...) }
	waitFor(t, 60*time.Second, func() error {
		c := processed(ms[0].records(), ms[1].records(), ms[2].records())
		if len(c) < n {
			return fmt.Errorf("%d of %d records processed", len(c), n)
		}
		return nil
	})
	checkExactlyOnce(t, "three members", processed(ms[0].records(), ms[1].records(), ms[2].records()), 0, n)
	for _, m := range ms {
		if len(m.records()) == 0 {
			t.Errorf("%s (partitions %v) processed nothing", m.name, m.assignment())
		}
	}
	// Every record is committed once processed: the commits reach the end.
	ends := endOffsets(t, adm, topic)
	waitCommittedAt(t, adm, group, topic, ends)

	// One member leaves; the others take its partitions.
	before := [2]int{len(ms[0].records()), len(ms[1].records())}
	ms[2].stop(t)
	waitGroup(t, adm, group, "Stable", 2, 30*time.Second)

	// Half the new records arrive while it is away, half once it is back
	// and owns partitions again.
	produceRange(t, cl, topic, n, n+more/2)
	back := startPyMember(t, p, "kp-2-again", topic, group, 6000)
	waitGroup(t, adm, group, "Stable", 3, 45*time.Second)
	waitFor(t, 20*time.Second, func() error {
		if len(back.assignment()) == 0 {
			return errors.New("the returning member has no partitions yet")
		}
		return nil
	})
	produceRange(t, cl, topic, n+more/2, n+more)

	after := func() map[int]int {
		return processed(ms[0].records()[before[0]:], ms[1].records()[before[1]:], back.records())
	}
	waitFor(t, 60*time.Second, func() error {
		if c := after(); len(c) < more {
			return fmt.Errorf("%d of %d new records processed", len(c), more)
		}
		return nil
	})
	checkExactlyOnce(t, "after the restart", after(), n, n+more)
	if len(back.records()) == 0 {
		t.Errorf("the returning member (partitions %v) processed nothing", back.assignment())
	}
	for _, m := range []*pyMember{ms[0], ms[1], back} {
		if f := m.events("commit_failed"); len(f) > 0 {
			t.Errorf("%s: %d commits refused, first: %s", m.name, len(f), f[0].Err)
		}
	}
	ends = endOffsets(t, adm, topic)
	waitCommittedAt(t, adm, group, topic, ends)
	for _, m := range []*pyMember{ms[0], ms[1], back} {
		m.stop(t)
	}
	waitGroup(t, adm, group, "Empty", 0, 30*time.Second)
}

// TestConfluentGroupConsumer runs a confluent-kafka subscribe() consumer
// that commits every record it reads: it reads every record once, and a
// second run of the same group reads exactly the records produced since,
// nothing old.
func TestConfluentGroupConsumer(t *testing.T) {
	t.Parallel()
	needPython(t, "confluent_kafka")
	p := startBroker(t, t.TempDir(), fastGroups...)
	const topic, group = "ck-group", "ck-group"
	const n, more = 200, 50
	createTopic(t, p, topic, 4)
	cl := producer(t, p)
	adm := kadm.NewClient(cl)

	run := func(expected int) []int {
		t.Helper()
		out := runPy(t, pyTimeout, "ck_group.py", p.Addr, topic, group, strconv.Itoa(expected), "2")
		var got []int
		var assigned bool
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var l memberLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("bad line from ck_group.py %q: %v", line, err)
			}
			switch l.Ev {
			case "assigned":
				assigned = true
			case "":
				got = append(got, recordNumber(unhex(l.Value)))
			}
		}
		if !assigned {
			t.Errorf("ck_group.py was never assigned partitions")
		}
		return got
	}

	produceRange(t, cl, topic, 0, n)
	checkExactlyOnce(t, "first run", countProcessed(run(n)), 0, n)
	waitCommittedAt(t, adm, group, topic, endOffsets(t, adm, topic))

	produceRange(t, cl, topic, n, n+more)
	checkExactlyOnce(t, "second run", countProcessed(run(more)), n, n+more)
	waitCommittedAt(t, adm, group, topic, endOffsets(t, adm, topic))
}

// cutDialer dials loopback until Cut, which closes every connection it made
// and fails every later dial: a kgo client behind it vanishes the way a
// crashed process does, without a LeaveGroup or a last commit.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cutDialer) DialContext(ctx context.Context, network, host string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		c.Close()
		return nil, errors.New("interop: member crashed")
	}
	d.conns = append(d.conns, c)
	return c, nil
}

// Cut closes the connections and refuses new ones.
func (d *cutDialer) Cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// kgoMember is an in-process franz-go group member that processes a polled
// batch, commits it, and only then lets a rebalance proceed
// (BlockRebalanceOnPoll): with commits on revoke too, no record it
// processed is handed to another member uncommitted.
type kgoMember struct {
	name   string
	cl     *kgo.Client
	dialer *cutDialer
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	processed []int            // record numbers, in processing order
	owned     map[int32]bool   // partitions currently assigned
	revokes   [][]int32        // each OnPartitionsRevoked call's partitions
	ownedAt   []map[int32]bool // owned just before each revoke
	errs      []error          // commit errors
	closing   bool             // set before the final Close: revokes from it are not recorded
}

// startKgoMember starts a member of group on topic; opts add to (and may
// override) the defaults. It is closed at cleanup if still running.
func startKgoMember(t *testing.T, p *proc, name, topic, group string, opts ...kgo.Opt) *kgoMember {
	t.Helper()
	m := &kgoMember{name: name, dialer: &cutDialer{}, owned: map[int32]bool{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(p.Addr),
		kgo.Dialer(m.dialer.DialContext),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RetryTimeout(20 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, as map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, part := range as[topic] {
				m.owned[part] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, rs map[string][]int32) {
			// Everything polled was processed before the rebalance was
			// allowed; commit it before the partitions move on.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				m.addErr(fmt.Errorf("commit on revoke: %w", err))
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if !m.closing {
				m.ownedAt = append(m.ownedAt, maps.Clone(m.owned))
				m.revokes = append(m.revokes, slices.Clone(rs[topic]))
			}
			for _, part := range rs[topic] {
				delete(m.owned, part)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ls map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, part := range ls[topic] {
				delete(m.owned, part)
			}
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo member %s: %v", name, err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	t.Cleanup(func() {
		m.cancel()
		<-m.done
		cl.Close()
	})
	return m
}

func (m *kgoMember) addErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err)
}

// run polls, processes (records the numbers), commits, then allows the
// rebalance the poll may have held back.
func (m *kgoMember) run(ctx context.Context) {
	defer close(m.done)
	for {
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			m.cl.AllowRebalance()
			return
		}
		var nums []int
		fs.EachRecord(func(r *kgo.Record) { nums = append(nums, recordNumber(string(r.Value))) })
		if len(nums) > 0 {
			m.mu.Lock()
			m.processed = append(m.processed, nums...)
			m.mu.Unlock()
			if err := m.cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				m.addErr(fmt.Errorf("commit after processing: %w", err))
			}
		}
		m.cl.AllowRebalance()
	}
}

// records returns the record numbers processed so far.
func (m *kgoMember) records() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.processed)
}

// assignment returns the partitions currently owned.
func (m *kgoMember) assignment() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for part := range m.owned {
		out = append(out, part)
	}
	slices.Sort(out)
	return out
}

// leave stops polling and closes the client, which commits on revoke and
// leaves the group.
func (m *kgoMember) leave() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	m.cancel()
	<-m.done
	m.cl.Close()
}

// crash drops the member without LeaveGroup or a last commit: its
// connections close and it cannot reconnect. The group notices at the
// session timeout. The client's own goroutines are closed in the
// background (their requests fail at once on the cut dialer).
func (m *kgoMember) crash() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	m.dialer.Cut()
	m.cancel()
	<-m.done
	go m.cl.Close()
}

// commitErrors returns the commit errors seen.
func (m *kgoMember) commitErrors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

// paceProducer produces numbered records [0, total) to topic at about
// rate per second until done, then flushes. It returns how many were acked;
// every record must be acked (failures are reported through t).
func paceProducer(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, total, rate int) int {
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for i := range total {
		if due := start.Add(time.Duration(i) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		r := numbered(i)
		r.Topic = topic
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("produce record: %v", err)
				return
			}
			acked++
		})
	}
	wg.Wait()
	return acked
}

// TestFranzGoCooperativeSticky runs franz-go members with the
// cooperative-sticky balancer while records stream in: two members, a
// third joins, then one leaves. Committing after processing (with
// rebalances held until then) and on revoke, every record is processed
// exactly once; and the member that stays throughout never has all its
// partitions revoked at once (incremental rebalancing, KIP-429).
func TestFranzGoCooperativeSticky(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir(), fastGroups...)
	const topic, group, parts = "coop", "coop", 6
	const total, rate = 3000, 1000
	createTopic(t, p, topic, parts)
	cl := p.client(t)
	adm := kadm.NewClient(cl)
	coop := kgo.Balancers(kgo.CooperativeStickyBalancer())
	fastHB := kgo.HeartbeatInterval(200 * time.Millisecond)

	a := startKgoMember(t, p, "a", topic, group, coop, fastHB)
	b := startKgoMember(t, p, "b", topic, group, coop, fastHB)
	waitGroup(t, adm, group, "Stable", 2, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	producedc := make(chan int, 1)
	go func() { producedc <- paceProducer(ctx, t, cl, topic, total, rate) }()

	processed := func(ms ...*kgoMember) map[int]int {
		var lists [][]int
		for _, m := range ms {
			lists = append(lists, m.records())
		}
		return countProcessed(lists...)
	}
	// A third joins once a third of the records went through.
	waitFor(t, 30*time.Second, func() error {
		if c := len(processed(a, b)); c < total/3 {
			return fmt.Errorf("%d records processed", c)
		}
		return nil
	})
	c := startKgoMember(t, p, "c", topic, group, coop, fastHB)
	waitFor(t, 30*time.Second, func() error {
		if len(c.assignment()) == 0 {
			return errors.New("c owns no partition yet")
		}
		return nil
	})
	// b leaves cleanly at two thirds.
	waitFor(t, 30*time.Second, func() error {
		if n := len(processed(a, b, c)); n < 2*total/3 {
			return fmt.Errorf("%d records processed", n)
		}
		return nil
	})
	b.leave()

	produced := <-producedc
	if produced != total {
		t.Fatalf("%d of %d records acked", produced, total)
	}
	waitFor(t, 30*time.Second, func() error {
		if n := len(processed(a, b, c)); n < total {
			return fmt.Errorf("%d of %d records processed", n, total)
		}
		return nil
	})
	checkExactlyOnce(t, "cooperative-sticky", processed(a, b, c), 0, total)
	for _, m := range []*kgoMember{a, b, c} {
		if errs := m.commitErrors(); len(errs) > 0 {
			t.Errorf("member %s: %d commit errors, first: %v", m.name, len(errs), errs[0])
		}
		if len(m.records()) == 0 {
			t.Errorf("member %s processed nothing", m.name)
		}
	}
	a.mu.Lock()
	t.Logf("processed: a %d, b %d, c %d; a's revokes %v", len(a.processed), len(b.records()), len(c.records()), a.revokes)
	for i, r := range a.revokes {
		if len(r) > 0 && len(r) == len(a.ownedAt[i]) {
			t.Errorf("member a: revoke %d took all its partitions %v (an eager rebalance, not incremental)", i, r)
		}
	}
	a.mu.Unlock()
	waitCommittedAt(t, adm, group, topic, endOffsets(t, adm, topic))
}

// apiMaxVersion returns the broker's max version of key from ApiVersions,
// and whether the broker lists the key at all.
func apiMaxVersion(t *testing.T, p *proc, key kmsg.Key) (int16, bool) {
	t.Helper()
	cl := p.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(key) {
			return k.MaxVersion, true
		}
	}
	return 0, false
}

// requestCounter counts the requests a client writes, by API key.
type requestCounter struct {
	mu sync.Mutex
	n  map[int16]int
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int16]int{}
	}
	c.n[key]++
}

func (c *requestCounter) count(key kmsg.Key) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[int16(key)]
}

// TestFranzGoKIP848 runs franz-go members on the KIP-848 consumer group
// protocol (ServerSideBalancer): the broker assigns partitions through
// ConsumerGroupHeartbeat, no JoinGroup is sent, the partitions are split
// between two members, every record is processed once and the commits
// reach the end.
func TestFranzGoKIP848(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir(), fastGroups...)
	maxV, ok := apiMaxVersion(t, p, kmsg.ConsumerGroupHeartbeat)
	if !ok {
		t.Fatal("the broker does not list ConsumerGroupHeartbeat (key 68, KIP-848) in ApiVersions")
	}
	if maxV < 1 {
		// franz-go pins the new protocol to v1 (Kafka 4.0's, client-chosen
		// member ids) and silently falls back to the classic one below it.
		t.Fatalf("ConsumerGroupHeartbeat max version %d: franz-go needs v1 (Kafka 4.0) to use KIP-848", maxV)
	}
	const topic, group, parts, n = "kip848", "kip848", 6, 600
	createTopic(t, p, topic, parts)
	cl := p.client(t)
	adm := kadm.NewClient(cl)

	var counters [2]requestCounter
	ms := make([]*kgoMember, 2)
	for i := range ms {
		ms[i] = startKgoMember(t, p, fmt.Sprintf("m%d", i), topic, group,
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.WithHooks(&counters[i]))
	}
	waitFor(t, 30*time.Second, func() error {
		a, b := ms[0].assignment(), ms[1].assignment()
		if len(a) == 0 || len(b) == 0 || len(a)+len(b) != parts {
			return fmt.Errorf("assignments %v and %v, want all %d partitions split", a, b, parts)
		}
		for _, part := range a {
			if slices.Contains(b, part) {
				return fmt.Errorf("partition %d owned by both members", part)
			}
		}
		return nil
	})
	produceRange(t, cl, topic, 0, n)
	waitFor(t, 30*time.Second, func() error {
		if c := countProcessed(ms[0].records(), ms[1].records()); len(c) < n {
			return fmt.Errorf("%d of %d records processed", len(c), n)
		}
		return nil
	})
	checkExactlyOnce(t, "KIP-848", countProcessed(ms[0].records(), ms[1].records()), 0, n)
	for i := range ms {
		if h, j := counters[i].count(kmsg.ConsumerGroupHeartbeat), counters[i].count(kmsg.JoinGroup); h == 0 || j != 0 {
			t.Errorf("member %d sent %d ConsumerGroupHeartbeat and %d JoinGroup, want the new protocol only", i, h, j)
		}
		if errs := ms[i].commitErrors(); len(errs) > 0 {
			t.Errorf("member %d: %d commit errors, first: %v", i, len(errs), errs[0])
		}
	}
	waitCommittedAt(t, adm, group, topic, endOffsets(t, adm, topic))
}

// consumeGroupOnce joins group as a single franz-go member, reads until it
// has want records, commits them and leaves. It returns the records and how
// long the first assignment took after the client started.
func consumeGroupOnce(t *testing.T, p *proc, topic, group string, want int) ([]*kgo.Record, time.Duration) {
	t.Helper()
	start := time.Now()
	assignedAt := make(chan time.Time, 1)
	cl := p.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assignedAt <- time.Now():
			default:
			}
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group %s read %d of %d records in 30s", group, len(recs), want)
		}
		fs.EachError(func(topic string, part int32, err error) { t.Errorf("fetch %s[%d]: %v", topic, part, err) })
		recs = append(recs, fs.Records()...)
	}
	// A short poll for anything beyond want: there must be nothing.
	extra, cancelExtra := context.WithTimeout(ctx, 500*time.Millisecond)
	recs = append(recs, cl.PollFetches(extra).Records()...)
	cancelExtra()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	var took time.Duration
	select {
	case at := <-assignedAt:
		took = at.Sub(start)
	default:
		t.Fatal("records read without an assignment callback")
	}
	return recs, took
}

// TestGroupSurvivesBrokerRestart commits a group's offsets, restarts the
// broker (SIGTERM, then kill -9) and checks after each restart that the
// commits and the group are still there and that a consumer of the group
// resumes exactly after them. The broker keeps the default 3s
// group.initial.rebalance.delay.ms: the first join of the empty group waits
// for it, and the test checks it does.
func TestGroupSurvivesBrokerRestart(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir())
	const topic, group, parts, batch = "restart-group", "restart-group", 3, 150
	createTopic(t, p, topic, parts)

	produced := 0
	produce := func(p *proc) {
		cl := p.client(t)
		produceRange(t, cl, topic, produced, produced+batch)
		produced += batch
		cl.Close()
	}
	// consume reads what the group has not committed: exactly the records
	// [from, produced), each starting at the committed offset.
	consume := func(p *proc, from int, commits map[int32]int64) {
		t.Helper()
		recs, took := consumeGroupOnce(t, p, topic, group, produced-from)
		// The initial delay holds the first rebalance of an empty group
		// for 3s (Kafka's group.initial.rebalance.delay.ms default).
		if took < 2500*time.Millisecond {
			t.Errorf("first assignment after %v, want the 3s initial rebalance delay", took)
		}
		var nums []int
		first := map[int32]int64{}
		for _, r := range recs {
			nums = append(nums, recordNumber(string(r.Value)))
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		}
		checkExactlyOnce(t, fmt.Sprintf("consume after %d", from), countProcessed(nums), from, produced)
		for part, o := range first {
			if want, ok := commits[part]; ok && o != want {
				t.Errorf("partition %d resumed at %d, committed %d", part, o, want)
			}
		}
	}
	checkKept := func(p *proc, want map[int32]int64, how string) {
		t.Helper()
		adm := kadm.NewClient(p.client(t))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var got map[int32]int64
		waitFor(t, 15*time.Second, func() error {
			var err error
			got, err = committed(ctx, adm, group, topic)
			return err
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after %s: commits %v, want %v", how, got, want)
		}
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatalf("after %s: ListGroups: %v", how, err)
		}
		if _, ok := groups[group]; !ok {
			t.Errorf("after %s: ListGroups %v lacks %s", how, groups.Groups(), group)
		}
	}

	produce(p)
	consume(p, 0, nil)
	adm := kadm.NewClient(p.client(t))
	ends := endOffsets(t, adm, topic)
	waitCommittedAt(t, adm, group, topic, ends)

	for _, how := range []string{"SIGTERM", "kill -9"} {
		produce(p) // records the group has not read
		if how == "SIGTERM" {
			if code, err := p.Terminate(15 * time.Second); err != nil || code != 0 {
				t.Fatalf("SIGTERM: exit %d, %v", code, err)
			}
		} else {
			p.Kill9()
		}
		p = p.Restart()
		checkKept(p, ends, how)
		consume(p, produced-batch, ends)
		adm := kadm.NewClient(p.client(t))
		ends = endOffsets(t, adm, topic)
		waitCommittedAt(t, adm, group, topic, ends)
	}
}

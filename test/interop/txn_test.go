package interop

// Transactions (KIP-98, KIP-447, KIP-890) through real clients: franz-go's
// GroupTransactSession, confluent-kafka (librdkafka), kafkajs and sarama,
// plus zombie fencing, the coordinator's timeout abort and the
// `samsa txn` CLI on a hanging transaction.
//
// Every test reads its output with a read_committed consumer and checks
// that committed records appear exactly once, aborted ones never, and
// nothing past a transaction that is still open. A test knows it has read
// everything that is stable by first appending a non-transactional
// sentinel record to every partition it reads: a read_committed consumer
// returns the sentinel only once every transaction before it has ended,
// so "every sentinel seen" bounds the read without sleeping.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnBrokerArgs are the settings every transaction test's broker runs
// with: a single broker, so the transaction log has one replica, as in
// Kafka's own single-node quickstart config.
var txnBrokerArgs = []string{
	"--http-addr", "off",
	"--set", "transaction.state.log.replication.factor=1",
	"--set", "transaction.state.log.min.isr=1",
	"--set", "group.initial.rebalance.delay.ms=0",
}

// startTxnBroker starts a broker for a transaction test with extra
// settings ("--set", "k=v", ...).
func startTxnBroker(t *testing.T, extra ...string) *proc {
	t.Helper()
	return startBroker(t, t.TempDir(), append(slices.Clone(txnBrokerArgs), extra...)...)
}

// sentinel is the value of the record readCommitted appends to each
// partition to know where the read ends.
const sentinel = "__end__"

// readCommitted appends a sentinel to each of topic's partitions and reads
// the topic from the start with a read_committed consumer until it has
// seen every sentinel; it returns the other records of each partition in
// offset order. Records after the sentinels (none, in these tests) are
// not read.
func readCommitted(t *testing.T, p *proc, topic string, timeout time.Duration) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	adm := kadm.NewClient(p.client(t))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets of %s: %v %v", topic, err, ends.Error())
	}
	var parts []int32
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, o.Partition) })
	// Plain (non-transactional) producer; kgo's default is idempotent,
	// which is fine: only a transactional batch can be held back.
	pr := p.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, part := range parts {
		if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatalf("produce the sentinel to %s/%d: %v", topic, part, err)
		}
	}

	offsets := map[int32]kgo.Offset{}
	for _, part := range parts {
		offsets[part] = kgo.NewOffset().AtStart()
	}
	cl := p.client(t,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	out := map[int32][]*kgo.Record{}
	done := map[int32]bool{}
	for len(done) < len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var missing []int32
			for _, part := range parts {
				if !done[part] {
					missing = append(missing, part)
				}
			}
			t.Fatalf("read_committed of %s: no sentinel from partitions %v after %v: a transaction is still open there, or the last stable offset does not move (read so far: %s)",
				topic, missing, timeout, summarize(out))
		}
		fs.EachError(func(tp string, part int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case done[r.Partition]:
				t.Errorf("%s/%d@%d %q read after the sentinel", topic, r.Partition, r.Offset, r.Value)
			case string(r.Value) == sentinel:
				done[r.Partition] = true
			default:
				out[r.Partition] = append(out[r.Partition], r)
			}
		})
	}
	return out
}

// summarize renders records as "p0:[a b] p1:[c]" for failure messages.
func summarize(byPart map[int32][]*kgo.Record) string {
	var parts []string
	for part, rs := range byPart {
		var vs []string
		for _, r := range rs {
			vs = append(vs, string(r.Value))
		}
		parts = append(parts, fmt.Sprintf("p%d:%v", part, first(vs, 20)))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// values returns the values of records in order.
func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// lastStable is the partition's last stable offset: ListOffsets (latest)
// at read_committed, which kadm.ListCommittedOffsets sends.
func lastStable(t *testing.T, adm *kadm.Client, topic string, partition int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list read_committed offsets of %s: %v", topic, err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("read_committed offset of %s/%d: %+v (found %v)", topic, partition, o, ok)
	}
	return o.Offset
}

// highWatermark is the partition's high watermark (read_uncommitted).
func highWatermark(t *testing.T, adm *kadm.Client, topic string, partition int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s/%d: %+v (found %v)", topic, partition, o, ok)
	}
	return o.Offset
}

// checkOutput asserts that topic, read read_committed, holds exactly want
// (in this order) on partition 0 and nothing on any other partition.
func checkOutput(t *testing.T, p *proc, what, topic string, want []string) {
	t.Helper()
	got := readCommitted(t, p, topic, 30*time.Second)
	for part, rs := range got {
		if part != 0 && len(rs) > 0 {
			t.Errorf("%s: partition %d holds %v; everything was written to partition 0", what, part, values(rs))
		}
	}
	if g := values(got[0]); !slices.Equal(g, want) {
		t.Errorf("%s: read_committed read\n  %v\nwant exactly the committed records once, in order:\n  %v", what, g, want)
	}
}

// checkGroupOffset asserts the group's committed offset of topic/0.
func checkGroupOffset(t *testing.T, p *proc, what, group, topic string, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := committed(ctx, kadm.NewClient(p.client(t)), group, topic)
	if err != nil {
		t.Fatalf("%s: fetch offsets of group %s: %v", what, group, err)
	}
	if got[0] != want {
		t.Errorf("%s: group %s committed %s/0 at %d (all: %v), want %d: the committed transactions' offsets, not the aborted one's",
			what, group, topic, got[0], got, want)
	}
}

// committedSeq is what the explicit-offset client tests commit: values
// prefix-0 .. prefix-19 from two committed transactions of ten.
func committedSeq(prefix string) []string {
	var out []string
	for i := range 20 {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// TestTxnFranzGroupTransactSession is consume-transform-produce with
// kgo.GroupTransactSession: 300 keyed records over 3 input partitions are
// transformed into an output topic in transactions that also commit the
// group's offsets (TxnOffsetCommit, KIP-447 RequireStable fetches). One
// transaction is aborted mid-way (End with TryAbort) after its records
// reached the broker; its inputs are consumed again from the committed
// offsets. The output, read read_committed, must hold every transformed
// input exactly once, in input order per key, and nothing of the aborted
// transaction.
func TestTxnFranzGroupTransactSession(t *testing.T) {
	t.Parallel()
	p := startTxnBroker(t)
	const in, out, group, n = "etl-in", "etl-out", "etl", 300
	createTopic(t, p, in, 3)
	createTopic(t, p, out, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Input: key k<i%10>, value i; one key lives in one partition, in order.
	pr := p.client(t)
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: in, Key: fmt.Appendf(nil, "k%d", i%10), Value: []byte(strconv.Itoa(i))})
	}
	if err := pr.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("fill %s: %v", in, err)
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(p.Addr),
		kgo.TransactionalID("etl-tx"),
		kgo.TransactionTimeout(30*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RetryTimeout(20*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	committedIn := map[string]bool{} // input values whose transaction committed
	aborted := 0
	for len(committedIn) < n {
		fs := sess.PollRecords(ctx, 40) // several transactions, not one
		if ctx.Err() != nil {
			t.Fatalf("after %d committed inputs: %v", len(committedIn), ctx.Err())
		}
		fs.EachError(func(tp string, part int32, err error) { t.Fatalf("poll %s/%d: %v", tp, part, err) })
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		abortThis := aborted == 0 && len(committedIn) > 0 // once, mid-way
		for _, r := range recs {
			v := "T(" + string(r.Value) + ")"
			if abortThis {
				v = "ABORTED(" + string(r.Value) + ")"
			}
			sess.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrAborting) {
					t.Errorf("transactional produce: %v", err)
				}
			})
		}
		if abortThis {
			// The aborted records reach the log before the abort, so
			// the read_committed check below has something to hide.
			if err := sess.Client().Flush(ctx); err != nil {
				t.Fatalf("flush before abort: %v", err)
			}
			committed, err := sess.End(ctx, kgo.TryAbort)
			if err != nil || committed {
				t.Fatalf("End(TryAbort) = committed %v, %v", committed, err)
			}
			aborted++
			continue
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("End(TryCommit) after %d committed inputs: %v", len(committedIn), err)
		}
		if !committed {
			t.Logf("a transaction of %d records was aborted by the session (rebalance?); its inputs come again", len(recs))
			continue
		}
		for _, r := range recs {
			if committedIn[string(r.Value)] {
				t.Errorf("input %s consumed again after its transaction committed", r.Value)
			}
			committedIn[string(r.Value)] = true
		}
	}
	if aborted != 1 {
		t.Fatalf("aborted %d transactions, want 1 (too few polls?)", aborted)
	}

	// The group's offsets were committed inside the transactions.
	adm := kadm.NewClient(p.client(t))
	ends := endOffsets(t, adm, in)
	got, err := committed(ctx, adm, group, in)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(ends) {
		t.Errorf("group %s committed %v, want the input's end offsets %v", group, got, ends)
	}

	outRecs := readCommitted(t, p, out, 30*time.Second)
	seen := map[string]int{}
	lastByKey := map[string]int{}
	for part, rs := range outRecs {
		for _, r := range rs {
			v := string(r.Value)
			if !strings.HasPrefix(v, "T(") {
				t.Errorf("%s/%d@%d: %q is from the aborted transaction", out, part, r.Offset, v)
				continue
			}
			seen[v]++
			i, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(v, "T("), ")"))
			if string(r.Key) != fmt.Sprintf("k%d", i%10) {
				t.Errorf("%s: key %q, want k%d", v, r.Key, i%10)
			}
			if prev, ok := lastByKey[string(r.Key)]; ok && i <= prev {
				t.Errorf("key %s: %s after T(%d): input order lost", r.Key, v, prev)
			}
			lastByKey[string(r.Key)] = i
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("T(%d)", i)]; c != 1 {
			t.Errorf("T(%d) read %d times, want exactly once", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("read %d distinct outputs, want %d", len(seen), n)
	}
}

// TestTxnFranzZombieFencing: a second producer with the same
// transactional id fences the first (InitProducerId bumps the epoch and
// aborts the first one's open transaction). The first one's commit fails
// with PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before Kafka 2.7), and
// nothing it wrote is visible read_committed; the second one's commit is.
func TestTxnFranzZombieFencing(t *testing.T) {
	t.Parallel()
	p := startTxnBroker(t)
	const topic = "zombie"
	createTopic(t, p, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(cl *kgo.Client, vals ...string) error {
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
				return err
			}
		}
		return nil
	}

	zombie := p.client(t, kgo.TransactionalID("zombie-tx"), kgo.TransactionTimeout(60*time.Second))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce(zombie, "z1", "z2", "z3"); err != nil {
		t.Fatalf("zombie produce: %v", err)
	}

	// The new instance's first produce initializes the producer id for
	// the same transactional id: that is the fencing.
	next := p.client(t, kgo.TransactionalID("zombie-tx"), kgo.TransactionTimeout(60*time.Second))
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := produce(next, "n1", "n2"); err != nil {
		t.Fatalf("new instance produce: %v", err)
	}
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("new instance commit: %v", err)
	}

	// The zombie's commit (EndTxn with its old epoch) is refused.
	endErr := zombie.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(endErr, kerr.ProducerFenced) && !errors.Is(endErr, kerr.InvalidProducerEpoch) {
		t.Errorf("the fenced producer's commit returned %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", endErr)
	}
	// And so is any later write.
	if err := produce(zombie, "z4"); err == nil {
		t.Errorf("the fenced producer could still produce")
	}
	checkOutput(t, p, "after fencing", topic, []string{"n1", "n2"})
}

// TestTxnTimeoutAbort: a transaction left open past its
// transaction.timeout.ms (2s) is aborted by the coordinator, which checks
// every transaction.abort.timed.out.transaction.cleanup.interval.ms
// (500ms here). Before that the CLI lists and describes it as Ongoing and
// the last stable offset is held at its first record; after it the last
// stable offset reaches the high watermark, a read_committed consumer gets
// the record produced after the transaction, and the producer's late
// commit fails.
func TestTxnTimeoutAbort(t *testing.T) {
	t.Parallel()
	p := startTxnBroker(t, "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500")
	const topic = "slow"
	createTopic(t, p, topic, 1)
	adm := kadm.NewClient(p.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	slow := p.client(t, kgo.TransactionalID("slow-tx"), kgo.TransactionTimeout(2*time.Second))
	if err := slow.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	res := slow.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("t1")}, &kgo.Record{Topic: topic, Value: []byte("t2")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	start := res[0].Record.Offset
	// The CLI sees the open transaction (within its 2s).
	describe := runSamsa(t, p, "txn", "describe", "slow-tx")
	rows := fieldRows(describe)
	if r := rows["STATE"]; len(r) != 2 || r[1] != "Ongoing" {
		t.Errorf("samsa txn describe while open: STATE %v in\n%s", r, describe)
	}
	if r := rows["TIMEOUT"]; len(r) != 2 || r[1] != "2s" {
		t.Errorf("samsa txn describe: TIMEOUT %v in\n%s", r, describe)
	}
	if r := rows["PARTITIONS"]; len(r) != 2 || r[1] != topic+"(0)" {
		t.Errorf("samsa txn describe: PARTITIONS %v in\n%s", r, describe)
	}
	list := runSamsa(t, p, "txn", "list", "--state", "Ongoing")
	if r := fieldRows(list)["slow-tx"]; len(r) != 4 || r[2] != "Ongoing" {
		t.Errorf("samsa txn list --state Ongoing: slow-tx row %v in\n%s", r, list)
	}

	plain := p.client(t)
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if lso := lastStable(t, adm, topic, 0); lso != start {
		t.Errorf("last stable offset %d while the transaction starting at %d is open", lso, start)
	}

	// Kafka aborts between timeout and timeout+interval; allow for load.
	waitFor(t, 20*time.Second, func() error {
		lso, hw := lastStable(t, adm, topic, 0), highWatermark(t, adm, topic, 0)
		if lso != hw {
			return fmt.Errorf("last stable offset %d, high watermark %d: the timed-out transaction was not aborted", lso, hw)
		}
		return nil
	})
	if err := slow.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Errorf("commit of a transaction the coordinator aborted on timeout succeeded")
	} else {
		t.Logf("late commit: %v", err)
	}
	describe = runSamsa(t, p, "txn", "describe", "slow-tx")
	if r := fieldRows(describe)["STATE"]; len(r) != 2 || r[1] == "Ongoing" {
		t.Errorf("samsa txn describe after the timeout: STATE %v in\n%s", r, describe)
	}
	checkOutput(t, p, "after the timeout abort", topic, []string{"after"})
}

// TestTxnCLIAbortHanging: a producer begins a transaction, writes and
// goes away without ending it (a long transaction.timeout.ms, so the
// coordinator will not end it during the test). The partition's last
// stable offset is stuck at the transaction's first offset; `samsa txn
// abort --start-offset` writes the abort marker, after which the last
// stable offset moves and read_committed consumers read past it.
func TestTxnCLIAbortHanging(t *testing.T) {
	t.Parallel()
	p := startTxnBroker(t)
	const topic = "hung"
	createTopic(t, p, topic, 2)
	adm := kadm.NewClient(p.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	plain := p.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hung, err := kgo.NewClient(kgo.SeedBrokers(p.Addr), kgo.TransactionalID("hung-tx"),
		kgo.TransactionTimeout(10*time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := hung.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	res := hung.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("h1")}, &kgo.Record{Topic: topic, Value: []byte("h2")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	start := res[0].Record.Offset
	hung.Close() // gone, transaction open
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if lso := lastStable(t, adm, topic, 0); lso != start {
		t.Fatalf("last stable offset %d, want %d (the hanging transaction's start)", lso, start)
	}

	producers := runSamsa(t, p, "txn", "producers", topic, "0")
	var row []string
	for _, r := range fieldRows(producers) {
		if len(r) == 6 && r[5] == strconv.FormatInt(start, 10) {
			row = r
		}
	}
	if row == nil {
		t.Fatalf("samsa txn producers %s 0 shows no transaction starting at %d:\n%s", topic, start, producers)
	}
	out := runSamsa(t, p, "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", strconv.FormatInt(start, 10))
	if !strings.HasPrefix(out, "aborted the transaction of producer "+row[0]+" (epoch "+row[1]+")") {
		t.Errorf("samsa txn abort printed %q; producer row %v", out, row)
	}
	waitFor(t, 10*time.Second, func() error {
		lso, hw := lastStable(t, adm, topic, 0), highWatermark(t, adm, topic, 0)
		if lso != hw {
			return fmt.Errorf("after samsa txn abort: last stable offset %d, high watermark %d", lso, hw)
		}
		return nil
	})
	checkOutput(t, p, "after samsa txn abort", topic, []string{"before", "after"})
}

// runSamsa runs the samsa binary's CLI against p and returns its stdout;
// a non-zero exit fails the test.
func runSamsa(t *testing.T, p *proc, args ...string) string {
	t.Helper()
	return runCmd(t, 20*time.Second, nil, samsaBin, append([]string{"-b", p.Addr, "--timeout", "10s"}, args...)...)
}

// fieldRows parses CLI output into rows of whitespace-separated fields,
// keyed by the first field.
func fieldRows(s string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	return rows
}

// TestTxnSarama drives sarama's transactional producer (Idempotent,
// Transaction.ID, BeginTxn, AddOffsetsToTxn, CommitTxn, AbortTxn): two
// committed transactions of ten records, each committing group offsets,
// and one aborted one between them with a higher offset.
func TestTxnSarama(t *testing.T) {
	t.Parallel()
	p := startTxnBroker(t)
	const in, out, group = "sarama-txn-in", "sarama-txn-out", "sarama-txn"
	createTopic(t, p, in, 1)
	createTopic(t, p, out, 1)

	cfg := saramaConfig(sarama.V3_6_0_0, "samsa-interop-sarama-txn")
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-tx"
	cfg.Producer.Transaction.Timeout = 30 * time.Second
	cfg.Producer.Transaction.Retry.Max = 50
	cfg.Producer.Transaction.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer([]string{p.Addr}, cfg)
	if err != nil {
		t.Fatalf("sarama transactional producer: %v", err)
	}
	defer prod.Close()

	txn := func(values []string, offset int64, commit bool) {
		t.Helper()
		if err := prod.BeginTxn(); err != nil {
			t.Fatalf("BeginTxn: %v", err)
		}
		var msgs []*sarama.ProducerMessage
		for _, v := range values {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: out, Partition: 0, Value: sarama.StringEncoder(v)})
		}
		if err := prod.SendMessages(msgs); err != nil {
			t.Fatalf("SendMessages in a transaction: %v", err)
		}
		if err := prod.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
			in: {{Partition: 0, Offset: offset}},
		}, group); err != nil {
			t.Fatalf("AddOffsetsToTxn: %v", err)
		}
		if commit {
			err = prod.CommitTxn()
		} else {
			err = prod.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	want := committedSeq("s")
	txn(want[:10], 10, true)
	txn([]string{"ABORTED-1", "ABORTED-2"}, 99, false)
	txn(want[10:], 20, true)

	checkGroupOffset(t, p, "sarama", group, in, 20)
	checkOutput(t, p, "sarama", out, want)
}

// TestTxnConfluentKafka drives librdkafka's transactional producer through
// confluent-kafka (py/ck_txn.py): init_transactions, begin_transaction,
// produce, send_offsets_to_transaction, commit_transaction, and one
// abort_transaction between two commits.
func TestTxnConfluentKafka(t *testing.T) {
	t.Parallel()
	needPython(t, "confluent_kafka")
	p := startTxnBroker(t)
	const in, out, group = "ck-txn-in", "ck-txn-out", "ck-txn"
	createTopic(t, p, in, 1)
	createTopic(t, p, out, 1)
	stdout := runPy(t, 90*time.Second, "ck_txn.py", p.Addr, in, out, group, "ck-tx")
	if !strings.Contains(stdout, `"op": "done"`) {
		t.Fatalf("ck_txn.py did not finish:\n%s", stdout)
	}
	checkGroupOffset(t, p, "confluent-kafka", group, in, 20)
	checkOutput(t, p, "confluent-kafka", out, committedSeq("ck"))
}

// TestTxnKafkajs drives kafkajs's transactions (producer.transaction(),
// send, sendOffsets, commit, abort) through js/kafkajs.js txn.
func TestTxnKafkajs(t *testing.T) {
	t.Parallel()
	node := needKafkajs(t)
	p := startTxnBroker(t)
	const in, out, group = "kjs-txn-in", "kjs-txn-out", "kjs-txn"
	createTopic(t, p, in, 1)
	createTopic(t, p, out, 1)
	byOp := runKafkajs(t, node, 90*time.Second, p.Addr, "txn", in, out, group, "kjs-tx")
	one(t, byOp, "done")
	checkGroupOffset(t, p, "kafkajs", group, in, 20)
	checkOutput(t, p, "kafkajs", out, committedSeq("kjs"))
}

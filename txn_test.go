package samsa_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa"
)

// txnProducer is a franz-go transactional producer for topic.
func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.TransactionalID(id),
		kgo.TransactionTimeout(20 * time.Second), kgo.RequestTimeoutOverhead(5 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn produces values in one transaction and commits or aborts it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, values ...string) {
	t.Helper()
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %q: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit=%v): %v", commit, err)
	}
}

// readValues reads topic from the start with the given isolation until it
// has seen everything up to the end offsets that isolation lists.
func readValues(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	ctx := testCtx(t)
	adm := kadm.NewClient(newRawClient(t, addr))
	var ends kadm.ListedOffsets
	var err error
	if committed {
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newRawClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	var out []string
	pos := map[int32]int64{}
	done := func() bool {
		for _, o := range ends[topic] {
			if pos[o.Partition] < o.Offset {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s (committed=%v): got %v, positions %v, want ends %v", topic, committed, out, pos, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, string(r.Value))
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err != nil {
				t.Fatalf("fetch: %v", p.Err)
			}
			// The position moves past control batches and aborted data too.
			pos[p.Partition] = max(pos[p.Partition], p.HighWatermark)
			if committed {
				pos[p.Partition] = max(pos[p.Partition], min(p.LastStableOffset, p.HighWatermark))
			}
		})
	}
	return out
}

func newRawClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(5 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// waitStable waits until no transaction holds topic's partition 0 back:
// EndTransaction returns once the decision is durable, and the markers
// (which move the last stable offset) are written after it, as in Kafka.
func waitStable(t *testing.T, addr, topic string) {
	t.Helper()
	adm := kadm.NewClient(newRawClient(t, addr))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx := testCtx(t)
		c, err1 := adm.ListCommittedOffsets(ctx, topic)
		e, err2 := adm.ListEndOffsets(ctx, topic)
		if err1 == nil && err2 == nil {
			co, _ := c.Lookup(topic, 0)
			eo, _ := e.Lookup(topic, 0)
			if co.Err == nil && co.Offset == eo.Offset {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last stable offset %d never reached the end %d", topic, co.Offset, eo.Offset)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func committedEnd(t *testing.T, addr, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(newRawClient(t, addr))
	ends, err := adm.ListCommittedOffsets(testCtx(t), topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list committed offsets: %v %v", err, ends.Error())
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// TestTransactionsReadCommitted: committed data appears once, aborted data
// never, and nothing past an open transaction, for a read_committed
// consumer; a read_uncommitted one sees everything.
func TestTransactionsReadCommitted(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"num.partitions": "1"})
	const topic = "txn-read"
	cl := txnProducer(t, b.Addr(), "tx-read")
	produceTxn(t, cl, topic, true, "c1", "c2")
	produceTxn(t, cl, topic, false, "a1", "a2")
	produceTxn(t, cl, topic, true, "c3")
	waitStable(t, b.Addr(), topic)
	if got, want := readValues(t, b.Addr(), topic, true), []string{"c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	if got, want := readValues(t, b.Addr(), topic, false), []string{"c1", "c2", "a1", "a2", "c3"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted: %v, want %v", got, want)
	}

	// An open transaction holds the last stable offset at its first record.
	lso := committedEnd(t, b.Addr(), topic)
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain := newRawClient(t, b.Addr())
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := committedEnd(t, b.Addr(), topic); got != lso {
		t.Fatalf("last stable offset moved past an open transaction: %d -> %d", lso, got)
	}
	if got := readValues(t, b.Addr(), topic, true); slices.Contains(got, "plain") || slices.Contains(got, "open") {
		t.Fatalf("read_committed read past an open transaction: %v", got)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitStable(t, b.Addr(), topic)
	if got, want := readValues(t, b.Addr(), topic, true), []string{"c1", "c2", "c3", "open", "plain"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after the commit: %v, want %v", got, want)
	}
}

// TestTransactionZombieFenced: a second instance with the same id fences
// the first, whose commit fails and whose writes stay invisible.
func TestTransactionZombieFenced(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"num.partitions": "1"})
	const topic = "txn-zombie"
	ctx := testCtx(t)
	old := txnProducer(t, b.Addr(), "tx-zombie")
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := txnProducer(t, b.Addr(), "tx-zombie")
	produceTxn(t, fresh, topic, true, "fresh")
	waitStable(t, b.Addr(), topic)
	err := old.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("the fenced instance's commit: %v, want PRODUCER_FENCED", err)
	}
	if got := readValues(t, b.Addr(), topic, true); !slices.Equal(got, []string{"fresh"}) {
		t.Fatalf("read_committed: %v, want only the new instance's record", got)
	}
}

// TestTransactionSurvivesRestart: an open transaction's coordinator state
// and the partition's open transaction come back after a restart, and the
// producer can still commit it.
func TestTransactionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	props := map[string]string{"num.partitions": "1"}
	b := startBroker(t, dir, props)
	const topic = "txn-restart"
	cl := txnProducer(t, b.Addr(), "tx-restart")
	produceTxn(t, cl, topic, true, "before")
	waitStable(t, b.Addr(), topic)
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("across")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	b.Close()
	ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b2, err := samsa.Start(ctx2, samsa.Config{Addr: addr, DataDir: dir, Properties: props, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if got := readValues(t, addr, topic, true); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("read_committed with the transaction open across the restart: %v", got)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	waitStable(t, addr, topic)
	if got := readValues(t, addr, topic, true); !slices.Equal(got, []string{"before", "across"}) {
		t.Fatalf("read_committed after the commit: %v", got)
	}
}

// TestTransactionTimeoutAborted: a transaction left open past its timeout
// is aborted by the coordinator and the last stable offset moves on.
func TestTransactionTimeoutAborted(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"num.partitions": "1",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
	const topic = "txn-timeout"
	ctx := testCtx(t)
	cl := txnProducer(t, b.Addr(), "tx-timeout", kgo.TransactionTimeout(time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hung")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain := newRawClient(t, b.Addr())
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := committedEnd(t, b.Addr(), topic); got != 0 {
		t.Fatalf("last stable offset %d with the transaction open, want 0", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for committedEnd(t, b.Addr(), topic) < 3 { // hung, its abort marker, after
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out transaction was not aborted: last stable offset %d", committedEnd(t, b.Addr(), topic))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readValues(t, b.Addr(), topic, true); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read_committed: %v, want only the record after the aborted transaction", got)
	}
	err := cl.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("the producer committed a transaction the coordinator aborted")
	}
	t.Logf("commit after the timeout: %v", err)
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNormalizeTxnStates(t *testing.T) {
	got, err := normalizeTxnStates([]string{"ongoing", " PrepareCommit", "", "Ongoing", "prepareepochfence"})
	if err != nil || strings.Join(got, ",") != "Ongoing,PrepareCommit,PrepareEpochFence" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := normalizeTxnStates([]string{"Stable"}); err == nil || !strings.Contains(err.Error(), `--state "Stable": unknown transaction state`) {
		t.Fatalf("Stable (a group state): %v", err)
	}
}

func TestTxnUsageErrors(t *testing.T) {
	// Mistakes are caught before any connection: the broker address is a
	// closed port, and the error must still be the usage problem.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	abort := func(extra ...string) []string {
		return append([]string{"txn", "abort", "--topic", "t", "--partition", "0"}, extra...)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"txn", "list", "--state", "Sleepy"}, `--state "Sleepy": unknown transaction state`},
		{[]string{"txn", "list", "--producer-id", "-3"}, "--producer-id -3: want a producer id >= 0"},
		{[]string{"txn", "list", "--producer-id", "x"}, `invalid argument "x"`},
		{[]string{"txn", "list", "extra"}, `unknown command "extra"`},
		{[]string{"txn", "describe"}, "requires at least 1 arg(s)"},
		{[]string{"txn", "producers", "t"}, "accepts 2 arg(s), received 1"},
		{[]string{"txn", "producers", "--", "t", "-1"}, `PARTITION "-1": want a partition number >= 0`},
		{[]string{"txn", "producers", "t", "zero"}, `PARTITION "zero": want a partition number >= 0`},
		{[]string{"txn", "producers", "bad topic!", "0"}, `invalid topic name "bad topic!"`},
		{[]string{"txn", "abort", "--partition", "0", "--start-offset", "5"}, `required flag(s) "topic" not set`},
		{[]string{"txn", "abort", "--topic", "t", "--start-offset", "5"}, `required flag(s) "partition" not set`},
		{abort(), "say which transaction to abort: give --start-offset OFFSET"},
		{abort("--start-offset", "-1"), "--start-offset -1: want an offset >= 0"},
		{abort("--start-offset", "5", "--producer-id", "7"), "--start-offset and --producer-id cannot be combined"},
		{abort("--producer-id", "7"), "--producer-id also needs --producer-epoch and --coordinator-epoch"},
		{abort("--producer-id", "7", "--producer-epoch", "1"), "--producer-id, --producer-epoch also needs --coordinator-epoch"},
		{abort("--producer-epoch", "1", "--coordinator-epoch", "0"), "--producer-epoch, --coordinator-epoch also needs --producer-id"},
		{abort("--producer-id", "-7", "--producer-epoch", "1", "--coordinator-epoch", "0"), "--producer-id -7: want a producer id >= 0"},
		{abort("--producer-id", "7", "--producer-epoch", "-1", "--coordinator-epoch", "0"), "--producer-epoch -1: want an epoch >= 0"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "-2", "--start-offset", "0"}, "--partition -2: want a partition number >= 0"},
		{[]string{"txn", "abort", "--topic", "bad topic!", "--partition", "0", "--start-offset", "0"}, `invalid topic name "bad topic!"`},
		{[]string{"txn", "frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "", append([]string{"-b", dead}, tt.args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "samsa: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want one error line", tt.args, code, out, errOut)
			continue
		}
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: stderr %q does not contain %q", tt.args, errOut, tt.want)
		}
		if strings.Contains(errOut, "cannot reach broker") {
			t.Errorf("%q: dialed the broker before validating: %q", tt.args, errOut)
		}
	}
}

func TestAbortTarget(t *testing.T) {
	set := func(flags ...string) func(string) bool {
		return func(f string) bool {
			for _, g := range flags {
				if f == g {
					return true
				}
			}
			return false
		}
	}
	o := &abortOptions{topic: "t", partition: 2, startOffset: 40}
	tg, err := o.target(set("start-offset"))
	if err != nil || !tg.byStart || tg.startOffset != 40 || tg.topic != "t" || tg.partition != 2 {
		t.Fatalf("by start offset: %+v, %v", tg, err)
	}
	// A coordinator epoch of -1 (no marker yet) is sent as 0, as Kafka's
	// tool does.
	o = &abortOptions{topic: "t", partition: 2, producerID: 9, producerEpoch: 3, coordinatorEpoch: -1}
	tg, err = o.target(set("producer-id", "producer-epoch", "coordinator-epoch"))
	if err != nil || tg.byStart || tg.producerID != 9 || tg.producerEpoch != 3 || tg.coordinatorEpoch != 0 {
		t.Fatalf("explicit: %+v, %v", tg, err)
	}
	o.coordinatorEpoch = 5
	if tg, _ = o.target(set("producer-id", "producer-epoch", "coordinator-epoch")); tg.coordinatorEpoch != 5 {
		t.Fatalf("coordinator epoch 5 sent as %d", tg.coordinatorEpoch)
	}
	var ue *usageError
	if _, err := o.target(set()); !errors.As(err, &ue) {
		t.Fatalf("no mode: %v is not a usage error", err)
	}
}

func TestFindOpenTxn(t *testing.T) {
	ps := kadm.DescribedProducers{
		11: {ProducerID: 11, ProducerEpoch: 2, CoordinatorEpoch: 4, CurrentTxnStartOffset: 42},
		12: {ProducerID: 12, ProducerEpoch: 0, CoordinatorEpoch: -1, CurrentTxnStartOffset: 7},
		13: {ProducerID: 13, ProducerEpoch: 1, CurrentTxnStartOffset: -1}, // idle producer
	}
	p, err := findOpenTxn(ps, "t", 0, 42)
	if err != nil || p.ProducerID != 11 || p.ProducerEpoch != 2 || p.CoordinatorEpoch != 4 {
		t.Fatalf("offset 42: %+v, %v", p, err)
	}
	_, err = findOpenTxn(ps, "t", 0, 8)
	if err == nil || err.Error() != `no open transaction starts at offset 8 of t/0: open transactions there start at offsets 7, 42 (see "samsa txn producers t 0")` {
		t.Fatalf("offset 8: %v", err)
	}
	delete(ps, 12)
	if _, err = findOpenTxn(ps, "t", 0, 8); err == nil || !strings.Contains(err.Error(), "start at offset 42 (see") {
		t.Fatalf("offset 8 with one open transaction: %v", err)
	}
	// An idle producer's -1 never matches, whatever is asked.
	_, err = findOpenTxn(kadm.DescribedProducers{13: ps[13]}, "t", 0, -1)
	if err == nil || err.Error() != "no open transaction starts at offset -1 of t/0: the partition has no open transaction" {
		t.Fatalf("no open transaction: %v", err)
	}
}

func TestTxnOutput(t *testing.T) {
	var b bytes.Buffer
	listed := kadm.ListedTransactions{
		"tx-b": {Coordinator: 2, TxnID: "tx-b", ProducerID: 4001, State: "Ongoing"},
		"tx-a": {Coordinator: 1, TxnID: "tx-a", ProducerID: 4000, State: "CompleteCommit"},
		"tx-c": {Coordinator: 1, TxnID: "tx-c", ProducerID: 4002, State: ""},
	}
	if err := printTxnList(&b, listed, nil, nil); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"TRANSACTIONAL-ID  PRODUCER-ID  STATE           COORDINATOR\n" +
		"tx-a              4000         CompleteCommit  1\n" +
		"tx-b              4001         Ongoing         2\n" +
		"tx-c              4002         -               1\n"
	if b.String() != want {
		t.Fatalf("list:\n%s\nwant:\n%s", b.String(), want)
	}
	// Filters are applied locally too (old brokers ignore the state filter).
	b.Reset()
	_ = printTxnList(&b, listed, []string{"Ongoing"}, nil)
	if rows := tableRows(b.String()); len(rows) != 2 || rows["tx-b"] == nil {
		t.Fatalf("--state Ongoing:\n%s", b.String())
	}
	b.Reset()
	_ = printTxnList(&b, listed, nil, []int64{4000})
	if rows := tableRows(b.String()); len(rows) != 2 || rows["tx-a"] == nil {
		t.Fatalf("--producer-id 4000:\n%s", b.String())
	}

	b.Reset()
	start := time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)
	var ts kadm.TopicsSet
	ts.Add("orders", 3, 0)
	ts.Add("audit", 2)
	printTxnDescription(&b, kadm.DescribedTransaction{
		Coordinator: 1, TxnID: "tx-b", State: "Ongoing", TimeoutMillis: 60000,
		StartTimestamp: start.UnixMilli(), ProducerID: 4001, ProducerEpoch: 7, Topics: ts,
	}, start.Add(1500*time.Millisecond))
	want = "" +
		"TRANSACTIONAL-ID  tx-b\n" +
		"COORDINATOR       1\n" +
		"STATE             Ongoing\n" +
		"PRODUCER-ID       4001\n" +
		"PRODUCER-EPOCH    7\n" +
		"TIMEOUT           1m0s\n" +
		"START-TIME        2026-03-01T12:00:00.250Z (" + strconv.FormatInt(start.UnixMilli(), 10) + ")\n" +
		"AGE               1.5s\n" +
		"PARTITIONS        audit(2),orders(0,3)\n"
	if b.String() != want {
		t.Fatalf("describe:\n%s\nwant:\n%s", b.String(), want)
	}
	// No open transaction: Kafka reports start -1 and no partitions.
	b.Reset()
	printTxnDescription(&b, kadm.DescribedTransaction{TxnID: "tx-a", State: "Empty", TimeoutMillis: 2000, StartTimestamp: -1, ProducerID: 4000}, start)
	for _, line := range []string{"START-TIME        -\n", "AGE               -\n", "PARTITIONS        -\n", "TIMEOUT           2s\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("describe of an Empty transaction lacks %q:\n%s", line, b.String())
		}
	}

	b.Reset()
	if err := printProducers(&b, kadm.DescribedProducers{
		12: {ProducerID: 12, ProducerEpoch: 0, LastSequence: 4, LastTimestamp: 1767225600000, CoordinatorEpoch: -1, CurrentTxnStartOffset: 7},
		3:  {ProducerID: 3, ProducerEpoch: 5, LastSequence: -1, LastTimestamp: -1, CoordinatorEpoch: 2, CurrentTxnStartOffset: -1},
	}); err != nil {
		t.Fatal(err)
	}
	want = "" +
		"PRODUCER-ID  EPOCH  LAST-SEQUENCE  LAST-TIMESTAMP  COORDINATOR-EPOCH  TXN-START-OFFSET\n" +
		"3            5      -1             -               2                  -\n" +
		"12           0      4              1767225600000   -                  7\n"
	if b.String() != want {
		t.Fatalf("producers:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTxnErrorsInWords(t *testing.T) {
	tg := abortTarget{topic: "t", partition: 1, producerID: 9, producerEpoch: 2, coordinatorEpoch: 3}
	tests := []struct {
		err  error
		got  error
		want string
	}{
		{kerr.TransactionalIDNotFound, txnIDError("x", kerr.TransactionalIDNotFound), `transactional id "x" does not exist`},
		{kerr.CoordinatorLoadInProgress, txnIDError("x", kerr.CoordinatorLoadInProgress), "coordinator is not available yet (try again)"},
		{kerr.InvalidProducerEpoch, abortMarkerError("t/1", tg, kerr.InvalidProducerEpoch), "producer 9 epoch 2 is not current on t/1"},
		{kerr.ProducerFenced, abortMarkerError("t/1", tg, kerr.ProducerFenced), "the transaction already ended"},
		{kerr.TransactionCoordinatorFenced, abortMarkerError("t/1", tg, kerr.TransactionCoordinatorFenced), "coordinator epoch 3 is older"},
		{kerr.NotLeaderForPartition, abortMarkerError("t/1", tg, kerr.NotLeaderForPartition), "the leader of t/1 moved while aborting (try again)"},
		{kerr.ClusterAuthorizationFailed, abortMarkerError("t/1", tg, kerr.ClusterAuthorizationFailed), "needs CLUSTER_ACTION"},
	}
	for _, tt := range tests {
		if !strings.Contains(tt.got.Error(), tt.want) {
			t.Errorf("%v: %q lacks %q", tt.err, tt.got, tt.want)
		}
		if !errors.Is(tt.got, tt.err) {
			t.Errorf("%q does not wrap %v", tt.got, tt.err)
		}
	}
	if abortMarkerError("t/1", tg, nil) != nil {
		t.Error("no error code must be no error")
	}
}

func TestTxnHelp(t *testing.T) {
	for _, sub := range []string{"list", "describe", "producers", "abort"} {
		code, out, _ := runCLI(t, "", "txn", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "samsa txn "+sub) {
			t.Errorf("txn %s --help: exit %d, output lacks examples:\n%s", sub, code, out)
		}
	}
	_, out, _ := runCLI(t, "", "txn", "abort", "--help")
	for _, want := range []string{"--start-offset", "--producer-id", "--coordinator-epoch", "TXN-START-OFFSET", "read_committed"} {
		if !strings.Contains(out, want) {
			t.Errorf("txn abort --help does not mention %s", want)
		}
	}
}

// TestTxnCommands runs the transaction commands against a samsa broker.
// It needs the broker's transaction coordinator, DescribeTransactions,
// ListTransactions, DescribeProducers and WriteTxnMarkers.
func TestTxnCommands(t *testing.T) {
	addr := startBroker(t, map[string]string{"num.partitions": "2", "auto.create.topics.enable": "true"})
	txnScenario(t, addr)
}

// TestTxnCommandsKfake runs the same scenario against franz-go's kfake, a
// reference peer: it checks the scenario and the commands themselves
// independently of samsa's transaction coordinator.
func TestTxnCommandsKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	txnScenario(t, c.ListenAddrs()[0])
}

// txnScenario commits one transaction and leaves a second one open on
// partition 0 of "ledger", then checks what list, describe and producers
// show, aborts the open one by its start offset and checks that the last
// stable offset moved and that a read_committed consumer sees only the
// committed records.
func txnScenario(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "ledger"

	newCl := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(20 * time.Second)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	adm := kadm.NewClient(newCl())
	if r, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	produce := func(cl *kgo.Client, vals ...string) {
		t.Helper()
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
	}
	partition0 := kgo.RecordPartitioner(kgo.ManualPartitioner())

	done := newCl(kgo.TransactionalID("tx-done"), partition0)
	if err := done.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(done, "c1", "c2") // offsets 0, 1; the commit marker is 2
	if err := done.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	open := newCl(kgo.TransactionalID("tx-open"), kgo.TransactionTimeout(10*time.Minute), partition0)
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(open, "a1", "a2", "a3") // offsets 3, 4, 5, never ended by the producer

	lso := func() int64 {
		t.Helper()
		offs, err := adm.ListCommittedOffsets(ctx, topic) // ListOffsets, read_committed, latest
		if err != nil {
			t.Fatalf("list read_committed offsets: %v", err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("read_committed offset of %s/0: %+v", topic, o)
		}
		return o.Offset
	}
	if got := lso(); got != 3 {
		t.Fatalf("last stable offset with a transaction open at 3 is %d, want 3", got)
	}

	out, _ := cli(t, addr, "", "txn", "list")
	rows := tableRows(out)
	if r := rows["tx-open"]; len(r) != 4 || r[2] != "Ongoing" {
		t.Fatalf("list: tx-open row %v in\n%s", r, out)
	}
	if r := rows["tx-done"]; len(r) != 4 || r[2] == "Ongoing" {
		t.Fatalf("list: tx-done row %v in\n%s", r, out)
	}
	openPID := rows["tx-open"][1]
	donePID := rows["tx-done"][1]
	if _, err := strconv.ParseInt(openPID, 10, 64); err != nil || openPID == donePID {
		t.Fatalf("list: producer ids %q and %q", openPID, donePID)
	}
	out, _ = cli(t, addr, "", "txn", "list", "--state", "ongoing")
	if rows := tableRows(out); len(rows) != 2 || rows["tx-open"] == nil {
		t.Fatalf("list --state ongoing:\n%s", out)
	}
	out, _ = cli(t, addr, "", "txn", "list", "--producer-id", donePID)
	if rows := tableRows(out); len(rows) != 2 || rows["tx-done"] == nil {
		t.Fatalf("list --producer-id %s:\n%s", donePID, out)
	}

	out, _ = cli(t, addr, "", "txn", "describe", "tx-open")
	rows = tableRows(out)
	for key, want := range map[string]string{"STATE": "Ongoing", "PRODUCER-ID": openPID, "TIMEOUT": "10m0s", "PARTITIONS": topic + "(0)"} {
		if r := rows[key]; len(r) != 2 || r[1] != want {
			t.Errorf("describe tx-open: %s row %v, want %s, in\n%s", key, r, want, out)
		}
	}
	if r := rows["AGE"]; len(r) != 2 || r[1] == "-" {
		t.Errorf("describe tx-open: an open transaction has an age; AGE row %v in\n%s", r, out)
	}
	errOut := cliFail(t, addr, "txn", "describe", "no-such-txn")
	if !strings.Contains(errOut, `transactional id "no-such-txn" does not exist`) {
		t.Errorf("describe unknown id: %q", errOut)
	}

	out, _ = cli(t, addr, "", "txn", "producers", topic, "0")
	rows = tableRows(out)
	if r := rows[openPID]; len(r) != 6 || r[5] != "3" {
		t.Fatalf("producers: tx-open's row %v (want TXN-START-OFFSET 3) in\n%s", r, out)
	}
	errOut = cliFail(t, addr, "txn", "producers", topic, "9")
	if !strings.Contains(errOut, `topic "ledger" has no partition 9 (it has 2 partitions)`) {
		t.Errorf("producers of a missing partition: %q", errOut)
	}
	errOut = cliFail(t, addr, "txn", "producers", "no-such-topic", "0")
	if !strings.Contains(errOut, `topic "no-such-topic" does not exist`) {
		t.Errorf("producers of a missing topic: %q", errOut)
	}

	errOut = cliFail(t, addr, "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", "4")
	if !strings.Contains(errOut, "no open transaction starts at offset 4 of ledger/0: open transactions there start at offset 3") {
		t.Fatalf("abort at a wrong offset: %q", errOut)
	}
	if got := lso(); got != 3 {
		t.Fatalf("a refused abort moved the last stable offset to %d", got)
	}
	out, _ = cli(t, addr, "", "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", "3")
	if !strings.HasPrefix(out, "aborted the transaction of producer "+openPID+" (epoch ") || !strings.HasSuffix(out, "on ledger/0, which started at offset 3\n") {
		t.Fatalf("abort: %q", out)
	}
	// The abort marker is offset 6: everything is stable now.
	waitFor(t, 10*time.Second, func() error {
		if got := lso(); got != 7 {
			return fmt.Errorf("last stable offset %d after the abort, want 7", got)
		}
		return nil
	})

	rc := newCl(kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	for len(got) < 2 {
		fs := rc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read_committed consumer got %q before %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("read_committed read %q, want only the committed c1,c2", got)
	}
}

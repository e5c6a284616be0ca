// Command eospipe is the consume-transform-produce pipeline that
// TestTxnClusterExactlyOnceUnderFaults runs as a process of its own, so
// that the test can kill it with SIGKILL and start it again.
//
// It reads -in as a member of -group (read_committed), and for every input
// record writes one output record to -out with the same key and the value
// "out:" + input value, inside a transaction that also commits the group's
// offsets (kgo.GroupTransactSession: TxnOffsetCommit, KIP-447). A
// transaction ends after -batch records or -interval, whichever comes
// first; -interval also paces the pipeline, so it runs long enough for the
// test's faults to land in the middle of it, and keeps a transaction open
// nearly all the time, so that they land in the middle of one.
//
// The transactional id is fixed (-txn-id): a restarted instance's
// InitProducerId fences the previous one and aborts its open transaction.
//
// Output on stderr, one line per event after the time, which the test
// logs on failure (with -v, the client's info-level log between them):
//
//	09:31:02.115 committed n=30 total=1230
//	09:31:02.230 aborted n=30 produce_err=... flush_err=...
//	09:31:02.301 fatal: ...
//
// Exit codes: 0 after SIGTERM; 3 when End fails (the error is logged),
// 4 when this instance has been fenced (PRODUCER_FENCED or
// INVALID_PRODUCER_EPOCH), 1 for anything else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "", "comma-separated seed brokers")
	in := flag.String("in", "", "input topic")
	out := flag.String("out", "", "output topic")
	group := flag.String("group", "", "consumer group")
	txnID := flag.String("txn-id", "", "transactional id")
	instance := flag.String("instance", "1", "written to every output record's header \"instance\"")
	batch := flag.Int("batch", 30, "most input records per transaction")
	interval := flag.Duration("interval", 100*time.Millisecond, "least time per transaction")
	verbose := flag.Bool("v", false, "log the client's info-level messages too")
	flag.Parse()
	if *brokers == "" || *in == "" || *out == "" || *group == "" || *txnID == "" {
		fmt.Fprintln(os.Stderr, "fatal: -brokers, -in, -out, -group and -txn-id are required")
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.TransactionalID(*txnID),
		// Long enough that no broker failover in the test times a
		// transaction out: nothing but a new instance may fence us.
		kgo.TransactionTimeout(30 * time.Second),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		// A killed instance's membership must not hold up the
		// restarted one's join for the default 45 s session.
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.RetryTimeout(60 * time.Second),
		// A killed broker behind the test's proxy may leave a
		// connection open that never answers: do not wait 20 s on it.
		kgo.RequestTimeoutOverhead(3 * time.Second),
		kgo.ProduceRequestTimeout(5 * time.Second),
	}
	if *verbose {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo,
			func() string { return time.Now().Format("15:04:05.000 kgo ") })))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		fatal(1, "new session: %v", err)
	}
	defer sess.Close()

	total := 0
	for {
		start := time.Now()
		fs := sess.PollRecords(ctx, *batch)
		if ctx.Err() != nil {
			logf("stopping total=%d", total)
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			logf("poll error %s/%d: %v", t, p, err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			fatal(1, "begin: %v", err)
		}
		var mu sync.Mutex
		var produceErr error
		for _, r := range recs {
			o := &kgo.Record{
				Topic:   *out,
				Key:     r.Key,
				Value:   append([]byte("out:"), r.Value...),
				Headers: []kgo.RecordHeader{{Key: "instance", Value: []byte(*instance)}},
			}
			sess.Produce(ctx, o, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					produceErr = errors.Join(produceErr, err)
					mu.Unlock()
				}
			})
		}
		// Hold the transaction open for the rest of -interval, so that
		// a kill at any moment most likely finds one open with records
		// in the log.
		if d := *interval - time.Since(start); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		// Flush before deciding: a record that failed makes this an abort.
		flushErr := sess.Client().Flush(ctx)
		mu.Lock()
		perr := produceErr
		mu.Unlock()
		try := kgo.TryCommit
		if perr != nil || flushErr != nil {
			try = kgo.TryAbort
		}
		committed, err := sess.End(ctx, try)
		switch {
		case err != nil && ctx.Err() != nil:
			logf("stopping total=%d", total)
			return
		case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch):
			fatal(4, "fenced: end: %v", err)
		case err != nil:
			fatal(3, "end (try commit %v, produce err %v): %v", bool(try), perr, err)
		case committed:
			total += len(recs)
			logf("committed n=%d total=%d", len(recs), total)
		default:
			logf("aborted n=%d produce_err=%v flush_err=%v", len(recs), perr, flushErr)
		}
	}
}

// logf writes one event line to stderr, after the time.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func fatal(code int, format string, args ...any) {
	logf("fatal: "+format, args...)
	os.Exit(code)
}

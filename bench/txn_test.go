package bench

// The transactions report: what a transactional producer costs next to an
// idempotent one, on the same broker in the same run.
//
//   - idempotent: produceFlat, as in the main report (4 goroutines flat
//     out for 3 s, 1 KiB records, acks=all, then a flush);
//   - transactional: the same load from a producer with a transactional
//     id, committing every 100 ms: the producing goroutines pause, the
//     client flushes, EndTransaction(TryCommit), BeginTransaction, and
//     they go on. Only records of committed transactions count, and the
//     time includes the last commit.
//
// Each peer (samsa and kfake in process, fsync before every ack) gets a
// fresh broker per partition count; both loads run on it, idempotent
// first, each to its own topic.
//
// SAMSA_BENCH=1 go test ./bench -run TestTxnReport -v -timeout 10m

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const txnCommitInterval = 100 * time.Millisecond // how often the transactional load commits

func TestTxnReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("transactions benchmark report; run with: SAMSA_BENCH=1 go test ./bench -run TestTxnReport -v -timeout 10m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportLimit)
	defer cancel()
	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nidempotent vs transactional produce — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "machine: %d cores, %s; data dirs under %s\n", numCPU(), goVersion(), rootDesc)
	fmt.Fprintf(&sb, "client: franz-go kgo, 1 KiB incompressible records, acks=all, %d goroutines flat out for %s; "+
		"transactional: commit every %s (pause, flush, EndTransaction, BeginTransaction)\n",
		producers, flatDuration, txnCommitInterval)
	fmt.Fprintf(&sb, "ratio = transactional / idempotent records/s on the same broker; (hi) higher is better, (lo) lower is better\n\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "peer\tpartitions\tidempotent rec/s (hi)\ttransactional rec/s (hi)\tratio\tcommits/s\tEndTxn p50 ms (lo)\tEndTxn p99 ms (lo)\t")
	for _, kind := range inProcessKinds() {
		for _, n := range partitionCounts {
			dir, err := os.MkdirTemp(root, "samsa-txn-bench-")
			if err != nil {
				t.Fatal(err)
			}
			idem, txn, err := runTxnPair(ctx, kind, dir, n)
			os.RemoveAll(dir)
			if err != nil {
				t.Errorf("%s %dp: %v", kind.name, n, err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2fx\t%.1f\t%.2f\t%.2f\t\n", kind.name, n,
				idem.recsPerSec(), txn.recsPerSec(), txn.recsPerSec()/idem.recsPerSec(),
				float64(txn.commits)/txn.elapsed.Seconds(), ms(txn.endP50), ms(txn.endP99))
		}
	}
	tw.Flush()
	t.Log(sb.String())
}

// runTxnPair starts a fresh broker of kind and runs the idempotent load,
// then the transactional one, each on a topic of its own.
func runTxnPair(ctx context.Context, kind peerKind, dir string, partitions int) (throughput, txnThroughput, error) {
	sctx, cancel := context.WithTimeout(ctx, 3*scenarioLimit)
	defer cancel()
	p, err := kind.start(sctx, dir, partitions)
	if err != nil {
		return throughput{}, txnThroughput{}, fmt.Errorf("start: %w", err)
	}
	defer p.close()
	idem, err := produceFlat(sctx, p.addr, "idempotent", producers, flatDuration, 0)
	if err != nil {
		return throughput{}, txnThroughput{}, fmt.Errorf("idempotent produce: %w", err)
	}
	txn, err := produceTxnFlat(sctx, p.addr, "transactional", producers, flatDuration, txnCommitInterval)
	if err != nil {
		return throughput{}, txnThroughput{}, fmt.Errorf("transactional produce: %w", err)
	}
	return idem, txn, nil
}

// txnThroughput is a transactional run's outcome: committed records, and
// how long each EndTransaction took.
type txnThroughput struct {
	throughput
	commits        int
	endP50, endP99 time.Duration
}

// produceTxnFlat produces 1 KiB records to topic from producers goroutines
// for dur with a transactional producer that commits every interval. A
// commit stops the goroutines (they hold gate for reading while they call
// Produce; the committer takes it for writing), flushes, ends the
// transaction with TryCommit and begins the next one. Elapsed runs from
// the first record to the end of the last commit; only acknowledged
// records of committed transactions count.
func produceTxnFlat(ctx context.Context, addr, topic string, producers int, dur, interval time.Duration) (txnThroughput, error) {
	cl, err := producerClient(addr, topic, kgo.TransactionalID("bench-"+topic), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		return txnThroughput{}, err
	}
	defer cl.Close()
	// Warm-up in a transaction of its own: the topic exists, the
	// producer id is initialized and metadata is cached.
	if err := cl.BeginTransaction(); err != nil {
		return txnThroughput{}, err
	}
	if err := warmUp(ctx, cl); err != nil {
		return txnThroughput{}, fmt.Errorf("warm-up produce: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return txnThroughput{}, fmt.Errorf("warm-up commit: %w", err)
	}

	var acked atomic.Int64 // acknowledged in the open transaction
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	var gate sync.RWMutex
	var committedRecs int64
	var ends []time.Duration
	// commit ends the open transaction (gate held for writing) and, unless
	// last, begins the next.
	commit := func(last bool) error {
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		if p := firstErr.Load(); p != nil {
			return fmt.Errorf("produce: %w", *p)
		}
		t0 := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		ends = append(ends, time.Since(t0))
		committedRecs += acked.Swap(0)
		if last {
			return nil
		}
		return cl.BeginTransaction()
	}

	if err := cl.BeginTransaction(); err != nil {
		return txnThroughput{}, err
	}
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil && firstErr.Load() == nil {
				gate.RLock()
				cl.Produce(ctx, &kgo.Record{Value: payload}, promise)
				gate.RUnlock()
			}
		})
	}
	var commitErr error
	tick := time.NewTicker(interval)
	for commitErr == nil && time.Now().Before(deadline) && ctx.Err() == nil {
		<-tick.C
		gate.Lock()
		commitErr = commit(false)
		gate.Unlock()
	}
	tick.Stop()
	wg.Wait()
	if commitErr == nil {
		commitErr = commit(true)
	}
	elapsed := time.Since(start)
	if commitErr != nil {
		return txnThroughput{}, commitErr
	}
	if ctx.Err() != nil {
		return txnThroughput{}, ctx.Err()
	}
	slices.Sort(ends)
	if len(ends) == 0 {
		return txnThroughput{}, errors.New("no transaction committed")
	}
	return txnThroughput{
		throughput: throughput{records: committedRecs, bytes: committedRecs * recordBytes, elapsed: elapsed},
		commits:    len(ends),
		endP50:     ends[len(ends)*50/100],
		endP99:     ends[len(ends)*99/100],
	}, nil
}

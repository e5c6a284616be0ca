package bench

// Workloads. All use franz-go kgo clients with the producer defaults that
// matter here left alone (acks=all, idempotent, linger 10ms, 1 MB batches,
// 10 000 buffered records, up to 5 in-flight requests per broker) except
// compression, which is turned off so both brokers receive identical bytes
// and the client does not spend the shared 2 cores compressing random data.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const recordBytes = 1 << 10 // value size of every record

// payload is one incompressible 1 KiB value shared (read-only) by every
// record: kgo does not modify Value, so no per-record allocation is needed.
var payload = func() []byte {
	b := make([]byte, recordBytes)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func producerClient(addr, topic string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, extra...)
	return kgo.NewClient(opts...)
}

// warmUp produces one record synchronously so the topic exists, the
// producer ID is assigned and the client holds metadata for every
// partition before anything is timed.
func warmUp(ctx context.Context, cl *kgo.Client) error {
	return cl.ProduceSync(ctx, &kgo.Record{Value: payload}).FirstErr()
}

// throughput is the outcome of a produce or fetch run.
type throughput struct {
	records int64
	bytes   int64
	elapsed time.Duration
}

func (t throughput) mbPerSec() float64 {
	return float64(t.bytes) / (1 << 20) / t.elapsed.Seconds()
}

func (t throughput) recsPerSec() float64 { return float64(t.records) / t.elapsed.Seconds() }

// produceFlat produces 1 KiB records to topic as fast as the broker takes
// them, from producers goroutines, for dur or until limit records have been
// issued (limit <= 0: no limit), then waits for every outstanding record to
// be acknowledged. Backpressure is kgo's buffer:
// Produce blocks while 10 000 records are unacknowledged, so "in flight" is
// always as much as the client allows. Elapsed includes the final flush.
func produceFlat(ctx context.Context, addr, topic string, producers int, dur time.Duration, limit int64, opts ...kgo.Opt) (throughput, error) {
	cl, err := producerClient(addr, topic, opts...)
	if err != nil {
		return throughput{}, err
	}
	defer cl.Close()
	if err := warmUp(ctx, cl); err != nil {
		return throughput{}, fmt.Errorf("warm-up produce: %w", err)
	}

	var acked atomic.Int64
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	deadline := start.Add(dur)
	var issued atomic.Int64
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil && firstErr.Load() == nil {
				if limit > 0 && issued.Add(1) > limit {
					return
				}
				cl.Produce(ctx, &kgo.Record{Value: payload}, promise)
			}
		})
	}
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		return throughput{}, fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start)
	if p := firstErr.Load(); p != nil {
		return throughput{}, fmt.Errorf("produce: %w", *p)
	}
	n := acked.Load()
	return throughput{records: n, bytes: n * recordBytes, elapsed: elapsed}, nil
}

// latency is the outcome of a paced produce run.
type latency struct {
	records  int
	achieved float64 // records/s actually issued
	p50, p99 time.Duration
	max      time.Duration
}

// producePaced issues total records at a fixed rate and measures each
// record's latency from just before its Produce call to its promise. Every
// millisecond it issues however many records bring the total to
// rate×elapsed, so a late tick catches up instead of lowering the rate.
// Time blocked in Produce (a full buffer: the broker is not keeping up)
// counts toward latency, as an application would feel it. opts are extra
// client options (a partitioner, say).
func producePaced(ctx context.Context, addr, topic string, rate, total int, opts ...kgo.Opt) (latency, error) {
	cl, err := producerClient(addr, topic, opts...)
	if err != nil {
		return latency{}, err
	}
	defer cl.Close()
	if err := warmUp(ctx, cl); err != nil {
		return latency{}, fmt.Errorf("warm-up produce: %w", err)
	}

	lats := make([]time.Duration, total)
	var done atomic.Int64
	var firstErr atomic.Pointer[error]

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	issued := 0
	for issued < total {
		select {
		case <-ctx.Done():
			return latency{}, ctx.Err()
		case <-tick.C:
		}
		due := min(total, int(time.Since(start).Seconds()*float64(rate)))
		for ; issued < due; issued++ {
			i := issued
			t0 := time.Now()
			cl.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
				lats[i] = time.Since(t0)
				done.Add(1)
			})
		}
	}
	issueTime := time.Since(start)
	if err := cl.Flush(ctx); err != nil {
		return latency{}, fmt.Errorf("flush: %w", err)
	}
	if p := firstErr.Load(); p != nil {
		return latency{}, fmt.Errorf("produce: %w", *p)
	}
	if int(done.Load()) != total {
		return latency{}, fmt.Errorf("%d of %d promises called after flush", done.Load(), total)
	}
	slices.Sort(lats)
	return latency{
		records:  total,
		achieved: float64(total) / issueTime.Seconds(),
		p50:      lats[total*50/100],
		p99:      lats[total*99/100],
		max:      lats[total-1],
	}, nil
}

// consumeAll reads topic from the start with a direct (groupless) consumer
// until it has seen want records, and reports the rate. Elapsed runs from
// client creation to the last record, so it includes the first metadata
// and ListOffsets round trips, as a real consumer's catch-up would.
func consumeAll(ctx context.Context, addr, topic string, want int64) (throughput, error) {
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return throughput{}, err
	}
	defer cl.Close()
	var got throughput
	for got.records < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, fmt.Errorf("consumed %d of %d records: %w", got.records, want, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return got, fmt.Errorf("fetch: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got.records++
			got.bytes += int64(len(r.Key) + len(r.Value))
		})
	}
	got.elapsed = time.Since(start)
	return got, nil
}

// firstAck starts a client before the broker exists and reports when its
// first produce to a new topic is acknowledged. The client retries every
// 2ms (kgo's default backoff starts at 100ms and would round the startup
// time up to its own schedule).
func firstAck(ctx context.Context, addr string) error { return firstAckTo(ctx, addr, "startup") }

// firstAckTo is firstAck to a given topic (which may exist already).
func firstAckTo(ctx context.Context, addr, topic string) error {
	cl, err := producerClient(addr, topic,
		kgo.RetryBackoffFn(func(int) time.Duration { return 2 * time.Millisecond }),
		kgo.MetadataMinAge(10*time.Millisecond),
		kgo.DialTimeout(time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	return warmUp(ctx, cl)
}

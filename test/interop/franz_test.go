package interop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzGo produces 10k keyed records over 8 partitions with franz-go's
// defaults (idempotent, acks=all) and reads them back with a direct
// (groupless) consumer: every record once, at the offset its ack named,
// offsets contiguous and produce order kept per partition.
func TestFranzGo(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir(), "--set", "num.partitions=8")
	const topic, n, parts = "franz", 10000, 8

	cl := p.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type pos struct {
		p int32
		o int64
	}
	acked := make([]pos, n)
	var (
		wg     sync.WaitGroup
		errMu  sync.Mutex
		failed []error
	)
	for i := range n {
		wg.Add(1)
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i), Value: []byte(strconv.Itoa(i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}}}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errMu.Lock()
				failed = append(failed, err)
				errMu.Unlock()
				return
			}
			acked[i] = pos{r.Partition, r.Offset}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d produces failed, first: %v", len(failed), n, failed[0])
	}

	recs := kgoReadAll(t, p, topic, n, 60*time.Second)
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	seen := make([]bool, n)
	next := map[int32]int64{}
	last := map[int32]int{}
	for _, r := range recs {
		i, err := strconv.Atoi(string(r.Value))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected record %s[%d]@%d value %q", r.Topic, r.Partition, r.Offset, r.Value)
		}
		if seen[i] {
			t.Errorf("record %d read twice", i)
		}
		seen[i] = true
		if string(r.Key) != fmt.Sprintf("key-%d", i) || len(r.Headers) != 1 || string(r.Headers[0].Value) != string(r.Value) {
			t.Errorf("record %d: key %q headers %v differ from what was produced", i, r.Key, r.Headers)
		}
		if acked[i] != (pos{r.Partition, r.Offset}) {
			t.Errorf("record %d read at %d@%d, acked at %d@%d", i, r.Partition, r.Offset, acked[i].p, acked[i].o)
		}
		if r.Offset != next[r.Partition] {
			t.Errorf("partition %d: offset %d follows %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
		if prev, ok := last[r.Partition]; ok && i <= prev {
			t.Errorf("partition %d: record %d after %d: produce order lost", r.Partition, i, prev)
		}
		last[r.Partition] = i
	}
	if len(next) != parts {
		t.Errorf("records landed in %d partitions, want all %d", len(next), parts)
	}
}

// crashProducer writes numbered records ("w<id>-<seq>") until stopped and
// remembers which ones were acknowledged.
type crashProducer struct {
	id int
	cl *kgo.Client

	mu    sync.Mutex
	acked map[int]bool // seq -> true once the promise reported success
	fails int
	last  error

	lastAck, maxGapAt time.Time     // when the last ack came; when maxGap ended
	maxGap            time.Duration // longest time between two acks
}

func (c *crashProducer) run(ctx context.Context, done *sync.WaitGroup) {
	defer done.Done()
	for seq := 0; ctx.Err() == nil; seq++ {
		v := fmt.Appendf(nil, "w%d-%d", c.id, seq)
		c.cl.Produce(ctx, &kgo.Record{Key: v, Value: v}, func(_ *kgo.Record, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				c.fails++
				c.last = err
				return
			}
			c.acked[seq] = true
			now := time.Now()
			if !c.lastAck.IsZero() && now.Sub(c.lastAck) > c.maxGap {
				c.maxGap = now.Sub(c.lastAck)
				c.maxGapAt = now
			}
			c.lastAck = now
		})
	}
}

func (c *crashProducer) ackedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// TestCrashKill9 is the durability promise: every record a producer saw
// acknowledged (acks=all, idempotent) survives kill -9, exactly once.
// Producers keep running across three kill -9 / restart cycles on the same
// address and data directory, so their retries of batches in flight at the
// crash also test that the restarted broker recovers producer state and
// rejects the duplicates. The broker is killed once more after the
// producers stop, so what is read back is what recovery kept.
func TestCrashKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startBroker(t, dir, "--set", "num.partitions=4")
	const topic, producers, cycles = "crash", 4, 3

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	ps := make([]*crashProducer, producers)
	for i := range ps {
		ps[i] = &crashProducer{id: i, acked: map[int]bool{}, cl: p.client(t,
			kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(time.Millisecond),
			kgo.MaxBufferedRecords(2000),
			kgo.RetryTimeout(60*time.Second),
			// kgo refreshes metadata after a failed dial at most every
			// MetadataMinAge (5s by default); at that pace a producer that
			// dialled during the restart sits out a whole cycle.
			kgo.MetadataMinAge(100*time.Millisecond),
		)}
		wg.Add(1)
		go ps[i].run(ctx, &wg)
	}
	total := func() int {
		n := 0
		for _, c := range ps {
			n += c.ackedCount()
		}
		return n
	}
	// progress waits until every producer has more acknowledged records:
	// after a restart each one must get going again, whatever state its
	// producer ID and sequence numbers were in at the crash.
	progress := func(what string, more int) {
		t.Helper()
		want := make([]int, len(ps))
		for i, c := range ps {
			want[i] = c.ackedCount() + more
		}
		waitFor(t, 30*time.Second, func() error {
			for i, c := range ps {
				if got := c.ackedCount(); got < want[i] {
					c.mu.Lock()
					last := c.last
					c.mu.Unlock()
					return fmt.Errorf("%s: producer %d has %d records acked, waiting for %d (last error: %v)", what, i, got, want[i], last)
				}
			}
			return nil
		})
	}

	for cycle := 1; cycle <= cycles; cycle++ {
		progress(fmt.Sprintf("cycle %d", cycle), 500)
		before := total()
		p.Kill9()
		t.Logf("cycle %d: kill -9 with %d records acked at %v", cycle, before, time.Now().Format("15:04:05.000"))
		p = p.Restart()
	}
	progress("after the last restart", 500)
	stop()
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range ps {
		if err := c.cl.Flush(fctx); err != nil {
			t.Fatalf("flush producer %d: %v", c.id, err)
		}
	}
	for _, c := range ps {
		c.mu.Lock()
		// Records cancelled when the loop stopped fail with context.Canceled;
		// they were never acknowledged, so they are not counted. The longest
		// wait between acks is the outage a client saw across kill and restart.
		t.Logf("producer %d: %d acked, %d failed (last: %v); longest wait between acks %v at %v",
			c.id, len(c.acked), c.fails, c.last, c.maxGap.Round(time.Millisecond), c.maxGapAt.Format("15:04:05.000"))
		c.mu.Unlock()
		c.cl.Close()
	}
	p.Kill9()
	p = p.Restart()

	// Read up to the high watermark of every partition.
	adm := kadm.NewClient(p.client(t))
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	ends, err := adm.ListEndOffsets(lctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	want := 0
	ends.Each(func(o kadm.ListedOffset) { want += int(o.Offset) })
	recs := kgoReadAll(t, p, topic, want, 60*time.Second)

	count := map[string]int{}
	next := map[int32]int64{}
	lastSeq := map[[2]int]int{} // (partition, producer) -> last seq
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Errorf("partition %d: offset %d follows %d (gap or repeat)", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
		count[string(r.Value)]++
		var id, seq int
		if _, err := fmt.Sscanf(string(r.Value), "w%d-%d", &id, &seq); err != nil || id < 0 || id >= producers {
			t.Fatalf("unexpected record %q at %d@%d", r.Value, r.Partition, r.Offset)
		}
		k := [2]int{int(r.Partition), id}
		if prev, ok := lastSeq[k]; ok && seq <= prev {
			t.Errorf("partition %d: producer %d record %d after %d: order lost or duplicate", r.Partition, id, seq, prev)
		}
		lastSeq[k] = seq
	}
	var lost, dups []string
	acked := 0
	for _, c := range ps {
		for seq := range c.acked {
			acked++
			v := fmt.Sprintf("w%d-%d", c.id, seq)
			switch n := count[v]; {
			case n == 0:
				lost = append(lost, v)
			case n > 1:
				dups = append(dups, fmt.Sprintf("%s x%d", v, n))
			}
		}
	}
	for v, n := range count {
		var id, seq int
		fmt.Sscanf(v, "w%d-%d", &id, &seq)
		if n > 1 && !ps[id].acked[seq] {
			dups = append(dups, fmt.Sprintf("%s x%d (never acked)", v, n))
		}
	}
	t.Logf("%d records acked, %d in the log after %d kill -9 cycles", acked, len(recs), cycles+1)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged records lost, e.g. %s", len(lost), strings.Join(first(lost, 10), " "))
	}
	if len(dups) > 0 {
		t.Errorf("%d records duplicated, e.g. %s", len(dups), strings.Join(first(dups, 10), " "))
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

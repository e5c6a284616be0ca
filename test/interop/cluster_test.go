package interop

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterArgs are the settings the cluster tests run with: replicated
// topics, acks=all needing two in-sync replicas.
var clusterArgs = []string{"--set", "default.replication.factor=3", "--set", "min.insync.replicas=2", "--set", "num.partitions=3"}

func createClusterTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32, rf int16) {
	t.Helper()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, rf, nil, topic)
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if r := resp[topic]; r.Err != nil {
		t.Fatalf("create topic %s: %v", topic, r.Err)
	}
}

// ackProducer produces value i (key i%... ) in order until stopped, recording
// which values were acknowledged.
type ackProducer struct {
	cl    *kgo.Client
	topic string

	mu       sync.Mutex
	acked    map[string]bool
	ackTimes []time.Time // when each ack arrived, in arrival order
	failed   int
	next     int
	stop     chan struct{}
	done     chan struct{}
	inflight chan struct{}
}

func startProducer(t *testing.T, cl *kgo.Client, topic string) *ackProducer {
	p := &ackProducer{cl: cl, topic: topic, acked: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{}), inflight: make(chan struct{}, 64)}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case p.inflight <- struct{}{}:
			}
			v := strconv.Itoa(i)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				<-p.inflight
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.failed++
					return
				}
				p.acked[string(r.Value)] = true
				p.ackTimes = append(p.ackTimes, time.Now())
			})
		}
	}()
	return p
}

func (p *ackProducer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *ackProducer) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		if c := p.ackedCount(); c < n {
			return fmt.Errorf("%d records acknowledged, waiting for %d", c, n)
		}
		return nil
	})
}

func (p *ackProducer) finish() {
	close(p.stop)
	<-p.done
}

// consumeAll reads every partition of topic from the start up to the
// high watermarks and returns how often each value appears.
func consumeAll(t *testing.T, c *cluster, topic string) map[string]int {
	t.Helper()
	cl := c.Client()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ends kadm.ListedOffsets
	waitFor(t, 30*time.Second, func() error {
		var err error
		ends, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		return err
	})
	want := map[int32]int64{}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		total += o.Offset
	})
	rd := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	got := map[int32]int64{}
	for {
		done := true
		for p, end := range want {
			if got[p] < end {
				done = false
			}
		}
		if done {
			return seen
		}
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: timed out at %v of %v", topic, got, want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			got[r.Partition] = r.Offset + 1
		})
	}
}

// checkNoLossNoDup fails unless every acknowledged value is present
// exactly once.
func checkNoLossNoDup(t *testing.T, acked map[string]bool, seen map[string]int) {
	t.Helper()
	lost, dup := 0, 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged record %s is missing", v)
			}
		}
	}
	for v, n := range seen {
		if n > 1 {
			dup++
			if dup < 5 {
				t.Errorf("record %s appears %d times (idempotent ackProducer)", v, n)
			}
		}
	}
	if lost > 0 || dup > 0 {
		t.Fatalf("%d acknowledged records lost, %d duplicated (of %d acknowledged, %d read)", lost, dup, len(acked), len(seen))
	}
}

func TestClusterKillLeaderLosesNothing(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	cl := c.Client()
	createClusterTopic(t, cl, "kill", 3, 3)
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks())), "kill")
	p.waitAcked(t, 300, 30*time.Second)
	leader := c.Leader("kill", 0)
	before := p.ackedCount()
	killed := time.Now()
	c.Kill9(leader)
	newLeader := c.waitLeader("kill", 0, leader, 20*time.Second)
	p.waitAcked(t, before+600, 60*time.Second)
	p.finish()
	t.Logf("killed leader %d; partition 0 moved to %d; metadata showed it %v after the kill", leader, newLeader, time.Since(killed))
	p.mu.Lock()
	acked := p.acked
	p.mu.Unlock()
	checkNoLossNoDup(t, acked, consumeAll(t, c, "kill"))
	// The killed node comes back, catches up and rejoins the ISR.
	c.Restart(leader)
	c.waitBrokers(3, 30*time.Second)
	adm := kadm.NewClient(cl)
	waitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx, "kill")
		if err != nil {
			return err
		}
		for _, pd := range m.Topics["kill"].Partitions {
			if len(pd.ISR) != 3 {
				return fmt.Errorf("partition %d ISR %v", pd.Partition, pd.ISR)
			}
		}
		return nil
	})
}

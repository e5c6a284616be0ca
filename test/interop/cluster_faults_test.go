package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
)

// rawProduce sends one record straight to addr, as a client with stale
// metadata would (no metadata lookup, no retry), and returns the
// partition's error code, or -1 when no answer came within the timeout.
func rawProduce(t *testing.T, addr, topic string, partition int32, acks int16, value string) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = group.BuildBatch(time.Now(), []group.BuildRecord{{Value: []byte(value)}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Logf("raw produce to %s: %v", addr, err)
		return -1
	}
	return kresp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func ackedSet(p *ackProducer) map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]bool, len(p.acked))
	for k := range p.acked {
		out[k] = true
	}
	return out
}

// TestClusterAllNodesKilledAtOnce: every node dies with kill -9 at the
// same instant during acks=all production (a power cut of the whole
// cluster); after the restart every acknowledged record is there: each was
// fsynced on every in-sync replica before it was acknowledged.
func TestClusterAllNodesKilledAtOnce(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	createClusterTopic(t, c.Client(), "powercut", 3, 3)
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(5*time.Second)), "powercut")
	p.waitAcked(t, 500, 30*time.Second)
	var wg sync.WaitGroup
	for _, nd := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = nd.Proc.cmd.Process.Signal(syscall.SIGKILL)
		}()
	}
	wg.Wait()
	for _, nd := range c.Nodes {
		select {
		case <-nd.Proc.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d did not exit after SIGKILL", nd.ID)
		}
	}
	// Stop issuing records; the ones in flight resolve once the cluster
	// is back (kgo retries them), so finish only after the restart.
	close(p.stop)
	c.Restart(1, 2, 3)
	c.waitBrokers(3, 60*time.Second)
	<-p.done
	acked := ackedSet(p)
	seen := consumeAll(t, c, "powercut")
	lost := 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost after all nodes were killed", lost, len(acked))
	}
	t.Logf("%d acknowledged records, all present after a kill -9 of every node", len(acked))
}

// TestClusterZombieLeaderAcknowledgesNothing: the leader is paused with
// SIGSTOP until the cluster replaces it, then resumed: a produce sent
// straight to it (acks=all or acks=1) is refused, and nothing it might
// have taken in reaches consumers.
func TestClusterZombieLeaderAcknowledgesNothing(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	createClusterTopic(t, c.Client(), "zombie", 1, 3)
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks())), "zombie")
	p.waitAcked(t, 200, 30*time.Second)
	old := c.Leader("zombie", 0)
	c.Stop(old)
	c.waitLeaderAmong("zombie", 0, old, 20*time.Second)
	before := p.ackedCount()
	p.waitAcked(t, before+200, 30*time.Second)
	c.Cont(old)
	oldAddr := fmt.Sprintf("127.0.0.1:%d", c.Node(old).Port)
	for _, acks := range []int16{-1, 1} {
		if code := rawProduce(t, oldAddr, "zombie", 0, acks, fmt.Sprintf("zombie-acks%d", acks)); code == 0 {
			t.Errorf("the replaced leader %d acknowledged an acks=%d produce", old, acks)
		}
	}
	p.finish()
	seen := consumeAll(t, c, "zombie")
	checkNoLossNoDup(t, ackedSet(p), seen)
	for v := range seen {
		if strings.HasPrefix(v, "zombie-") {
			t.Errorf("%q, sent to the replaced leader, reached consumers", v)
		}
	}
}

// waitLeaderAmong waits until the other nodes agree on a leader that is
// not old (a client of the isolated node would still see it).
func (c *cluster) waitLeaderAmong(topic string, partition, old int32, timeout time.Duration) int32 {
	c.t.Helper()
	var leader int32 = -1
	waitFor(c.t, timeout, func() error {
		for _, nd := range c.Nodes {
			if nd.ID == old {
				continue
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(nd.Adv.Addr()))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			m, err := kadm.NewClient(cl).Metadata(ctx, topic)
			cancel()
			cl.Close()
			if err != nil {
				return err
			}
			l := m.Topics[topic].Partitions[partition].Leader
			if l < 0 || l == old {
				return fmt.Errorf("node %d says the leader is %d", nd.ID, l)
			}
			leader = l
			return nil
		}
		return fmt.Errorf("no other node")
	})
	return leader
}

// TestClusterPartitionedLeaderAcknowledgesNothing: every link of the
// leader is cut (its advertised address and its controller links, both
// ways). A client that still reaches it directly gets no acknowledgement;
// the others elect a new leader and production goes on there; after the
// links heal nothing acknowledged is lost.
func TestClusterPartitionedLeaderAcknowledgesNothing(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	createClusterTopic(t, c.Client(), "cut", 1, 3)
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks())), "cut")
	p.waitAcked(t, 200, 30*time.Second)
	old := c.Leader("cut", 0)
	c.Isolate(old)
	c.waitLeaderAmong("cut", 0, old, 20*time.Second)
	before := p.ackedCount()
	p.waitAcked(t, before+200, 30*time.Second)
	// The old leader's lease ran out with its heartbeats: it refuses.
	oldAddr := fmt.Sprintf("127.0.0.1:%d", c.Node(old).Port)
	for _, acks := range []int16{-1, 1} {
		if code := rawProduce(t, oldAddr, "cut", 0, acks, fmt.Sprintf("cut-acks%d", acks)); code == 0 {
			t.Errorf("the cut-off leader %d acknowledged an acks=%d produce", old, acks)
		}
	}
	c.HealAll()
	healed := time.Now()
	p.finish()
	// The nodes that were never cut off see the healed one live again (it
	// heartbeats, and is unfenced, once its links are back).
	c.waitLiveOn(3, []int32{otherThan(old, 1), otherThan(old, 2)}, 30*time.Second)
	t.Logf("all three brokers live again %v after the links healed", time.Since(healed))
	seen := consumeAll(t, c, "cut")
	checkNoLossNoDup(t, ackedSet(p), seen)
	for v := range seen {
		if strings.HasPrefix(v, "cut-") {
			t.Errorf("%q, sent to the cut-off leader, reached consumers", v)
		}
	}
}

// TestClusterGroupSurvivesCoordinatorKill: a consumer group commits
// offsets; the broker coordinating it is killed; the group, on its new
// coordinator, resumes from the committed offsets (nothing re-read from
// the start, no commit lost).
func TestClusterGroupSurvivesCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	createClusterTopic(t, c.Client(), "grp", 3, 3)
	prod := c.Client()
	var recs []*kgo.Record
	for i := range 300 {
		recs = append(recs, &kgo.Record{Topic: "grp", Value: []byte(fmt.Sprint(i))})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consume := func(n int) map[string]bool {
		cl := c.Client(kgo.ConsumeTopics("grp"), kgo.ConsumerGroup("g1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(), kgo.FetchMaxWait(500*time.Millisecond))
		defer cl.Close()
		got := map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for len(got) < n && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit: %v", err)
			}
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("final commit: %v", err)
		}
		return got
	}
	first := consume(150)
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	committed, err := adm.FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	committed.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total < int64(len(first)) {
		t.Fatalf("committed %d offsets in all, consumed %d", total, len(first))
	}
	// Kill the coordinator.
	dg, err := adm.DescribeGroups(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	coord := dg["g1"].Coordinator.NodeID
	c.Kill9(coord)
	// A new member finds the new coordinator and the old commits: it reads
	// only what was not committed.
	var after kadm.OffsetResponses
	waitFor(t, 30*time.Second, func() error {
		cl := c.Client()
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var err error
		after, err = kadm.NewClient(cl).FetchOffsets(ctx, "g1")
		if err == nil {
			err = after.Error()
		}
		return err
	})
	var afterTotal int64
	after.Each(func(o kadm.OffsetResponse) { afterTotal += o.At })
	if afterTotal != total {
		t.Fatalf("after the coordinator (%d) died the group's commits add up to %d, before %d", coord, afterTotal, total)
	}
	rest := consume(300 - int(total))
	for v := range rest {
		if first[v] {
			t.Errorf("record %s consumed again after the coordinator failover (its offset was committed)", v)
		}
	}
}

// TestClusterRollingRestart restarts every node in turn (SIGTERM: a
// controlled shutdown moves leadership away first) while an idempotent
// producer runs: no record fails, none is lost or duplicated.
func TestClusterRollingRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterArgs...)
	createClusterTopic(t, c.Client(), "roll", 3, 3)
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks())), "roll")
	p.waitAcked(t, 200, 30*time.Second)
	for _, nd := range c.Nodes {
		if code, err := nd.Proc.Terminate(20 * time.Second); err != nil || code != 0 {
			t.Fatalf("node %d: SIGTERM: exit %d, %v", nd.ID, code, err)
		}
		c.Restart(nd.ID)
		c.waitBrokers(3, 30*time.Second)
		n := p.ackedCount()
		p.waitAcked(t, n+200, 30*time.Second)
	}
	p.finish()
	p.mu.Lock()
	failed := p.failed
	p.mu.Unlock()
	if failed > 0 {
		t.Errorf("%d records failed during the rolling restart", failed)
	}
	checkNoLossNoDup(t, ackedSet(p), consumeAll(t, c, "roll"))
}

// TestClusterReassignWhileProducing moves a partition's replicas to a
// different set while a producer writes to it: the data moves with them.
func TestClusterReassignWhileProducing(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, "--set", "min.insync.replicas=1")
	cl := c.Client()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, -1, -1, nil, "move") // defaults: RF 1
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	p := startProducer(t, c.Client(kgo.RequiredAcks(kgo.AllISRAcks())), "move")
	p.waitAcked(t, 200, 30*time.Second)
	from := c.Leader("move", 0)
	var to []int32
	for _, nd := range c.Nodes {
		if nd.ID != from {
			to = append(to, nd.ID)
		}
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("move", 0, to)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Error(); e != nil {
		t.Fatalf("reassign: %v", e)
	}
	waitFor(t, 30*time.Second, func() error {
		m, err := adm.Metadata(ctx, "move")
		if err != nil {
			return err
		}
		pd := m.Topics["move"].Partitions[0]
		if fmt.Sprint(pd.Replicas) != fmt.Sprint(to) || len(pd.ISR) != 2 {
			return fmt.Errorf("replicas %v ISR %v, want %v", pd.Replicas, pd.ISR, to)
		}
		lr, err := adm.ListPartitionReassignments(ctx, nil)
		if err != nil {
			return err
		}
		if len(lr) != 0 {
			return fmt.Errorf("reassignment still listed: %v", lr)
		}
		return nil
	})
	n := p.ackedCount()
	p.waitAcked(t, n+200, 30*time.Second)
	p.finish()
	checkNoLossNoDup(t, ackedSet(p), consumeAll(t, c, "move"))
	// The old replica's directory is gone from the node that lost it.
	waitFor(t, 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(c.Node(from).DataDir, "move-0")); err == nil {
			return fmt.Errorf("node %d still has move-0", from)
		}
		return nil
	})
}

// TestClusterKafkaPythonSeed runs the README's kafka-python example against
// the cluster: producer, then the group consumer.
func TestClusterKafkaPythonSeed(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	c := startCluster(t, 3, clusterArgs...)
	src, err := os.ReadFile(filepath.Join("py", "seed_producer.py"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "seed_producer.py")
	body := strings.ReplaceAll(string(src), "'localhost:9092'", "'"+c.Nodes[1].Adv.Addr()+"'")
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, pyTimeout, nil, pythonBin, script)
	out := runPy(t, pyTimeout, "seed_consumer.py", c.Nodes[2].Adv.Addr(), "1")
	if strings.TrimSpace(out) != "b'value'" {
		t.Fatalf("seed consumer printed %q, want b'value'", out)
	}
}

// otherThan returns the k-th (1-based) node id of 1..3 that is not id.
func otherThan(id int32, k int) int32 {
	n := 0
	for i := int32(1); i <= 3; i++ {
		if i != id {
			n++
			if n == k {
				return i
			}
		}
	}
	return -1
}

// waitLiveOn waits until each of the nodes on lists n live brokers in its
// own Metadata answer.
func (c *cluster) waitLiveOn(n int, on []int32, timeout time.Duration) {
	c.t.Helper()
	for _, id := range on {
		waitFor(c.t, timeout, func() error {
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).Adv.Addr()))
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			// A request to the seed itself: kgo's metadata requests go to
			// any broker it knows, so ask the seed directly.
			req := kmsg.NewPtrMetadataRequest()
			kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
			if err != nil {
				return err
			}
			if got := len(kresp.(*kmsg.MetadataResponse).Brokers); got != n {
				return fmt.Errorf("node %d lists %d live brokers, want %d", id, got, n)
			}
			return nil
		})
	}
}

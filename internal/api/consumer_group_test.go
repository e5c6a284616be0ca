package api_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumed records what a consumer saw, by partition and offset.
type consumed struct {
	mu   sync.Mutex
	seen map[string]int // "p/off" -> times seen (any consumer)
	by   map[string]int // consumer name -> records
}

func (c *consumed) add(name string, r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]++
	c.by[name]++
}

func (c *consumed) check(want int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) < want {
		return fmt.Errorf("consumed %d distinct records of %d (per consumer %v)", len(c.seen), want, c.by)
	}
	return nil
}

// poll runs a consume loop until ctx ends.
func poll(ctx context.Context, name string, cl *kgo.Client, into *consumed) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { into.add(name, r) })
	}
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 6), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestConsumerGroupProtocolFranz runs two franz-go consumers with
// kgo.ServerSideBalancer (KIP-848) over a 6-partition topic: every record
// is consumed exactly once, the server splits the partitions 3/3, the
// commits cover everything, and when one consumer leaves the other gets
// all six partitions and consumes what is produced next.
func TestConsumerGroupProtocolFranz(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	const topic, groupID = "t848", "g848"
	prod := groupClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	groupCreateTopic(t, ctx, adm, topic, 6)
	produceN(t, prod, topic, 600)

	into := &consumed{seen: map[string]int{}, by: map[string]int{}}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitInterval(100 * time.Millisecond),
	}
	a := groupClient(t, b, opts...)
	bcl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); poll(pctx, "a", a, into) }()
	go func() { defer wg.Done(); poll(pctx, "b", bcl, into) }()

	groupWaitFor(t, 30*time.Second, func() error { return into.check(600) })
	// Both members reconcile to 3 partitions each.
	groupWaitFor(t, 30*time.Second, func() error {
		ds, err := adm.DescribeConsumerGroups(ctx, groupID)
		if err != nil {
			return err
		}
		d := ds[groupID]
		if d.Err != nil {
			return d.Err
		}
		if d.State != "Stable" || len(d.Members) != 2 {
			return fmt.Errorf("state %s, %d members", d.State, len(d.Members))
		}
		for _, m := range d.Members {
			n := 0
			m.Assignment.Each(func(string, int32) { n++ })
			if n != 3 {
				return fmt.Errorf("member %s has %d partitions", m.MemberID, n)
			}
		}
		return nil
	})
	for _, cl := range []*kgo.Client{a, bcl} {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	groupWaitFor(t, 10*time.Second, func() error {
		offs, err := adm.FetchOffsets(ctx, groupID)
		if err != nil {
			return err
		}
		sum := int64(0)
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum != 600 {
			return fmt.Errorf("committed offsets sum to %d, want 600", sum)
		}
		return nil
	})
	into.mu.Lock()
	for k, n := range into.seen {
		if n != 1 {
			t.Errorf("record %s consumed %d times", k, n)
		}
	}
	into.mu.Unlock()

	// The listing shows a consumer-protocol group.
	ls, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := ls[groupID]; !ok || l.ProtocolType != "consumer" {
		t.Errorf("ListGroups: %+v", ls)
	}

	// b leaves (its Close sends epoch -1): a gets all six partitions.
	bcl.Close()
	produceN(t, prod, topic, 60)
	groupWaitFor(t, 30*time.Second, func() error { return into.check(660) })
	groupWaitFor(t, 10*time.Second, func() error {
		ds, err := adm.DescribeConsumerGroups(ctx, groupID)
		if err != nil {
			return err
		}
		d := ds[groupID]
		if len(d.Members) != 1 || d.State != "Stable" {
			return fmt.Errorf("state %s, %d members", d.State, len(d.Members))
		}
		n := 0
		d.Members[0].Assignment.Each(func(string, int32) { n++ })
		if n != 6 {
			return fmt.Errorf("remaining member has %d partitions", n)
		}
		return nil
	})
	pcancel()
	wg.Wait()
}

// rawHeartbeat sends one ConsumerGroupHeartbeat.
func rawHeartbeat(t *testing.T, ctx context.Context, cl *kgo.Client, edit func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group = "raw848"
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = []string{"raw"}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	edit(req)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	return resp
}

// TestConsumerGroupHeartbeatErrors drives the protocol by hand: the error
// codes Kafka answers, epochs, commits with the member epoch, and how the
// classic APIs see the group.
func TestConsumerGroupHeartbeatErrors(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	cl := groupClient(t, b)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	groupCreateTopic(t, ctx, adm, "raw", 4)
	code := func(r *kmsg.ConsumerGroupHeartbeatResponse) error { return kerr.ErrorForCode(r.ErrorCode) }

	// Join errors.
	for _, tc := range []struct {
		name string
		edit func(*kmsg.ConsumerGroupHeartbeatRequest)
		want error
	}{
		{"no subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.SubscribedTopicNames = "m", nil }, kerr.InvalidRequest},
		{"no rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.RebalanceTimeoutMillis = "m", -1 }, kerr.InvalidRequest},
		{"no owned topics", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.Topics = "m", nil }, kerr.InvalidRequest},
		{"bad assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.ServerAssignor = "m", kmsg.StringPtr("nope")
		}, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.SubscribedTopicNames, r.SubscribedTopicRegex = "m", nil, kmsg.StringPtr("(")
		}, kerr.InvalidRegularExpression},
		{"unknown group heartbeat", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group, r.MemberID, r.MemberEpoch = "nogroup", "m", 3 }, kerr.GroupIDNotFound},
	} {
		if err := code(rawHeartbeat(t, ctx, cl, tc.edit)); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	// A join gets epoch 1 and all four partitions.
	r := rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "m1" })
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.Topics) != 1 || len(r.Assignment.Topics[0].Partitions) != 4 {
		t.Fatalf("join: %+v", r)
	}
	if r.HeartbeatIntervalMillis != 5000 {
		t.Errorf("heartbeat interval %d, want 5000", r.HeartbeatIntervalMillis)
	}
	tid := r.Assignment.Topics[0].TopicID
	// A wrong epoch is fenced; an unknown member is unknown.
	if err := code(rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "m1", 7 })); !errors.Is(err, kerr.FencedMemberEpoch) {
		t.Errorf("wrong epoch: %v", err)
	}
	if err := code(rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "zz", 1 })); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("unknown member: %v", err)
	}

	// Commits: the member epoch is the generation.
	commit := func(epoch int32) error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = "raw848", "m1", epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "raw", tid // v10+ names topics by id
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err := commit(0); !errors.Is(err, kerr.StaleMemberEpoch) {
		t.Errorf("stale commit: %v", err)
	}
	if err := commit(1); err != nil {
		t.Errorf("commit: %v", err)
	}

	// The classic APIs see a consumer group.
	ls, err := adm.ListGroups(ctx)
	if err != nil || ls["raw848"].ProtocolType != "consumer" {
		t.Errorf("ListGroups: %+v %v", ls, err)
	}
	dg, err := adm.DescribeGroups(ctx, "raw848")
	if err != nil || dg["raw848"].ProtocolType != "consumer" || len(dg["raw848"].Members) != 1 || dg["raw848"].State != "Stable" {
		t.Errorf("DescribeGroups: %+v %v", dg["raw848"], err)
	}
	if dr, err := adm.DeleteGroups(ctx, "raw848"); err != nil || !errors.Is(dr["raw848"].Err, kerr.NonEmptyGroup) {
		t.Errorf("delete non-empty: %+v %v", dr, err)
	}
	// A classic join to it is refused while it has members.
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Version, jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = 5, "raw848", "consumer", 10000, 10000
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0}
	jg.Protocols = append(jg.Protocols, jp)
	jg.MemberID = "x"
	if jr, err := jg.RequestWith(ctx, cl); err != nil || !errors.Is(kerr.ErrorForCode(jr.ErrorCode), kerr.InconsistentGroupProtocol) {
		t.Errorf("classic join: %+v %v", jr, err)
	}

	// A second member: m1 must revoke before m2 gets anything.
	r2 := rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "m2" })
	if r2.ErrorCode != 0 || r2.MemberEpoch != 2 || r2.Assignment == nil || len(r2.Assignment.Topics) != 0 {
		t.Fatalf("m2 join before revocation: %+v", r2)
	}
	r = rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberID, r.MemberEpoch, r.SubscribedTopicNames, r.RebalanceTimeoutMillis, r.Topics = "m1", 1, nil, -1, nil
	})
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("m1 told to revoke: %+v", r)
	}
	kept := r.Assignment.Topics[0].Partitions
	r = rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberID, r.MemberEpoch, r.SubscribedTopicNames, r.RebalanceTimeoutMillis = "m1", 1, nil, -1
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: tid, Partitions: kept}}
	})
	if r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("m1 after revoking: %+v", r)
	}
	r2 = rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberID, r.MemberEpoch, r.SubscribedTopicNames, r.RebalanceTimeoutMillis, r.Topics = "m2", 2, nil, -1, nil
	})
	if r2.ErrorCode != 0 || r2.Assignment == nil || len(r2.Assignment.Topics) != 1 || len(r2.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("m2 after m1 revoked: %+v", r2)
	}

	// ConsumerGroupDescribe shows both, reconciled.
	dreq := kmsg.NewPtrConsumerGroupDescribeRequest()
	dreq.Groups = []string{"raw848", "nope"}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != 0 || g.Epoch != 2 || g.AssignmentEpoch != 2 || len(g.Members) != 2 || g.AssignorName != "uniform" || g.State != "Stable" {
		t.Errorf("describe: %+v", g)
	}
	if g := dresp.Groups[1]; !errors.Is(kerr.ErrorForCode(g.ErrorCode), kerr.GroupIDNotFound) {
		t.Errorf("describe unknown: %+v", g)
	}

	// Both leave; the empty group can be deleted.
	for _, m := range []struct {
		id    string
		epoch int32
	}{{"m1", 2}, {"m2", 2}} {
		r := rawHeartbeat(t, ctx, cl, func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = m.id, -1 })
		if r.ErrorCode != 0 || r.MemberEpoch != -1 {
			t.Errorf("leave %s: %+v", m.id, r)
		}
	}
	if dr, err := adm.DeleteGroups(ctx, "raw848"); err != nil || dr["raw848"].Err != nil {
		t.Errorf("delete empty: %+v %v", dr, err)
	}
}

// TestConsumerGroupRegexPicksUpNewTopics subscribes with a regex (KIP-848
// v1 SubscribedTopicRegex, resolved by the broker): a matching topic
// created after the member joined bumps the group epoch on the next
// heartbeat and its records are consumed; a topic that does not match is
// not assigned.
func TestConsumerGroupRegexPicksUpNewTopics(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	prod := groupClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	into := &consumed{seen: map[string]int{}, by: map[string]int{}}
	cl := groupClient(t, b, kgo.ConsumerGroup("gre"), kgo.ConsumeRegex(), kgo.ConsumeTopics("re848-.*"),
		kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(250*time.Millisecond))
	// franz-go starts group management once its regex matches a topic.
	groupCreateTopic(t, ctx, adm, "re848-a", 1)
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); poll(pctx, "c", cl, into) }()
	groupWaitFor(t, 20*time.Second, func() error {
		ds, err := adm.DescribeConsumerGroups(ctx, "gre")
		if err != nil {
			return err
		}
		if d := ds["gre"]; d.Err != nil || len(d.Members) != 1 {
			return fmt.Errorf("group: %+v", d)
		}
		return nil
	})
	groupCreateTopic(t, ctx, adm, "re848-x", 6)
	groupCreateTopic(t, ctx, adm, "other", 1)
	produceN(t, prod, "re848-x", 60)
	groupWaitFor(t, 30*time.Second, func() error { return into.check(60) })
	ds, err := adm.DescribeConsumerGroups(ctx, "gre")
	if err != nil {
		t.Fatal(err)
	}
	if m := ds["gre"].Members[0]; m.SubscribedTopicRegex == nil || len(m.Assignment["other"]) != 0 {
		t.Errorf("member: %+v", m)
	}
	pcancel()
	<-done
}

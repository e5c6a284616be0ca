package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa"
)

// groupBroker starts a broker with no initial rebalance delay (the
// default 3s would only slow the tests down) and short minimum sessions.
func groupBroker(t *testing.T, dir string) *samsa.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler),
		Properties: map[string]string{
			"group.initial.rebalance.delay.ms": "0",
			"offsets.topic.num.partitions":     "5",
			"group.min.session.timeout.ms":     "1000",
		}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return b
}

func groupClient(t *testing.T, b *samsa.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// groupWaitFor polls fn until it returns nil or the timeout passes.
func groupWaitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func groupCreateTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
}

// TestGroupConsumersShareTopic runs two group consumers on one 4-partition
// topic, with each of franz-go's balancers the clients negotiate: every
// record is consumed exactly once, and the commits cover everything.
func TestGroupConsumersShareTopic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := groupBroker(t, t.TempDir())
			defer b.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			admCl := groupClient(t, b)
			adm := kadm.NewClient(admCl)
			groupCreateTopic(t, ctx, adm, "shared", 4)

			const n = 200
			var mu sync.Mutex
			seen := make(map[string]int)
			consumers := make([]*kgo.Client, 2)
			for i := range consumers {
				consumers[i] = groupClient(t, b,
					kgo.ConsumerGroup("sharers"), kgo.ConsumeTopics("shared"),
					kgo.Balancers(tc.balancer),
					kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			}
			var wg sync.WaitGroup
			for _, cl := range consumers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						fs := cl.PollFetches(ctx)
						fs.EachRecord(func(r *kgo.Record) {
							mu.Lock()
							seen[string(r.Value)]++
							mu.Unlock()
						})
						mu.Lock()
						done := len(seen) >= n
						mu.Unlock()
						if done {
							return
						}
					}
				}()
			}
			// Produce only once both members hold partitions, so no
			// record is consumed by a member that then loses it.
			groupWaitFor(t, 30*time.Second, func() error {
				dg, err := adm.DescribeGroups(ctx, "sharers")
				if err != nil {
					return err
				}
				g := dg["sharers"]
				if g.State != "Stable" || len(g.Members) != 2 {
					return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
				}
				total := 0
				for _, m := range g.Members {
					ca, ok := m.Assigned.AsConsumer()
					if !ok || len(ca.Topics) == 0 {
						return errors.New("a member has no assignment yet")
					}
					for _, tp := range ca.Topics {
						total += len(tp.Partitions)
					}
				}
				if total != 4 {
					return fmt.Errorf("%d partitions assigned", total)
				}
				return nil
			})
			for i := range n {
				admCl.Produce(ctx, &kgo.Record{Topic: "shared", Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, nil)
			}
			if err := admCl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			groupWaitFor(t, 30*time.Second, func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(seen) < n {
					return fmt.Errorf("%d of %d records consumed", len(seen), n)
				}
				return nil
			})
			cancel()
			wg.Wait()
			mu.Lock()
			for v, c := range seen {
				if c != 1 {
					t.Errorf("record %s consumed %d times", v, c)
				}
			}
			mu.Unlock()

			ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel2()
			for _, cl := range consumers {
				if err := cl.CommitUncommittedOffsets(ctx2); err != nil {
					t.Fatalf("commit: %v", err)
				}
			}
			offs, err := adm.FetchOffsets(ctx2, "sharers")
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum != n {
				t.Fatalf("committed offsets sum to %d, want %d", sum, n)
			}
		})
	}
}

// TestGroupCommitSurvivesRestart commits standalone (kadm, generation -1),
// restarts the broker on the same data directory and fetches the commit
// back; an unknown group answers -1 without error.
func TestGroupCommitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := groupBroker(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	groupCreateTopic(t, ctx, adm, "durable", 2)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "durable", Partition: 0, At: 42, LeaderEpoch: -1, Metadata: "meta"})
	os.Add(kadm.Offset{Topic: "durable", Partition: 1, At: 7, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "standalone", os)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	// A commit for a topic that does not exist is refused, as Kafka 3.x does.
	var bad kadm.Offsets
	bad.Add(kadm.Offset{Topic: "nope", Partition: 0, At: 1, LeaderEpoch: -1})
	resp, err = adm.CommitOffsets(ctx, "standalone", bad)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup("nope", 0); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("commit to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = groupBroker(t, dir)
	defer b.Close()
	cl2 := groupClient(t, b)
	adm = kadm.NewClient(cl2)
	var got kadm.OffsetResponses
	groupWaitFor(t, 20*time.Second, func() error {
		got, err = adm.FetchOffsets(ctx, "standalone")
		return err
	})
	if o, ok := got.Lookup("durable", 0); !ok || o.At != 42 || o.Metadata != "meta" {
		t.Fatalf("after restart: partition 0 = %+v, want 42/meta", o)
	}
	if o, ok := got.Lookup("durable", 1); !ok || o.At != 7 {
		t.Fatalf("after restart: partition 1 = %+v, want 7", o)
	}

	// Unknown group, explicit partitions, an old version: offset -1, no error.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 1
	req.Group = "never-seen"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "durable", []int32{0}
	req.Topics = append(req.Topics, rt)
	fr, err := req.RequestWith(ctx, cl2)
	if err != nil {
		t.Fatal(err)
	}
	if p := fr.Topics[0].Partitions[0]; p.Offset != -1 || p.ErrorCode != 0 {
		t.Fatalf("unknown group: offset %d code %d, want -1 and 0", p.Offset, p.ErrorCode)
	}
}

// TestGroupAdmin covers ListGroups, DescribeGroups, OffsetDelete and
// DeleteGroups through kadm, with a live member and after it leaves.
func TestGroupAdmin(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(groupClient(t, b))
	groupCreateTopic(t, ctx, adm, "admin-a", 1)
	groupCreateTopic(t, ctx, adm, "admin-b", 1)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "admin-a", Partition: 0, At: 3, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "admin-b", Partition: 0, At: 4, LeaderEpoch: -1})

	member := groupClient(t, b, kgo.ConsumerGroup("admins"), kgo.ConsumeTopics("admin-a"),
		kgo.HeartbeatInterval(200*time.Millisecond))
	groupWaitFor(t, 30*time.Second, func() error {
		member.PollFetches(ctxWithTimeout(ctx, 50*time.Millisecond))
		dg, err := adm.DescribeGroups(ctx, "admins")
		if err != nil {
			return err
		}
		if g := dg["admins"]; g.State != "Stable" {
			return fmt.Errorf("state %s", g.State)
		}
		return nil
	})
	// A simple commit (generation -1) into a group with members is
	// refused: only members of the current generation may commit.
	if resp, err := adm.CommitOffsets(ctx, "admins", os); err != nil || !errors.Is(resp.Error(), kerr.UnknownMemberID) {
		t.Fatalf("standalone commit into an active group: %v %v, want UNKNOWN_MEMBER_ID", err, resp.Error())
	}
	ls, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := ls["admins"]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		t.Fatalf("ListGroups: %+v", ls)
	}
	dg, err := adm.DescribeGroups(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	g := dg["admins"]
	if len(g.Members) != 1 || g.Protocol == "" {
		t.Fatalf("DescribeGroups: %+v", g)
	}
	if ca, ok := g.Members[0].Assigned.AsConsumer(); !ok || len(ca.Topics) != 1 || ca.Topics[0].Topic != "admin-a" {
		t.Fatalf("member assignment: %+v", g.Members[0].Assigned)
	}
	if _, err := adm.DeleteGroup(ctx, "admins"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("delete of an active group: %v, want NON_EMPTY_GROUP", err)
	}

	// Leave; then commit both topics standalone and delete one offset.
	member.Close()
	groupWaitFor(t, 20*time.Second, func() error {
		dg, err := adm.DescribeGroups(ctx, "admins")
		if err != nil {
			return err
		}
		if g := dg["admins"]; g.State != "Empty" {
			return fmt.Errorf("state %s", g.State)
		}
		return nil
	})
	if resp, err := adm.CommitOffsets(ctx, "admins", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit to the empty group: %v %v", err, resp.Error())
	}
	ls, err = adm.ListGroups(ctx, "Empty")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ls["admins"]; !ok {
		t.Fatalf("ListGroups(Empty): %+v", ls)
	}
	ls, _ = adm.ListGroups(ctx, "Stable")
	if _, ok := ls["admins"]; ok {
		t.Fatalf("ListGroups(Stable) lists an Empty group: %+v", ls)
	}
	var del kadm.TopicsSet
	del.Add("admin-b", 0)
	odr, err := adm.DeleteOffsets(ctx, "admins", del)
	if err != nil || odr.Error() != nil {
		t.Fatalf("DeleteOffsets: %v %v", err, odr.Error())
	}
	offs, err := adm.FetchOffsets(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("admin-b", 0); ok {
		t.Fatal("deleted offset still fetched")
	}
	if o, ok := offs.Lookup("admin-a", 0); !ok || o.At != 3 {
		t.Fatalf("kept offset: %+v", o)
	}
	if _, err := adm.DeleteGroup(ctx, "admins"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if _, err := adm.DeleteGroup(ctx, "admins"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %v, want GROUP_ID_NOT_FOUND", err)
	}
	offs, err = adm.FetchOffsets(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 0 {
		t.Fatalf("offsets after delete: %+v", offs)
	}
}

func ctxWithTimeout(parent context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(parent, d)
	_ = cancel // released when the deadline passes
	return ctx
}

// TestGroupRawProtocol checks version-specific answers with raw requests:
// FindCoordinator batching and key types, KIP-394's MEMBER_ID_REQUIRED,
// session-timeout bounds and an empty group id.
func TestGroupRawProtocol(t *testing.T) {
	b := groupBroker(t, t.TempDir())
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := groupClient(t, b)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 4
	fc.CoordinatorKeys = []string{"g1", "g2"}
	fresp, err := fc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresp.Coordinators) != 2 || fresp.Coordinators[0].ErrorCode != 0 || fresp.Coordinators[1].NodeID != 1 {
		t.Fatalf("FindCoordinator v4: %+v", fresp.Coordinators)
	}
	fc = kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 1
	fc.CoordinatorKey, fc.CoordinatorType = "txn", 1
	fresp, err = fc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if fresp.ErrorCode != 0 || fresp.NodeID != 1 {
		t.Fatalf("transaction coordinator: code %d node %d", fresp.ErrorCode, fresp.NodeID)
	}

	md := kmsg.ConsumerMemberMetadata{Topics: []string{"t"}}
	join := func(version int16, group, member string, sessionMillis int32) *kmsg.JoinGroupResponse {
		t.Helper()
		// kgo sends the highest version both sides know unless pinned.
		cl := groupClient(t, b, kgo.MaxVersions(pinVersion(kmsg.JoinGroup, version)))
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version = version
		r.Group, r.MemberID, r.ProtocolType = group, member, "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = sessionMillis, 5000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", md.AppendTo(nil)
		r.Protocols = append(r.Protocols, p)
		// Straight to the broker: the client would look up a
		// coordinator for the group id first.
		kresp, err := cl.Broker(1).Request(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return kresp.(*kmsg.JoinGroupResponse)
	}
	for _, tc := range []struct {
		name    string
		version int16
		group   string
		session int32
		want    int16
	}{
		{"v4 first join needs a member id", 4, "raw", 6000, kerr.MemberIDRequired.Code},
		{"session below group.min.session.timeout.ms", 4, "raw", 10, kerr.InvalidSessionTimeout.Code},
		{"session above group.max.session.timeout.ms", 2, "raw", 1 << 30, kerr.InvalidSessionTimeout.Code},
		{"empty group id", 2, "", 6000, kerr.InvalidGroupID.Code},
		{"v0 joins at once", 0, "raw-v0", 6000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := join(tc.version, tc.group, "", tc.session)
			if resp.ErrorCode != tc.want {
				t.Fatalf("code %d (%v), want %d", resp.ErrorCode, kerr.ErrorForCode(resp.ErrorCode), tc.want)
			}
		})
	}
	// With the id from MEMBER_ID_REQUIRED the member joins and leads.
	first := join(4, "raw", "", 6000)
	second := join(4, "raw", first.MemberID, 6000)
	if second.ErrorCode != 0 || second.LeaderID != first.MemberID || second.Generation != 1 || len(second.Members) != 1 {
		t.Fatalf("second join: %+v", second)
	}
	// A heartbeat with the wrong generation is ILLEGAL_GENERATION.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "raw", first.MemberID, 99
	hresp, err := hb.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if hresp.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat: code %d", hresp.ErrorCode)
	}
	// A different protocol type cannot join.
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 2
	r.Group, r.ProtocolType, r.SessionTimeoutMillis = "raw", "connect", 6000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "x"
	r.Protocols = append(r.Protocols, p)
	jresp, err := r.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if jresp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("other protocol type: code %d", jresp.ErrorCode)
	}
}

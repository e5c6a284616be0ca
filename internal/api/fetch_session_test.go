package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/wire"
)

// fetchReq builds a Fetch request at version v for session (id, epoch)
// naming parts (topic -> partition -> fetch offset).
func fetchReq(v int16, id, epoch int32, topic string, topicID [16]byte, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = v, id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		for p := range int32(len(offsets) + 64) { // sorted: map order is random
			off, ok := offsets[p]
			if !ok {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// answerAll fills the items' answers as a response with hw for every
// partition would, records on the partitions in withRecords.
func answerAll(plan *fetchPlan, hw int64, withRecords ...int32) {
	for i := range plan.items {
		it := &plan.items[i]
		it.hw, it.logStart = hw, 0
		it.records = false
		for _, p := range withRecords {
			if it.partition == p {
				it.records = true
			}
		}
		it.included = plan.mode != fetchIncremental || it.listed || it.records || it.hw != it.sentHW || it.logStart != it.sentLogStart
	}
}

// partsOf returns the session's partitions in fetch order.
func partsOf(c *sessionCache, id int32) []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mu.byID[id]
	if s == nil {
		return nil
	}
	var out []int32
	for _, sp := range s.parts {
		out = append(out, sp.key.partition)
	}
	return out
}

func listedOf(plan fetchPlan) []int32 {
	var out []int32
	for _, it := range plan.items {
		if it.listed {
			out = append(out, it.partition)
		}
	}
	return out
}

func eqParts(a, b []int32) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestSessionCacheScript walks one session through its life: create,
// incremental fetches that add, change and forget partitions, a replayed
// epoch, an unknown id, rotation of partitions that returned data, the
// epoch wrap, and close; each step checks the plan and the session.
func TestSessionCacheScript(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newSessionCache(10, time.Minute, 10*time.Minute)

	// Create: (0, 0) is a full fetch that asks for a session.
	plan, code := c.begin(fetchReq(12, 0, 0, "t", [16]byte{}, map[int32]int64{0: 0, 1: 0, 2: 0}), now)
	if code != 0 || plan.mode != fetchFull || len(plan.items) != 3 {
		t.Fatalf("create: code %d mode %d items %d", code, plan.mode, len(plan.items))
	}
	answerAll(&plan, 5)
	id := c.finish(&plan, now)
	if id == 0 {
		t.Fatal("create: no session id")
	}
	if got := partsOf(c, id); !eqParts(got, []int32{0, 1, 2}) {
		t.Fatalf("create: session parts %v", got)
	}

	steps := []struct {
		name      string
		epoch     int32
		sessionID int32 // 0: the session's id
		offsets   map[int32]int64
		forget    []int32
		wantCode  int16
		wantItems []int32 // session partitions read, in order
		wantList  []int32 // of those, the ones the request listed
		records   []int32 // partitions the answer gives records for
		hw        int64
		wantIncl  int // partitions in the response
	}{
		{name: "no changes", epoch: 1, wantItems: []int32{0, 1, 2}, hw: 5, wantIncl: 0},
		{name: "replayed epoch", epoch: 1, wantCode: kerr.InvalidFetchSessionEpoch.Code},
		{name: "future epoch", epoch: 9, wantCode: kerr.InvalidFetchSessionEpoch.Code},
		{name: "unknown id", epoch: 2, sessionID: id + 1, wantCode: kerr.FetchSessionIDNotFound.Code},
		{name: "hw moved", epoch: 2, wantItems: []int32{0, 1, 2}, hw: 6, wantIncl: 3},
		{name: "add and change", epoch: 3, offsets: map[int32]int64{1: 4, 3: 0}, wantItems: []int32{0, 1, 2, 3}, wantList: []int32{1, 3}, hw: 6, wantIncl: 2},
		{name: "records rotate", epoch: 4, wantItems: []int32{0, 1, 2, 3}, records: []int32{0, 2}, hw: 6, wantIncl: 2},
		{name: "rotated order", epoch: 5, wantItems: []int32{1, 3, 0, 2}, hw: 6, wantIncl: 0},
		{name: "forget", epoch: 6, forget: []int32{3, 0, 7}, wantItems: []int32{1, 2}, hw: 6, wantIncl: 0},
		{name: "list and forget", epoch: 7, offsets: map[int32]int64{1: 9}, forget: []int32{1}, wantItems: []int32{2}, hw: 6, wantIncl: 0},
	}
	for _, st := range steps {
		sid := st.sessionID
		if sid == 0 {
			sid = id
		}
		req := fetchReq(12, sid, st.epoch, "t", [16]byte{}, st.offsets)
		if len(st.forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.Partitions = "t", st.forget
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		plan, code := c.begin(req, now)
		if code != st.wantCode {
			t.Fatalf("%s: code %d, want %d", st.name, code, st.wantCode)
		}
		if code != 0 {
			continue
		}
		var got []int32
		for _, it := range plan.items {
			got = append(got, it.partition)
		}
		if plan.mode != fetchIncremental || !eqParts(got, st.wantItems) || !eqParts(listedOf(plan), st.wantList) {
			t.Fatalf("%s: mode %d items %v listed %v, want items %v listed %v", st.name, plan.mode, got, listedOf(plan), st.wantItems, st.wantList)
		}
		answerAll(&plan, st.hw, st.records...)
		incl := 0
		for _, it := range plan.items {
			if it.included {
				incl++
			}
		}
		if incl != st.wantIncl {
			t.Fatalf("%s: %d partitions in the response, want %d", st.name, incl, st.wantIncl)
		}
		if got := c.finish(&plan, now); got != id {
			t.Fatalf("%s: finish answered session %d, want %d", st.name, got, id)
		}
	}

	t.Run("offsets kept", func(t *testing.T) {
		// Partition 2 was never re-listed: it still fetches from 0.
		plan, _ := c.begin(fetchReq(12, id, 8, "t", [16]byte{}, nil), now)
		if len(plan.items) != 1 || plan.items[0].offset != 0 || plan.items[0].maxBytes != 1<<20 {
			t.Fatalf("items %+v", plan.items)
		}
		answerAll(&plan, 6)
		c.finish(&plan, now)
	})

	t.Run("epoch wraps", func(t *testing.T) {
		c.mu.Lock()
		c.mu.byID[id].epoch = math.MaxInt32
		c.mu.Unlock()
		plan, code := c.begin(fetchReq(12, id, math.MaxInt32, "t", [16]byte{}, nil), now)
		if code != 0 || plan.nextEpoch != 1 {
			t.Fatalf("code %d, next epoch %d, want 1", code, plan.nextEpoch)
		}
		c.finish(&plan, now)
		if _, code := c.begin(fetchReq(12, id, 1, "t", [16]byte{}, nil), now); code != 0 {
			t.Fatalf("epoch 1 after the wrap: code %d", code)
		}
		if nextSessionEpoch(math.MaxInt32) != 1 || nextSessionEpoch(1) != 2 {
			t.Fatal("nextSessionEpoch")
		}
	})

	t.Run("names vs ids", func(t *testing.T) {
		if _, code := c.begin(fetchReq(13, id, 2, "", [16]byte{1}, nil), now); code != kerr.FetchSessionTopicIDError.Code {
			t.Fatalf("v13 on a by-name session: code %d", code)
		}
	})

	t.Run("close", func(t *testing.T) {
		plan, code := c.begin(fetchReq(12, id, -1, "t", [16]byte{}, map[int32]int64{0: 0}), now)
		if code != 0 || plan.mode != fetchSessionless || len(plan.items) != 1 {
			t.Fatalf("close: code %d mode %d", code, plan.mode)
		}
		if got := c.finish(&plan, now); got != 0 {
			t.Fatalf("sessionless fetch answered session %d", got)
		}
		if _, code := c.begin(fetchReq(12, id, 2, "t", [16]byte{}, nil), now); code != kerr.FetchSessionIDNotFound.Code {
			t.Fatalf("after close: code %d", code)
		}
	})

	t.Run("full fetch replaces", func(t *testing.T) {
		plan, _ := c.begin(fetchReq(12, 0, 0, "t", [16]byte{}, map[int32]int64{0: 0}), now)
		answerAll(&plan, 1)
		old := c.finish(&plan, now)
		plan, _ = c.begin(fetchReq(12, old, 0, "t", [16]byte{}, map[int32]int64{0: 0}), now)
		answerAll(&plan, 1)
		id2 := c.finish(&plan, now)
		if id2 == 0 || id2 == old {
			t.Fatalf("new session %d, old %d", id2, old)
		}
		if _, code := c.begin(fetchReq(12, old, 1, "t", [16]byte{}, nil), now); code != kerr.FetchSessionIDNotFound.Code {
			t.Fatalf("old session still there: code %d", code)
		}
	})

	st := c.stats()
	if st.InvalidEpoch != 2 || st.NotFound != 3 || st.Closed != 2 || st.Created != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSessionCacheAdmission checks the bounded cache: a full cache turns
// newcomers away until its least recently used session is idle for
// evictAfter, a follower may evict a consumer at once, and sessions idle
// for expireAfter go even when there is room.
func TestSessionCacheAdmission(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newSessionCache(2, time.Minute, 10*time.Minute)
	create := func(at time.Time, replica int32) int32 {
		req := fetchReq(12, 0, 0, "t", [16]byte{}, map[int32]int64{0: 0})
		req.ReplicaID = replica
		plan, _ := c.begin(req, at)
		answerAll(&plan, 0)
		return c.finish(&plan, at)
	}
	use := func(id, epoch int32, at time.Time) int16 {
		plan, code := c.begin(fetchReq(12, id, epoch, "t", [16]byte{}, nil), at)
		if code == 0 {
			answerAll(&plan, 0)
			c.finish(&plan, at)
		}
		return code
	}

	a := create(t0, -1)
	b := create(t0.Add(time.Second), -1)
	if a == 0 || b == 0 {
		t.Fatal("free slots refused a session")
	}
	if id := create(t0.Add(2*time.Second), -1); id != 0 {
		t.Fatal("a full cache admitted a session while every session is fresh")
	}
	// Use a, so b is the least recently used.
	if code := use(a, 1, t0.Add(30*time.Second)); code != 0 {
		t.Fatalf("use a: %d", code)
	}
	if id := create(t0.Add(50*time.Second), -1); id != 0 {
		t.Fatal("evicted a session idle less than evictAfter")
	}
	cID := create(t0.Add(62*time.Second), -1)
	if cID == 0 {
		t.Fatal("a session idle past evictAfter was not evicted")
	}
	if code := use(b, 1, t0.Add(63*time.Second)); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("b should have been evicted (LRU): code %d", code)
	}
	if code := use(a, 2, t0.Add(63*time.Second)); code != 0 {
		t.Fatalf("a should have stayed: code %d", code)
	}

	// A follower evicts the least recently used consumer session at once.
	f := create(t0.Add(64*time.Second), 1)
	if f == 0 {
		t.Fatal("a follower was refused")
	}
	if code := use(cID, 1, t0.Add(64*time.Second)); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("c should have been evicted for the follower: code %d", code)
	}

	// Expiry: everything idle for 10 minutes goes, even with free slots.
	if code := use(a, 3, t0.Add(11*time.Minute)); code != 0 {
		t.Fatalf("a: code %d", code)
	}
	if code := use(f, 1, t0.Add(64*time.Second+10*time.Minute)); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("f should have expired: code %d", code)
	}
	st := c.stats()
	if st.Sessions != 1 || st.Evicted != 2 || st.Expired != 1 || st.Refused != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// fetchBroker is a broker serving on loopback with the same pieces
// samsa.Start wires (this package's tests cannot import samsa: it imports
// api), plus the API, to read its session counters.
type fetchBroker struct {
	b    *broker.Broker
	a    *API
	addr string
}

func startFetchBroker(t *testing.T) *fetchBroker {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.GroupInitialRebalanceDelay = 0
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Open(cfg, lg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	a := New(b, lg, AdvertisedFrom("", ln.Addr()))
	srv := server.New(server.Config{MaxFrameBytes: cfg.SocketRequestMaxBytes, QueuedMaxBytes: 1 << 30, Logger: lg}, a)
	srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		b.Close()
	})
	return &fetchBroker{b: b, a: a, addr: ln.Addr().String()}
}

// rawConn sends requests at pinned versions on one connection.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func (fb *fetchBroker) dial(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fb.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (rc *rawConn) do(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	rc.corr++
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	id := "raw"
	if _, err := rc.c.Write(wire.AppendRequest(nil, rc.corr, &id, req)); err != nil {
		rc.t.Fatal(err)
	}
	frame, _, err := wire.ReadFrame(rc.c, 1<<24, nil)
	if err != nil {
		rc.t.Fatal(err)
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // response header tags (ApiVersions' header never has them)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatal(err)
	}
	return resp
}

func (rc *rawConn) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	rc.t.Helper()
	return rc.do(req).(*kmsg.FetchResponse)
}

// respParts maps partition -> the response partition, over the response
// topics that are topic (name, id) as the version sends it.
func respParts(resp *kmsg.FetchResponse, name string, id [16]byte) map[int32]kmsg.FetchResponseTopicPartition {
	if resp.Version < 13 {
		id = [16]byte{}
	}
	out := make(map[int32]kmsg.FetchResponseTopicPartition)
	for _, rt := range resp.Topics {
		if rt.Topic != name || rt.TopicID != id {
			continue
		}
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp
		}
	}
	return out
}

func keysOf(m map[int32]kmsg.FetchResponseTopicPartition) string {
	var ps []int32
	for p := range int32(64) {
		if _, ok := m[p]; ok {
			ps = append(ps, p)
		}
	}
	return fmt.Sprint(ps)
}

// produceTo appends n one-record batches to topic/partition and returns
// the high watermark after.
func (fb *fetchBroker) produceTo(t *testing.T, topic string, p int32, n int) int64 {
	t.Helper()
	part := fb.b.Topic(topic).Partition(p)
	for i := range n {
		batch := plainFetchBatch(fmt.Sprintf("v%d", i))
		if _, err := part.Append(batch, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Flush moves the high watermark (durable acks), as a produce does.
	if err := part.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFetch(t, func() error {
		if part.HighWatermark() != part.LogEndOffset() {
			return fmt.Errorf("hw %d < leo %d", part.HighWatermark(), part.LogEndOffset())
		}
		return nil
	})
	return part.HighWatermark()
}

// waitFetch polls fn until it returns nil, failing after 10s.
func waitFetch(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C
	}
}

// TestFetchSessionRaw drives a session over the wire at a pinned version,
// by name (v12) and by topic id (v13): the full fetch creates it, the
// incremental fetches carry only what changed, a replayed epoch is
// rejected, forgotten partitions are no longer answered, a long poll
// wakes on a session partition, a deleted topic is answered once with an
// error and dropped, the session survives a reconnect, and epoch -1 closes
// it.
func TestFetchSessionRaw(t *testing.T) {
	for _, v := range []int16{12, 13, 17} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			fb := startFetchBroker(t)
			for _, name := range []string{"t", "gone"} {
				if _, err := fb.b.CreateTopic(broker.CreateTopicRequest{Name: name, Partitions: 3, ReplicationFactor: -1}); err != nil {
					t.Fatal(err)
				}
			}
			topic, gone := fb.b.Topic("t"), fb.b.Topic("gone")
			tname, gname := "t", "gone"
			if v >= 13 {
				tname, gname = "", ""
			}
			hw0 := fb.produceTo(t, "t", 0, 3)
			rc := fb.dial(t)
			req := func(id, epoch int32, offsets map[int32]int64) *kmsg.FetchRequest {
				r := fetchReq(v, id, epoch, tname, topic.ID, offsets)
				r.MaxWaitMillis = 0
				return r
			}

			// Full fetch creating the session, with the "gone" topic's
			// partition 0 in it too.
			full := req(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0})
			gt := kmsg.NewFetchRequestTopic()
			gt.Topic, gt.TopicID = gname, gone.ID
			gp := kmsg.NewFetchRequestTopicPartition()
			gp.PartitionMaxBytes = 1 << 20
			gt.Partitions = append(gt.Partitions, gp)
			full.Topics = append(full.Topics, gt)
			resp := rc.fetch(full)
			if resp.ErrorCode != 0 || resp.SessionID == 0 {
				t.Fatalf("full fetch: code %d session %d", resp.ErrorCode, resp.SessionID)
			}
			id := resp.SessionID
			if ps := respParts(resp, tname, topic.ID); len(resp.Topics) != 2 || len(ps[0].RecordBatches) == 0 || ps[0].HighWatermark != hw0 {
				t.Fatalf("full fetch answered %d topics, p0 %+v", len(resp.Topics), ps[0])
			}
			if v >= 13 && resp.Topics[0].TopicID != topic.ID {
				t.Fatalf("v%d response topic id %x, want %x", v, resp.Topics[0].TopicID, topic.ID)
			}

			// Incremental, moving p0 to its end: only p0 (listed) answers.
			resp = rc.fetch(req(id, 1, map[int32]int64{0: hw0}))
			if ps := respParts(resp, tname, topic.ID); resp.ErrorCode != 0 || resp.SessionID != id || keysOf(ps) != "[0]" || len(ps[0].RecordBatches) != 0 {
				t.Fatalf("epoch 1: code %d session %d parts %s", resp.ErrorCode, resp.SessionID, keysOf(ps))
			}

			// New data on p1, on a new connection (sessions are not tied
			// to one): only p1 answers, with its records.
			hw1 := fb.produceTo(t, "t", 1, 2)
			rc2 := fb.dial(t)
			resp = rc2.fetch(req(id, 2, nil))
			if ps := respParts(resp, tname, topic.ID); resp.ErrorCode != 0 || keysOf(ps) != "[1]" || len(ps[1].RecordBatches) == 0 || ps[1].HighWatermark != hw1 {
				t.Fatalf("epoch 2: code %d parts %s", resp.ErrorCode, keysOf(ps))
			}

			// A replay of epoch 2 is rejected; the session stays.
			if resp = rc.fetch(req(id, 2, nil)); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
				t.Fatalf("replayed epoch: code %d", resp.ErrorCode)
			}
			if resp = rc.fetch(req(99, 1, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("unknown session: code %d", resp.ErrorCode)
			}

			// Forget p1 (moving it to the end of the log first), then new
			// data on p1 is not answered.
			fg := req(id, 3, map[int32]int64{1: hw1})
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID, ft.Partitions = tname, topic.ID, []int32{1}
			fg.ForgottenTopics = append(fg.ForgottenTopics, ft)
			resp = rc.fetch(fg)
			if ps := respParts(resp, tname, topic.ID); resp.ErrorCode != 0 || len(ps) != 0 {
				t.Fatalf("forget: code %d parts %s", resp.ErrorCode, keysOf(ps))
			}
			fb.produceTo(t, "t", 1, 1)
			if resp = rc.fetch(req(id, 4, nil)); len(resp.Topics) != 0 {
				t.Fatalf("forgotten partition answered: %s", keysOf(respParts(resp, tname, topic.ID)))
			}

			// Long poll over the session: wakes when p2 gets data.
			lp := req(id, 5, nil)
			lp.MinBytes, lp.MaxWaitMillis = 1, 10000
			done := make(chan *kmsg.FetchResponse, 1)
			start := time.Now()
			go func() {
				done <- rc.do(lp).(*kmsg.FetchResponse)
			}()
			hw2 := fb.produceTo(t, "t", 2, 1)
			resp = <-done
			if ps := respParts(resp, tname, topic.ID); keysOf(ps) != "[2]" || len(ps[2].RecordBatches) == 0 {
				t.Fatalf("long poll: parts %s", keysOf(ps))
			}
			if el := time.Since(start); el > 8*time.Second {
				t.Fatalf("long poll took %v: it did not wake on the append", el)
			}

			// Delete "gone": answered once with an error, then dropped.
			if err := fb.b.DeleteTopic("gone"); err != nil {
				t.Fatal(err)
			}
			// (The client moves p2 past what the long poll returned.)
			resp = rc.fetch(req(id, 6, map[int32]int64{2: hw2}))
			wantCode := kerr.UnknownTopicOrPartition.Code
			if v >= 13 {
				wantCode = kerr.UnknownTopicID.Code
			}
			if len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != wantCode {
				t.Fatalf("deleted topic: %+v", resp.Topics)
			}
			if ps := respParts(resp, tname, topic.ID); keysOf(ps) != "[2]" || len(ps[2].RecordBatches) != 0 {
				t.Fatalf("epoch 6: parts %s", keysOf(ps))
			}
			if resp = rc.fetch(req(id, 7, nil)); len(resp.Topics) != 0 {
				t.Fatalf("deleted topic answered again: %+v", resp.Topics)
			}
			if st := fb.a.FetchSessionStats(); st.Sessions != 1 || st.Partitions != 2 || st.Incremental != 7 {
				t.Fatalf("stats %+v", st)
			}

			// Epoch -1 closes the session and fetches sessionless.
			resp = rc.fetch(req(id, -1, map[int32]int64{0: 0}))
			if resp.ErrorCode != 0 || resp.SessionID != 0 || len(respParts(resp, tname, topic.ID)[0].RecordBatches) == 0 {
				t.Fatalf("close: code %d session %d", resp.ErrorCode, resp.SessionID)
			}
			if resp = rc.fetch(req(id, 8, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: code %d", resp.ErrorCode)
			}
			if st := fb.a.FetchSessionStats(); st.Sessions != 0 {
				t.Fatalf("stats after close %+v", st)
			}
		})
	}
}

// TestFetchSessionFranz consumes 10k records from 20 partitions with
// franz-go, which uses fetch sessions by default, and checks every record
// arrives once and that the fetches after the first were incremental,
// with no session errors on the way.
func TestFetchSessionFranz(t *testing.T) {
	fb := startFetchBroker(t)
	const parts, total = 20, 10000
	if _, err := fb.b.CreateTopic(broker.CreateTopicRequest{Name: "many", Partitions: parts, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(fb.addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(from, to int) {
		recs := make([]*kgo.Record, 0, to-from)
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "many", Value: []byte(strconv.Itoa(i))})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(fb.addr), kgo.ConsumeTopics("many"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := make(map[string]bool, total)
	consume := func(upTo int) {
		for len(seen) < upTo {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records before the timeout", len(seen), upTo)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
				if seen[k] {
					t.Errorf("record %s twice", k)
				}
				seen[k] = true
			})
		}
	}
	// Half up front (catching up), then the rest in ten steps the consumer
	// waits for (tailing): each step needs at least one more fetch.
	produce(0, total/2)
	consume(total / 2)
	const steps = 10
	for i := range steps {
		from := total/2 + i*(total/2/steps)
		produce(from, from+total/2/steps)
		consume(from + total/2/steps)
	}
	st := fb.a.FetchSessionStats()
	t.Logf("session stats: %+v", st)
	if st.Created != 1 || st.Incremental < steps || st.NotFound != 0 || st.InvalidEpoch != 0 {
		t.Fatalf("franz-go did not fetch incrementally without errors: %+v", st)
	}
	if st.Partitions != parts {
		t.Fatalf("session holds %d partitions, want %d", st.Partitions, parts)
	}
}

// ckAssignConsumer reads every partition of a topic from the beginning
// with confluent-kafka's assign() (no group) and prints the count.
const ckAssignConsumer = `
import sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'unused', 'enable.auto.commit': False})
md = c.list_topics(topic, timeout=15)
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(md.topics[topic].partitions)])
seen, deadline = set(), time.time() + 30
while len(seen) < expected and time.time() < deadline:
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        sys.exit('consume error: %s' % m.error())
    seen.add((m.partition(), m.offset()))
c.close()
print(len(seen))
`

// TestFetchSessionLibrdkafka reads 8 partitions with librdkafka's
// assign() consumer: whether or not this librdkafka opens sessions, every
// record must arrive and no session error may be answered.
func TestFetchSessionLibrdkafka(t *testing.T) {
	const python = "/usr/bin/python3"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("confluent_kafka not importable by %s (apt-get install python3-confluent-kafka): %v %s", python, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: the CI image must install it)", msg)
		}
		t.Skip(msg)
	}
	fb := startFetchBroker(t)
	const parts, total = 8, 2000
	if _, err := fb.b.CreateTopic(broker.CreateTopicRequest{Name: "ck", Partitions: parts, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		fb.produceTo(t, "ck", p, total/parts)
	}
	out, err := exec.CommandContext(ctx, python, "-c", ckAssignConsumer, fb.addr, "ck", strconv.Itoa(total)).CombinedOutput()
	if err != nil {
		t.Fatalf("confluent-kafka consumer: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(total) {
		t.Fatalf("confluent-kafka read %s records, want %d", got, total)
	}
	st := fb.a.FetchSessionStats()
	t.Logf("session stats: %+v", st)
	if st.NotFound != 0 || st.InvalidEpoch != 0 {
		t.Fatalf("session errors answered to librdkafka: %+v", st)
	}
}

// plainFetchBatch is one v2 batch of the given values.
func plainFetchBatch(values ...string) []byte {
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(v)}
	}
	return record.BuildBatch(record.BuildOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

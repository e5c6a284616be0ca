package api

// Fetch.
//
// Everything happens in phase two (the writer goroutine), so a long poll
// holds up only the replies behind it on the same connection, as in Kafka.
// The fetch reads what is committed (below the high watermark); if that is
// fewer than min_bytes it registers on every requested partition and waits
// until one of them moves its high watermark, max_wait passes, or the broker
// stops.
//
// Limits: partition_max_bytes per partition and max_bytes for the response
// (v3+); the first batch of the first partition with data is returned whole
// even when larger (KIP-74), so a consumer never gets stuck on a big batch.
//
// Fetch sessions (KIP-227, v7+; the bookkeeping is in fetch_session.go):
// (id 0, epoch 0) is a full fetch that creates a session and answers its
// id (0 when the cache has no room); epoch -1 is a sessionless full fetch,
// closing the named session if any, and a full fetch naming a session
// closes it too. (id X, epoch N>0) is incremental: the request lists only
// added or changed partitions and forgets others (by name before v13, by
// topic id from v13), and the response carries only the partitions with
// records, a new high watermark or log start offset, an error, or that
// the request listed. N must be the session's next epoch (1 after a full
// fetch, wrapping from MaxInt32 to 1): otherwise
// INVALID_FETCH_SESSION_EPOCH, and FETCH_SESSION_ID_NOT_FOUND for an id we
// do not hold; either way the client starts over with a full fetch. A
// session's partition whose topic or partition no longer exists is
// answered UNKNOWN_TOPIC_ID (v13+) or UNKNOWN_TOPIC_OR_PARTITION once and
// dropped from the session. The long poll and the byte budgets run over
// the session's partitions exactly as over a full request's.
//
// Version notes: v0-v1 answer message format v0 and v2-v3 format v1
// (down-converted); v3 max_bytes; v4 isolation level, LSO, aborted txns;
// v5 log start offset; v7 sessions; v9 current leader epoch; v11 rack;
// v12 flexible; v13 topic ids.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/server"
)

// maxFetchWait bounds max_wait_ms so a client cannot pin a connection's
// writer forever.
const maxFetchWait = 5 * time.Minute

func (a *API) handleFetch(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.FetchRequest)
	return func() kmsg.Response { return a.fetch(ctx, c, req) }, nil
}

type fetchTarget struct {
	ti, pi int // index into resp.Topics / .Partitions
	p      *partition.Partition
	offset int64
	max    int32
	// replica: a follower's fetch, served up to the log end rather than
	// the high watermark.
	replica bool
	// region is what the last read found, for a fetch of v4 or later
	// (consumer or follower): the batches' place in a segment file, sent
	// with sendfile (server.Spliced). Held until the response is written.
	region log.Region
}

// replicaID returns the fetching broker's id for a follower fetch, -1 for
// a consumer (the field moved into ReplicaState at v15).
func replicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

func (a *API) fetch(ctx context.Context, c *server.Conn, req *kmsg.FetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	sessions := a.fetchSessions()
	plan, code := sessions.begin(req, a.now())
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	targets := a.fetchTargets(c, req, resp, plan.items)
	a.readAndWait(ctx, req, resp, targets)
	// The regions go where their partitions' records would, in the order
	// the response encodes them (targets follow resp's order, and
	// dropUnchanged keeps every partition with records, in order).
	var regions []server.FileRegion
	for k := range targets {
		t := &targets[k]
		if t.region.Empty() {
			continue
		}
		r := t.region
		t.region = log.Region{}
		resp.Topics[t.ti].Partitions[t.pi].RecordBatches = server.Placeholder(len(regions))
		regions = append(regions, server.FileRegion{File: r.File(), Pos: r.Pos, Len: r.Len, Release: r.Release})
	}

	for k := range plan.items {
		it := &plan.items[k]
		sp := &resp.Topics[it.ti].Partitions[it.pi]
		it.hw, it.logStart = sp.HighWatermark, sp.LogStartOffset
		it.records = len(sp.RecordBatches) > 0
		// KIP-227: an incremental response carries a partition only when
		// the client has something to learn from it.
		it.included = plan.mode != fetchIncremental || it.listed || it.records || sp.ErrorCode != 0 ||
			it.hw != it.sentHW || it.logStart != it.sentLogStart
	}
	if plan.mode == fetchIncremental {
		dropUnchanged(resp, plan.items)
	}
	if plan.mode != fetchSessionless {
		resp.SessionID = sessions.finish(&plan, a.now())
	}
	if len(regions) > 0 {
		return &server.Spliced{Response: resp, Regions: regions}
	}
	return resp
}

// fetchTargets builds resp's topics and partitions from items, in items'
// order (consecutive items of one topic share a response topic; a session
// that rotated its partitions may name a topic more than once, as Kafka's
// responses do), answers the partitions that cannot be read, and returns
// the ones to read.
//
// Authorization, as Kafka's handleFetchRequest: a follower's fetch needs
// CLUSTER_ACTION on the cluster, a consumer's READ on each topic; a denied
// partition is answered TOPIC_AUTHORIZATION_FAILED (an unknown topic id
// stays UNKNOWN_TOPIC_ID: ids do not reveal names).
func (a *API) fetchTargets(c *server.Conn, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, items []fetchItem) []fetchTarget {
	byID := req.Version >= 13
	follower := replicaID(req)
	clusterDenied := follower >= 0 && !a.authorizedCluster(c, kmsg.ACLOperationClusterAction)
	denied := false
	targets := make([]fetchTarget, 0, len(items))
	// One backing array for every partition: an allocation per request,
	// not per topic or partition.
	parts := make([]kmsg.FetchResponseTopicPartition, len(items))
	var t *broker.Topic
	start := 0 // index in parts of the current response topic's first partition
	for k := range items {
		it := &items[k]
		if k == 0 || it.topic != items[k-1].topic || it.topicID != items[k-1].topicID {
			if k > 0 {
				resp.Topics[len(resp.Topics)-1].Partitions = parts[start:k:k]
			}
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = it.topic, it.topicID
			resp.Topics = append(resp.Topics, st)
			start = k
			t = a.topicByNameOrID(byID, it.topic, it.topicID)
			denied = clusterDenied
			if follower < 0 && (t != nil || !byID) {
				name := it.topic
				if t != nil {
					name = t.Name
				}
				denied = !a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)
			}
		}
		it.ti, it.pi = len(resp.Topics)-1, k-start
		sp := &parts[k]
		sp.Default()
		sp.Partition = it.partition
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		sp.PreferredReadReplica = -1
		sp.RecordBatches = []byte{}
		p, code := a.leaderPartition(t, it.partition)
		var epochCode int16
		if p != nil {
			epochCode = checkLeaderEpoch(req.Version >= 9, it.leaderEpoch, p.LeaderEpoch())
		}
		switch {
		case t == nil && byID && !clusterDenied:
			sp.ErrorCode = kerr.UnknownTopicID.Code
			it.unknown = true
		case denied:
			sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case code == kerr.NotLeaderForPartition.Code:
			sp.ErrorCode = code
			if l, e := currentLeader(t, it.partition); l >= 0 && req.Version >= 12 {
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = l, e
			}
		case p == nil:
			sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			it.unknown = true
		case epochCode != 0:
			sp.ErrorCode = epochCode
		case p.StorageError() != nil:
			// An offline replica serves nothing, even below the HW
			// (Kafka: KAFKA_STORAGE_ERROR for a partition on a failed
			// log dir).
			sp.ErrorCode = kerr.KafkaStorageError.Code
		case follower >= 0:
			// A follower reports, by fetching at it.offset, that it holds
			// everything below it on disk: the leader's HW may pass it.
			isr, err := p.UpdateFollower(follower, it.offset, a.now())
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.LogStartOffset, sp.HighWatermark = p.LogStartOffset(), p.HighWatermark()
				continue
			}
			if isr != nil {
				a.b.ProposeISR(p)
			}
			targets = append(targets, fetchTarget{ti: it.ti, pi: it.pi, p: p, offset: it.offset, max: it.maxBytes, replica: true})
		default:
			targets = append(targets, fetchTarget{ti: it.ti, pi: it.pi, p: p, offset: it.offset, max: it.maxBytes})
		}
	}
	if len(items) > 0 {
		resp.Topics[len(resp.Topics)-1].Partitions = parts[start:len(items):len(items)]
	}
	return targets
}

// dropUnchanged removes from resp, in place, the partitions whose item is
// not included. items and resp's partitions correspond one to one, in
// order (fetchTargets built them so).
func dropUnchanged(resp *kmsg.FetchResponse, items []fetchItem) {
	k, nt := 0, 0
	for ti := range resp.Topics {
		st := resp.Topics[ti]
		n := 0
		for pi := range st.Partitions {
			if items[k].included {
				st.Partitions[n] = st.Partitions[pi]
				n++
			}
			k++
		}
		if n > 0 {
			st.Partitions = st.Partitions[:n]
			resp.Topics[nt] = st
			nt++
		}
	}
	resp.Topics = resp.Topics[:nt]
}

// readAndWait reads every target into resp and, while that is fewer than
// min_bytes, long-polls: it registers on every target and reads again
// whenever one of them moves its high watermark, until max_wait passes or
// the broker stops. Sessionless, full and incremental fetches all come
// through here, so the budgeting and the wait are the same for all.
func (a *API) readAndWait(ctx context.Context, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, targets []fetchTarget) {
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	minBytes := int(req.MinBytes)
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	wait = min(max(wait, 0), maxFetchWait)
	deadline := time.Now().Add(wait)

	var signal chan struct{}
	for {
		total, hasErr := a.readTargets(req, resp, targets, maxBytes)
		if total >= minBytes || hasErr || len(targets) == 0 || minBytes <= 0 {
			return
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return
		}
		if signal == nil {
			signal = make(chan struct{}, 1)
			for _, t := range targets {
				cancel := t.p.Watch(signal)
				defer cancel()
			}
			// Re-check after registering: an append may have landed
			// between the read and the registration.
			continue
		}
		timer := time.NewTimer(remaining)
		select {
		case <-signal:
			timer.Stop()
		case <-timer.C:
			// one last read below, then answer
			a.readTargets(req, resp, targets, maxBytes)
			return
		case <-ctx.Done():
			timer.Stop()
			return
		case <-a.b.Context().Done():
			timer.Stop()
			return
		}
	}
}

// readTargets fills resp for every target (overwriting what an earlier
// pass filled) and returns the bytes gathered and whether any partition
// answered with an error (which ends the wait, as in Kafka).
func (a *API) readTargets(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, targets []fetchTarget, maxBytes int) (int, bool) {
	total := 0
	hasErr := false
	// Isolation levels exist from v4 (KIP-98); v0-v3 read uncommitted.
	readCommitted := req.Version >= 4 && req.IsolationLevel == 1
	for k := range targets {
		t := &targets[k]
		t.region.Release() // an earlier pass's, overwritten now
		sp := &resp.Topics[t.ti].Partitions[t.pi]
		// Never null: librdkafka rejects a null record set (size -1).
		sp.RecordBatches = []byte{}
		sp.ErrorCode = 0
		// KIP-74: the first partition with data gets a whole batch even
		// past the budgets; a spent budget still reads the offsets.
		budget := max(min(int(t.max), maxBytes-total), 0)
		var rr partition.ReadResult
		var err error
		switch {
		case t.replica && req.Version >= 4:
			rr, err = t.p.ReadReplicaRegion(t.offset, max(budget, 1))
			t.region = rr.Region
			rr.LastStableOffset = t.p.LastStableOffset()
		case t.replica:
			rr, err = t.p.ReadReplica(t.offset, max(budget, 1))
			rr.LastStableOffset = t.p.LastStableOffset()
		case req.Version >= 4:
			// Where the batches lie, not the bytes: the writer sends them
			// from the file (down-conversion for v0-v3 needs the bytes).
			// read_committed: up to the last stable offset, with the
			// aborted transactions in the returned range, so the client
			// drops their records.
			rr, err = t.p.ReadRegion(t.offset, budget, total == 0, readCommitted)
			t.region = rr.Region
		case readCommitted:
			rr, err = t.p.ReadCommitted(t.offset, budget, total == 0)
		default:
			rr, err = t.p.Read(t.offset, budget, total == 0)
		}
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
		sp.AbortedTransactions = nil
		if readCommitted && len(rr.Aborted) > 0 {
			sp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(rr.Aborted))
			for k, at := range rr.Aborted {
				sp.AbortedTransactions[k] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: at.ProducerID, FirstOffset: at.FirstOffset}
			}
		}
		if err != nil {
			sp.ErrorCode = errorCode(err)
			if !errors.Is(err, partition.ErrOffsetOutOfRange) && !errors.Is(err, partition.ErrClosed) {
				a.lg.Error("fetch read failed", "topic", t.p.Topic, "partition", t.p.Index, "offset", t.offset, "err", err)
			}
			hasErr = true
			continue
		}
		recs := rr.Records
		if req.Version <= 3 && len(recs) > 0 {
			magic := int8(1)
			if req.Version <= 1 {
				magic = 0
			}
			conv, err := record.ToLegacy(recs, magic)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				a.lg.Error("down-converting records for an old fetch failed", "topic", t.p.Topic, "partition", t.p.Index, "err", err)
				hasErr = true
				continue
			}
			recs = conv
		}
		if recs != nil {
			sp.RecordBatches = recs
		}
		total += len(recs) + t.region.Len
	}
	return total, hasErr
}

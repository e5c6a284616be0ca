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
// Fetch sessions (KIP-227): we answer session_id 0, which tells clients
// that no session was created; they keep sending full fetch requests, which
// every client supports. A request naming a session we never issued gets
// FETCH_SESSION_ID_NOT_FOUND, after which clients start over sessionless.
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
}

func (a *API) fetch(ctx context.Context, _ *server.Conn, req *kmsg.FetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	var targets []fetchTarget
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := a.topicByNameOrID(req.Version >= 13, rt.Topic, rt.TopicID)
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{}
			var p *partition.Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			var epochCode int16
			if p != nil {
				epochCode = checkLeaderEpoch(req.Version >= 9, rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			switch {
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case epochCode != 0:
				sp.ErrorCode = epochCode
			default:
				targets = append(targets, fetchTarget{ti: i, pi: j, p: p, offset: rp.FetchOffset, max: rp.PartitionMaxBytes})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}

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
			return resp
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return resp
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
			return resp
		case <-ctx.Done():
			timer.Stop()
			return resp
		case <-a.b.Context().Done():
			timer.Stop()
			return resp
		}
	}
}

// readTargets fills resp for every target (overwriting what an earlier
// pass filled) and returns the bytes gathered and whether any partition
// answered with an error (which ends the wait, as in Kafka).
func (a *API) readTargets(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, targets []fetchTarget, maxBytes int) (int, bool) {
	total := 0
	hasErr := false
	for _, t := range targets {
		sp := &resp.Topics[t.ti].Partitions[t.pi]
		// Never null: librdkafka rejects a null record set (size -1).
		sp.RecordBatches = []byte{}
		sp.ErrorCode = 0
		budget := min(int(t.max), maxBytes-total)
		minOne := total == 0
		if budget <= 0 && !minOne {
			budget = 0
		}
		var rr partition.ReadResult
		var err error
		if budget > 0 || minOne {
			rr, err = t.p.Read(t.offset, max(budget, 0), minOne)
		} else {
			rr, err = t.p.Read(t.offset, 0, false)
		}
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.HighWatermark, rr.LogStartOffset
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
		total += len(recs)
	}
	return total, hasErr
}

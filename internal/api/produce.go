package api

// Produce.
//
// Phase one (reader goroutine, request order): validate every batch (CRC,
// lengths, counts; max.message.bytes), check idempotent sequences, rewrite
// the broker-owned header fields and append to the log. Nothing of an
// invalid partition's data is written; other partitions of the request are
// unaffected.
//
// Phase two (writer goroutine): acks=1 and acks=-1 wait until the appended
// data is fsynced (group commit, shared with every other produce waiting on
// the same partition) — acknowledged means durable. On a single broker the
// ISR is the leader alone, so acks=all and acks=1 wait for the same thing.
// In a cluster acks=-1 then waits until the high watermark passes the
// batch: it is then on the disk of every in-sync replica (followers fsync
// before they report an offset; see partition/replica.go). A partition led
// elsewhere answers NOT_LEADER_OR_FOLLOWER with the current leader
// (KIP-951); acks=-1 with fewer in-sync replicas than min.insync.replicas
// is refused before the append (NOT_ENOUGH_REPLICAS) or, when the ISR
// shrank while waiting, after it (NOT_ENOUGH_REPLICAS_AFTER_APPEND). A
// broker whose controller lease ran out (LeaseValid) accepts nothing.
// acks=0 gets no response at all; its data is flushed in the background so
// consumers see it promptly.
//
// A topic with relaxed durability (flush.messages > 1) is acknowledged
// straight after the append, from the page cache; its partition asks for a
// background fsync once flush.messages records are unflushed, and the
// broker's flush scheduler fsyncs it when flush.ms has passed.
//
// Version notes: v0-v2 carry message format v0/v1 (converted to v2 batches
// on append); v3 record batches and transactional id; v5 log start offset;
// v8 per-record errors and error message; v9 flexible; v13 topic ids.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) handleProduce(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	// toFlush are the partitions this request appended to in durable
	// mode: phase two waits for each to be durable.
	var toFlush []flushTarget
	clustered := a.b.Clustered()
	var moved map[int32]bool // leaders named in NOT_LEADER answers (KIP-951)
	// Authorization, as Kafka's handleProduceRequest: a transactional
	// request needs WRITE on its transactional id (else every partition is
	// TRANSACTIONAL_ID_AUTHORIZATION_FAILED); each topic needs WRITE, checked
	// before existence so that a principal cannot probe for topics.
	txnDenied := req.TransactionID != nil && *req.TransactionID != "" &&
		!a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID)
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := a.topicByNameOrID(req.Version >= 13, rt.Topic, rt.TopicID)
		name := rt.Topic
		if t != nil {
			name = t.Name
		}
		topicDenied := !txnDenied && (req.Version < 13 || t != nil) &&
			!a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, name)
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			fail := func(code int16, err error) {
				sp.ErrorCode = code
				if req.Version >= 8 && err != nil {
					sp.ErrorMessage = errorMessage(err)
				}
			}
			p, code := a.leaderPartition(t, rp.Partition)
			switch {
			case badAcks:
				fail(kerr.InvalidRequiredAcks.Code, nil)
			case txnDenied:
				fail(kerr.TransactionalIDAuthorizationFailed.Code, nil)
			case topicDenied:
				fail(kerr.TopicAuthorizationFailed.Code, nil)
			case t == nil && req.Version >= 13:
				fail(kerr.UnknownTopicID.Code, nil)
			case code == kerr.NotLeaderForPartition.Code:
				fail(code, nil)
				if l, e := currentLeader(t, rp.Partition); l >= 0 && req.Version >= 10 {
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = l, e
					if moved == nil {
						moved = map[int32]bool{}
					}
					moved[l] = true
				}
			case code != 0:
				fail(code, nil)
			case t.Internal:
				// Clients may not write to internal topics directly
				// (Kafka: INVALID_TOPIC_EXCEPTION for __consumer_offsets).
				fail(kerr.InvalidTopicException.Code, nil)
			case clustered && req.Acks == -1 && p.ISRSize() < t.Config.MinInsyncReplicas:
				fail(kerr.NotEnoughReplicas.Code, fmt.Errorf("the ISR has %d replicas, min.insync.replicas is %d", p.ISRSize(), t.Config.MinInsyncReplicas))
			default:
				if code, err := a.checkTxnProduce(req.Version, req.TransactionID, t.Name, p, rp.Records); code != 0 {
					fail(code, err)
					a.lg.Debug("transactional produce refused", "topic", t.Name, "partition", p.Index, "client", c.Remote, "err", err)
					break
				}
				res, err := a.appendRecords(req.Version, p, rp.Records)
				if err != nil {
					fail(errorCode(err), err)
					a.logAppendError(c, p, err)
					break
				}
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
				if res.FlushNow {
					a.b.ScheduleFlush(p) // relaxed: flush.messages reached
				}
				if res.SyncOnAck || clustered {
					toFlush = append(toFlush, flushTarget{p: p, topic: i, partition: j, next: res.NextOffset,
						epoch: res.LeaderEpoch, minISR: t.Config.MinInsyncReplicas, flush: res.SyncOnAck})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}

	if moved != nil {
		resp.Brokers = a.produceNodeEndpoints(listenerOf(c), moved)
	}
	if req.Acks == 0 {
		for _, f := range toFlush {
			a.b.ScheduleFlush(f.p)
		}
		// acks=0 has no response to carry an error, so, as Kafka does, a
		// failed partition closes the connection: the client notices,
		// refreshes its metadata and reconnects.
		for i := range resp.Topics {
			for _, sp := range resp.Topics[i].Partitions {
				if sp.ErrorCode != 0 {
					return nil, fmt.Errorf("%w: acks=0 produce to %s-%d failed: %s", server.ErrCloseConnection,
						resp.Topics[i].Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
				}
			}
		}
		return func() kmsg.Response { return nil }, nil
	}
	if len(toFlush) == 0 {
		return server.Ready(resp), nil
	}
	return func() kmsg.Response {
		errs := flushAll(toFlush)
		if clustered && req.Acks == -1 {
			errs = a.waitReplicated(toFlush, errs, req.TimeoutMillis)
		}
		if errs == nil {
			return resp
		}
		// A failed fsync: the data may not be durable, so it must not be
		// acknowledged. The client retries (KAFKA_STORAGE_ERROR is
		// retriable) and gets the same error until an operator acts.
		// Each target names its own response entry: matching by
		// partition index alone would blame another topic's partition.
		for k, f := range toFlush {
			if errs[k] == nil {
				continue
			}
			sp := &resp.Topics[f.topic].Partitions[f.partition]
			sp.ErrorCode = kerr.KafkaStorageError.Code
			var re *replicationError
			if errors.As(errs[k], &re) {
				sp.ErrorCode = re.code
			}
			sp.BaseOffset = -1
			if req.Version >= 8 {
				sp.ErrorMessage = errorMessage(errs[k])
			}
		}
		return resp
	}, nil
}

// flushTarget is a partition a produce appended to and must wait for, with
// the indexes of its entry in the response (resp.Topics[topic].Partitions[partition]).
type flushTarget struct {
	p                *partition.Partition
	topic, partition int
	// Cluster: the offset acks=all waits for the HW to reach, the leader
	// epoch it was appended in, the topic's min.insync.replicas, and
	// whether the append needs an fsync (durable mode).
	next   int64
	epoch  int32
	minISR int
	flush  bool
}

// replicationError is an acks=all wait that failed, with its Kafka code.
type replicationError struct {
	code int16
	err  error
}

func (e *replicationError) Error() string { return e.err.Error() }

// waitReplicated waits, for each target whose flush succeeded, until the
// high watermark passes its batch (acks=all in a cluster), bounded by the
// request's timeout.
func (a *API) waitReplicated(ts []flushTarget, errs []error, timeoutMs int32) []error {
	ctx, cancel := context.WithTimeout(a.b.Context(), time.Duration(max(timeoutMs, 1))*time.Millisecond)
	defer cancel()
	for k, f := range ts {
		if errs != nil && errs[k] != nil {
			continue
		}
		var code int16
		err := f.p.WaitCommitted(ctx, f.next, f.epoch)
		switch {
		case err == nil && f.p.ISRSize() < f.minISR:
			code, err = kerr.NotEnoughReplicasAfterAppend.Code, fmt.Errorf("the ISR shrank to %d, below min.insync.replicas %d", f.p.ISRSize(), f.minISR)
		case err == nil && !a.b.LeaseValid():
			// Replicated, but this broker may have been replaced
			// meanwhile: the new leader has the record (it was in the
			// ISR), so the client's retry is answered as a duplicate.
			code, err = kerr.NotLeaderForPartition.Code, errors.New("the controller lease ran out while waiting")
		case err == nil:
		case errors.Is(err, partition.ErrNotLeader):
			code = kerr.NotLeaderForPartition.Code
		case errors.Is(err, context.DeadlineExceeded):
			code, err = kerr.RequestTimedOut.Code, fmt.Errorf("the in-sync replicas did not confirm within %d ms", timeoutMs)
		default:
			code = errorCode(err)
		}
		if err != nil {
			if errs == nil {
				errs = make([]error, len(ts))
			}
			errs[k] = &replicationError{code: code, err: err}
		}
	}
	return errs
}

// appendRecords converts old message formats and appends.
func (a *API) appendRecords(version int16, p *partition.Partition, records []byte) (partition.AppendResult, error) {
	if len(records) == 0 {
		return partition.AppendResult{}, errors.Join(record.ErrCorrupt, errors.New("empty record set"))
	}
	magic, err := record.Magic(records)
	if err != nil || magic < 0 || magic > 2 {
		// No known format starts like this: garbage, not an old client.
		return partition.AppendResult{}, fmt.Errorf("%w: unknown magic byte (%v)", record.ErrCorrupt, err)
	}
	if version >= 3 && magic == 2 {
		return p.AppendBatch(records, a.now())
	}
	if magic < 2 {
		if version >= 3 {
			// Produce v3+ must carry record batches (magic 2).
			return partition.AppendResult{}, record.ErrUnsupportedMagic
		}
		conv, err := record.FromLegacy(records)
		if err != nil {
			return partition.AppendResult{}, err
		}
		records = conv
	}
	return p.Append(records, a.now())
}

func (a *API) logAppendError(c *server.Conn, p *partition.Partition, err error) {
	switch errorCode(err) {
	case kerr.UnknownServerError.Code, kerr.KafkaStorageError.Code:
		a.lg.Error("append failed", "topic", p.Topic, "partition", p.Index, "client", c.Remote, "err", err)
	case kerr.CorruptMessage.Code:
		a.lg.Warn("rejected corrupt produce", "topic", p.Topic, "partition", p.Index, "client", c.Remote, "err", err)
	default:
		a.lg.Debug("produce refused", "topic", p.Topic, "partition", p.Index, "client", c.Remote, "err", err)
	}
}

// flushAll flushes the partitions concurrently (each one's fsync is shared
// with other requests by group commit) and returns per-partition errors, or
// nil when all succeeded.
func flushAll(ps []flushTarget) []error {
	if len(ps) == 1 {
		if !ps[0].flush {
			return nil
		}
		if err := ps[0].p.Flush(); err != nil {
			return []error{err}
		}
		return nil
	}
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	var failed bool
	var mu sync.Mutex
	for i, f := range ps {
		if !f.flush {
			continue // relaxed durability: acknowledged from the page cache
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.p.Flush(); err != nil {
				mu.Lock()
				errs[i], failed = err, true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if !failed {
		return nil
	}
	return errs
}

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
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := a.topicByNameOrID(req.Version >= 13, rt.Topic, rt.TopicID)
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
			var p *partition.Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			switch {
			case badAcks:
				fail(kerr.InvalidRequiredAcks.Code, nil)
			case t == nil && req.Version >= 13:
				fail(kerr.UnknownTopicID.Code, nil)
			case p == nil:
				fail(kerr.UnknownTopicOrPartition.Code, nil)
			case t.Internal:
				// Clients may not write to internal topics directly
				// (Kafka: INVALID_TOPIC_EXCEPTION for __consumer_offsets).
				fail(kerr.InvalidTopicException.Code, nil)
			default:
				res, err := a.appendRecords(req.Version, p, rp.Records)
				if err != nil {
					fail(errorCode(err), err)
					a.logAppendError(c, p, err)
					break
				}
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
				switch {
				case res.SyncOnAck:
					toFlush = append(toFlush, flushTarget{p: p, topic: i, partition: j})
				case res.FlushNow:
					a.b.ScheduleFlush(p)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
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

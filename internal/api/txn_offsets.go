package api

// TxnOffsetCommit: a transactional producer commits its consumer group's
// offsets as part of its transaction (KIP-98; KIP-447 adds the member's
// generation and ids so a zombie member of an older generation is fenced).
// The group coordinator writes the commits as a transactional batch to
// the group's __consumer_offsets partition and stages them; they become
// visible to OffsetFetch only when the transaction's marker commits them
// (group.Coordinator.CompleteTxn). The reply waits for the batch to be
// durable, as OffsetCommit's does.
//
// The producer id and epoch are not checked against the transaction
// coordinator here: Kafka relies on AddOffsetsToTxn having added the
// group's partition to the transaction. A stale epoch is fenced by the
// partition's producer-epoch check and answered INVALID_PRODUCER_EPOCH
// (Kafka's ProducerStateManager answer; clients treat it as fenced, like
// PRODUCER_FENCED).
//
// Version notes: v1 same as v0; v2 committed leader epochs; v3 flexible,
// generation, member id and group.instance.id (KIP-447); v4 may answer
// TRANSACTION_ABORTABLE (KIP-890, not produced here); v5 (Kafka 4.1,
// KIP-890 part 2) lets a client skip AddOffsetsToTxn: the broker adds the
// group's partition to the transaction itself. That needs the transaction
// coordinator and is not done by this handler. v6 (topic ids) is not
// served: Kafka 4.1 serves v0-v5. v0-v1 get COORDINATOR_NOT_AVAILABLE
// instead of COORDINATOR_LOAD_IN_PROGRESS (clients before 2.0 do not
// retry it; Kafka does the same).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/txn"
)

// txnOffsetEntries declares TxnOffsetCommit.
func (a *API) txnOffsetEntries() []entry {
	return []entry{{key: kmsg.TxnOffsetCommit, fn: a.handleTxnOffsetCommit}}
}

func (a *API) handleTxnOffsetCommit(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	tr := group.TxnCommitRequest{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Generation: -1}
	if req.Version >= 3 {
		tr.Generation, tr.MemberID, tr.InstanceID = req.Generation, req.MemberID, deref(req.InstanceID)
	}
	// where[i] locates tr.Offsets[i] in the response.
	type loc struct{ t, p int }
	var where []loc
	// Kafka: WRITE on the transactional id, READ on the group, READ on
	// each topic.
	var denyAll int16
	switch {
	case !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		denyAll = kerr.TransactionalIDAuthorizationFailed.Code
	case req.Group != "" && !a.groupAllowed(c, req.Group):
		denyAll = kerr.GroupAuthorizationFailed.Code
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		t := a.b.Topic(rt.Topic)
		topicDenied := denyAll == 0 && !a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		for j, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case denyAll != 0:
				sp.ErrorCode = denyAll
			case topicDenied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case req.Group == "":
				sp.ErrorCode = kerr.InvalidGroupID.Code
			case t == nil || rp.Partition < 0 || rp.Partition >= t.Count():
				// Kafka answers partitions that do not exist per partition
				// and commits the rest.
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				epoch := int32(-1)
				if req.Version >= 2 {
					epoch = rp.LeaderEpoch
				}
				tr.Offsets = append(tr.Offsets, group.CommitOffset{
					TP: group.TopicPartition{Topic: t.Name, Partition: rp.Partition}, Offset: rp.Offset,
					LeaderEpoch: epoch, Metadata: deref(rp.Metadata),
				})
				where = append(where, loc{i, j})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(tr.Offsets) == 0 {
		return server.Ready(resp), nil
	}
	if req.Version >= 5 && req.Group != "" {
		// Transactions v2 (KIP-890): the client sends no AddOffsetsToTxn;
		// the group's __consumer_offsets partition joins the transaction
		// here, through its coordinator.
		n := int(a.b.Config().OffsetsTopicNumPartitions)
		if t := a.b.Topic(offsetsTopic); t != nil {
			n = int(t.Count())
		}
		tp := txn.TopicPartition{Topic: offsetsTopic, Partition: int32(group.PartitionFor(req.Group, n))}
		if code, err := a.addToTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tp, true); code != 0 {
			for _, l := range where {
				resp.Topics[l.t].Partitions[l.p].ErrorCode = code
			}
			a.lg.Debug("TxnOffsetCommit: adding the group's partition to the transaction failed",
				"transactional_id", req.TransactionalID, "group", req.Group, "err", err)
			return server.Ready(resp), nil
		}
	}
	errs, wait := a.groups.TxnCommit(req.Group, tr)
	for i, err := range errs {
		l := where[i]
		resp.Topics[l.t].Partitions[l.p].ErrorCode = txnOffsetErrorCode(req.Version, err)
		a.logGroupError(c, "TxnOffsetCommit", req.Group, err)
	}
	return func() kmsg.Response {
		if err := wait(); err != nil {
			// Not durable: not acknowledged. Retriable; the producer
			// sends the commit again.
			a.logGroupError(c, "TxnOffsetCommit", req.Group, err)
			for i := range errs {
				if errs[i] == nil {
					l := where[i]
					resp.Topics[l.t].Partitions[l.p].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		return resp
	}, nil
}

// txnOffsetErrorCode maps a TxnOffsetCommit error to its Kafka code for
// the request's version.
func txnOffsetErrorCode(version int16, err error) int16 {
	code := groupErrorCode(err)
	if version < 2 && code == kerr.CoordinatorLoadInProgress.Code {
		// KafkaApis: clients from 0.11 to before 2.0 may crash on it.
		return kerr.CoordinatorNotAvailable.Code
	}
	return code
}

package api

// ListOffsets.
//
// Special timestamps: -1 latest (the high watermark; for read_committed the
// last stable offset, which equals it without transactions), -2 earliest
// (log start offset), -3 the record with the largest timestamp (KIP-734,
// v7+), -4 earliest local (KIP-405, v8+; no tiering, so earliest), -5
// latest tiered (v9+; nothing is tiered, so -1). Any other timestamp finds
// the first committed offset whose record timestamp is >= it, through the
// time index; none gives offset -1.
//
// Version notes: v0 answers old-style offset arrays (max_num_offsets);
// v1 single offset + timestamp; v2 isolation level; v4 leader epoch;
// v6 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) handleListOffsets(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := a.b.Topic(rt.Topic)
		// Kafka: DESCRIBE on the topic (CLUSTER_ACTION for a follower's).
		denied := !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		if req.ReplicaID >= 0 {
			denied = !a.authorizedCluster(c, kmsg.ACLOperationClusterAction)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			p, code := a.leaderPartition(t, rp.Partition)
			if denied {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				sp.ErrorCode = code
			} else {
				epoch := p.LeaderEpoch()
				switch code := checkLeaderEpoch(req.Version >= 4, rp.CurrentLeaderEpoch, epoch); {
				case code != 0:
					sp.ErrorCode = code
				case p.StorageError() != nil:
					sp.ErrorCode = kerr.KafkaStorageError.Code
				default:
					sp.LeaderEpoch = epoch
					// read_committed (v2+): nothing at or past the last
					// stable offset is visible.
					committed := req.Version >= 2 && req.IsolationLevel == 1
					switch rp.Timestamp {
					case -1:
						sp.Offset = p.HighWatermark()
						if committed {
							sp.Offset = p.LastStableOffset()
						}
					case -2, -4:
						sp.Offset = p.LogStartOffset()
					case -3:
						sp.Timestamp, sp.Offset = p.MaxTimestamp()
						if committed && sp.Offset >= p.LastStableOffset() {
							sp.Timestamp, sp.Offset = -1, -1
						}
					case -5:
						sp.Offset = -1
					default:
						off, ts, found, err := p.OffsetForTimestamp(rp.Timestamp)
						if err != nil {
							sp.ErrorCode = errorCode(err)
							a.lg.Error("list offsets by timestamp failed", "topic", p.Topic, "partition", p.Index, "err", err)
						} else if found && (!committed || off < p.LastStableOffset()) {
							sp.Offset, sp.Timestamp = off, ts
						}
					}
					if req.Version == 0 && sp.ErrorCode == 0 {
						// v0: an array of offsets; we give the one
						// asked for (Kafka gave segment base offsets
						// too, which no client relies on).
						if rp.MaxNumOffsets > 0 && sp.Offset >= 0 {
							sp.OldStyleOffsets = []int64{sp.Offset}
						} else {
							sp.OldStyleOffsets = []int64{}
						}
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Ready(resp), nil
}

// OffsetForLeaderEpoch.
//
// Answers, for a leader epoch, the end offset of that epoch on this leader:
// clients use it to detect log truncation after a leader change (KIP-320),
// followers to truncate (KIP-101). In a cluster the answer comes from the
// partition's leader-epoch cache. A single broker's partition has had one
// leader epoch since creation, so the current epoch ends at the log end offset
// (for consumers: the high watermark is what they may have seen, but Kafka
// answers the log end offset, and so do we); a newer epoch than ours is
// unknown (-1/-1), as Kafka answers.
//
// Version notes: v1 returns the epoch; v2 current leader epoch fencing;
// v3 replica id; v4 flexible.
func (a *API) handleOffsetForLeaderEpoch(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := a.b.Topic(rt.Topic)
		// Kafka: a follower's request (replica id >= 0, v3+) needs
		// CLUSTER_ACTION, a consumer's DESCRIBE on the topic.
		denied := !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		if req.Version >= 3 && req.ReplicaID >= 0 {
			denied = !a.authorizedCluster(c, kmsg.ACLOperationClusterAction)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			if denied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if p, code := a.leaderPartition(t, rp.Partition); code != 0 {
				sp.ErrorCode = code
			} else {
				epoch := p.LeaderEpoch()
				switch code := checkLeaderEpoch(req.Version >= 2, rp.CurrentLeaderEpoch, epoch); {
				case code != 0:
					sp.ErrorCode = code
				case p.Clustered():
					// From the leader-epoch cache: where the requested
					// epoch ends in this leader's log (KIP-101/279).
					sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
				case rp.LeaderEpoch > epoch:
					// unknown epoch: -1/-1
				default:
					sp.LeaderEpoch, sp.EndOffset = epoch, p.LogEndOffset()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Ready(resp), nil
}

// checkLeaderEpoch fences a request that names a current leader epoch
// (KIP-320): an older one than ours is FENCED_LEADER_EPOCH (the client's
// metadata is stale), a newer one UNKNOWN_LEADER_EPOCH (ours is). -1, or a
// version without the field, skips the check.
func checkLeaderEpoch(hasField bool, requested, current int32) int16 {
	switch {
	case !hasField || requested < 0:
		return 0
	case requested < current:
		return kerr.FencedLeaderEpoch.Code
	case requested > current:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

package api

// DeleteRecords.
//
// Moves each partition's log start offset forward to the requested offset
// (-1 = the high watermark) and answers the new low watermark. An offset
// beyond the high watermark (or below -1) is OFFSET_OUT_OF_RANGE; one at or
// below the current log start offset changes nothing and succeeds, as in
// Kafka. Whole segments below the new start are removed by the log; the
// offset is durable before the answer.
//
// Version notes: v2 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) handleDeleteRecords(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		t := a.b.Topic(rt.Topic)
		denied := !a.authorized(c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, rt.Topic)
		respT := kmsg.NewDeleteRecordsResponseTopic()
		respT.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			r := kmsg.NewDeleteRecordsResponseTopicPartition()
			r.Partition = rp.Partition
			r.LowWatermark = -1
			p, code := a.leaderPartition(t, rp.Partition)
			if denied {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				r.ErrorCode = code
				respT.Partitions = append(respT.Partitions, r)
				continue
			}
			low, err := p.DeleteRecords(rp.Offset)
			if err != nil {
				r.ErrorCode = errorCode(err)
				if r.ErrorCode != kerr.OffsetOutOfRange.Code {
					a.lg.Warn("deleting records failed", "topic", rt.Topic, "partition", rp.Partition, "offset", rp.Offset, "err", err)
				}
			} else {
				r.LowWatermark = low
			}
			respT.Partitions = append(respT.Partitions, r)
		}
		resp.Topics = append(resp.Topics, respT)
	}
	return server.Ready(resp), nil
}

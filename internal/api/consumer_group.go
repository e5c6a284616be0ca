package api

// Consumer groups, KIP-848 protocol: ConsumerGroupHeartbeat and
// ConsumerGroupDescribe. The state machine is internal/group's
// ConsumerGroup; this file translates requests and maps its errors.
//
// A heartbeat runs in phase one under the group's lock and answers in
// phase two after the __consumer_offsets records it wrote are fsynced:
// an epoch or assignment a member was told about survives a crash.
//
// Each heartbeat snapshots the cluster's topics (outside the group lock),
// so a subscribed topic that is created, or gains partitions, bumps the
// group epoch on the next heartbeat of any member.
//
// Version notes: ConsumerGroupHeartbeat v0 lets the broker choose the
// member id; v1 (KIP-848 GA, Kafka 4.0) has the client choose it and adds
// SubscribedTopicRegex (RE2, matched against the whole name).
// ConsumerGroupDescribe v1 adds MemberType.

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/server"
)

// consumerGroupEntries declares the KIP-848 APIs.
func (a *API) consumerGroupEntries() []entry {
	return []entry{
		{key: kmsg.ConsumerGroupHeartbeat, fn: a.handleConsumerGroupHeartbeat},
		{key: kmsg.ConsumerGroupDescribe, fn: a.handleConsumerGroupDescribe},
	}
}

// consumerErrorCode maps the consumer group errors; ok is false for
// anything else (groupErrorCode handles the rest).
func consumerErrorCode(err error) (code int16, ok bool) {
	switch {
	case errors.Is(err, group.ErrFencedMemberEpoch):
		return kerr.FencedMemberEpoch.Code, true
	case errors.Is(err, group.ErrStaleMemberEpoch):
		return kerr.StaleMemberEpoch.Code, true
	case errors.Is(err, group.ErrUnreleasedInstanceID):
		return kerr.UnreleasedInstanceID.Code, true
	case errors.Is(err, group.ErrUnsupportedAssignor):
		return kerr.UnsupportedAssignor.Code, true
	case errors.Is(err, group.ErrInvalidRegularExpression):
		return kerr.InvalidRegularExpression.Code, true
	case errors.Is(err, group.ErrInvalidRequest):
		return kerr.InvalidRequest.Code, true
	}
	return 0, false
}

// topicImage snapshots the cluster's topics for a heartbeat.
func (a *API) topicImage() group.TopicImage {
	ts := a.b.Topics()
	img := make(group.TopicImage, len(ts))
	for _, t := range ts {
		img[t.Name] = group.TopicMeta{Name: t.Name, ID: group.TopicID(t.ID), Partitions: int32(len(t.Partitions)), Internal: t.Internal}
	}
	return img
}

func (a *API) handleConsumerGroupHeartbeat(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	hb := group.ConsumerHeartbeat{
		MemberID:             req.MemberID,
		MemberEpoch:          req.MemberEpoch,
		InstanceID:           req.InstanceID,
		RackID:               req.RackID,
		RebalanceTimeout:     -1,
		SubscribedTopicNames: req.SubscribedTopicNames,
		ServerAssignor:       req.ServerAssignor,
		ClientID:             clientIDFrom(ctx),
		ClientHost:           clientHost(c),
	}
	if req.RebalanceTimeoutMillis >= 0 {
		hb.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.Version >= 1 {
		hb.SubscribedTopicRegex = req.SubscribedTopicRegex
	}
	if req.Topics != nil {
		hb.Owned = make(group.Assignment, len(req.Topics))
		for _, t := range req.Topics {
			hb.Owned[t.TopicID] = append(hb.Owned[t.TopicID], t.Partitions...)
		}
	}
	// Kafka: READ on the group, and DESCRIBE on every subscribed topic
	// named (a regex subscription only matches topics the member may
	// describe, which the assignment below does not check yet).
	if req.Group != "" && !a.groupAllowed(c, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	for _, t := range req.SubscribedTopicNames {
		if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.ErrorMessage = kmsg.StringPtr("not authorized to describe subscribed topic " + t)
			return server.Ready(resp), nil
		}
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code // Kafka: INVALID_REQUEST, not INVALID_GROUP_ID
		resp.ErrorMessage = strp("group id is required")
		return server.Ready(resp), nil
	}
	res, wait := a.groups.ConsumerHeartbeat(req.Group, hb, a.topicImage())
	fill := func(res group.ConsumerHeartbeatResult) {
		resp.ErrorCode = groupErrorCode(res.Err)
		if res.Err != nil {
			resp.ErrorMessage = errorMessage(res.Err)
			a.logGroupError(c, "ConsumerGroupHeartbeat", req.Group, res.Err)
			return
		}
		resp.MemberID = strp(res.MemberID)
		resp.MemberEpoch = res.MemberEpoch
		resp.HeartbeatIntervalMillis = int32(min(res.HeartbeatInterval.Milliseconds(), math.MaxInt32))
		if res.Assignment != nil {
			as := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			for id, ps := range res.Assignment {
				t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				t.TopicID, t.Partitions = id, ps
				as.Topics = append(as.Topics, t)
			}
			resp.Assignment = &as
		}
	}
	return func() kmsg.Response {
		if err := wait(); err != nil && res.Err == nil {
			// Not durable: do not hand out the epoch. Retriable.
			res.Err = errors.Join(group.ErrCoordinatorNotAvailable, err)
		}
		fill(res)
		return resp
	}, nil
}

func (a *API) handleConsumerGroupDescribe(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	assignment := func(as group.Assignment, names map[group.TopicID]string) kmsg.Assignment {
		out := kmsg.NewAssignment()
		for id, ps := range as {
			tp := kmsg.NewAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = id, names[id], ps
			if tp.Topic == "" {
				if t := a.b.TopicByID(metadata.TopicID(id)); t != nil {
					tp.Topic = t.Name
				}
			}
			out.TopicPartitions = append(out.TopicPartitions, tp)
		}
		return out
	}
	for _, id := range req.Groups {
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group = id
		if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = a.authorizedOps(c, kmsg.ACLResourceTypeGroup, id)
		}
		d, err := a.groups.DescribeConsumerGroup(id)
		if err != nil {
			g.ErrorCode = groupErrorCode(err)
			g.ErrorMessage = errorMessage(err)
			g.State = group.ConsumerDead.String()
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = d.State.String(), d.GroupEpoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.MemberID, m.MemberEpoch, m.ClientID, m.ClientHost
			if m.InstanceID != "" {
				dm.InstanceID = strp(m.InstanceID)
			}
			if m.RackID != "" {
				dm.RackID = strp(m.RackID)
			}
			dm.SubscribedTopics = m.SubscribedTopicNames
			if dm.SubscribedTopics == nil {
				dm.SubscribedTopics = []string{}
			}
			if m.SubscribedTopicRegex != "" {
				dm.SubscribedTopicRegex = strp(m.SubscribedTopicRegex)
			}
			dm.Assignment = assignment(m.Assigned, d.TopicNames)
			dm.TargetAssignment = assignment(m.Target, d.TopicNames)
			dm.MemberType = 1 // KIP-1099: a consumer-protocol member
			g.Members = append(g.Members, dm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return server.Ready(resp), nil
}

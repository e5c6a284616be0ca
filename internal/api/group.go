package api

// Consumer groups, classic protocol: FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
// DescribeGroups, DeleteGroups, OffsetDelete. The state lives in
// internal/group; this file translates requests and maps its errors to
// Kafka codes.
//
// JoinGroup and SyncGroup answer in phase two: the Pending blocks until the
// rebalance ends (or the leader's assignment arrives), which holds up later
// replies on the same connection, exactly as Kafka's muted channel does.
// OffsetCommit, and a SyncGroup or LeaveGroup that changed the stored group
// metadata, wait for the __consumer_offsets fsync before answering:
// acknowledged means durable.
//
// Version notes: FindCoordinator v1 key type (0 group, 1 transaction), v4
// batched keys (KIP-699), v6 share groups (refused). JoinGroup v1 rebalance
// timeout, v4 MEMBER_ID_REQUIRED (KIP-394), v5 group.instance.id (KIP-345),
// v7 protocol type in the answer, v8 reason, v9 skip_assignment. SyncGroup
// v3 instance id, v5 protocol type/name. LeaveGroup v3 batched members.
// OffsetCommit v0 has no generation (a simple commit), v1 a per-partition
// timestamp (ignored), v2-v4 a retention time, v6 leader epochs, v7
// instance id, v10 topic ids. OffsetFetch v2 null topics = all and a
// top-level error, v5 leader epochs, v7 require_stable (UNSTABLE_OFFSET_COMMIT per partition), v8 many groups
// (KIP-709), v10 topic ids. ListGroups v4 states filter, v5 types filter.
// DescribeGroups v6 answers GROUP_ID_NOT_FOUND for unknown groups (older
// versions answer the Dead state).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/txn"
)

// offsetsTopic is Kafka's internal topic for group state.
const offsetsTopic = broker.OffsetsTopicName

// groupEntries starts the group coordinator (closed with the broker) and
// declares the group APIs.
func (a *API) groupEntries() []entry {
	cfg := a.b.Config()
	a.groups = group.New(group.Config{
		OffsetsTopic: a.offsetsPartitions,
		Limits: group.Limits{
			MinSessionTimeout:     cfg.GroupMinSessionTimeout,
			MaxSessionTimeout:     cfg.GroupMaxSessionTimeout,
			MaxSize:               cfg.GroupMaxSize,
			InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
		},
		Consumer: group.ConsumerLimits{
			SessionTimeout:    cfg.ConsumerGroupSessionTimeout,
			HeartbeatInterval: cfg.ConsumerGroupHeartbeatInterval,
			MaxSize:           cfg.ConsumerGroupMaxSize,
		},
		OffsetsRetention: cfg.OffsetsRetention,
		Logger:           a.lg,
		Clustered:        a.b.Clustered(),
	})
	a.b.OnClose(a.groups.Close)
	if a.b.Clustered() {
		a.b.OnLeadership(func(topic string, i, n int32, p *partition.Partition, leading bool) {
			if topic == offsetsTopic {
				var gp group.Partition
				if leading {
					gp = replicatedPartition{p}
				}
				a.groups.SetLeadership(int(i), int(n), gp, leading)
			}
		})
	}
	return []entry{
		{key: kmsg.FindCoordinator, fn: a.handleFindCoordinator},
		{key: kmsg.JoinGroup, fn: a.handleJoinGroup},
		{key: kmsg.SyncGroup, fn: a.handleSyncGroup},
		{key: kmsg.Heartbeat, fn: a.handleHeartbeat},
		{key: kmsg.LeaveGroup, fn: a.handleLeaveGroup},
		{key: kmsg.OffsetCommit, fn: a.handleOffsetCommit},
		{key: kmsg.OffsetFetch, fn: a.handleOffsetFetch},
		{key: kmsg.ListGroups, fn: a.handleListGroups},
		{key: kmsg.DescribeGroups, fn: a.handleDescribeGroups},
		{key: kmsg.DeleteGroups, fn: a.handleDeleteGroups},
		{key: kmsg.OffsetDelete, fn: a.handleOffsetDelete},
	}
}

// groupCoordinator returns the broker leading the group's
// __consumer_offsets partition (cluster mode).
func (a *API) groupCoordinator(groupID string) (int32, bool) {
	t := a.b.Topic(offsetsTopic)
	if t == nil || t.Count() == 0 {
		return -1, false
	}
	as, ok := t.Assignment(int32(group.PartitionFor(groupID, int(t.Count()))))
	if !ok || as.Leader < 0 {
		return -1, false
	}
	return as.Leader, true
}

// offsetsPartitions hands the coordinator __consumer_offsets' partitions
// from the broker (which creates the topic when asked): wiring only, the
// coordinator's dependency points down to the broker.
func (a *API) offsetsPartitions(create bool) ([]group.Partition, error) {
	t, err := a.b.OffsetsTopic(create)
	if t == nil || err != nil {
		return nil, err
	}
	if a.b.Clustered() {
		// The coordinator gets the partitions this broker leads through
		// SetLeadership; this only made sure the topic exists.
		return make([]group.Partition, len(t.Partitions)), nil
	}
	ps := make([]group.Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		ps[i] = p
	}
	return ps, nil
}

// replicatedPartition is a __consumer_offsets partition in a cluster: a
// group write is acknowledged once it is on every in-sync replica (Flush
// waits for the high watermark), so a coordinator failover loses no commit.
type replicatedPartition struct{ *partition.Partition }

// groupWriteTimeout bounds how long a group write waits for its replicas.
const groupWriteTimeout = 10 * time.Second

func (r replicatedPartition) Flush() error {
	epoch := r.LeaderEpoch()
	end := r.LogEndOffset()
	if err := r.Partition.Flush(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
	defer cancel()
	if err := r.WaitCommitted(ctx, end, epoch); err != nil {
		return fmt.Errorf("%w: %w", group.ErrNotCoordinator, err)
	}
	return nil
}

// groupErrorCode maps group coordinator errors to Kafka codes; anything
// else goes through errorCode.
func groupErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, group.ErrNotCoordinator), errors.Is(err, partition.ErrNotLeader):
		return kerr.NotCoordinator.Code
	case errors.Is(err, group.ErrUnknownMemberID):
		return kerr.UnknownMemberID.Code
	case errors.Is(err, group.ErrIllegalGeneration):
		return kerr.IllegalGeneration.Code
	case errors.Is(err, group.ErrRebalanceInProgress):
		return kerr.RebalanceInProgress.Code
	case errors.Is(err, group.ErrInconsistentProtocol):
		return kerr.InconsistentGroupProtocol.Code
	case errors.Is(err, group.ErrGroupMaxSizeReached):
		return kerr.GroupMaxSizeReached.Code
	case errors.Is(err, group.ErrInvalidSessionTimeout):
		return kerr.InvalidSessionTimeout.Code
	case errors.Is(err, group.ErrInvalidGroupID):
		return kerr.InvalidGroupID.Code
	case errors.Is(err, group.ErrFencedInstanceID):
		return kerr.FencedInstanceID.Code
	case errors.Is(err, group.ErrMemberIDRequired):
		return kerr.MemberIDRequired.Code
	case errors.Is(err, group.ErrLoadInProgress):
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, group.ErrCoordinatorNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, group.ErrNonEmptyGroup):
		return kerr.NonEmptyGroup.Code
	case errors.Is(err, group.ErrGroupIDNotFound):
		return kerr.GroupIDNotFound.Code
	case errors.Is(err, group.ErrSubscribedToTopic):
		return kerr.GroupSubscribedToTopic.Code
	case errors.Is(err, group.ErrOffsetMetadataTooLarge):
		return kerr.OffsetMetadataTooLarge.Code
	default:
		if code, ok := consumerErrorCode(err); ok { // KIP-848 errors: consumer_group.go
			return code
		}
		return errorCode(err)
	}
}

// logGroupError logs errors that are not a normal part of the protocol.
func (a *API) logGroupError(c *server.Conn, api, groupID string, err error) {
	if groupErrorCode(err) == kerr.UnknownServerError.Code || groupErrorCode(err) == kerr.KafkaStorageError.Code {
		a.lg.Error("group request failed", "api", api, "group", groupID, "client", c.Remote, "err", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func strp(s string) *string { return &s }

// clientHost is Kafka's member client host: "/" and the client address.
func clientHost(c *server.Conn) string {
	host := c.Remote
	if h, _, err := net.SplitHostPort(c.Remote); err == nil {
		host = h
	}
	return "/" + host
}

func (a *API) handleFindCoordinator(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	host, port := a.advertisedOn(listenerOf(c))
	node := a.b.Config().NodeID
	for _, key := range keys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.NodeID, co.Host, co.Port = key, -1, "", -1
		var err error
		// Kafka: DESCRIBE on the group, or on the transactional id.
		if req.CoordinatorType == 0 && key != "" && !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key) {
			co.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Coordinators = append(resp.Coordinators, co)
			continue
		}
		if req.CoordinatorType == 1 && key != "" && !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key) {
			co.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.Coordinators = append(resp.Coordinators, co)
			continue
		}
		switch req.CoordinatorType {
		case 0:
			if key == "" {
				err = group.ErrInvalidGroupID
				break
			}
			err = a.groups.Ensure()
		case 1:
			if key == "" {
				err = txn.ErrInvalidID
				co.ErrorCode = kerr.InvalidRequest.Code
				break
			}
			if err = a.ensureTxnTopic(); err != nil {
				co.ErrorCode = txnErrorCode(err, true)
			}
		default:
			err = errors.New("unsupported coordinator key type")
			co.ErrorCode = kerr.InvalidRequest.Code
		}
		switch {
		case err == nil && a.b.Clustered():
			// The coordinator is the leader of the key's partition of
			// __consumer_offsets (groups) or __transaction_state.
			id, ok := a.groupCoordinator(key)
			if req.CoordinatorType == 1 {
				id, ok = a.txnCoordinator(key)
			}
			if e, found := a.endpointOf(listenerOf(c), id); ok && found {
				co.NodeID, co.Host, co.Port = e.ID, e.Host, e.Port
			} else {
				co.ErrorCode = kerr.CoordinatorNotAvailable.Code
				err = errors.New("the coordinator's partition has no leader right now")
			}
		case err == nil:
			co.NodeID, co.Host, co.Port = node, host, port
		case co.ErrorCode == 0:
			co.ErrorCode = groupErrorCode(err)
			if errors.Is(err, group.ErrInvalidGroupID) {
				co.ErrorCode = kerr.InvalidRequest.Code
			}
			a.logGroupError(c, "FindCoordinator", key, err)
		}
		if err != nil {
			co.ErrorMessage = errorMessage(err)
		}
		resp.Coordinators = append(resp.Coordinators, co)
	}
	if req.Version < 4 {
		co := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = co.ErrorCode, co.NodeID, co.Host, co.Port
		if req.Version >= 1 {
			resp.ErrorMessage = co.ErrorMessage
		}
	}
	return server.Ready(resp), nil
}

func (a *API) handleJoinGroup(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := group.JoinRequest{
		MemberID:             req.MemberID,
		InstanceID:           deref(req.InstanceID),
		ClientHost:           clientHost(c),
		ClientID:             clientIDFrom(ctx),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
	}
	if req.Version < 1 {
		jr.RebalanceTimeout = 0 // the session timeout stands in, as in Kafka
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	var wait func(context.Context) group.JoinResult
	if req.Group != "" && !a.groupAllowed(c, req.Group) {
		resp.ErrorCode, resp.MemberID, resp.Generation = kerr.GroupAuthorizationFailed.Code, req.MemberID, -1
		if req.Version < 7 {
			resp.Protocol = strp("")
		}
		return server.Ready(resp), nil
	}
	if req.Group == "" {
		wait = func(context.Context) group.JoinResult {
			return group.JoinResult{Err: group.ErrInvalidGroupID, MemberID: req.MemberID, Generation: -1}
		}
	} else {
		wait = a.groups.Join(req.Group, jr)
	}
	return func() kmsg.Response {
		res := wait(ctx)
		resp.ErrorCode = groupErrorCode(res.Err)
		a.logGroupError(c, "JoinGroup", req.Group, res.Err)
		resp.MemberID = res.MemberID
		resp.Generation = res.Generation
		if res.Err != nil {
			resp.Generation = -1
			resp.LeaderID = ""
			if req.Version < 7 {
				resp.Protocol = strp("")
			}
			return resp
		}
		resp.LeaderID = res.LeaderID
		resp.Protocol = strp(res.Protocol)
		if req.Version >= 7 {
			resp.ProtocolType = strp(res.ProtocolType)
		}
		resp.SkipAssignment = res.SkipAssignment
		for _, m := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
			if m.InstanceID != "" {
				rm.InstanceID = strp(m.InstanceID)
			}
			resp.Members = append(resp.Members, rm)
		}
		return resp
	}, nil
}

func (a *API) handleSyncGroup(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := group.SyncRequest{
		MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
		ProtocolType: deref(req.ProtocolType), Protocol: deref(req.Protocol),
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, ga := range req.GroupAssignment {
			sr.Assignments[ga.MemberID] = ga.MemberAssignment
		}
	}
	var wait func(context.Context) group.SyncResult
	if req.Group != "" && !a.groupAllowed(c, req.Group) {
		resp.ErrorCode, resp.MemberAssignment = kerr.GroupAuthorizationFailed.Code, []byte{}
		return server.Ready(resp), nil
	}
	if req.Group == "" {
		wait = func(context.Context) group.SyncResult { return group.SyncResult{Err: group.ErrInvalidGroupID} }
	} else {
		wait = a.groups.Sync(req.Group, sr)
	}
	return func() kmsg.Response {
		res := wait(ctx)
		resp.ErrorCode = groupErrorCode(res.Err)
		a.logGroupError(c, "SyncGroup", req.Group, res.Err)
		resp.MemberAssignment = res.Assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		if req.Version >= 5 && res.Err == nil {
			resp.ProtocolType, resp.Protocol = strp(res.ProtocolType), strp(res.Protocol)
		}
		return resp
	}, nil
}

func (a *API) handleHeartbeat(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if !a.groupAllowed(c, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	err := a.groups.Heartbeat(req.Group, req.MemberID, deref(req.InstanceID), req.Generation)
	resp.ErrorCode = groupErrorCode(err)
	a.logGroupError(c, "Heartbeat", req.Group, err)
	return server.Ready(resp), nil
}

func (a *API) handleLeaveGroup(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if !a.groupAllowed(c, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	var ms []group.LeaveMember
	if req.Version < 3 {
		ms = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			ms = append(ms, group.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID)})
		}
	}
	errs, wait, err := a.groups.Leave(req.Group, ms)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		a.logGroupError(c, "LeaveGroup", req.Group, err)
		return server.Ready(resp), nil
	}
	if req.Version < 3 {
		resp.ErrorCode = groupErrorCode(errs[0])
	} else {
		for i, m := range req.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
			rm.ErrorCode = groupErrorCode(errs[i])
			resp.Members = append(resp.Members, rm)
		}
	}
	return func() kmsg.Response {
		if err := wait(); err != nil {
			a.logGroupError(c, "LeaveGroup", req.Group, err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}, nil
}

// commitTopic resolves an OffsetCommit/OffsetFetch topic: by id at v10+,
// else by name. nil when unknown.
func (a *API) commitTopic(useID bool, name string, id [16]byte) *broker.Topic {
	if useID {
		return a.b.TopicByID(metadata.TopicID(id))
	}
	return a.b.Topic(name)
}

func (a *API) handleOffsetCommit(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	useID := req.Version >= 10
	cr := group.CommitRequest{Generation: req.Generation, MemberID: req.MemberID, InstanceID: deref(req.InstanceID)}
	if req.Version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
		cr.Retention = time.Duration(req.RetentionTimeMillis) * time.Millisecond
	}
	// where[i] locates cr.Offsets[i] in the response.
	type loc struct{ t, p int }
	var where []loc
	// Kafka: READ on the group (else every partition is
	// GROUP_AUTHORIZATION_FAILED), then READ on each topic.
	groupDenied := req.Group != "" && !a.groupAllowed(c, req.Group)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := a.commitTopic(useID, rt.Topic, rt.TopicID)
		name := rt.Topic
		if t != nil {
			name = t.Name
		}
		topicDenied := !groupDenied && (t != nil || !useID) && !a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)
		for j, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case req.Group == "":
				sp.ErrorCode = kerr.InvalidGroupID.Code
			case groupDenied:
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			case topicDenied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil && useID:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || rp.Partition >= t.Count():
				// Kafka 3.x refuses commits for partitions that do not
				// exist (they could never be consumed).
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				epoch := int32(-1)
				if req.Version >= 6 {
					epoch = rp.LeaderEpoch
				}
				cr.Offsets = append(cr.Offsets, group.CommitOffset{
					TP: group.TopicPartition{Topic: t.Name, Partition: rp.Partition}, Offset: rp.Offset,
					LeaderEpoch: epoch, Metadata: deref(rp.Metadata),
				})
				where = append(where, loc{i, j})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(cr.Offsets) == 0 {
		return server.Ready(resp), nil
	}
	errs, wait := a.groups.Commit(req.Group, cr)
	for i, err := range errs {
		l := where[i]
		resp.Topics[l.t].Partitions[l.p].ErrorCode = groupErrorCode(err)
		a.logGroupError(c, "OffsetCommit", req.Group, err)
	}
	return func() kmsg.Response {
		if err := wait(); err != nil {
			// Not durable: the commit must not be acknowledged. The
			// code is retriable; the client commits again.
			a.logGroupError(c, "OffsetCommit", req.Group, err)
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

// fetchGroupOffsets answers one group of an OffsetFetch. topics nil means
// every committed partition. requireStable (v7+) answers a partition with
// a transactional commit staged UNSTABLE_OFFSET_COMMIT (the client retries
// until the transaction ends), as Kafka does per partition. It returns the
// topics and a group-level code.
func (a *API) fetchGroupOffsets(c *server.Conn, version int16, groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) ([]kmsg.OffsetFetchResponseGroupTopic, int16) {
	useID := version >= 10
	all := topics == nil
	// Kafka: DESCRIBE on the group; then a listing of all committed
	// offsets leaves out the topics the principal may not DESCRIBE, and a
	// named one is TOPIC_AUTHORIZATION_FAILED.
	if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, groupID) {
		return nil, kerr.GroupAuthorizationFailed.Code
	}
	var tps []group.TopicPartition
	type reqTopic struct {
		name   string
		id     [16]byte
		ok     bool
		denied bool
	}
	resolved := make([]reqTopic, len(topics))
	for i, t := range topics {
		name := t.Topic
		ok := true
		if useID {
			if bt := a.b.TopicByID(metadata.TopicID(t.TopicID)); bt != nil {
				name = bt.Name
			} else {
				ok = false
			}
		}
		resolved[i] = reqTopic{name: name, id: t.TopicID, ok: ok}
		if ok && !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) {
			resolved[i].denied = true
			continue
		}
		if ok {
			for _, p := range t.Partitions {
				tps = append(tps, group.TopicPartition{Topic: name, Partition: p})
			}
		}
	}
	got, err := a.groups.FetchOffsets(groupID, tps, all)
	if err != nil {
		a.logGroupError(c, "OffsetFetch", groupID, err)
		return nil, groupErrorCode(err)
	}
	byTP := make(map[group.TopicPartition]group.FetchedOffset, len(got))
	for _, f := range got {
		byTP[f.TP] = f
	}
	part := func(tp group.TopicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
		sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = tp.Partition, -1, -1, strp("")
		f, ok := byTP[tp]
		switch {
		case ok && f.Unstable && requireStable:
			sp.ErrorCode = kerr.UnstableOffsetCommit.Code
		case ok && f.Found:
			sp.Offset, sp.LeaderEpoch, sp.Metadata = f.Offset.Offset, f.Offset.LeaderEpoch, strp(f.Offset.Metadata)
		}
		return sp
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	if all {
		for _, f := range got {
			if !a.authorizedQuiet(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, f.TP.Topic) {
				continue
			}
			if n := len(out); n == 0 || out[n-1].Topic != f.TP.Topic {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = f.TP.Topic
				if bt := a.b.Topic(f.TP.Topic); bt != nil {
					st.TopicID = bt.ID
				}
				out = append(out, st)
			}
			out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, part(f.TP))
		}
		return out, 0
	}
	for i, t := range topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			if resolved[i].denied {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if !resolved[i].ok {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
				sp.ErrorCode = kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			st.Partitions = append(st.Partitions, part(group.TopicPartition{Topic: resolved[i].name, Partition: p}))
		}
		out = append(out, st)
	}
	return out, 0
}

func (a *API) handleOffsetFetch(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	// require_stable (v7+): see fetchGroupOffsets.
	requireStable := req.Version >= 7 && req.RequireStable
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			if req.Version >= 9 {
				// KIP-848 members send their id and epoch (consumer_group.go).
				if err := a.groups.ValidateOffsetFetch(rg.Group, deref(rg.MemberID), rg.MemberEpoch); err != nil {
					g.ErrorCode = groupErrorCode(err)
					resp.Groups = append(resp.Groups, g)
					continue
				}
			}
			g.Topics, g.ErrorCode = a.fetchGroupOffsets(c, req.Version, rg.Group, rg.Topics, requireStable)
			resp.Groups = append(resp.Groups, g)
		}
		return server.Ready(resp), nil
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.Partitions = t.Topic, t.Partitions
			topics = append(topics, gt)
		}
	}
	gtopics, code := a.fetchGroupOffsets(c, req.Version, req.Group, topics, requireStable)
	if code != 0 {
		if req.Version >= 2 {
			resp.ErrorCode = code
			return server.Ready(resp), nil
		}
		// v0-v1 have no top-level error: every partition carries it.
		for _, t := range req.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p, -1, -1, strp(""), code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return server.Ready(resp), nil
	}
	for _, gt := range gtopics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Ready(resp), nil
}

func (a *API) handleListGroups(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	ls, err := a.groups.ListGroups()
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return server.Ready(resp), nil
	}
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	// Kafka: DESCRIBE on the cluster lists every group; otherwise only
	// the groups the principal may DESCRIBE.
	everyGroup := a.authorizedQuiet(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResourceName)
	for _, l := range ls {
		if !everyGroup && !a.authorizedQuiet(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, l.GroupID) {
			continue
		}
		// Type is "classic" or "consumer" (KIP-848, consumer_group.go).
		if !matches(req.StatesFilter, l.StateName) || !matches(req.TypesFilter, l.Type) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.GroupID, l.ProtocolType, l.StateName, l.Type
		resp.Groups = append(resp.Groups, g)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDescribeGroups(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = id
		g.AuthorizedOperations = math.MinInt32
		if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = a.authorizedOps(c, kmsg.ACLResourceTypeGroup, id)
		}
		d, err := a.groups.Describe(id)
		switch {
		case err != nil:
			g.ErrorCode = groupErrorCode(err)
			g.State = group.Dead.String()
		case d.State == group.Dead && req.Version >= 6:
			g.ErrorCode = kerr.GroupIDNotFound.Code
			g.ErrorMessage = strp("group " + id + " not found")
			g.State = group.Dead.String()
		default:
			g.State, g.ProtocolType, g.Protocol = d.State.String(), d.ProtocolType, d.Protocol
			if d.StateName != "" {
				g.State = d.StateName // a consumer (KIP-848) group's own state
			}
			for _, m := range d.Members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
				if m.InstanceID != "" {
					dm.InstanceID = strp(m.InstanceID)
				}
				dm.ProtocolMetadata, dm.MemberAssignment = m.Metadata, m.Assignment
				if dm.ProtocolMetadata == nil {
					dm.ProtocolMetadata = []byte{}
				}
				if dm.MemberAssignment == nil {
					dm.MemberAssignment = []byte{}
				}
				g.Members = append(g.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDeleteGroups(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		if !a.authorized(c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, id) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		// DeleteGroup fsyncs before returning: it runs in phase one,
		// which is fine for a rare admin request.
		err := a.groups.DeleteGroup(id)
		g.ErrorCode = groupErrorCode(err)
		a.logGroupError(c, "DeleteGroups", id, err)
		resp.Groups = append(resp.Groups, g)
	}
	return server.Ready(resp), nil
}

func (a *API) handleOffsetDelete(ctx context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	// Kafka: DELETE on the group, then READ on each topic.
	if !a.authorized(c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	var tps []group.TopicPartition
	type loc struct{ t, p int }
	var where []loc
	for i, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		t := a.b.Topic(rt.Topic)
		topicDenied := !a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		for j, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if topicDenied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if t == nil || rp.Partition < 0 || rp.Partition >= t.Count() {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				where = append(where, loc{i, j})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	errs, err := a.groups.DeleteOffsets(req.Group, tps)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		resp.Topics = nil
		a.logGroupError(c, "OffsetDelete", req.Group, err)
		return server.Ready(resp), nil
	}
	for i, err := range errs {
		l := where[i]
		resp.Topics[l.t].Partitions[l.p].ErrorCode = groupErrorCode(err)
	}
	return server.Ready(resp), nil
}

// groupAllowed reports whether c may READ group id: what joining, syncing,
// heartbeating, leaving and committing need (Kafka's rule).
func (a *API) groupAllowed(c *server.Conn, id string) bool {
	return a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, id)
}

package api

// ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments,
// DescribeQuorum: operating the replicas of a cluster. Every change goes to
// the active controller (broker.ElectLeaders, broker.Reassign); a single
// broker has nothing to elect or move, and answers so.
//
// ElectLeaders: type 0 (preferred) moves leadership to each partition's
// first replica where it is in sync; type 1 (unclean) elects any live
// replica of a leaderless partition. Null topics means every partition.
// AlterPartitionReassignments sets each partition's target replicas (null
// cancels); the new replicas catch up and join the ISR, then the
// controller drops the old ones. ListPartitionReassignments lists the ones
// in progress. DescribeQuorum describes the Raft metadata quorum as this
// node sees it (term as leader epoch, commit index as high watermark).
//
// Version notes: ElectLeaders v1 election type, v2 flexible;
// AlterPartitionReassignments v1 allow_replication_factor_change (always
// allowed here); DescribeQuorum v1 timestamps, v2 nodes and messages.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) replicationEntries() []entry {
	return []entry{
		{key: kmsg.ElectLeaders, fn: a.handleElectLeaders},
		{key: kmsg.AlterPartitionAssignments, fn: a.handleAlterPartitionAssignments},
		{key: kmsg.ListPartitionReassignments, fn: a.handleListPartitionReassignments},
		{key: kmsg.DescribeQuorum, fn: a.handleDescribeQuorum},
	}
}

func (a *API) handleElectLeaders(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationAlter) {
		// Kafka: CLUSTER_AUTHORIZATION_FAILED, top level (v1+) and for
		// every partition asked for.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, rt := range req.Topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return server.Ready(resp), nil
	}
	return func() kmsg.Response {
		which := map[string][]int32{}
		if req.Topics == nil {
			for _, t := range a.b.Topics() {
				for i := range t.Count() {
					which[t.Name] = append(which[t.Name], i)
				}
			}
		}
		for _, rt := range req.Topics {
			which[rt.Topic] = append(which[rt.Topic], rt.Partitions...)
		}
		var results map[string]map[int32]int16
		var err error
		if a.b.Clustered() {
			results, err = a.b.ElectLeaders(which, req.ElectionType == 1)
		} else {
			// One broker leads every partition already.
			results = map[string]map[int32]int16{}
			for name, ps := range which {
				results[name] = map[int32]int16{}
				t := a.b.Topic(name)
				for _, p := range ps {
					if t != nil && p >= 0 && p < t.Count() {
						results[name][p] = kerr.ElectionNotNeeded.Code
					} else {
						results[name][p] = kerr.UnknownTopicOrPartition.Code
					}
				}
			}
		}
		if err != nil {
			resp.ErrorCode = errorCode(err)
			return resp
		}
		for name, ps := range which {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = name
			for _, p := range ps {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = results[name][p]
				if rp.ErrorCode != 0 {
					rp.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(rp.ErrorCode).Error())
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}, nil
}

func (a *API) handleAlterPartitionAssignments(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if !a.authorizedCluster(c, kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("reassigning partitions needs ALTER on the cluster")
		return server.Ready(resp), nil
	}
	return func() kmsg.Response {
		for _, rt := range req.Topics {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition = rp.Partition
				var err error
				if !a.b.Clustered() {
					err = errors.New("a single broker cannot move replicas: start a cluster (process.roles, controller.quorum.voters)")
					sp.ErrorCode = kerr.InvalidReplicaAssignment.Code
				} else if t := a.b.Topic(rt.Topic); t == nil || rp.Partition < 0 || rp.Partition >= t.Count() {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else if err = a.b.Reassign(rt.Topic, rp.Partition, rp.Replicas); err != nil {
					sp.ErrorCode = errorCode(err)
				}
				if err != nil {
					sp.ErrorMessage = errorMessage(err)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}, nil
}

func (a *API) handleListPartitionReassignments(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("listing reassignments needs DESCRIBE on the cluster")
		return server.Ready(resp), nil
	}
	want := map[string]map[int32]bool{}
	for _, rt := range req.Topics {
		want[rt.Topic] = map[int32]bool{}
		for _, p := range rt.Partitions {
			want[rt.Topic][p] = true
		}
	}
	for _, t := range a.b.Topics() {
		if req.Topics != nil && want[t.Name] == nil {
			continue
		}
		var st *kmsg.ListPartitionReassignmentsResponseTopic
		for i, as := range t.Assignments {
			if len(as.Adding) == 0 && len(as.Removing) == 0 {
				continue
			}
			if req.Topics != nil && !want[t.Name][int32(i)] {
				continue
			}
			if st == nil {
				x := kmsg.NewListPartitionReassignmentsResponseTopic()
				x.Topic = t.Name
				st = &x
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = int32(i)
			sp.Replicas = append([]int32{}, as.Replicas...)
			sp.AddingReplicas = append([]int32{}, as.Adding...)
			sp.RemovingReplicas = append([]int32{}, as.Removing...)
			st.Partitions = append(st.Partitions, sp)
		}
		if st != nil {
			resp.Topics = append(resp.Topics, *st)
		}
	}
	return server.Ready(resp), nil
}

func (a *API) handleDescribeQuorum(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	qi, ok := a.b.Quorum()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case rt.Topic != "__cluster_metadata" || rp.Partition != 0:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !ok:
				// A single broker: a quorum of itself, with no Raft log.
				sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = a.b.NodeID(), 0, 0
				v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				v.ReplicaID, v.LogEndOffset = a.b.NodeID(), 0
				sp.CurrentVoters = append(sp.CurrentVoters, v)
			default:
				sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = qi.LeaderID, int32(qi.Term), qi.CommitIndex
				for _, id := range qi.Voters {
					v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
					v.ReplicaID, v.LogEndOffset = id, -1
					if id == a.b.NodeID() {
						v.LogEndOffset = qi.LastIndex
					}
					sp.CurrentVoters = append(sp.CurrentVoters, v)
				}
				for _, id := range qi.NonVoters {
					v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
					v.ReplicaID, v.LogEndOffset = id, -1
					sp.Observers = append(sp.Observers, v)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Ready(resp), nil
}

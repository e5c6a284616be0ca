package api

// How handlers see a cluster. On a single broker every partition is local
// and led here; in a cluster a topic's partitions live on the brokers the
// controller assigned, each led by one of them (broker.Topic.Assignments).
// These helpers answer "where is it, and may I serve it here" the same way
// for every API, with Kafka's error codes.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
)

// brokerEndpoint is a broker as clients see it.
type brokerEndpoint struct {
	ID   int32
	Host string
	Port int32
	Rack *string
}

// liveBrokers returns the brokers clients may use: this one alone on a
// single broker; every registered, unfenced broker in a cluster.
func (a *API) liveBrokers(listener string) []brokerEndpoint {
	st := a.b.ClusterState()
	if st == nil {
		host, port := a.advertisedOn(listener)
		return []brokerEndpoint{{ID: a.b.Config().NodeID, Host: host, Port: port}}
	}
	var out []brokerEndpoint
	for _, br := range st.LiveBrokers() {
		h, p, ok := a.registeredEndpoint(listener, br.Host, br.Port, br.Listeners)
		if !ok {
			continue
		}
		e := brokerEndpoint{ID: br.ID, Host: h, Port: p}
		if br.Rack != "" {
			r := br.Rack
			e.Rack = &r
		}
		out = append(out, e)
	}
	return out
}

// endpointOf returns broker id's endpoint on listener ("" = the primary,
// the inter-broker one), if registered.
func (a *API) endpointOf(listener string, id int32) (brokerEndpoint, bool) {
	st := a.b.ClusterState()
	if st == nil {
		if id != a.b.Config().NodeID {
			return brokerEndpoint{}, false
		}
		host, port := a.advertisedOn(listener)
		return brokerEndpoint{ID: id, Host: host, Port: port}, true
	}
	br, ok := st.Brokers[id]
	if !ok {
		return brokerEndpoint{}, false
	}
	h, p, ok := a.registeredEndpoint(listener, br.Host, br.Port, br.Listeners)
	if !ok {
		return brokerEndpoint{}, false
	}
	return brokerEndpoint{ID: id, Host: h, Port: p}, true
}

// controllerID is what Metadata and DescribeCluster name as controller:
// clients cannot reach KRaft controllers, so, as Kafka does, a live broker
// (the active controller when it is also a broker).
func (a *API) controllerID() int32 {
	st := a.b.ClusterState()
	if st == nil {
		return a.b.Config().NodeID
	}
	live := st.LiveBrokers()
	if len(live) == 0 {
		return -1
	}
	return live[0].ID
}

// leaderPartition returns the local partition i of t when this broker
// leads it (and, in a cluster, holds a valid controller lease), else the
// error code to answer: UNKNOWN_TOPIC_OR_PARTITION for a partition that does
// not exist, NOT_LEADER_OR_FOLLOWER where another broker leads, or nobody.
// An offline local replica (StorageError) is the caller's to answer.
func (a *API) leaderPartition(t *broker.Topic, i int32) (*partition.Partition, int16) {
	if t == nil || i < 0 || i >= t.Count() {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	p := t.Partition(i)
	if as, ok := t.Assignment(i); ok {
		// LeaseValid: a leader whose controller lease ran out, or whose
		// metadata lags the controller's, may have been replaced (a
		// partitioned or paused old leader): it serves neither writes
		// nor reads — a consumer must never read a tail the cluster
		// moved past — until it has caught up.
		if as.Leader != a.b.NodeID() || p == nil || !p.IsLeader() || !a.b.LeaseValid() {
			return nil, kerr.NotLeaderForPartition.Code
		}
	}
	if p == nil {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	return p, 0
}

// currentLeader fills KIP-951's current leader of a partition (Produce
// v10+, Fetch v12+): who leads now and at which epoch.
func currentLeader(t *broker.Topic, i int32) (leader, epoch int32) {
	if t == nil {
		return -1, -1
	}
	if as, ok := t.Assignment(i); ok {
		return as.Leader, as.LeaderEpoch
	}
	return -1, -1
}

// produceNodeEndpoints lists the endpoints of the leaders named in resp's
// errors (KIP-951), so the client can go there without a metadata round.
func (a *API) produceNodeEndpoints(listener string, ids map[int32]bool) []kmsg.ProduceResponseBroker {
	var out []kmsg.ProduceResponseBroker
	for id := range ids {
		if e, ok := a.endpointOf(listener, id); ok {
			nb := kmsg.NewProduceResponseBroker()
			nb.NodeID, nb.Host, nb.Port, nb.Rack = e.ID, e.Host, e.Port, e.Rack
			out = append(out, nb)
		}
	}
	return out
}

// offlineReplicas returns the replicas of as that are fenced or
// unregistered.
func offlineReplicas(st *metadata.State, as metadata.PartitionState) []int32 {
	out := []int32{}
	for _, r := range as.Replicas {
		if br, ok := st.Brokers[r]; !ok || br.Fenced {
			out = append(out, r)
		}
	}
	return out
}

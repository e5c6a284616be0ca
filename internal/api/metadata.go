package api

// Metadata.
//
// Lists the live brokers (with racks), the cluster id and a controller, and
// the requested topics with their partitions. A single broker leads every
// partition with itself as the only replica and ISR; in a cluster each
// partition's leader, leader epoch, replicas, ISR and offline replicas are
// the controller's (cluster_view.go).
//
// Topic selection: v0 with an empty list means all topics; v1+ uses null
// for all and empty for none. v10+ may name topics by id.
//
// Auto-creation (auto.create.topics.enable): v4+ asks with
// allow_auto_topic_creation; v0-v3 imply it, as Kafka does — kafka-python
// 2.0.2 sends Metadata v1 and relies on that. On a single broker a new
// topic is answered ready, with its partitions, in the same response; in a
// cluster, as Kafka does, with LEADER_NOT_AVAILABLE and no partitions.
//
// Version notes: v1 controller/rack/internal; v2 cluster id; v5 offline
// replicas; v7 leader epoch; v8-v10 authorized operations; v9 flexible;
// v10 topic ids.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/server"
)

// authorizedOperationsOmitted is Kafka's INT32_MIN: "not requested".
const authorizedOperationsOmitted = -2147483648

func (a *API) handleMetadata(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	cfg := a.b.Config()
	for _, e := range a.liveBrokers(listenerOf(c)) {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = e.ID, e.Host, e.Port, e.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	cid := a.b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = a.controllerID()
	resp.AuthorizedOperations = authorizedOperationsOmitted
	if req.IncludeClusterAuthorizedOperations && req.Version >= 8 && req.Version <= 10 {
		resp.AuthorizedOperations = a.authorizedOps(c, kmsg.ACLResourceTypeCluster, clusterResourceName)
	}
	// Authorization, as Kafka's handleTopicMetadataRequest: a listing of
	// all topics shows only those the principal may DESCRIBE; a named
	// topic it may not describe is TOPIC_AUTHORIZATION_FAILED, whether or
	// not it exists; auto-creation needs CREATE on the cluster or the topic.
	withOps := req.IncludeTopicAuthorizedOperations && req.Version >= 8
	topicResp := func(t *broker.Topic) kmsg.MetadataResponseTopic {
		mt := a.metadataTopic(t, req.Version)
		if withOps {
			mt.AuthorizedOperations = a.authorizedOps(c, kmsg.ACLResourceTypeTopic, t.Name)
		}
		return mt
	}
	denied := func(name *string, id [16]byte) {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = name, id
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		mt.AuthorizedOperations = authorizedOperationsOmitted
		resp.Topics = append(resp.Topics, mt)
	}

	autoCreate := cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range a.b.Topics() {
			if a.authorizedQuiet(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
				resp.Topics = append(resp.Topics, topicResp(t))
			}
		}
		return server.Ready(resp), nil
	}
	for _, rt := range req.Topics {
		var t *broker.Topic
		switch {
		case rt.Topic != nil && *rt.Topic != "":
			if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, *rt.Topic) {
				denied(rt.Topic, [16]byte{})
				continue
			}
			t = a.b.Topic(*rt.Topic)
			if t == nil && autoCreate && !a.authorizedCluster(c, kmsg.ACLOperationCreate) &&
				!a.authorized(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, *rt.Topic) {
				denied(rt.Topic, [16]byte{})
				continue
			}
			if t == nil && autoCreate {
				var err error
				t, err = a.b.AutoCreate(*rt.Topic)
				if err == nil && a.b.Clustered() {
					// Kafka answers the request that created a topic
					// with LEADER_NOT_AVAILABLE and no partitions; the
					// client asks again (kafka-go's tests expect it).
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic, mt.TopicID = rt.Topic, t.ID
					mt.ErrorCode = kerr.LeaderNotAvailable.Code
					mt.AuthorizedOperations = authorizedOperationsOmitted
					resp.Topics = append(resp.Topics, mt)
					continue
				}
				if err != nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = rt.Topic
					mt.ErrorCode = errorCode(err)
					if !errors.Is(err, broker.ErrInvalidTopic) {
						a.lg.Warn("auto-creating topic failed", "topic", *rt.Topic, "err", err)
					}
					mt.AuthorizedOperations = authorizedOperationsOmitted
					resp.Topics = append(resp.Topics, mt)
					continue
				}
			}
		case rt.TopicID != [16]byte{}:
			t = a.b.TopicByID(metadata.TopicID(rt.TopicID))
			if t != nil && !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
				denied(nil, rt.TopicID)
				continue
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = authorizedOperationsOmitted
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = rt.Topic
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic != nil {
				if err := broker.ValidateTopicName(*rt.Topic); err != nil {
					mt.ErrorCode = kerr.InvalidTopicException.Code
				}
			}
			mt.AuthorizedOperations = authorizedOperationsOmitted
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, topicResp(t))
	}
	return server.Ready(resp), nil
}

func (a *API) metadataTopic(t *broker.Topic, version int16) kmsg.MetadataResponseTopic {
	node := a.b.Config().NodeID
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = authorizedOperationsOmitted
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
	if st := a.b.ClusterState(); st != nil && t.Assignments != nil {
		for i, as := range t.Assignments {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = int32(i)
			mp.Leader, mp.LeaderEpoch = as.Leader, as.LeaderEpoch
			mp.Replicas, mp.ISR = append([]int32{}, as.Replicas...), append([]int32{}, as.ISR...)
			mp.OfflineReplicas = offlineReplicas(st, as)
			if as.Leader < 0 {
				mp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			mt.Partitions = append(mt.Partitions, mp)
		}
		return mt
	}
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = node
		mp.LeaderEpoch = p.LeaderEpoch()
		mp.Replicas = []int32{node}
		mp.ISR = []int32{node}
		mp.OfflineReplicas = []int32{}
		if p.StorageError() != nil {
			// The replica's storage failed (a sticky fsync error): it is
			// offline, and with no other replica there is no leader —
			// what a KRaft controller publishes once a broker reports a
			// failed log dir. Clients see LEADER_NOT_AVAILABLE (retriable)
			// and produce/fetch to it answer KAFKA_STORAGE_ERROR.
			mp.Leader = -1
			mp.OfflineReplicas = []int32{node}
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// topicByNameOrID finds a request's topic: by id in the versions that name
// topics by id (KIP-516: Fetch v13+, Produce v13+), else by name. nil if
// unknown.
func (a *API) topicByNameOrID(byID bool, name string, id [16]byte) *broker.Topic {
	if byID {
		return a.b.TopicByID(metadata.TopicID(id))
	}
	return a.b.Topic(name)
}

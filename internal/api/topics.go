package api

// CreateTopics, DeleteTopics, CreatePartitions.
//
// CreateTopics answers each topic on its own: name rules, partitions and
// replication factor (-1 = num.partitions / default.replication.factor),
// configs (INVALID_CONFIG naming the key), validate_only. A manual replica
// assignment is accepted when every partition 0..n-1 is listed once with
// exactly [our node id]; giving one together with num_partitions or
// replication_factor is INVALID_REQUEST, as in Kafka. A name listed twice
// in one request fails every copy with INVALID_REQUEST, as Kafka does,
// since it cannot tell which one the client meant.
//
// DeleteTopics deletes by name, or (v6+) by topic id; both set, or the same
// topic twice, is INVALID_REQUEST. CreatePartitions grows a topic; fewer or
// as many partitions as it has is INVALID_PARTITIONS with a message.
//
// Version notes, CreateTopics: v1 validate_only and error messages; v5
// flexible, and the response describes the topic (partitions, replication,
// configs); v7 topic ids. DeleteTopics: v4 flexible; v5 error messages; v6
// topics by id. CreatePartitions: v2 flexible.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) handleCreateTopics(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	dup := duplicates(names)
	// Kafka: CREATE on the cluster, or on each topic; the configs of the
	// answer (v5+) only with DESCRIBE_CONFIGS on the topic.
	clusterCreate := a.authorizedQuiet(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, clusterResourceName)
	for _, rt := range req.Topics {
		var rtt kmsg.CreateTopicsResponseTopic
		switch {
		case dup[rt.Topic]:
			rtt = createTopicError(rt.Topic, fmt.Errorf("%w: topic %q is listed more than once", errInvalidRequest, rt.Topic))
		case !clusterCreate && !a.authorized(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, rt.Topic):
			rtt = kmsg.NewCreateTopicsResponseTopic()
			rtt.Topic = rt.Topic
			rtt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rtt.ErrorMessage = kmsg.StringPtr("creating a topic needs CREATE on the cluster or on the topic")
		default:
			rtt = a.createTopic(rt, req.ValidateOnly, req.Version)
			if req.Version >= 5 && rtt.ErrorCode == 0 && !a.authorized(c, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rt.Topic) {
				rtt.Configs = nil
				rtt.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			}
		}
		resp.Topics = append(resp.Topics, rtt)
	}
	return server.Ready(resp), nil
}

// createTopic creates (or validates) one topic and describes the result.
func (a *API) createTopic(rt kmsg.CreateTopicsRequestTopic, validateOnly bool, version int16) kmsg.CreateTopicsResponseTopic {
	cfg := a.b.Config()
	cr := broker.CreateTopicRequest{
		Name:              rt.Topic,
		Partitions:        rt.NumPartitions,
		ReplicationFactor: rt.ReplicationFactor,
		ValidateOnly:      validateOnly,
	}
	if len(rt.ReplicaAssignment) > 0 {
		n, err := checkAssignment(rt, cfg.NodeID, a.b.Clustered())
		if err != nil {
			return createTopicError(rt.Topic, err)
		}
		cr.Partitions, cr.ReplicationFactor = n, 1
		if a.b.Clustered() {
			cr.Assignments = make([][]int32, n)
			for _, ra := range rt.ReplicaAssignment {
				cr.Assignments[ra.Partition] = ra.Replicas
			}
			cr.ReplicationFactor = int16(len(cr.Assignments[0]))
		}
	}
	configs, err := createTopicConfigs(rt.Configs)
	if err != nil {
		return createTopicError(rt.Topic, err)
	}
	cr.Configs = configs

	t, err := a.b.CreateTopic(cr)
	if err != nil {
		if errorCode(err) == kerr.UnknownServerError.Code {
			a.lg.Warn("creating topic failed", "topic", rt.Topic, "err", err)
		}
		return createTopicError(rt.Topic, err)
	}

	rtt := kmsg.NewCreateTopicsResponseTopic()
	rtt.Topic = rt.Topic
	// Kafka describes the topic as created, or as it would be created
	// under validate_only: defaults resolved, configs effective.
	rtt.NumPartitions = cr.Partitions
	if rtt.NumPartitions == -1 {
		rtt.NumPartitions = cfg.NumPartitions
	}
	rtt.ReplicationFactor = cr.ReplicationFactor
	if rtt.ReplicationFactor == -1 {
		rtt.ReplicationFactor = cfg.DefaultReplicationFactor
	}
	overrides := configs
	if t != nil {
		rtt.TopicID = t.ID
		rtt.NumPartitions = int32(len(t.Partitions))
		overrides = t.Overrides
	}
	if version >= 5 {
		for _, e := range config.DescribeTopic(cfg, overrides) {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name = e.Name
			if !e.ValueNull && !e.Sensitive {
				c.Value = kmsg.StringPtr(e.Value)
			}
			c.ReadOnly = e.ReadOnly
			c.Source = int8(e.Source)
			c.IsSensitive = e.Sensitive
			rtt.Configs = append(rtt.Configs, c)
		}
	}
	return rtt
}

// checkAssignment checks a manual replica assignment and returns the
// number of partitions it describes.
func checkAssignment(rt kmsg.CreateTopicsRequestTopic, node int32, clustered bool) (int32, error) {
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return 0, fmt.Errorf("%w: both num_partitions/replication_factor and a replica assignment were given; use one or the other", errInvalidRequest)
	}
	n := int32(len(rt.ReplicaAssignment))
	seen := make([]bool, n)
	for _, ra := range rt.ReplicaAssignment {
		if ra.Partition < 0 || ra.Partition >= n {
			return 0, fmt.Errorf("%w: partition %d is out of range; the assignment must list partitions 0 to %d", errInvalidReplicaAssignment, ra.Partition, n-1)
		}
		if seen[ra.Partition] {
			return 0, fmt.Errorf("%w: partition %d is listed more than once", errInvalidReplicaAssignment, ra.Partition)
		}
		seen[ra.Partition] = true
		if clustered {
			continue // the controller checks the brokers named
		}
		if err := checkOwnReplicas(ra.Replicas, node); err != nil {
			return 0, fmt.Errorf("partition %d: %w", ra.Partition, err)
		}
	}
	return n, nil
}

// createTopicConfigs turns the request's configs into overrides. A null
// value or a key given twice is INVALID_CONFIG naming the key; the values
// themselves are validated by the broker.
func createTopicConfigs(cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(cs))
	for _, c := range cs {
		if c.Value == nil {
			return nil, fmt.Errorf("%w: %s: a null value is not supported for topic configs", config.ErrInvalidValue, c.Name)
		}
		if _, ok := m[c.Name]; ok {
			return nil, fmt.Errorf("%w: %s is given more than once", config.ErrInvalidValue, c.Name)
		}
		m[c.Name] = *c.Value
	}
	return m, nil
}

func createTopicError(name string, err error) kmsg.CreateTopicsResponseTopic {
	rtt := kmsg.NewCreateTopicsResponseTopic() // num partitions and replication factor -1
	rtt.Topic = name
	rtt.ErrorCode = errorCode(err)
	rtt.ErrorMessage = adminErrorMessage(err)
	return rtt
}

func (a *API) handleDeleteTopics(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	// v0-v5 name topics in TopicNames, v6+ in Topics (name or id); fold
	// both into one list.
	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	// Resolve ids to names first, so that a topic named twice (by name, by
	// id, or both) is caught as a duplicate.
	type target struct {
		rt   kmsg.DeleteTopicsResponseTopic
		name string
		err  error
	}
	targets := make([]target, len(topics))
	var names []string
	for i, dt := range topics {
		tg := &targets[i]
		tg.rt = kmsg.NewDeleteTopicsResponseTopic()
		tg.rt.Topic, tg.rt.TopicID = dt.Topic, dt.TopicID
		switch {
		case dt.Topic != nil && *dt.Topic != "" && dt.TopicID != [16]byte{}:
			tg.err = fmt.Errorf("%w: give a topic name or a topic id, not both", errInvalidRequest)
		case dt.Topic != nil && *dt.Topic != "":
			tg.name = *dt.Topic
			if t := a.b.Topic(tg.name); t != nil {
				tg.rt.TopicID = t.ID
			}
		case dt.TopicID != [16]byte{}:
			t := a.b.TopicByID(metadata.TopicID(dt.TopicID))
			if t == nil {
				tg.rt.ErrorCode = kerr.UnknownTopicID.Code
				tg.rt.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("no topic has id %s", metadata.TopicID(dt.TopicID)))
				continue
			}
			tg.name = t.Name
			tg.rt.Topic = kmsg.StringPtr(t.Name)
		default:
			tg.err = fmt.Errorf("%w: the topic has neither a name nor an id", errInvalidRequest)
		}
		if tg.name != "" {
			names = append(names, tg.name)
		}
	}
	dup := duplicates(names)
	for i := range targets {
		tg := &targets[i]
		if tg.err == nil && tg.name != "" && !a.authorized(c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, tg.name) {
			// Kafka: DELETE on the topic, checked before existence.
			tg.rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, tg.rt)
			continue
		}
		if tg.err == nil && tg.name != "" {
			if dup[tg.name] {
				tg.err = fmt.Errorf("%w: topic %q is listed more than once", errInvalidRequest, tg.name)
			} else {
				tg.err = a.b.DeleteTopic(tg.name)
				if tg.err != nil && errorCode(tg.err) == kerr.UnknownServerError.Code {
					a.lg.Warn("deleting topic failed", "topic", tg.name, "err", tg.err)
				}
			}
		}
		if tg.err != nil {
			tg.rt.ErrorCode = errorCode(tg.err)
			tg.rt.ErrorMessage = adminErrorMessage(tg.err)
		}
		resp.Topics = append(resp.Topics, tg.rt)
	}
	return server.Ready(resp), nil
}

func (a *API) handleCreatePartitions(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	dup := duplicates(names)
	for _, rt := range req.Topics {
		r := kmsg.NewCreatePartitionsResponseTopic()
		r.Topic = rt.Topic
		var err error
		if !a.authorized(c, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic) {
			r.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, r)
			continue
		}
		if dup[rt.Topic] {
			err = fmt.Errorf("%w: topic %q is listed more than once", errInvalidRequest, rt.Topic)
		} else {
			err = a.createPartitions(rt, req.ValidateOnly)
		}
		if err != nil {
			r.ErrorCode = errorCode(err)
			r.ErrorMessage = adminErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, r)
	}
	return server.Ready(resp), nil
}

func (a *API) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t := a.b.Topic(rt.Topic)
	if t == nil {
		return fmt.Errorf("%w: %q", broker.ErrUnknownTopic, rt.Topic)
	}
	if rt.Assignment != nil {
		// The assignment lists the new partitions only.
		if added := int(rt.Count) - len(t.Partitions); added > 0 && len(rt.Assignment) != added {
			return fmt.Errorf("%w: the assignment lists %d partitions, but %d are being added", errInvalidReplicaAssignment, len(rt.Assignment), added)
		}
		node := a.b.Config().NodeID
		for i, as := range rt.Assignment {
			if a.b.Clustered() {
				break
			}
			if err := checkOwnReplicas(as.Replicas, node); err != nil {
				return fmt.Errorf("new partition %d: %w", len(t.Partitions)+i, err)
			}
		}
	}
	var err error
	if a.b.Clustered() && rt.Assignment != nil {
		as := make([][]int32, len(rt.Assignment))
		for i := range rt.Assignment {
			as[i] = rt.Assignment[i].Replicas
		}
		err = a.b.CreatePartitionsAssigned(rt.Topic, rt.Count, validateOnly, as)
	} else {
		err = a.b.CreatePartitions(rt.Topic, rt.Count, validateOnly)
	}
	if err != nil && errorCode(err) == kerr.UnknownServerError.Code {
		a.lg.Warn("creating partitions failed", "topic", rt.Topic, "err", err)
	}
	return err
}

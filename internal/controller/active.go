package controller

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
)

// Controller is the controller role of a node. While its Raft member leads
// the quorum it is the active controller: it registers and fences brokers,
// places replicas, elects partition leaders from the ISR, takes ISR changes
// from leaders and applies every admin change, all as metadata records
// committed through Raft. On the other voters it only answers
// NOT_CONTROLLER with the leader's id.
//
// Decisions are serialised by mu and always read the state that the
// previous decision left: a proposal returns after this node's FSM applied
// it, so there is never a second writer to race with.
type Controller struct {
	node *Node
	cfg  config.Broker
	lg   *slog.Logger

	mu      sync.Mutex
	leading bool                // this node has taken over as active controller; guarded by mu
	seen    map[int32]time.Time // last heartbeat per broker, active controller only; guarded by mu

	rpc  net.Listener
	stop chan struct{}
	wg   sync.WaitGroup
}

// NewController starts the controller role on node, answering broker calls
// arriving on rpc (the controller listener's mux).
func NewController(node *Node, cfg config.Broker, rpc net.Listener, lg *slog.Logger) *Controller {
	c := &Controller{node: node, cfg: cfg, lg: lg, seen: map[int32]time.Time{}, stop: make(chan struct{}), rpc: rpc}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.serveRPC(rpc)
	}()
	go c.loop()
	return c
}

// Close stops the controller role (the Raft node is closed by its owner).
func (c *Controller) Close() {
	close(c.stop)
	c.rpc.Close()
	c.wg.Wait()
}

// tick is how often the active controller checks broker sessions, offline
// partitions and reassignments.
const tick = 50 * time.Millisecond

func (c *Controller) loop() {
	defer c.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	lastRebalance := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if !c.node.IsLeader() {
			c.mu.Lock()
			c.leading = false
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		if !c.leading {
			if err := c.takeOverLocked(); err != nil {
				c.lg.Warn("taking over as active controller", "err", err)
				c.mu.Unlock()
				continue
			}
		}
		c.checkSessionsLocked(time.Now())
		c.electOfflineLocked()
		c.completeReassignmentsLocked()
		if c.cfg.AutoLeaderRebalance && time.Since(lastRebalance) >= c.cfg.LeaderImbalanceCheck {
			lastRebalance = time.Now()
			c.preferredElectionsLocked(nil)
		}
		c.mu.Unlock()
	}
}

// takeOverLocked runs once when this node becomes the active controller:
// it waits until every committed entry is applied, gives every registered
// broker a grace period from now to heartbeat to it (the previous
// controller's heartbeat times died with it), and names the cluster if
// nobody has.
//
// The grace is takeoverGrace, not a whole session: a live broker finds
// the new controller within a heartbeat or two (it learns the Raft leader,
// or is told NOT_CONTROLLER), so a broker that died with the old
// controller — often the same process — is fenced sooner, and the
// partitions it led fail over in about two seconds all told.
func (c *Controller) takeOverLocked() error {
	if err := c.node.Raft.Barrier(5 * time.Second).Error(); err != nil {
		return err
	}
	now := time.Now()
	grace := c.takeoverGrace()
	c.seen = map[int32]time.Time{}
	for id := range c.node.FSM.State().Brokers {
		c.seen[id] = now.Add(grace - c.cfg.BrokerSessionTimeout)
	}
	if c.node.FSM.State().ClusterID == "" {
		id := metadata.NewTopicID().String()
		if err := c.proposeLocked(metadata.Record{Type: metadata.RecordClusterID, ClusterID: id}); err != nil {
			return err
		}
	}
	c.leading = true
	c.lg.Info("this node is now the active controller", "node", c.node.ID, "cluster_id", c.node.FSM.State().ClusterID)
	return nil
}

// takeoverGrace is how long a new active controller waits for a broker's
// first heartbeat before fencing it: four heartbeat intervals, at most the
// session timeout. Brokers lead on a lease of the same length (broker
// leaseDuration), so a broker cut off with the old controller has stopped
// leading before the new one can fence it.
func (c *Controller) takeoverGrace() time.Duration {
	return min(4*c.cfg.BrokerHeartbeatInterval, c.cfg.BrokerSessionTimeout)
}

// proposeLocked commits recs as one Raft entry and returns once this node
// has applied it (or the error that refused it).
func (c *Controller) proposeLocked(recs ...metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	b, err := encodeRecords(recs)
	if err != nil {
		return err
	}
	start := time.Now()
	f := c.node.Raft.Apply(b, 5*time.Second)
	if err := f.Error(); err != nil {
		if err == raft.ErrNotLeader || err == raft.ErrLeadershipLost {
			c.leading = false
			return errorf(kerr.NotController, "lost the controller role while committing: %v", err)
		}
		return errorf(kerr.RequestTimedOut, "metadata quorum: %v", err)
	}
	commitLatency.Observe(time.Since(start).Seconds())
	if resp, ok := f.Response().(error); ok && resp != nil {
		return errorf(kerr.InvalidRequest, "%v", resp)
	}
	return nil
}

func (c *Controller) state() *metadata.State { return c.node.FSM.State() }

// live reports whether broker id is registered and unfenced.
func live(st *metadata.State, id int32) bool {
	b, ok := st.Brokers[id]
	return ok && !b.Fenced
}

// Call runs one broker call on this node; it must be the active controller.
func (c *Controller) Call(op string, body json.RawMessage) (json.RawMessage, error) {
	if !c.node.IsLeader() {
		return nil, errorf(kerr.NotController, "node %d is not the active controller", c.node.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.leading {
		if err := c.takeOverLocked(); err != nil {
			return nil, errorf(kerr.NotController, "not ready as active controller: %v", err)
		}
	}
	h, ok := handlers[op]
	if !ok {
		return nil, errorf(kerr.InvalidRequest, "unknown controller call %q", op)
	}
	out, err := h(c, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

var handlers = map[string]func(c *Controller, body json.RawMessage) (any, error){
	OpRegister:           call((*Controller).registerLocked),
	OpHeartbeat:          call((*Controller).heartbeatLocked),
	OpAlterPartition:     call((*Controller).alterPartitionLocked),
	OpCreateTopic:        call((*Controller).createTopicLocked),
	OpDeleteTopic:        call((*Controller).deleteTopicLocked),
	OpCreatePartitions:   call((*Controller).createPartitionsLocked),
	OpSetConfigs:         call((*Controller).setConfigsLocked),
	OpAllocProducerIDs:   call((*Controller).allocProducerIDsLocked),
	OpElectLeaders:       call((*Controller).electLeadersLocked),
	OpReassign:           call((*Controller).reassignLocked),
	OpControlledShutdown: call((*Controller).controlledShutdownLocked),
	OpSecurity:           call((*Controller).securityLocked),
}

func call[Req any, Resp any](fn func(*Controller, Req) (Resp, error)) func(*Controller, json.RawMessage) (any, error) {
	return func(c *Controller, body json.RawMessage) (any, error) {
		var req Req
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, errorf(kerr.InvalidRequest, "undecodable controller call: %v", err)
		}
		return fn(c, req)
	}
}

// The calls.
const (
	OpRegister           = "register"
	OpHeartbeat          = "heartbeat"
	OpAlterPartition     = "alter_partition"
	OpCreateTopic        = "create_topic"
	OpDeleteTopic        = "delete_topic"
	OpCreatePartitions   = "create_partitions"
	OpSetConfigs         = "set_configs"
	OpAllocProducerIDs   = "alloc_producer_ids"
	OpElectLeaders       = "elect_leaders"
	OpReassign           = "reassign"
	OpControlledShutdown = "controlled_shutdown"
	OpSecurity           = "security"
)

// RegisterRequest registers a starting broker (Kafka's BrokerRegistration).
type RegisterRequest struct {
	ID         int32  `json:"id"`
	Host       string `json:"host"`
	Port       int32  `json:"port"`
	Rack       string `json:"rack,omitempty"`
	Controller bool   `json:"controller,omitempty"`
	RaftAddr   string `json:"raft_addr,omitempty"`
	ClusterID  string `json:"cluster_id,omitempty"` // the data dir's, "" on first start
	// Listeners: the further client listeners' advertised host:port.
	Listeners map[string]string `json:"listeners,omitempty"`
}

// RegisterResponse carries the new broker epoch.
type RegisterResponse struct {
	Epoch     int64  `json:"epoch"`
	ClusterID string `json:"cluster_id"`
}

// registerLocked records a new incarnation of a broker, fenced: the broker
// is unfenced by its first heartbeat after it has caught up with the
// metadata log up to its own registration (Kafka's rule), so a restarted
// broker never leads before it knows what it leads. The registration also
// takes the old incarnation's leaderships away, as fencing does.
func (c *Controller) registerLocked(req RegisterRequest) (RegisterResponse, error) {
	st := c.state()
	if req.ClusterID != "" && st.ClusterID != "" && req.ClusterID != st.ClusterID {
		return RegisterResponse{}, errorf(kerr.InconsistentClusterID, "broker %d belongs to cluster %s, this quorum is cluster %s", req.ID, req.ClusterID, st.ClusterID)
	}
	epoch := int64(c.node.Raft.LastIndex()) + 1
	if old, ok := st.Brokers[req.ID]; ok && old.Epoch >= epoch {
		epoch = old.Epoch + 1
	}
	reg := &metadata.BrokerRegistration{ID: req.ID, Epoch: epoch, Host: req.Host, Port: req.Port, Rack: req.Rack, Listeners: req.Listeners,
		Fenced: true, Controller: req.Controller, RaftAddr: req.RaftAddr}
	recs := []metadata.Record{{Type: metadata.RecordRegisterBroker, Broker: reg}}
	next := st.Clone()
	if err := next.Apply(recs[0]); err != nil {
		return RegisterResponse{}, errorf(kerr.InvalidRequest, "%v", err)
	}
	recs = append(recs, brokerDownChanges(next, req.ID, c.cfg.UncleanLeaderElection)...)
	if err := c.proposeLocked(recs...); err != nil {
		return RegisterResponse{}, err
	}
	c.seen[req.ID] = time.Now()
	if req.RaftAddr != "" && !req.Controller {
		// A broker-only node follows the metadata log as a non-voter.
		if err := c.node.Raft.AddNonvoter(serverID(req.ID), raft.ServerAddress(req.RaftAddr), 0, 5*time.Second).Error(); err != nil {
			c.lg.Warn("adding a broker to the metadata log's followers", "broker", req.ID, "err", err)
		}
	}
	c.lg.Info("broker registered", "broker", req.ID, "epoch", epoch, "address", fmt.Sprintf("%s:%d", req.Host, req.Port), "rack", req.Rack)
	return RegisterResponse{Epoch: epoch, ClusterID: c.state().ClusterID}, nil
}

// HeartbeatRequest keeps a broker's session alive.
type HeartbeatRequest struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
	// CaughtUp: the broker has applied the metadata log up to its own
	// registration, so it may be unfenced.
	CaughtUp bool `json:"caught_up"`
	// ShuttingDown: a controlled shutdown is in progress; stay fenced.
	ShuttingDown bool `json:"shutting_down,omitempty"`
}

// HeartbeatResponse says whether the broker is fenced, and the metadata
// the broker must have applied before it may act on the answer (its
// leader lease starts only once it knows what it leads as of now).
type HeartbeatResponse struct {
	Fenced        bool   `json:"fenced"`
	MetadataIndex uint64 `json:"metadata_index"`
}

func (c *Controller) heartbeatLocked(req HeartbeatRequest) (HeartbeatResponse, error) {
	st := c.state()
	b, ok := st.Brokers[req.ID]
	if !ok || b.Epoch != req.Epoch {
		return HeartbeatResponse{}, errorf(kerr.StaleBrokerEpoch, "broker %d epoch %d is not registered; register again", req.ID, req.Epoch)
	}
	c.seen[req.ID] = time.Now()
	if b.Fenced && req.CaughtUp && !req.ShuttingDown {
		recs := []metadata.Record{{Type: metadata.RecordUnfenceBroker, Broker: &metadata.BrokerRegistration{ID: req.ID, Epoch: b.Epoch}}}
		next := st.Clone()
		_ = next.Apply(recs[0])
		recs = append(recs, brokerUpChanges(next, req.ID)...)
		if err := c.proposeLocked(recs...); err != nil {
			return HeartbeatResponse{}, err
		}
		c.lg.Info("broker unfenced", "broker", req.ID, "epoch", b.Epoch)
		return HeartbeatResponse{Fenced: false, MetadataIndex: c.node.FSM.Applied()}, nil
	}
	return HeartbeatResponse{Fenced: b.Fenced, MetadataIndex: c.node.FSM.Applied()}, nil
}

// ControlledShutdownRequest asks to move every leadership away from a
// broker that is stopping (SIGTERM), and to fence it.
type ControlledShutdownRequest struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// ControlledShutdownResponse: Remaining is how many partitions the broker
// still leads (none left once it is fenced).
type ControlledShutdownResponse struct {
	Remaining int `json:"remaining"`
}

func (c *Controller) controlledShutdownLocked(req ControlledShutdownRequest) (ControlledShutdownResponse, error) {
	st := c.state()
	b, ok := st.Brokers[req.ID]
	if !ok || b.Epoch != req.Epoch {
		return ControlledShutdownResponse{}, errorf(kerr.StaleBrokerEpoch, "broker %d epoch %d is not registered", req.ID, req.Epoch)
	}
	if !b.Fenced {
		if err := c.fenceLocked(req.ID, "controlled shutdown"); err != nil {
			return ControlledShutdownResponse{}, err
		}
	}
	n := 0
	for _, t := range c.state().Topics {
		for _, a := range t.Assignments {
			if a.Leader == req.ID {
				n++
			}
		}
	}
	return ControlledShutdownResponse{Remaining: n}, nil
}

// checkSessionsLocked fences every unfenced broker whose last heartbeat is
// older than broker.session.timeout.ms.
func (c *Controller) checkSessionsLocked(now time.Time) {
	st := c.state()
	for id, b := range st.Brokers {
		if b.Fenced {
			continue
		}
		seen, ok := c.seen[id]
		if !ok {
			c.seen[id] = now
			continue
		}
		if now.Sub(seen) > c.cfg.BrokerSessionTimeout {
			if err := c.fenceLocked(id, fmt.Sprintf("no heartbeat for %v", now.Sub(seen).Round(time.Millisecond))); err != nil {
				c.lg.Warn("fencing broker", "broker", id, "err", err)
			}
		}
	}
}

// fenceLocked fences broker id and moves its leaderships and ISR places.
func (c *Controller) fenceLocked(id int32, why string) error {
	st := c.state()
	b := st.Brokers[id]
	recs := []metadata.Record{{Type: metadata.RecordFenceBroker, Broker: &metadata.BrokerRegistration{ID: id, Epoch: b.Epoch}}}
	next := st.Clone()
	_ = next.Apply(recs[0])
	changes := brokerDownChanges(next, id, c.cfg.UncleanLeaderElection)
	recs = append(recs, changes...)
	if err := c.proposeLocked(recs...); err != nil {
		return err
	}
	c.lg.Warn("fenced broker: its partitions' leadership moves to in-sync replicas", "broker", id, "reason", why, "partition_changes", len(changes))
	return nil
}

// brokerDownChanges returns the partition changes that take broker id out
// of service in st (where it is already fenced or re-registered): where it
// leads, leadership passes to the first live in-sync replica in replica
// order and it leaves the ISR; with no such replica the partition goes
// offline (leader -1) and keeps id in its ISR, so that id, the last replica
// known to hold every committed record, can lead again when it returns.
// Where another broker leads, id leaves the ISR.
func brokerDownChanges(st *metadata.State, id int32, unclean bool) []metadata.Record {
	var recs []metadata.Record
	for _, name := range st.TopicNames() {
		t := st.Topics[name]
		for i, a := range t.Assignments {
			if !a.InISR(id) {
				continue
			}
			n := a.Clone()
			n.PartitionEpoch++
			switch {
			case a.Leader == id:
				n.LeaderEpoch++
				if nl := pickLeader(st, a, id); nl >= 0 {
					n.Leader = nl
					n.ISR = remove(a.ISR, id)
				} else {
					n.Leader = -1
				}
			case a.Leader >= 0 && len(a.ISR) > 1:
				n.ISR = remove(a.ISR, id)
			default:
				continue
			}
			recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: int32(i), Change: &n})
		}
	}
	return recs
}

// brokerUpChanges elects broker id, now unfenced, where a partition is
// offline and id is in its ISR.
func brokerUpChanges(st *metadata.State, id int32) []metadata.Record {
	var recs []metadata.Record
	for _, name := range st.TopicNames() {
		t := st.Topics[name]
		for i, a := range t.Assignments {
			if a.Leader != -1 || !a.InISR(id) {
				continue
			}
			n := a.Clone()
			n.PartitionEpoch++
			n.LeaderEpoch++
			n.Leader = pickLeader(st, a, -1)
			if n.Leader < 0 {
				continue
			}
			recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: int32(i), Change: &n})
		}
	}
	return recs
}

// pickLeader returns the first replica, in replica order, that is in the
// ISR, live and not exclude; -1 if none.
func pickLeader(st *metadata.State, a metadata.PartitionState, exclude int32) int32 {
	for _, r := range a.Replicas {
		if r != exclude && a.InISR(r) && live(st, r) && !slices.Contains(a.Removing, r) {
			return r
		}
	}
	for _, r := range a.Replicas {
		if r != exclude && a.InISR(r) && live(st, r) {
			return r
		}
	}
	return -1
}

func remove(s []int32, x int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// electOfflineLocked elects a leader wherever a partition is offline and a
// live replica is in its ISR (brokers that were unfenced before the
// partition went offline), and, with unclean.leader.election.enable, any
// live replica as a last resort.
func (c *Controller) electOfflineLocked() {
	st := c.state()
	var recs []metadata.Record
	for _, name := range st.TopicNames() {
		t := st.Topics[name]
		for i, a := range t.Assignments {
			if a.Leader != -1 {
				continue
			}
			n := a.Clone()
			n.Leader = pickLeader(st, a, -1)
			if n.Leader < 0 && c.uncleanFor(t) {
				for _, r := range a.Replicas {
					if live(st, r) {
						n.Leader, n.ISR = r, []int32{r}
						c.lg.Warn("unclean leader election: records only the old ISR held are lost", "topic", name, "partition", i, "leader", r)
						break
					}
				}
			}
			if n.Leader < 0 {
				continue
			}
			n.LeaderEpoch++
			n.PartitionEpoch++
			recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: int32(i), Change: &n})
		}
	}
	if err := c.proposeLocked(recs...); err != nil {
		c.lg.Warn("electing leaders of offline partitions", "err", err)
	}
}

func (c *Controller) uncleanFor(t *metadata.Topic) bool {
	if v, ok := t.Configs["unclean.leader.election.enable"]; ok {
		return v == "true"
	}
	return c.cfg.UncleanLeaderElection
}

// AlterPartitionRequest is a leader's ISR change (Kafka's AlterPartition).
type AlterPartitionRequest struct {
	Broker         int32   `json:"broker"`
	BrokerEpoch    int64   `json:"broker_epoch"`
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
}

// AlterPartitionResponse is the partition's state after the change.
type AlterPartitionResponse struct {
	State metadata.PartitionState `json:"state"`
}

// alterPartitionLocked applies Kafka's AlterPartition rules: only the
// current leader, at the current leader and partition epochs, may change
// the ISR; the new ISR holds the leader, only replicas, and no fenced
// broker among the members it adds.
func (c *Controller) alterPartitionLocked(req AlterPartitionRequest) (AlterPartitionResponse, error) {
	st := c.state()
	b, ok := st.Brokers[req.Broker]
	if !ok || b.Epoch != req.BrokerEpoch {
		return AlterPartitionResponse{}, errorf(kerr.StaleBrokerEpoch, "broker %d epoch %d is stale", req.Broker, req.BrokerEpoch)
	}
	t, ok := st.Topics[req.Topic]
	if !ok || int(req.Partition) >= len(t.Assignments) || req.Partition < 0 {
		return AlterPartitionResponse{}, errorf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", req.Topic, req.Partition)
	}
	a := t.Assignments[req.Partition]
	switch {
	case a.Leader != req.Broker:
		return AlterPartitionResponse{State: a}, errorf(kerr.NotLeaderForPartition, "broker %d does not lead %s-%d (leader %d)", req.Broker, req.Topic, req.Partition, a.Leader)
	case req.LeaderEpoch != a.LeaderEpoch:
		return AlterPartitionResponse{State: a}, errorf(kerr.FencedLeaderEpoch, "leader epoch %d, current %d", req.LeaderEpoch, a.LeaderEpoch)
	case req.PartitionEpoch != a.PartitionEpoch:
		return AlterPartitionResponse{State: a}, errorf(kerr.InvalidUpdateVersion, "partition epoch %d, current %d", req.PartitionEpoch, a.PartitionEpoch)
	case !slices.Contains(req.ISR, req.Broker):
		return AlterPartitionResponse{State: a}, errorf(kerr.InvalidRequest, "the ISR must hold the leader")
	}
	for _, r := range req.ISR {
		if !a.HasReplica(r) {
			return AlterPartitionResponse{State: a}, errorf(kerr.InvalidRequest, "%d is not a replica of %s-%d", r, req.Topic, req.Partition)
		}
		if !a.InISR(r) && !live(st, r) {
			return AlterPartitionResponse{State: a}, errorf(kerr.IneligibleReplica, "replica %d is fenced and cannot join the ISR", r)
		}
	}
	n := a.Clone()
	n.ISR = slices.Clone(req.ISR)
	n.PartitionEpoch++
	err := c.proposeLocked(metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: req.Topic}, Partition: req.Partition, Change: &n})
	if err != nil {
		return AlterPartitionResponse{State: a}, err
	}
	isrChanges.Inc()
	return AlterPartitionResponse{State: n}, nil
}

// CreateTopicRequest creates a topic. Assignments, when given, are the
// replicas of each partition (CreateTopics' manual assignment); else the
// controller places ReplicationFactor replicas per partition.
type CreateTopicRequest struct {
	Name              string            `json:"name"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	Internal          bool              `json:"internal,omitempty"`
	ValidateOnly      bool              `json:"validate_only,omitempty"`
	Assignments       [][]int32         `json:"assignments,omitempty"`
	// ShrinkRF: place min(ReplicationFactor, live brokers) replicas
	// (internal topics on a cluster smaller than their configured factor).
	ShrinkRF bool `json:"shrink_rf,omitempty"`
}

// CreateTopicResponse names the new topic's id.
type CreateTopicResponse struct {
	ID                metadata.TopicID `json:"id"`
	ReplicationFactor int16            `json:"replication_factor"`
}

func (c *Controller) createTopicLocked(req CreateTopicRequest) (CreateTopicResponse, error) {
	st := c.state()
	if _, ok := st.Topics[req.Name]; ok {
		return CreateTopicResponse{}, errorf(kerr.TopicAlreadyExists, "topic %q already exists", req.Name)
	}
	assign, err := c.placeLocked(st, req.Partitions, req.ReplicationFactor, req.Assignments, 0, req.ShrinkRF)
	if err != nil {
		return CreateTopicResponse{}, err
	}
	if req.ValidateOnly {
		return CreateTopicResponse{ReplicationFactor: int16(len(assign[0].Replicas))}, nil
	}
	t := &metadata.Topic{Name: req.Name, ID: metadata.NewTopicID(), Partitions: req.Partitions, Configs: req.Configs, Internal: req.Internal, Assignments: assign}
	if err := c.proposeLocked(metadata.Record{Type: metadata.RecordCreateTopic, Topic: t}); err != nil {
		return CreateTopicResponse{}, err
	}
	c.lg.Info("created topic", "topic", req.Name, "partitions", req.Partitions, "replication_factor", len(assign[0].Replicas))
	return CreateTopicResponse{ID: t.ID, ReplicationFactor: int16(len(assign[0].Replicas))}, nil
}

// placeLocked assigns replicas for count partitions numbered from first.
// Brokers are ordered alternating by rack (Kafka's rack-aware order), so
// consecutive picks fall on different racks; partition p starts at
// (first+p) modulo the broker count, spreading leaders evenly.
func (c *Controller) placeLocked(st *metadata.State, count int32, rf int16, manual [][]int32, first int32, shrink bool) ([]metadata.PartitionState, error) {
	if count < 1 {
		return nil, errorf(kerr.InvalidPartitions, "%d partitions (must be at least 1)", count)
	}
	if manual != nil {
		if len(manual) != int(count) {
			return nil, errorf(kerr.InvalidReplicaAssignment, "%d assignments for %d partitions", len(manual), count)
		}
		out := make([]metadata.PartitionState, count)
		for i, rs := range manual {
			if len(rs) == 0 {
				return nil, errorf(kerr.InvalidReplicaAssignment, "partition %d has no replica", int(first)+i)
			}
			for _, r := range rs {
				if _, ok := st.Brokers[r]; !ok {
					return nil, errorf(kerr.InvalidReplicaAssignment, "broker %d is not registered", r)
				}
			}
			ps := metadata.PartitionState{Replicas: slices.Clone(rs), Leader: -1}
			for _, r := range rs {
				if live(st, r) {
					ps.ISR = append(ps.ISR, r)
				}
			}
			if len(ps.ISR) == 0 {
				ps.ISR = []int32{rs[0]}
			} else {
				ps.Leader = ps.ISR[0]
			}
			out[i] = ps
		}
		return out, nil
	}
	brokers := rackAlternating(st.LiveBrokers())
	if shrink && int(rf) > len(brokers) {
		rf = int16(max(len(brokers), 1))
	}
	if rf < 1 {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor %d (must be at least 1)", rf)
	}
	if int(rf) > len(brokers) {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor %d is larger than the %d live brokers", rf, len(brokers))
	}
	n := len(brokers)
	racks := map[string]bool{}
	for _, b := range brokers {
		racks[b.Rack] = true
	}
	out := make([]metadata.PartitionState, count)
	for p := range count {
		start := int(first+p) % n
		rs := make([]int32, 0, rf)
		used := map[string]bool{}
		taken := map[int32]bool{}
		// Walk the rack-alternating list from start, taking a broker of
		// a rack this partition has no replica on yet; once every rack
		// has one, any broker not taken.
		for len(rs) < int(rf) {
			before := len(rs)
			for i := 0; i < n && len(rs) < int(rf); i++ {
				b := brokers[(start+i)%n]
				if taken[b.ID] || (used[b.Rack] && len(used) < len(racks)) {
					continue
				}
				rs = append(rs, b.ID)
				taken[b.ID], used[b.Rack] = true, true
			}
			if len(used) == len(racks) || len(rs) == before {
				// Every rack has one (or the racks left have no broker
				// free): start another round over all racks.
				used = map[string]bool{}
			}
		}
		out[p] = metadata.PartitionState{Replicas: rs, ISR: slices.Clone(rs), Leader: rs[0]}
	}
	return out, nil
}

// rackAlternating orders brokers so that racks alternate: the first broker
// of each rack (racks sorted by name), then the second of each, and so on.
// Without racks it is the brokers sorted by id.
func rackAlternating(bs []*metadata.BrokerRegistration) []*metadata.BrokerRegistration {
	byRack := map[string][]*metadata.BrokerRegistration{}
	for _, b := range bs {
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	var out []*metadata.BrokerRegistration
	for i := 0; len(out) < len(bs); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// DeleteTopicRequest deletes a topic.
type DeleteTopicRequest struct {
	Name string `json:"name"`
}

func (c *Controller) deleteTopicLocked(req DeleteTopicRequest) (struct{}, error) {
	if _, ok := c.state().Topics[req.Name]; !ok {
		return struct{}{}, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", req.Name)
	}
	return struct{}{}, c.proposeLocked(metadata.Record{Type: metadata.RecordDeleteTopic, Topic: &metadata.Topic{Name: req.Name}})
}

// CreatePartitionsRequest grows a topic.
type CreatePartitionsRequest struct {
	Name         string    `json:"name"`
	Count        int32     `json:"count"`
	ValidateOnly bool      `json:"validate_only,omitempty"`
	Assignments  [][]int32 `json:"assignments,omitempty"`
}

func (c *Controller) createPartitionsLocked(req CreatePartitionsRequest) (struct{}, error) {
	st := c.state()
	t, ok := st.Topics[req.Name]
	if !ok {
		return struct{}{}, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", req.Name)
	}
	if req.Count <= t.Partitions {
		return struct{}{}, errorf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", req.Name, t.Partitions, req.Count)
	}
	rf := int16(1)
	if len(t.Assignments) > 0 {
		rf = int16(len(t.Assignments[0].Replicas))
	}
	assign, err := c.placeLocked(st, req.Count-t.Partitions, rf, req.Assignments, t.Partitions, false)
	if err != nil || req.ValidateOnly {
		return struct{}{}, err
	}
	return struct{}{}, c.proposeLocked(metadata.Record{Type: metadata.RecordSetPartitions, Topic: &metadata.Topic{Name: req.Name, Partitions: req.Count, Assignments: assign}})
}

// SetConfigsRequest replaces a topic's overrides if they are still Expect
// (the broker's read-modify-write is checked here, so concurrent alters
// from two brokers cannot lose each other's changes).
type SetConfigsRequest struct {
	Name    string            `json:"name"`
	Expect  map[string]string `json:"expect"`
	Configs map[string]string `json:"configs"`
}

func (c *Controller) setConfigsLocked(req SetConfigsRequest) (struct{}, error) {
	t, ok := c.state().Topics[req.Name]
	if !ok {
		return struct{}{}, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", req.Name)
	}
	if !maps.Equal(t.Configs, req.Expect) && !(len(t.Configs) == 0 && len(req.Expect) == 0) {
		return struct{}{}, errorf(kerr.ConcurrentTransactions, "the configs of %q changed meanwhile; retry", req.Name)
	}
	return struct{}{}, c.proposeLocked(metadata.Record{Type: metadata.RecordSetTopicConfigs, Topic: &metadata.Topic{Name: req.Name, Configs: req.Configs}})
}

// AllocProducerIDsRequest reserves a block of producer ids.
type AllocProducerIDsRequest struct {
	Count int64 `json:"count"`
}

// AllocProducerIDsResponse is the first id of the block.
type AllocProducerIDsResponse struct {
	First int64 `json:"first"`
}

func (c *Controller) allocProducerIDsLocked(req AllocProducerIDsRequest) (AllocProducerIDsResponse, error) {
	if req.Count <= 0 || req.Count > 1<<20 {
		return AllocProducerIDsResponse{}, errorf(kerr.InvalidRequest, "producer id block of %d", req.Count)
	}
	if err := c.proposeLocked(metadata.Record{Type: metadata.RecordAllocProducerIDs, Count: req.Count}); err != nil {
		return AllocProducerIDsResponse{}, err
	}
	// Decisions are serialised: the block just below the new mark is ours.
	return AllocProducerIDsResponse{First: c.state().NextProducerID - req.Count}, nil
}

// SecurityRequest commits ACL, SCRAM and quota records as they are: the
// broker that received the admin request has validated them.
type SecurityRequest struct {
	Records []metadata.Record `json:"records"`
}

// SecurityResponse carries the metadata index that holds the change, for
// the broker to wait until it has applied it.
type SecurityResponse struct {
	Index uint64 `json:"index"`
}

func (c *Controller) securityLocked(req SecurityRequest) (SecurityResponse, error) {
	for _, r := range req.Records {
		if !metadata.IsSecurityRecord(r.Type) {
			return SecurityResponse{}, errorf(kerr.InvalidRequest, "%q is not a security record", r.Type)
		}
	}
	if err := c.proposeLocked(req.Records...); err != nil {
		return SecurityResponse{}, err
	}
	return SecurityResponse{Index: c.node.FSM.Applied()}, nil
}

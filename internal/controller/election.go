package controller

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/metadata"
)

var (
	commitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "samsa_controller_commit_latency_seconds",
		Help:    "Time for the active controller to commit a metadata change through Raft.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	isrChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "samsa_controller_isr_changes_total",
		Help: "ISR changes the active controller accepted from partition leaders.",
	})
)

// Collectors returns the controller's metrics, for /metrics.
func Collectors() []prometheus.Collector { return []prometheus.Collector{commitLatency, isrChanges} }

// ElectLeadersRequest runs a preferred (or unclean) election on the named
// partitions; Partitions nil means every partition of every topic.
type ElectLeadersRequest struct {
	Partitions map[string][]int32 `json:"partitions"`
	Unclean    bool               `json:"unclean,omitempty"`
}

// ElectLeadersResponse gives an error code per partition (0: elected,
// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, ...).
type ElectLeadersResponse struct {
	Results map[string]map[int32]int16 `json:"results"`
}

func (c *Controller) electLeadersLocked(req ElectLeadersRequest) (ElectLeadersResponse, error) {
	if req.Unclean {
		return c.uncleanElectionsLocked(req.Partitions)
	}
	return c.preferredElectionsLocked(req.Partitions), nil
}

// preferredElectionsLocked moves leadership to each partition's preferred
// replica (the first in its list) where that replica is live, in the ISR
// and not already leading (ElectLeaders type 0, auto.leader.rebalance).
func (c *Controller) preferredElectionsLocked(which map[string][]int32) ElectLeadersResponse {
	st := c.state()
	res := ElectLeadersResponse{Results: map[string]map[int32]int16{}}
	var recs []metadata.Record
	for _, name := range st.TopicNames() {
		t := st.Topics[name]
		var parts []int32
		if which == nil {
			for i := range t.Assignments {
				parts = append(parts, int32(i))
			}
		} else if ps, ok := which[name]; ok {
			parts = ps
		} else {
			continue
		}
		res.Results[name] = map[int32]int16{}
		for _, p := range parts {
			if p < 0 || int(p) >= len(t.Assignments) {
				res.Results[name][p] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			a := t.Assignments[p]
			pref := a.Replicas[0]
			switch {
			case a.Leader == pref:
				res.Results[name][p] = kerr.ElectionNotNeeded.Code
			case !a.InISR(pref) || !live(st, pref):
				res.Results[name][p] = kerr.PreferredLeaderNotAvailable.Code
			default:
				n := a.Clone()
				n.Leader = pref
				n.LeaderEpoch++
				n.PartitionEpoch++
				recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: p, Change: &n})
				res.Results[name][p] = 0
			}
		}
	}
	for name := range which {
		if _, ok := st.Topics[name]; !ok {
			res.Results[name] = map[int32]int16{}
			for _, p := range which[name] {
				res.Results[name][p] = kerr.UnknownTopicOrPartition.Code
			}
		}
	}
	if err := c.proposeLocked(recs...); err != nil {
		for name, ps := range res.Results {
			for p, code := range ps {
				if code == 0 {
					res.Results[name][p] = kerr.RequestTimedOut.Code
				}
			}
		}
	}
	return res
}

func (c *Controller) uncleanElectionsLocked(which map[string][]int32) (ElectLeadersResponse, error) {
	st := c.state()
	res := ElectLeadersResponse{Results: map[string]map[int32]int16{}}
	var recs []metadata.Record
	for name, parts := range which {
		t, ok := st.Topics[name]
		res.Results[name] = map[int32]int16{}
		for _, p := range parts {
			if !ok || p < 0 || int(p) >= len(t.Assignments) {
				res.Results[name][p] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			a := t.Assignments[p]
			if a.Leader >= 0 {
				res.Results[name][p] = kerr.ElectionNotNeeded.Code
				continue
			}
			n := a.Clone()
			n.Leader = pickLeader(st, a, -1)
			if n.Leader < 0 {
				for _, r := range a.Replicas {
					if live(st, r) {
						n.Leader, n.ISR = r, []int32{r}
						break
					}
				}
			}
			if n.Leader < 0 {
				res.Results[name][p] = kerr.EligibleLeadersNotAvailable.Code
				continue
			}
			n.LeaderEpoch++
			n.PartitionEpoch++
			recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: p, Change: &n})
		}
	}
	return res, c.proposeLocked(recs...)
}

// ReassignRequest sets the target replicas of one partition (KIP-455);
// Replicas nil cancels a reassignment in progress.
type ReassignRequest struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

// reassignLocked starts a reassignment: the replica set becomes the target
// plus the replicas being removed; the new replicas start fetching and
// join the ISR as they catch up; completeReassignmentsLocked then drops
// the removed ones.
func (c *Controller) reassignLocked(req ReassignRequest) (struct{}, error) {
	st := c.state()
	t, ok := st.Topics[req.Topic]
	if !ok || req.Partition < 0 || int(req.Partition) >= len(t.Assignments) {
		return struct{}{}, errorf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", req.Topic, req.Partition)
	}
	a := t.Assignments[req.Partition]
	n := a.Clone()
	if req.Replicas == nil {
		if len(a.Adding) == 0 && len(a.Removing) == 0 {
			return struct{}{}, errorf(kerr.NoReassignmentInProgress, "no reassignment of %s-%d in progress", req.Topic, req.Partition)
		}
		// Back to the original set: the current one minus what was being added.
		var orig []int32
		for _, r := range a.Replicas {
			if !slices.Contains(a.Adding, r) {
				orig = append(orig, r)
			}
		}
		n.Replicas, n.Adding, n.Removing = orig, nil, nil
		n.ISR = intersect(a.ISR, orig)
		if len(n.ISR) == 0 {
			// None of the original replicas is in sync: going back would
			// be an unclean election (Kafka refuses the same).
			return struct{}{}, errorf(kerr.InvalidReplicaAssignment, "cancelling the reassignment of %s-%d would leave no in-sync replica (ISR %v, original replicas %v)", req.Topic, req.Partition, a.ISR, orig)
		}
		if !slices.Contains(n.ISR, n.Leader) {
			n.Leader = pickLeader(st, n, -1)
			n.LeaderEpoch++
		}
	} else {
		if len(req.Replicas) == 0 {
			return struct{}{}, errorf(kerr.InvalidReplicaAssignment, "empty replica set")
		}
		seen := map[int32]bool{}
		for _, r := range req.Replicas {
			if _, ok := st.Brokers[r]; !ok || seen[r] {
				return struct{}{}, errorf(kerr.InvalidReplicaAssignment, "broker %d is not registered or listed twice", r)
			}
			seen[r] = true
		}
		target := slices.Clone(req.Replicas)
		var removing []int32
		for _, r := range a.Replicas {
			if !slices.Contains(target, r) {
				removing = append(removing, r)
			}
		}
		var adding []int32
		for _, r := range target {
			if !a.HasReplica(r) {
				adding = append(adding, r)
			}
		}
		n.Replicas = append(target, removing...)
		n.Adding, n.Removing = adding, removing
		if len(adding) == 0 && len(removing) == 0 {
			n.Adding, n.Removing = nil, nil
		}
	}
	n.PartitionEpoch++
	return struct{}{}, c.proposeLocked(metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: req.Topic}, Partition: req.Partition, Change: &n})
}

func intersect(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// completeReassignmentsLocked finishes every reassignment whose new
// replicas are all in the ISR: the removed replicas leave the replica set
// and the ISR, and leadership moves if the leader was one of them.
func (c *Controller) completeReassignmentsLocked() {
	st := c.state()
	var recs []metadata.Record
	for _, name := range st.TopicNames() {
		for i, a := range st.Topics[name].Assignments {
			if len(a.Adding) == 0 && len(a.Removing) == 0 {
				continue
			}
			done := true
			for _, r := range a.Adding {
				if !a.InISR(r) {
					done = false
				}
			}
			if !done {
				continue
			}
			n := a.Clone()
			var target []int32
			for _, r := range a.Replicas {
				if !slices.Contains(a.Removing, r) {
					target = append(target, r)
				}
			}
			n.Replicas, n.Adding, n.Removing = target, nil, nil
			n.ISR = intersect(a.ISR, target)
			if len(n.ISR) == 0 {
				continue // cannot happen: the added replicas are in the ISR
			}
			if !slices.Contains(n.ISR, n.Leader) {
				n.Leader = pickLeader(st, n, -1)
				n.LeaderEpoch++
				if n.Leader < 0 {
					continue
				}
			}
			n.PartitionEpoch++
			recs = append(recs, metadata.Record{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: name}, Partition: int32(i), Change: &n})
		}
	}
	if err := c.proposeLocked(recs...); err != nil {
		c.lg.Warn("completing reassignments", "err", err)
	}
}

// BrokerDown and BrokerUp are the controller's pure decisions when a broker
// is fenced (or re-registers) and when it is unfenced, exported for the
// randomized replication test (internal/replica).
func BrokerDown(st *metadata.State, id int32, unclean bool) []metadata.Record {
	return brokerDownChanges(st, id, unclean)
}

func BrokerUp(st *metadata.State, id int32) []metadata.Record { return brokerUpChanges(st, id) }

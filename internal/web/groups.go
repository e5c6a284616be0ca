package web

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/group"
)

// groupView is one consumer group as the console and the lag metrics see
// it, assembled from the coordinator's ListGroups, Describe and
// FetchOffsets and the partitions' high watermarks. It is a snapshot: each
// call reads the groups one at a time, so two groups may be seen at
// slightly different moments, as with kafka-consumer-groups.sh.
type groupView struct {
	ID           string
	State        group.State
	ProtocolType string
	Protocol     string
	Members      []memberView
	Offsets      []offsetView // sorted by topic, partition
	// TotalLag sums the lag of the partitions whose lag is known.
	TotalLag int64
}

type memberView struct {
	MemberID, InstanceID, ClientID, ClientHost string
	// Assigned is the member's assignment when the group is Stable and
	// speaks the "consumer" protocol, as "topic: 0, 1, 2" lines.
	Assigned []string
}

type offsetView struct {
	Topic      string
	Partition  int32
	Committed  int64
	Metadata   string
	CommitTime time.Time
	// HighWatermark is -1 and Lag -1 when the partition no longer exists.
	HighWatermark int64
	// Lag is HighWatermark - Committed, at least 0: a commit past the high
	// watermark (a reset ahead, or records lost to an unclean restart)
	// counts as caught up, as Kafka's tools show it.
	Lag int64
}

// collectGroups reads every group. A group that disappears between the
// listing and the describe (deleted, expired) is left out.
func collectGroups(b *broker.Broker, g Groups) ([]groupView, error) {
	ls, err := g.ListGroups()
	if err != nil {
		return nil, err
	}
	out := make([]groupView, 0, len(ls))
	for _, l := range ls {
		v, err := describeGroup(b, g, l.GroupID)
		if err != nil || v.State == group.Dead {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// describeGroup reads one group; an unknown group comes back Dead.
func describeGroup(b *broker.Broker, g Groups, id string) (groupView, error) {
	d, err := g.Describe(id)
	if err != nil {
		return groupView{}, fmt.Errorf("describe group %q: %w", id, err)
	}
	v := groupView{ID: id, State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol}
	if d.State == group.Dead {
		return v, nil
	}
	for _, m := range d.Members {
		mv := memberView{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if d.ProtocolType == "consumer" && len(m.Assignment) > 0 {
			mv.Assigned = consumerAssignment(m.Assignment)
		}
		v.Members = append(v.Members, mv)
	}
	offs, err := g.FetchOffsets(id, nil, true)
	if err != nil {
		return groupView{}, fmt.Errorf("fetch offsets of group %q: %w", id, err)
	}
	for _, o := range offs {
		if !o.Found {
			continue
		}
		ov := offsetView{Topic: o.TP.Topic, Partition: o.TP.Partition, Committed: o.Offset.Offset,
			Metadata: o.Offset.Metadata, CommitTime: o.Offset.CommitTime, HighWatermark: -1, Lag: -1}
		if t := b.Topic(o.TP.Topic); t != nil {
			if p := t.Partition(o.TP.Partition); p != nil {
				ov.HighWatermark = p.HighWatermark()
				ov.Lag = max(0, ov.HighWatermark-ov.Committed)
				v.TotalLag += ov.Lag
			}
		}
		v.Offsets = append(v.Offsets, ov)
	}
	slices.SortFunc(v.Offsets, func(a, b offsetView) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return v, nil
}

// consumerAssignment decodes a ConsumerMemberAssignment (KIP-429 layout)
// for display. The bytes come from a client; undecodable ones are shown
// as such rather than trusted.
func consumerAssignment(b []byte) []string {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		return []string{fmt.Sprintf("(undecodable assignment, %d bytes)", len(b))}
	}
	var out []string
	for _, t := range a.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts := make([]string, len(ps))
		for i, p := range ps {
			parts[i] = strconv.Itoa(int(p))
		}
		out = append(out, t.Topic+": "+strings.Join(parts, ", "))
	}
	slices.Sort(out)
	return out
}

package group

import (
	"bytes"
	"cmp"
	"slices"
)

// Server-side assignors of the consumer group protocol (KIP-848). They are
// pure functions of an AssignSpec: the coordinator calls one whenever the
// group epoch moves, and the result becomes the target assignment.
//
// Kafka ships two, and clients name them in ConsumerGroupHeartbeat's
// ServerAssignor: "uniform" (the default) and "range".

// Assignor names, as Kafka's clients send them.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// DefaultAssignor is group.consumer.assignors' first entry in Kafka.
const DefaultAssignor = AssignorUniform

// TopicID is a topic's UUID (KIP-516): consumer groups assign by id.
type TopicID = [16]byte

// Assignment maps topic ids to partition numbers. Invariant (for every
// Assignment this package returns): each partition list is sorted,
// without duplicates, and non-empty.
type Assignment map[TopicID][]int32

// Clone returns a deep copy.
func (a Assignment) Clone() Assignment {
	if a == nil {
		return nil
	}
	out := make(Assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

// Len is the number of partitions.
func (a Assignment) Len() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// Has reports whether partition p of t is in a.
func (a Assignment) Has(t TopicID, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

// Equal reports whether a and b hold the same partitions.
func (a Assignment) Equal(b Assignment) bool {
	if a.Len() != b.Len() {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// add inserts p keeping the list sorted.
func (a Assignment) add(t TopicID, p int32) {
	ps := a[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[t] = slices.Insert(ps, i, p)
	}
}

// remove deletes p, dropping the topic when it empties.
func (a Assignment) remove(t TopicID, p int32) {
	ps := a[t]
	if i, ok := slices.BinarySearch(ps, p); ok {
		ps = slices.Delete(ps, i, i+1)
		if len(ps) == 0 {
			delete(a, t)
		} else {
			a[t] = ps
		}
	}
}

// normalized returns a copy with sorted, de-duplicated, non-empty lists
// (client input is neither).
func (a Assignment) normalized() Assignment {
	out := make(Assignment, len(a))
	for t, ps := range a {
		ps = slices.Clone(ps)
		slices.Sort(ps)
		ps = slices.Compact(ps)
		if len(ps) > 0 {
			out[t] = ps
		}
	}
	return out
}

// partitions lists a's partitions in a fixed order (topic id, partition).
func (a Assignment) partitions() []topicPart {
	out := make([]topicPart, 0, a.Len())
	for t, ps := range a {
		for _, p := range ps {
			out = append(out, topicPart{t, p})
		}
	}
	slices.SortFunc(out, topicPart.compare)
	return out
}

type topicPart struct {
	Topic     TopicID
	Partition int32
}

func (x topicPart) compare(y topicPart) int {
	return cmp.Or(bytes.Compare(x.Topic[:], y.Topic[:]), cmp.Compare(x.Partition, y.Partition))
}

// AssignTopic is one subscribed topic as the assignors see it.
type AssignTopic struct {
	ID         TopicID
	Name       string
	Partitions int32
}

// AssignMember is one member as the assignors see it.
type AssignMember struct {
	MemberID string
	// Topics are the ids of the existing topics the member subscribes to.
	Topics []TopicID
	// Current is the member's present target: the sticky assignor keeps
	// as much of it as balance allows.
	Current Assignment
}

// AssignSpec is the input of an assignor. Members with the same id must
// not repeat; the order of Members and Topics does not matter (assignors
// sort them, so the result is deterministic).
type AssignSpec struct {
	Members []AssignMember
	Topics  []AssignTopic
}

// Assign runs the named assignor; ok is false for an unknown name.
func Assign(name string, spec AssignSpec) (out map[string]Assignment, ok bool) {
	switch name {
	case AssignorUniform:
		return AssignUniform(spec), true
	case AssignorRange:
		return AssignRange(spec), true
	}
	return nil, false
}

// KnownAssignor reports whether name is a server assignor samsa has.
func KnownAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

func sortedSpec(spec AssignSpec) ([]AssignMember, map[TopicID]AssignTopic) {
	ms := slices.Clone(spec.Members)
	slices.SortFunc(ms, func(a, b AssignMember) int { return cmp.Compare(a.MemberID, b.MemberID) })
	ts := make(map[TopicID]AssignTopic, len(spec.Topics))
	for _, t := range spec.Topics {
		ts[t.ID] = t
	}
	return ms, ts
}

// AssignUniform spreads all subscribed partitions so that, among the
// members able to take a partition, no member has two more than another
// (the balance Kafka's UniformAssignor aims at), while keeping every
// partition with its current owner where balance allows (sticky), so a
// rebalance moves as few partitions as it can.
//
// It works in three passes: keep each member's current partitions that
// still exist and that it still subscribes to (first claim wins when two
// members claim one); give each remaining partition to the least loaded
// member subscribed to its topic; then, while some partition could move
// from a member to one subscribed to it with at least two fewer, move it.
// Every move lowers the sum of squared loads, so the last pass ends.
func AssignUniform(spec AssignSpec) map[string]Assignment {
	ms, topics := sortedSpec(spec)
	out := make(map[string]Assignment, len(ms))
	load := make(map[string]int, len(ms))
	subs := make(map[TopicID][]string) // topic -> members subscribed, sorted
	for _, m := range ms {
		out[m.MemberID] = make(Assignment)
		for _, t := range m.Topics {
			if _, ok := topics[t]; ok && !slices.Contains(subs[t], m.MemberID) {
				subs[t] = append(subs[t], m.MemberID)
			}
		}
	}
	owned := make(map[topicPart]string)
	for _, m := range ms {
		for _, tp := range m.Current.partitions() {
			t, ok := topics[tp.Topic]
			if !ok || tp.Partition < 0 || tp.Partition >= t.Partitions || !slices.Contains(subs[tp.Topic], m.MemberID) {
				continue
			}
			if _, taken := owned[tp]; taken {
				continue
			}
			owned[tp] = m.MemberID
			out[m.MemberID].add(tp.Topic, tp.Partition)
			load[m.MemberID]++
		}
	}
	// Unowned partitions, in topic-name order so the result reads well.
	ids := make([]TopicID, 0, len(subs))
	for t := range subs {
		ids = append(ids, t)
	}
	slices.SortFunc(ids, func(a, b TopicID) int {
		return cmp.Or(cmp.Compare(topics[a].Name, topics[b].Name), bytes.Compare(a[:], b[:]))
	})
	for _, t := range ids {
		for p := range topics[t].Partitions {
			tp := topicPart{t, p}
			if _, ok := owned[tp]; ok {
				continue
			}
			best := ""
			for _, id := range subs[t] {
				if best == "" || load[id] < load[best] {
					best = id
				}
			}
			owned[tp] = best
			out[best].add(t, p)
			load[best]++
		}
	}
	// Balance: move from the most loaded member to a member with at least
	// two fewer that subscribes to the partition's topic.
	for {
		moved := false
		byLoad := make([]string, 0, len(ms))
		for _, m := range ms {
			byLoad = append(byLoad, m.MemberID)
		}
		slices.SortStableFunc(byLoad, func(a, b string) int { return cmp.Compare(load[b], load[a]) })
	search:
		for _, from := range byLoad {
			// Give away the highest partitions first: stable choice.
			parts := out[from].partitions()
			for i := len(parts) - 1; i >= 0; i-- {
				tp := parts[i]
				to := ""
				for _, id := range subs[tp.Topic] {
					if load[id]+1 < load[from] && (to == "" || load[id] < load[to]) {
						to = id
					}
				}
				if to != "" {
					out[from].remove(tp.Topic, tp.Partition)
					out[to].add(tp.Topic, tp.Partition)
					load[from]--
					load[to]++
					moved = true
					break search
				}
			}
		}
		if !moved {
			return out
		}
	}
}

// AssignRange is the classic RangeAssignor done by the broker: for each
// topic, the members subscribed to it, sorted by member id, take
// contiguous ranges of partitions, the first (partitions % members)
// one more. Members subscribed to topics with the same partition count get
// the same partition numbers of each (co-partitioning, which joins over
// keyed topics rely on).
func AssignRange(spec AssignSpec) map[string]Assignment {
	ms, topics := sortedSpec(spec)
	out := make(map[string]Assignment, len(ms))
	subs := make(map[TopicID][]string)
	for _, m := range ms {
		out[m.MemberID] = make(Assignment)
		for _, t := range m.Topics {
			if _, ok := topics[t]; ok && !slices.Contains(subs[t], m.MemberID) {
				subs[t] = append(subs[t], m.MemberID)
			}
		}
	}
	for t, members := range subs {
		n := topics[t].Partitions
		per, extra := n/int32(len(members)), n%int32(len(members))
		start := int32(0)
		for i, id := range members {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := start; p < start+cnt; p++ {
				out[id].add(t, p)
			}
			start += cnt
		}
	}
	return out
}

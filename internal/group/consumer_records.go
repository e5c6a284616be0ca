package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// Consumer group (KIP-848) records in __consumer_offsets. kmsg has no types
// for them, so they are encoded here, following the schemas Kafka
// documents for its coordinator records (key type = int16 key version):
//
//	key   = int16 type | int16-length group id [| int16-length member id]
//	value = int16 version 0 | fields, flexible encoding (compact strings
//	        and arrays: uvarint length+1, 0 = null) | empty tag buffer
//
//	type 3 ConsumerGroupMetadata            (group)  Epoch int32
//	type 4 ConsumerGroupPartitionMetadata   (group)  Topics [TopicID uuid, TopicName string, NumPartitions int32, tags]
//	type 5 ConsumerGroupMemberMetadata      (member) InstanceID string?, RackID string?, ClientID string,
//	                                                 ClientHost string, SubscribedTopicNames [string],
//	                                                 SubscribedTopicRegex string?, ServerAssignor string?,
//	                                                 RebalanceTimeoutMs int32
//	type 6 ConsumerGroupTargetAssignmentMetadata (group) AssignmentEpoch int32
//	type 7 ConsumerGroupTargetAssignmentMember  (member) TopicPartitions [TopicID uuid, Partitions [int32], tags]
//	type 8 ConsumerGroupCurrentMemberAssignment (member) MemberEpoch int32, PreviousMemberEpoch int32,
//	                                                 State int8, AssignedPartitions [..as 7..],
//	                                                 PartitionsPendingRevocation [..as 7..]
//
// A null value is a tombstone. On-disk format; do not change. Written
// from the published schemas, not checked byte for byte against a Kafka
// broker's output.
//
// Write order per event: member records, then target records, then the
// epoch records, so a replay that stops mid-way (a torn tail) sees a group
// whose epoch never claims more than what precedes it.
const (
	keyConsumerGroupMetadata         = 3
	keyConsumerGroupPartitionMeta    = 4
	keyConsumerGroupMemberMetadata   = 5
	keyConsumerGroupTargetMetadata   = 6
	keyConsumerGroupTargetMember     = 7
	keyConsumerGroupCurrentAssignmnt = 8
)

// consumerDirty is what changed since the last Records call.
type consumerDirty struct {
	epoch, targetEpoch, partitionMeta bool
	members, targets, currents        map[string]bool
	gone                              map[string]bool // members removed: tombstones
}

func newConsumerDirty() consumerDirty {
	return consumerDirty{members: map[string]bool{}, targets: map[string]bool{}, currents: map[string]bool{}, gone: map[string]bool{}}
}

func (d *consumerDirty) member(id string)   { d.members[id] = true; delete(d.gone, id) }
func (d *consumerDirty) targetOf(id string) { d.targets[id] = true; delete(d.gone, id) }
func (d *consumerDirty) current(id string)  { d.currents[id] = true; delete(d.gone, id) }
func (d *consumerDirty) removed(id string) {
	d.gone[id] = true
	delete(d.members, id)
	delete(d.targets, id)
	delete(d.currents, id)
}

// Records returns the records that write what changed since the last
// call, and forgets the changes. The caller appends them in order.
func (g *ConsumerGroup) Records() []BuildRecord {
	d := &g.dirty
	var out []BuildRecord
	add := func(k, v []byte) { out = append(out, BuildRecord{Key: k, Value: v}) }
	for _, id := range sortedKeys(d.gone) {
		// Kafka's order for a removed member: current, target, member.
		add(consumerKey(keyConsumerGroupCurrentAssignmnt, g.ID, id), nil)
		add(consumerKey(keyConsumerGroupTargetMember, g.ID, id), nil)
		add(consumerKey(keyConsumerGroupMemberMetadata, g.ID, id), nil)
	}
	for _, id := range sortedKeys(d.members) {
		if m := g.members[id]; m != nil {
			add(consumerKey(keyConsumerGroupMemberMetadata, g.ID, id), encodeMemberMetadata(m))
		}
	}
	if d.partitionMeta {
		add(consumerKey(keyConsumerGroupPartitionMeta, g.ID, ""), encodePartitionMetadata(g.subscribed))
	}
	if d.epoch {
		add(consumerKey(keyConsumerGroupMetadata, g.ID, ""), encodeInt32Value(g.GroupEpoch))
	}
	for _, id := range sortedKeys(d.targets) {
		if t, ok := g.target[id]; ok {
			add(consumerKey(keyConsumerGroupTargetMember, g.ID, id), appendTags(appendAssignment(valueHeader(), t)))
		}
	}
	if d.targetEpoch {
		add(consumerKey(keyConsumerGroupTargetMetadata, g.ID, ""), encodeInt32Value(g.AssignmentEpoch))
	}
	for _, id := range sortedKeys(d.currents) {
		if m := g.members[id]; m != nil {
			add(consumerKey(keyConsumerGroupCurrentAssignmnt, g.ID, id), encodeCurrent(m))
		}
	}
	g.dirty = newConsumerDirty()
	return out
}

// TombstoneRecords deletes the whole group (DeleteGroups on an empty group).
func (g *ConsumerGroup) TombstoneRecords() []BuildRecord {
	return []BuildRecord{
		{Key: consumerKey(keyConsumerGroupTargetMetadata, g.ID, "")},
		{Key: consumerKey(keyConsumerGroupPartitionMeta, g.ID, "")},
		{Key: consumerKey(keyConsumerGroupMetadata, g.ID, "")},
	}
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func consumerKey(typ int16, group, member string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ))
	b = appendStr16(b, group)
	if typ == keyConsumerGroupMemberMetadata || typ == keyConsumerGroupTargetMember || typ == keyConsumerGroupCurrentAssignmnt {
		b = appendStr16(b, member)
	}
	return b
}

func appendStr16(b []byte, s string) []byte {
	if len(s) > math.MaxInt16 {
		s = s[:math.MaxInt16] // ids this long are refused earlier; never write a bad length
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func valueHeader() []byte { return []byte{0, 0} } // value version 0

func appendTags(b []byte) []byte { return append(b, 0) } // no tagged fields

func appendCompactString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func appendCompactNullable(b []byte, s string, null bool) []byte {
	if null {
		return append(b, 0)
	}
	return appendCompactString(b, s)
}

func appendInt32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }

func encodeInt32Value(v int32) []byte { return appendTags(appendInt32(valueHeader(), v)) }

func appendAssignment(b []byte, a Assignment) []byte {
	ids := make([]TopicID, 0, len(a))
	for t := range a {
		ids = append(ids, t)
	}
	slices.SortFunc(ids, func(x, y TopicID) int { return topicPart{Topic: x}.compare(topicPart{Topic: y}) })
	b = binary.AppendUvarint(b, uint64(len(ids))+1)
	for _, t := range ids {
		b = append(b, t[:]...)
		b = binary.AppendUvarint(b, uint64(len(a[t]))+1)
		for _, p := range a[t] {
			b = appendInt32(b, p)
		}
		b = appendTags(b)
	}
	return b
}

func encodeMemberMetadata(m *ConsumerMember) []byte {
	b := valueHeader()
	b = appendCompactNullable(b, m.InstanceID, m.InstanceID == "")
	b = appendCompactNullable(b, m.RackID, m.RackID == "")
	b = appendCompactString(b, m.ClientID)
	b = appendCompactString(b, m.ClientHost)
	b = binary.AppendUvarint(b, uint64(len(m.SubscribedTopicNames))+1)
	for _, n := range m.SubscribedTopicNames {
		b = appendCompactString(b, n)
	}
	b = appendCompactNullable(b, m.SubscribedTopicRegex, m.SubscribedTopicRegex == "")
	b = appendCompactNullable(b, m.ServerAssignor, m.ServerAssignor == "")
	b = appendInt32(b, int32(min(m.RebalanceTimeout.Milliseconds(), math.MaxInt32)))
	return appendTags(b)
}

func encodePartitionMetadata(sub map[string]TopicMeta) []byte {
	b := valueHeader()
	b = binary.AppendUvarint(b, uint64(len(sub))+1)
	for _, n := range sortedTopicNames(sub) {
		t := sub[n]
		b = append(b, t.ID[:]...)
		b = appendCompactString(b, t.Name)
		b = appendInt32(b, t.Partitions)
		b = appendTags(b)
	}
	return appendTags(b)
}

func sortedTopicNames(m map[string]TopicMeta) []string {
	ns := make([]string, 0, len(m))
	for n := range m {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func encodeCurrent(m *ConsumerMember) []byte {
	b := valueHeader()
	b = appendInt32(b, m.MemberEpoch)
	b = appendInt32(b, m.PreviousMemberEpoch)
	b = append(b, byte(m.State))
	b = appendAssignment(b, m.Assigned)
	b = appendAssignment(b, m.PendingRevocation)
	return appendTags(b)
}

// ConsumerRecord is one decoded consumer group record. Value is nil for a
// tombstone; otherwise one of the typed fields is set per Type.
type ConsumerRecord struct {
	Type     int16
	Group    string
	MemberID string
	Null     bool

	Epoch      int32                // types 3 and 6
	Topics     map[string]TopicMeta // type 4
	Member     *ConsumerMember      // type 5 (description fields only)
	Assignment Assignment           // type 7
	Current    *ConsumerMember      // type 8 (epochs, state, assignments)
}

// errShort is the reader's one failure: the input ended early or a length
// is impossible.
var errShort = errors.New("truncated or bad length")

// reader decodes with every length checked against what remains.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *reader) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *reader) int8() int8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (r *reader) str16() string {
	n := r.int16()
	return string(r.take(int(n)))
}

// uvarintLen reads a compact length (n+1; 0 is null) and checks that n
// items of at least minSize bytes each can fit in what remains.
func (r *reader) uvarintLen(minSize int) (n int, null bool) {
	if r.err != nil {
		return 0, false
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errShort
		return 0, false
	}
	r.b = r.b[k:]
	if v == 0 {
		return 0, true
	}
	if v-1 > uint64(len(r.b)/max(minSize, 1)) {
		r.err = errShort
		return 0, false
	}
	return int(v - 1), false
}

func (r *reader) compactString() (string, bool) {
	n, null := r.uvarintLen(1)
	return string(r.take(n)), null
}

func (r *reader) tags() {
	n, _ := r.uvarintLen(2)
	for range n {
		_, k := binary.Uvarint(r.b)
		if k <= 0 {
			r.err = errShort
			return
		}
		r.b = r.b[k:]
		size, _ := r.uvarintLen(1)
		r.take(size)
	}
}

func (r *reader) uuid() TopicID {
	var t TopicID
	copy(t[:], r.take(16))
	return t
}

func (r *reader) assignment() Assignment {
	n, _ := r.uvarintLen(16 + 2)
	a := make(Assignment, n)
	for range n {
		t := r.uuid()
		np, _ := r.uvarintLen(4)
		ps := make([]int32, 0, np)
		for range np {
			ps = append(ps, r.int32())
		}
		// Sort once (not insert one by one): a corrupt record cannot
		// make the replay quadratic.
		slices.Sort(ps)
		if ps = slices.Compact(ps); len(ps) > 0 {
			a[t] = append(a[t], ps...)
			if len(a[t]) != len(ps) { // the topic repeated
				slices.Sort(a[t])
				a[t] = slices.Compact(a[t])
			}
		}
		r.tags()
	}
	return a
}

// DecodeConsumerRecord decodes a record whose key type is 3-8.
func DecodeConsumerRecord(key, value []byte) (ConsumerRecord, error) {
	kr := &reader{b: key}
	rec := ConsumerRecord{Type: kr.int16(), Group: kr.str16()}
	switch rec.Type {
	case keyConsumerGroupMemberMetadata, keyConsumerGroupTargetMember, keyConsumerGroupCurrentAssignmnt:
		rec.MemberID = kr.str16()
	case keyConsumerGroupMetadata, keyConsumerGroupPartitionMeta, keyConsumerGroupTargetMetadata:
	default:
		return rec, fmt.Errorf("%w: consumer group key type %d", ErrCorruptRecord, rec.Type)
	}
	if kr.err != nil {
		return rec, fmt.Errorf("%w: consumer group key type %d: %v", ErrCorruptRecord, rec.Type, kr.err)
	}
	if value == nil {
		rec.Null = true
		return rec, nil
	}
	r := &reader{b: value}
	if v := r.int16(); r.err == nil && v != 0 {
		return rec, fmt.Errorf("%w: consumer group record type %d value version %d", ErrCorruptRecord, rec.Type, v)
	}
	switch rec.Type {
	case keyConsumerGroupMetadata, keyConsumerGroupTargetMetadata:
		rec.Epoch = r.int32()
	case keyConsumerGroupPartitionMeta:
		n, _ := r.uvarintLen(16 + 1 + 4 + 1)
		rec.Topics = make(map[string]TopicMeta, n)
		for range n {
			t := TopicMeta{ID: r.uuid()}
			t.Name, _ = r.compactString()
			t.Partitions = r.int32()
			r.tags()
			rec.Topics[t.Name] = t
		}
	case keyConsumerGroupMemberMetadata:
		m := &ConsumerMember{MemberID: rec.MemberID}
		m.InstanceID, _ = r.compactString()
		m.RackID, _ = r.compactString()
		m.ClientID, _ = r.compactString()
		m.ClientHost, _ = r.compactString()
		n, _ := r.uvarintLen(1)
		for range n {
			s, _ := r.compactString()
			m.SubscribedTopicNames = append(m.SubscribedTopicNames, s)
		}
		slices.Sort(m.SubscribedTopicNames)
		m.SubscribedTopicRegex, _ = r.compactString()
		m.ServerAssignor, _ = r.compactString()
		m.RebalanceTimeout = time.Duration(r.int32()) * time.Millisecond
		rec.Member = m
	case keyConsumerGroupTargetMember:
		rec.Assignment = r.assignment()
	case keyConsumerGroupCurrentAssignmnt:
		m := &ConsumerMember{MemberID: rec.MemberID}
		m.MemberEpoch, m.PreviousMemberEpoch = r.int32(), r.int32()
		m.State = MemberState(r.int8())
		m.Assigned = r.assignment()
		m.PendingRevocation = r.assignment()
		rec.Current = m
	}
	r.tags()
	if r.err != nil {
		return rec, fmt.Errorf("%w: consumer group record type %d of %q: %v", ErrCorruptRecord, rec.Type, rec.Group, r.err)
	}
	return rec, nil
}

// IsConsumerRecordKey reports whether a __consumer_offsets key is a
// consumer group (KIP-848) record.
func IsConsumerRecordKey(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	v := int16(binary.BigEndian.Uint16(key))
	return v >= keyConsumerGroupMetadata && v <= keyConsumerGroupCurrentAssignmnt
}

// DecodeBatches decodes the __consumer_offsets records in b (v2 batches as
// a Read returns them) for replay: classic group and offset records go to
// fn (with their log offset, and their producer id when the batch is
// transactional: a TxnOffsetCommit), consumer group (KIP-848) records to
// cfn, transaction markers to mfn (nil: skipped). A record that does not
// decode is reported to warn and skipped, as is the rest of a batch whose
// records are corrupt; control batches other than markers are skipped.
// next is the offset after the last batch (-1 if none); err is a framing
// error of b itself.
func DecodeBatches(b []byte, fn func(StoredRecord), cfn func(ConsumerRecord), mfn func(TxnMarker), warn func(error)) (next int64, err error) {
	next = -1
	err = record.Split(b, func(h record.BatchHeader, batch []byte) error {
		next = h.NextOffset()
		if h.Control() {
			if mfn == nil || !h.Transactional() {
				return nil
			}
			m, ok, err := record.DecodeMarker(batch)
			switch {
			case err != nil:
				warn(fmt.Errorf("%w: transaction marker at offset %d: %v", ErrCorruptRecord, h.BaseOffset, err))
			case ok:
				mfn(TxnMarker{ProducerID: h.ProducerID, LogOffset: h.BaseOffset, Commit: m.Commit})
			}
			return nil
		}
		producerID := int64(-1)
		if h.Transactional() {
			producerID = h.ProducerID
		}
		err := record.ForEachRecord(batch, func(rec record.Record) error {
			off := h.BaseOffset + int64(rec.OffsetDelta)
			if IsConsumerRecordKey(rec.Key) {
				cr, err := DecodeConsumerRecord(rec.Key, rec.Value)
				if err != nil {
					warn(fmt.Errorf("offset %d: %w", off, err))
					return nil
				}
				cfn(cr)
				return nil
			}
			r, err := DecodeRecord(rec.Key, rec.Value)
			if err != nil {
				warn(fmt.Errorf("offset %d: %w", off, err))
				return nil
			}
			r.LogOffset, r.ProducerID = off, producerID
			fn(r)
			return nil
		})
		if err != nil {
			warn(fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptRecord, h.BaseOffset, err))
		}
		return nil
	})
	return next, err
}

// consumerLoader rebuilds consumer groups from replayed records.
type consumerLoader struct {
	groups map[string]*ConsumerGroup
	limits ConsumerLimits
}

func newConsumerLoader(limits ConsumerLimits) *consumerLoader {
	return &consumerLoader{groups: make(map[string]*ConsumerGroup), limits: limits}
}

func (l *consumerLoader) apply(r ConsumerRecord) {
	g := l.groups[r.Group]
	if g == nil {
		if r.Null {
			return
		}
		g = NewConsumerGroup(r.Group, l.limits)
		l.groups[r.Group] = g
	}
	member := func() *ConsumerMember {
		m := g.members[r.MemberID]
		if m == nil {
			m = &ConsumerMember{MemberID: r.MemberID, Assigned: Assignment{}, PendingRevocation: Assignment{}}
			g.members[r.MemberID] = m
		}
		return m
	}
	switch r.Type {
	case keyConsumerGroupMetadata:
		if r.Null {
			delete(l.groups, r.Group) // the group was deleted
			return
		}
		g.GroupEpoch = r.Epoch
	case keyConsumerGroupTargetMetadata:
		g.AssignmentEpoch = r.Epoch
	case keyConsumerGroupPartitionMeta:
		if !r.Null {
			g.subscribed = r.Topics
		}
	case keyConsumerGroupMemberMetadata:
		if r.Null {
			if m := g.members[r.MemberID]; m != nil && m.InstanceID != "" {
				delete(g.instances, m.InstanceID)
			}
			delete(g.members, r.MemberID)
			delete(g.target, r.MemberID)
			return
		}
		m := member()
		d := r.Member
		m.InstanceID, m.RackID, m.ClientID, m.ClientHost = d.InstanceID, d.RackID, d.ClientID, d.ClientHost
		m.SubscribedTopicNames, m.SubscribedTopicRegex, m.ServerAssignor = d.SubscribedTopicNames, d.SubscribedTopicRegex, d.ServerAssignor
		m.RebalanceTimeout = d.RebalanceTimeout
		m.regex, _ = compileRegex(d.SubscribedTopicRegex) // it compiled when written
		if m.InstanceID != "" {
			g.instances[m.InstanceID] = m.MemberID
		}
	case keyConsumerGroupTargetMember:
		if r.Null {
			delete(g.target, r.MemberID)
		} else {
			g.target[r.MemberID] = r.Assignment
		}
	case keyConsumerGroupCurrentAssignmnt:
		if r.Null {
			return // the member's metadata tombstone removes it
		}
		m := member()
		c := r.Current
		m.MemberEpoch, m.PreviousMemberEpoch, m.State = c.MemberEpoch, c.PreviousMemberEpoch, c.State
		m.Assigned, m.PendingRevocation = c.Assigned, c.PendingRevocation
	}
}

// finish installs the loaded groups' timers' base: every member gets a
// fresh session from now (it may have heartbeated to the old broker just
// before it stopped), and a member revoking gets a fresh revocation
// window. Groups with no epoch record (a torn write) are dropped.
func (l *consumerLoader) finish(now time.Time) map[string]*ConsumerGroup {
	for id, g := range l.groups {
		if g.GroupEpoch == 0 && len(g.members) == 0 {
			delete(l.groups, id)
			continue
		}
		g.assignor = g.chooseAssignor()
		for _, m := range g.members {
			m.heartbeatDeadline = now.Add(g.limits.SessionTimeout)
			if m.State == MemberUnrevokedPartitions {
				rt := m.RebalanceTimeout
				if rt <= 0 {
					rt = g.limits.SessionTimeout
				}
				m.revokeDeadline = now.Add(rt)
			}
			if m.Assigned == nil {
				m.Assigned = Assignment{}
			}
			if m.PendingRevocation == nil {
				m.PendingRevocation = Assignment{}
			}
		}
		g.dirty = newConsumerDirty()
	}
	return l.groups
}

package group

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// ErrCorruptRecord: a __consumer_offsets record that does not decode. The
// replay skips it with a warning; it never stops a broker from starting.
var ErrCorruptRecord = errors.New("group: corrupt __consumer_offsets record")

// Record schema versions written to __consumer_offsets. On-disk format; do
// not change: they are Kafka's, and Kafka tooling reads them.
const (
	// Offset commit keys are version 0 or 1 (same fields); Kafka writes 1.
	offsetCommitKeyVersion = 1
	// Group metadata keys are version 2.
	groupMetadataKeyVersion = 2
	// Offset commit values: v3 has the leader epoch; v1 has the explicit
	// expire timestamp (a commit with a retention time, OffsetCommit v2-v4).
	offsetCommitValueVersion       = 3
	offsetCommitValueVersionExpire = 1
	// Group metadata values: v3 has group.instance.id.
	groupMetadataValueVersion = 3
)

// StoredRecord is one decoded record of __consumer_offsets: an offset
// commit (IsOffset) or a group's metadata. A nil Offset or Snapshot is a
// tombstone: the commit or the group was deleted.
type StoredRecord struct {
	Group    string
	IsOffset bool
	TP       TopicPartition
	Offset   *Offset
	Snapshot *Snapshot
	// LogOffset is the record's offset in the partition and ProducerID
	// the producer of the transaction it belongs to (-1: the batch is not
	// transactional). DecodeBatches sets both; DecodeRecord leaves them 0.
	LogOffset  int64
	ProducerID int64
}

// TxnMarker is a transaction marker (a control batch) found in
// __consumer_offsets: the transaction of ProducerID ended, committed or
// aborted, at LogOffset.
type TxnMarker struct {
	ProducerID int64
	LogOffset  int64
	Commit     bool
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// EncodeOffset returns the key and value of an offset commit; o nil is a
// tombstone (nil value).
func EncodeOffset(group string, tp TopicPartition, o *Offset) (key, value []byte) {
	k := kmsg.OffsetCommitKey{Version: offsetCommitKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	key = k.AppendTo(nil)
	if o == nil {
		return key, nil
	}
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if !o.ExpireTime.IsZero() {
		v.Version = offsetCommitValueVersionExpire
		v.ExpireTimestamp = millis(o.ExpireTime)
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, millis(o.CommitTime)
	return key, v.AppendTo(nil)
}

// EncodeGroup returns the key and value of a group's metadata; s nil is a
// tombstone (the group was deleted).
func EncodeGroup(group string, s *Snapshot) (key, value []byte) {
	k := kmsg.GroupMetadataKey{Version: groupMetadataKeyVersion, Group: group}
	key = k.AppendTo(nil)
	if s == nil {
		return key, nil
	}
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType, v.Generation = s.ProtocolType, s.Generation
	if s.Protocol != "" {
		v.Protocol = &s.Protocol
	}
	if s.Leader != "" {
		v.Leader = &s.Leader
	}
	v.CurrentStateTimestamp = millis(s.StateSince)
	for _, m := range s.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
		if m.InstanceID != "" {
			id := m.InstanceID
			vm.InstanceID = &id
		}
		vm.RebalanceTimeoutMillis = int32(m.RebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.SessionTimeout / time.Millisecond)
		vm.Subscription, vm.Assignment = m.Subscription, m.Assignment
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return key, v.AppendTo(nil)
}

// DecodeRecord decodes one record of __consumer_offsets. Unknown key
// versions (Kafka's KIP-848 records, versions 3+) are ErrCorruptRecord
// too: the caller skips them.
func DecodeRecord(key, value []byte) (StoredRecord, error) {
	var r StoredRecord
	if len(key) < 2 {
		return r, fmt.Errorf("%w: key of %d bytes", ErrCorruptRecord, len(key))
	}
	version := int16(uint16(key[0])<<8 | uint16(key[1]))
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return r, fmt.Errorf("%w: offset commit key: %v", ErrCorruptRecord, err)
		}
		r.Group, r.IsOffset, r.TP = k.Group, true, TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			return r, nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return r, fmt.Errorf("%w: offset commit value for group %q: %v", ErrCorruptRecord, k.Group, err)
		}
		if v.Version < 0 || v.Version > 4 {
			return r, fmt.Errorf("%w: offset commit value version %d", ErrCorruptRecord, v.Version)
		}
		o := &Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTime: fromMillis(v.CommitTimestamp)}
		if v.Version >= 3 {
			o.LeaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			o.ExpireTime = fromMillis(v.ExpireTimestamp)
		}
		r.Offset = o
		return r, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return r, fmt.Errorf("%w: group metadata key: %v", ErrCorruptRecord, err)
		}
		r.Group = k.Group
		if value == nil {
			return r, nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return r, fmt.Errorf("%w: group metadata value for group %q: %v", ErrCorruptRecord, k.Group, err)
		}
		if v.Version < 0 || v.Version > 4 {
			return r, fmt.Errorf("%w: group metadata value version %d", ErrCorruptRecord, v.Version)
		}
		s := &Snapshot{ProtocolType: v.ProtocolType, Generation: v.Generation, StateSince: fromMillis(v.CurrentStateTimestamp)}
		if v.Protocol != nil {
			s.Protocol = *v.Protocol
		}
		if v.Leader != nil {
			s.Leader = *v.Leader
		}
		for _, vm := range v.Members {
			m := SnapshotMember{MemberID: vm.MemberID, ClientID: vm.ClientID, ClientHost: vm.ClientHost,
				SessionTimeout: time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				Subscription:   vm.Subscription, Assignment: vm.Assignment}
			m.RebalanceTimeout = m.SessionTimeout
			if v.Version >= 1 && vm.RebalanceTimeoutMillis > 0 {
				m.RebalanceTimeout = time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond
			}
			if vm.InstanceID != nil {
				m.InstanceID = *vm.InstanceID
			}
			s.Members = append(s.Members, m)
		}
		r.Snapshot = s
		return r, nil
	default:
		return r, fmt.Errorf("%w: unknown key version %d", ErrCorruptRecord, version)
	}
}

// BuildRecord is one key/value pair to write.
type BuildRecord struct{ Key, Value []byte }

// BuildBatch makes a v2 batch of kvs, timestamped now, for appending to
// __consumer_offsets.
func BuildBatch(now time.Time, kvs []BuildRecord) []byte {
	return record.BuildBatch(record.BuildOptions{
		FirstTimestamp: now.UnixMilli(),
		ProducerID:     -1, ProducerEpoch: -1, BaseSequence: record.NoSequence,
	}, buildRecords(kvs))
}

// BuildTxnBatch makes the transactional batch of a TxnOffsetCommit: the
// committing producer's id and epoch, the transactional attribute and no
// sequence number (Kafka writes coordinator batches with NO_SEQUENCE; the
// partition checks the epoch, not sequences).
func BuildTxnBatch(now time.Time, producerID int64, producerEpoch int16, kvs []BuildRecord) []byte {
	return record.BuildBatch(record.BuildOptions{
		Transactional:  true,
		FirstTimestamp: now.UnixMilli(),
		ProducerID:     producerID, ProducerEpoch: producerEpoch, BaseSequence: record.NoSequence,
	}, buildRecords(kvs))
}

func buildRecords(kvs []BuildRecord) []record.Record {
	recs := make([]record.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: kv.Key, Value: kv.Value}
	}
	return recs
}

// Package txn is the transaction coordinator (KIP-98, KIP-447, KIP-890).
//
// Each transactional id belongs to one partition of __transaction_state
// (Kafka's placement: abs(javaHashCode(id)) % partitions). The broker that
// leads that partition coordinates the id: it keeps the id's state in memory
// and every change of it as one record (Kafka's TransactionLogKey/Value
// schema) in the partition, written durably — replicated to the ISR in a
// cluster — before the change takes effect or is answered. A new leader
// replays the partition and finishes what the old one left half done
// (markers of a prepared commit or abort). Its coordinator epoch is the
// partition's leader epoch, stamped on every marker, so a deposed
// coordinator's late markers are refused by the partitions.
//
// The life of a transaction, as in Kafka:
//
//	Empty/Complete* --AddPartitions--> Ongoing --EndTxn--> Prepare{Commit,Abort}
//	  --markers written to every partition--> Complete{Commit,Abort}
//
// InitProducerId bumps the producer epoch (fencing the previous instance);
// if a transaction is open it is aborted first with the bumped epoch.
// Transactions open longer than their timeout are aborted the same way.
package txn

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors. The api layer maps them to Kafka codes.
var (
	ErrNotCoordinator           = errors.New("txn: this broker is not the transaction coordinator of that id")
	ErrLoadInProgress           = errors.New("txn: the coordinator is loading its state")
	ErrCoordinatorNotAvailable  = errors.New("txn: the transaction coordinator is not available")
	ErrConcurrentTransactions   = errors.New("txn: a previous transaction of this id is still completing")
	ErrInvalidProducerIDMapping = errors.New("txn: the producer id does not belong to this transactional id")
	ErrProducerFenced           = errors.New("txn: the producer epoch is not the current one; a newer instance fenced this producer")
	ErrInvalidTxnState          = errors.New("txn: the request is not valid in the transaction's current state")
	ErrInvalidTimeout           = errors.New("txn: transaction timeout is above transaction.max.timeout.ms or not positive")
	ErrInvalidID                = errors.New("txn: empty transactional id")
	ErrUnknownID                = errors.New("txn: unknown transactional id")
)

// State is a transaction's state; the values are Kafka's (TransactionState).
type State int8

// The states, with Kafka's ids (they are written to __transaction_state).
const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String returns Kafka's name of the state (ListTransactions and
// DescribeTransactions answer with it).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("Unknown(%d)", int8(s))
}

// ParseState is the inverse of String.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Meta is the durable state of one transactional id: what one record of
// __transaction_state holds.
type Meta struct {
	ID             string
	ProducerID     int64
	PrevProducerID int64 // the id before an epoch exhaustion moved to a new one, -1 when none
	ProducerEpoch  int16
	// LastProducerEpoch is the epoch before the latest bump (-1 when none):
	// a retried InitProducerId or (transactions v2) EndTxn that carries it
	// is recognised instead of fenced. Kept in memory, as in Kafka.
	LastProducerEpoch int16
	Timeout           time.Duration
	State             State
	Partitions        []TopicPartition // sorted, no duplicates
	StartTime         time.Time        // when the current transaction began (zero when none)
	LastUpdate        time.Time
	// ClientTV is the transaction version the producer runs (2: KIP-890
	// part 2, EndTxn v5 bumps the epoch on every transaction end).
	ClientTV int16
}

func (m *Meta) clone() Meta {
	c := *m
	c.Partitions = slices.Clone(m.Partitions)
	return c
}

func (m *Meta) has(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(m.Partitions, tp, cmpTP)
	return ok
}

func (m *Meta) add(tp TopicPartition) {
	i, ok := slices.BinarySearchFunc(m.Partitions, tp, cmpTP)
	if !ok {
		m.Partitions = slices.Insert(m.Partitions, i, tp)
	}
}

func cmpTP(a, b TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// Record schema versions of __transaction_state (Kafka's
// TransactionLogKey v0 and TransactionLogValue v1, the flexible one with
// the KIP-890 tagged fields).
const (
	keyVersion   = 0
	valueVersion = 1
)

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

// encodeMeta returns the record key and value of m; a nil value
// (tombstone) when m is nil, for id.
func encodeMeta(id string, m *Meta) (key, value []byte) {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	key = k.AppendTo(nil)
	if m == nil {
		return key, nil
	}
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch = m.ProducerID, m.ProducerEpoch
	v.TimeoutMillis = int32(m.Timeout / time.Millisecond)
	v.State = kmsg.TransactionState(m.State)
	v.LastUpdateTimestamp, v.StartTimestamp = millis(m.LastUpdate), millis(m.StartTime)
	v.PreviousProducerID, v.NextProducerID = m.PrevProducerID, -1
	v.ClientTransactionVersion, v.NextProducerEpoch = m.ClientTV, -1
	for _, tp := range m.Partitions {
		if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
			v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
		v.Topics = append(v.Topics, t)
	}
	return key, v.AppendTo(nil)
}

// errCorruptRecord: a __transaction_state record that does not decode; the
// replay skips it with a warning.
var errCorruptRecord = errors.New("txn: corrupt __transaction_state record")

// decodeMeta decodes one record; m is nil for a tombstone.
func decodeMeta(key, value []byte) (id string, m *Meta, err error) {
	var k kmsg.TxnMetadataKey
	if len(key) < 2 {
		return "", nil, fmt.Errorf("%w: key of %d bytes", errCorruptRecord, len(key))
	}
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("%w: key: %v", errCorruptRecord, err)
	}
	if k.Version != keyVersion {
		return "", nil, fmt.Errorf("%w: key version %d", errCorruptRecord, k.Version)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("%w: value: %v", errCorruptRecord, err)
	}
	if v.Version < 0 || v.Version > valueVersion {
		return "", nil, fmt.Errorf("%w: value version %d", errCorruptRecord, v.Version)
	}
	st := State(v.State)
	if st < Empty || st > PrepareEpochFence {
		return "", nil, fmt.Errorf("%w: state %d", errCorruptRecord, v.State)
	}
	m = &Meta{
		ID: k.TransactionalID, ProducerID: v.ProducerID, ProducerEpoch: v.ProducerEpoch,
		PrevProducerID: -1, LastProducerEpoch: -1,
		Timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, State: st,
		StartTime: fromMillis(v.StartTimestamp), LastUpdate: fromMillis(v.LastUpdateTimestamp),
	}
	if v.Version >= 1 {
		m.PrevProducerID, m.ClientTV = v.PreviousProducerID, v.ClientTransactionVersion
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.add(TopicPartition{t.Topic, p})
		}
	}
	return k.TransactionalID, m, nil
}

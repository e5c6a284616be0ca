package record

import (
	"encoding/binary"
	"fmt"
)

// Transaction markers (KIP-98). A marker is a control batch (attributes:
// control and transactional) of one record whose key is
//
//	version int16 (0) | type int16 (0 = ABORT, 1 = COMMIT)
//
// and whose value is
//
//	version int16 (0) | coordinatorEpoch int32
//
// It carries the producer id and epoch of the transaction it ends and no
// sequence number.

// ControlType is the type field of a control record's key.
type ControlType int16

// Control record types written by the transaction coordinator's markers.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// Marker is a decoded transaction marker.
type Marker struct {
	Commit           bool
	CoordinatorEpoch int32
}

// BuildMarker encodes a transaction marker batch for producer id/epoch,
// stamped at ts (unix ms). The base offset and leader epoch are the
// partition's to set when it appends the batch.
func BuildMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := make([]byte, 4)
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	return BuildBatch(BuildOptions{
		Transactional:  true,
		Control:        true,
		FirstTimestamp: ts,
		ProducerID:     producerID,
		ProducerEpoch:  producerEpoch,
		BaseSequence:   NoSequence,
	}, []Record{{Key: key, Value: value}})
}

// DecodeControlKey returns the type of a control record from its key.
// Unknown types are returned as they are (Kafka skips control records it
// does not know); a key too short to hold version and type is ErrCorrupt.
func DecodeControlKey(key []byte) (ControlType, error) {
	if len(key) < 4 {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrCorrupt, len(key))
	}
	return ControlType(int16(binary.BigEndian.Uint16(key[2:]))), nil
}

// DecodeMarker decodes the (single) record of a control batch as a
// transaction marker. ok is false for a control record that is not a
// commit or abort marker (a type this broker does not know).
func DecodeMarker(batch []byte) (m Marker, ok bool, err error) {
	seen := false
	err = ForEachRecord(batch, func(r Record) error {
		if seen {
			return nil
		}
		seen = true
		typ, err := DecodeControlKey(r.Key)
		if err != nil {
			return err
		}
		switch typ {
		case ControlAbort, ControlCommit:
		default:
			return nil
		}
		if len(r.Value) < 6 {
			return fmt.Errorf("%w: transaction marker value of %d bytes", ErrCorrupt, len(r.Value))
		}
		m = Marker{Commit: typ == ControlCommit, CoordinatorEpoch: int32(binary.BigEndian.Uint32(r.Value[2:]))}
		ok = true
		return nil
	})
	if err != nil {
		return Marker{}, false, err
	}
	return m, ok, nil
}

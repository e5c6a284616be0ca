package group

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

func TestRecordsRoundTrip(t *testing.T) {
	commit := time.UnixMilli(1_700_000_000_123)
	tp := TopicPartition{Topic: "orders", Partition: 7}
	o := Offset{Offset: 42, LeaderEpoch: 3, Metadata: "m", CommitTime: commit}
	oe := Offset{Offset: 1, LeaderEpoch: -1, CommitTime: commit, ExpireTime: commit.Add(time.Hour)}
	snap := Snapshot{ProtocolType: "consumer", Generation: 5, Protocol: "range", Leader: "a", StateSince: commit,
		Members: []SnapshotMember{{MemberID: "a", InstanceID: "i", ClientID: "c", ClientHost: "/h",
			RebalanceTimeout: time.Minute, SessionTimeout: 10 * time.Second,
			Subscription: []byte{1}, Assignment: []byte{2}}}}
	for _, tc := range []struct {
		name   string
		encode func() ([]byte, []byte)
		want   StoredRecord
	}{
		{"offset", func() ([]byte, []byte) { return EncodeOffset("g", tp, &o) },
			StoredRecord{Group: "g", IsOffset: true, TP: tp, Offset: &o}},
		{"offset with expire time (value v1)", func() ([]byte, []byte) { return EncodeOffset("g", tp, &oe) },
			StoredRecord{Group: "g", IsOffset: true, TP: tp, Offset: &oe}},
		{"offset tombstone", func() ([]byte, []byte) { return EncodeOffset("g", tp, nil) },
			StoredRecord{Group: "g", IsOffset: true, TP: tp}},
		{"group", func() ([]byte, []byte) { return EncodeGroup("g", &snap) },
			StoredRecord{Group: "g", Snapshot: &snap}},
		{"group tombstone", func() ([]byte, []byte) { return EncodeGroup("g", nil) },
			StoredRecord{Group: "g"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, v := tc.encode()
			got, err := DecodeRecord(k, v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRecordsAreKafkas checks the bytes against kmsg's schemas directly,
// so Kafka's own tooling (kafka-console-consumer with the offsets
// formatter) reads what samsa writes.
func TestRecordsAreKafkas(t *testing.T) {
	k, v := EncodeOffset("grp", TopicPartition{Topic: "t", Partition: 1}, &Offset{Offset: 9, LeaderEpoch: -1, CommitTime: t0})
	var kk kmsg.OffsetCommitKey
	if err := kk.ReadFrom(k); err != nil || kk.Version != 1 || kk.Group != "grp" || kk.Topic != "t" || kk.Partition != 1 {
		t.Fatalf("key %+v %v", kk, err)
	}
	var vv kmsg.OffsetCommitValue
	if err := vv.ReadFrom(v); err != nil || vv.Version != 3 || vv.Offset != 9 || vv.CommitTimestamp != t0.UnixMilli() {
		t.Fatalf("value %+v %v", vv, err)
	}
	gk, _ := EncodeGroup("grp", &Snapshot{})
	var gkk kmsg.GroupMetadataKey
	if err := gkk.ReadFrom(gk); err != nil || gkk.Version != 2 || gkk.Group != "grp" {
		t.Fatalf("group key %+v %v", gkk, err)
	}
}

func TestDecodeBatchesSkipsBadRecords(t *testing.T) {
	good, goodV := EncodeOffset("g", TopicPartition{Topic: "t"}, &Offset{Offset: 5, CommitTime: t0})
	b := BuildBatch(t0, []BuildRecord{
		{Key: []byte{0}, Value: []byte{1}},         // key too short
		{Key: []byte{0, 9, 0}, Value: nil},         // unknown key version
		{Key: good, Value: []byte{0, 3, 1}},        // truncated value
		{Key: good, Value: goodV},                  // fine
		{Key: []byte{0, 2, 0, 0x10}, Value: goodV}, // lying string length
	})
	var got []StoredRecord
	var warns []error
	next, err := DecodeBatches(b, func(r StoredRecord) { got = append(got, r) }, func(ConsumerRecord) {}, nil, func(err error) { warns = append(warns, err) })
	if err != nil {
		t.Fatal(err)
	}
	if next != 5 {
		t.Fatalf("next offset %d, want 5", next)
	}
	if len(got) != 1 || got[0].Offset == nil || got[0].Offset.Offset != 5 {
		t.Fatalf("decoded %+v", got)
	}
	if len(warns) != 4 {
		t.Fatalf("%d warnings, want 4: %v", len(warns), warns)
	}
	for _, w := range warns {
		if !errors.Is(w, ErrCorruptRecord) {
			t.Fatalf("warning %v is not ErrCorruptRecord", w)
		}
	}
}

// FuzzDecodeGroupRecords checks, for any key and value bytes found in
// __consumer_offsets: DecodeRecord never panics; it either fails with
// ErrCorruptRecord or returns a record whose re-encoding decodes to the
// same record (so a replay followed by a rewrite loses nothing); and
// DecodeBatches over any bytes never panics and reports bad records
// through warn rather than stopping.
func FuzzDecodeGroupRecords(f *testing.F) {
	k, v := EncodeOffset("g", TopicPartition{Topic: "t", Partition: 2}, &Offset{Offset: 10, LeaderEpoch: 1, Metadata: "x", CommitTime: t0})
	f.Add(k, v)
	f.Add(k, []byte(nil))
	k1, v1 := EncodeOffset("g", TopicPartition{Topic: "t"}, &Offset{Offset: 1, CommitTime: t0, ExpireTime: t0})
	f.Add(k1, v1)
	gk, gv := EncodeGroup("g", &Snapshot{ProtocolType: "consumer", Generation: 1, Protocol: "range", Leader: "m",
		Members: []SnapshotMember{{MemberID: "m", InstanceID: "i", Subscription: []byte{0}, Assignment: []byte{1}}}})
	f.Add(gk, gv)
	f.Add(gk, []byte{0, 3, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0, 2, 0x7f, 0xff}, gv)
	f.Add([]byte{0xff, 0xff}, v)
	f.Add(gk, []byte{0, 2, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff})
	// A whole batch as the key seeds DecodeBatches with real framing.
	f.Add(BuildBatch(t0, []BuildRecord{{Key: k, Value: v}, {Key: gk, Value: gv}, {Key: []byte{0, 9}}}), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := DecodeRecord(key, value)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v is not ErrCorruptRecord", err)
			}
		} else {
			var k2, v2 []byte
			if r.IsOffset {
				k2, v2 = EncodeOffset(r.Group, r.TP, r.Offset)
			} else {
				k2, v2 = EncodeGroup(r.Group, r.Snapshot)
			}
			r2, err := DecodeRecord(k2, v2)
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			if !sameRecord(r, r2) {
				t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
			}
		}
		// The replay path itself, on raw bytes and on a well-formed
		// batch holding the fuzzed record.
		mfn := func(TxnMarker) {}
		_, _ = DecodeBatches(append(key, value...), func(StoredRecord) {}, func(ConsumerRecord) {}, mfn, func(error) {})
		_, _ = DecodeBatches(BuildBatch(t0, []BuildRecord{{Key: key, Value: value}}), func(StoredRecord) {}, func(ConsumerRecord) {}, mfn, func(error) {})
		// The same bytes as a transactional commit, and as a control
		// batch's record (a marker that may not decode).
		_, _ = DecodeBatches(BuildTxnBatch(t0, 7, 1, []BuildRecord{{Key: key, Value: value}}), func(StoredRecord) {}, func(ConsumerRecord) {}, mfn, func(error) {})
		ctl := record.BuildBatch(record.BuildOptions{Transactional: true, Control: true, ProducerID: 7, BaseSequence: record.NoSequence},
			[]record.Record{{Key: key, Value: value}})
		_, _ = DecodeBatches(ctl, func(StoredRecord) {}, func(ConsumerRecord) {}, mfn, func(error) {})
	})
}

// sameRecord compares what survives a rewrite (timestamps at millisecond
// precision, the fields samsa keeps).
func sameRecord(a, b StoredRecord) bool {
	if a.Group != b.Group || a.IsOffset != b.IsOffset || a.TP != b.TP {
		return false
	}
	if (a.Offset == nil) != (b.Offset == nil) || (a.Snapshot == nil) != (b.Snapshot == nil) {
		return false
	}
	if a.Offset != nil {
		x, y := *a.Offset, *b.Offset
		if x.Offset != y.Offset || x.Metadata != y.Metadata || !x.CommitTime.Equal(y.CommitTime) || !x.ExpireTime.Equal(y.ExpireTime) {
			return false
		}
		// The leader epoch survives unless the value had to be written
		// as v1 (explicit expire time), which has no epoch field.
		if x.ExpireTime.IsZero() && x.LeaderEpoch != y.LeaderEpoch {
			return false
		}
	}
	if a.Snapshot != nil {
		x, y := a.Snapshot, b.Snapshot
		if x.ProtocolType != y.ProtocolType || x.Generation != y.Generation || x.Protocol != y.Protocol ||
			x.Leader != y.Leader || len(x.Members) != len(y.Members) {
			return false
		}
		for i := range x.Members {
			m, n := x.Members[i], y.Members[i]
			if m.MemberID != n.MemberID || m.InstanceID != n.InstanceID || m.ClientID != n.ClientID ||
				!bytes.Equal(m.Subscription, n.Subscription) || !bytes.Equal(m.Assignment, n.Assignment) {
				return false
			}
		}
	}
	return true
}

package partition

import (
	"errors"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/record"
)

func keyedBatch(codec record.Compression, keys ...[]byte) []byte {
	recs := make([]record.Record, len(keys))
	for i, k := range keys {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: k, Value: []byte("v")}
	}
	return record.BuildBatch(record.BuildOptions{
		Compression: codec, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: record.NoSequence,
	}, recs)
}

func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	tests := []struct {
		name      string
		compacted bool
		batch     []byte
		wantErr   error
	}{
		{"keyed, compacted", true, keyedBatch(record.None, []byte("a"), []byte("b")), nil},
		{"empty key is a key", true, keyedBatch(record.None, []byte{}), nil},
		{"keyless, compacted", true, keyedBatch(record.None, []byte("a"), nil), ErrKeylessRecordOnCompactedTopic},
		{"keyless inside a compressed batch", true, keyedBatch(record.Zstd, []byte("a"), nil), ErrKeylessRecordOnCompactedTopic},
		{"keyless, not compacted", false, keyedBatch(record.None, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Open(Config{Topic: "t", Dir: t.TempDir(), MaxMessageBytes: 1 << 20,
				Log: log.Options{Compact: tt.compacted}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			_, err = p.Append(tt.batch, time.Now())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Append err = %v, want %v", err, tt.wantErr)
			}
			want := int64(0)
			if tt.wantErr == nil {
				want = 1
			}
			if got := p.LogEndOffset(); (got > 0) != (want > 0) {
				t.Fatalf("LogEndOffset = %d after Append err %v: a refused produce must write nothing", got, err)
			}
		})
	}
}

func TestPartitionCompact(t *testing.T) {
	p, err := Open(Config{Topic: "t", Dir: t.TempDir(), MaxMessageBytes: 1 << 20,
		Log: log.Options{Compact: true, SegmentBytes: 200}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 10 {
		if _, err := p.Append(keyedBatch(record.None, []byte("k")), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := p.Compact(time.Now())
	if err != nil || st.RecordsRemoved == 0 {
		t.Fatalf("Compact = %+v, %v; want superseded records removed", st, err)
	}
	p.Close()
	if _, err := p.Compact(time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compact after Close: err = %v, want ErrClosed", err)
	}
}

package partition

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/record"
)

// txnBatch is a transactional batch of n records (keys k0, k1, ...) from
// producer pid at epoch and seq.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte{'k', byte('0' + i)}, Value: []byte("v")}
	}
	return record.BuildBatch(record.BuildOptions{
		Transactional: true, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
	}, recs)
}

func mustAppend(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	res, err := p.Append(b, time.Now())
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

func mustMarker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool, coordEpoch int32) AppendResult {
	t.Helper()
	res, err := p.AppendMarker(Marker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coordEpoch}, time.Now())
	if err != nil {
		t.Fatalf("AppendMarker(pid %d, commit %v): %v", pid, commit, err)
	}
	return res
}

func mustFlush(t *testing.T, p *Partition) {
	t.Helper()
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestLastStableOffset walks two interleaved transactions through begin,
// commit and abort, with the HW moving only at Flush (durable mode), and
// checks the LSO after each step: it stops at the oldest open transaction,
// and a completed one holds it until its marker is below the HW.
func TestLastStableOffset(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	steps := []struct {
		name        string
		do          func()
		wantHW      int64
		wantLSO     int64
		wantOngoing int
	}{
		{"plain records", func() { mustAppend(t, p, batch(-1, -1, -1, 2)); mustFlush(t, p) }, 2, 2, 0},
		{"A opens at 2", func() { mustAppend(t, p, txnBatch(1, 0, 0, 2)); mustFlush(t, p) }, 4, 2, 1},
		{"B opens at 4", func() { mustAppend(t, p, txnBatch(2, 0, 0, 1)); mustFlush(t, p) }, 5, 2, 2},
		{"A commits at 5, marker not committed", func() { mustMarker(t, p, 1, 0, true, 0) }, 5, 2, 1},
		{"marker committed: LSO moves to B", func() { mustFlush(t, p) }, 6, 4, 1},
		{"B aborts at 6, marker not committed", func() { mustMarker(t, p, 2, 0, false, 0) }, 6, 4, 0},
		{"marker committed: all stable", func() { mustFlush(t, p) }, 7, 7, 0},
		{"A continues: opens again at 7", func() { mustAppend(t, p, txnBatch(1, 0, 2, 1)); mustFlush(t, p) }, 8, 7, 1},
		{"plain records after it do not move the LSO", func() { mustAppend(t, p, batch(-1, -1, -1, 1)); mustFlush(t, p) }, 9, 7, 1},
	}
	for _, s := range steps {
		s.do()
		if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != s.wantHW || lso != s.wantLSO {
			t.Fatalf("%s: HW %d LSO %d, want %d %d", s.name, hw, lso, s.wantHW, s.wantLSO)
		}
		if n, _ := p.OngoingTxns(); n != s.wantOngoing {
			t.Fatalf("%s: %d ongoing transactions, want %d", s.name, n, s.wantOngoing)
		}
		rr, err := p.Read(0, 1<<20, true)
		if err != nil || rr.LastStableOffset != s.wantLSO {
			t.Fatalf("%s: Read LSO %d, %v", s.name, rr.LastStableOffset, err)
		}
	}
}

// offsetsIn lists the base offsets of the batches in b.
func offsetsIn(t *testing.T, b []byte) []int64 {
	t.Helper()
	var out []int64
	if err := record.Split(b, func(h record.BatchHeader, _ []byte) error {
		out = append(out, h.BaseOffset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadCommitted: a read_committed fetch stops at the LSO and reports
// the aborted transactions overlapping what it returns.
func TestReadCommitted(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	mustAppend(t, p, txnBatch(1, 0, 0, 2)) // [0,1] A, aborted
	mustAppend(t, p, txnBatch(2, 0, 0, 1)) // [2] B, committed
	mustMarker(t, p, 1, 0, false, 0)       // 3
	mustMarker(t, p, 2, 0, true, 0)        // 4
	mustAppend(t, p, txnBatch(3, 0, 0, 1)) // [5] C, open
	mustFlush(t, p)
	if lso := p.LastStableOffset(); lso != 5 {
		t.Fatalf("LSO %d, want 5", lso)
	}
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int
		wantBatches []int64
		wantAborted []AbortedTxn
	}{
		{"everything stable", 0, 1 << 20, []int64{0, 2, 3, 4}, []AbortedTxn{{ProducerID: 1, FirstOffset: 0}}},
		{"first batch only", 0, 1, []int64{0}, []AbortedTxn{{ProducerID: 1, FirstOffset: 0}}},
		{"from B's batch, A's marker after it", 2, 1 << 20, []int64{2, 3, 4}, []AbortedTxn{{ProducerID: 1, FirstOffset: 0}}},
		{"past A's marker", 4, 1 << 20, []int64{4}, nil},
		{"at the LSO: nothing yet", 5, 1 << 20, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr, err := p.ReadCommitted(tt.offset, tt.maxBytes, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsetsIn(t, rr.Records); !reflect.DeepEqual(got, tt.wantBatches) {
				t.Fatalf("batches at %v, want %v", got, tt.wantBatches)
			}
			if !reflect.DeepEqual(rr.Aborted, tt.wantAborted) {
				t.Fatalf("aborted %+v, want %+v", rr.Aborted, tt.wantAborted)
			}
			if rr.LastStableOffset != 5 || rr.HighWatermark != 6 {
				t.Fatalf("LSO %d HW %d", rr.LastStableOffset, rr.HighWatermark)
			}
		})
	}
	// read_uncommitted sees C's record and no aborted list.
	rr, err := p.Read(0, 1<<20, true)
	if err != nil || len(offsetsIn(t, rr.Records)) != 5 || rr.Aborted != nil || rr.LastStableOffset != 5 {
		t.Fatalf("Read: %v batches, aborted %v, LSO %d, %v", offsetsIn(t, rr.Records), rr.Aborted, rr.LastStableOffset, err)
	}
	// ListOffsets at read_committed: nothing at or past the LSO.
	if _, off := p.MaxTimestampReadCommitted(); off >= 5 {
		t.Fatalf("MaxTimestampReadCommitted offset %d past the LSO", off)
	}
	if off, _, found, err := p.OffsetForTimestampReadCommitted(time.Now().Add(time.Hour).UnixMilli()); err != nil || found {
		t.Fatalf("OffsetForTimestampReadCommitted = %d, %v, %v", off, found, err)
	}
}

// TestTxnRefusals: the transaction rules of the produce and marker paths.
func TestTxnRefusals(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	now := time.Now()
	mustAppend(t, p, txnBatch(1, 1, 0, 1))
	mustMarker(t, p, 1, 1, true, 5)
	mustAppend(t, p, txnBatch(1, 1, 1, 1)) // A open again

	control := record.BuildMarker(9, 0, true, 0, now.UnixMilli())
	noPID := record.BuildBatch(record.BuildOptions{Transactional: true, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]record.Record{{Value: []byte("v")}})
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"non-transactional batch during a transaction", func() error { _, err := p.Append(batch(1, 1, 2, 1), now); return err }, ErrInvalidTxnState},
		{"zombie epoch", func() error { _, err := p.Append(txnBatch(1, 0, 0, 1), now); return err }, ErrInvalidEpoch},
		{"control batch from a client", func() error { _, err := p.Append(control, now); return err }, ErrControlBatchFromClient},
		{"transactional without producer id", func() error { _, err := p.Append(noPID, now); return err }, ErrTransactionalWithoutProducerID},
		{"marker with an old producer epoch", func() error {
			_, err := p.AppendMarker(Marker{ProducerID: 1, ProducerEpoch: 0, Commit: false, CoordinatorEpoch: 5}, now)
			return err
		}, ErrInvalidEpoch},
		{"marker from a fenced coordinator", func() error {
			_, err := p.AppendMarker(Marker{ProducerID: 1, ProducerEpoch: 1, Commit: false, CoordinatorEpoch: 4}, now)
			return err
		}, ErrCoordinatorFenced},
		{"client batch without a sequence", func() error {
			_, err := p.Append(txnBatch(1, 1, -1, 1), now)
			return err
		}, ErrOutOfOrderSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leo := p.LogEndOffset()
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if p.LogEndOffset() != leo {
				t.Fatalf("a refused append wrote: LEO %d -> %d", leo, p.LogEndOffset())
			}
		})
	}
	// The coordinator's own batches skip sequences but not fencing.
	if _, err := p.AppendCoordinator(txnBatch(1, 1, -1, 1), now); err != nil {
		t.Fatalf("AppendCoordinator: %v", err)
	}
	if _, err := p.AppendCoordinator(txnBatch(1, 0, -1, 1), now); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("AppendCoordinator with an old epoch: %v", err)
	}
	// A marker for a producer with nothing open is written and harmless.
	res := mustMarker(t, p, 77, 0, false, 0)
	if res.NextOffset != p.LogEndOffset() {
		t.Fatalf("marker result %+v", res)
	}
	// A newer coordinator epoch is accepted and remembered.
	mustMarker(t, p, 1, 1, false, 6)
	infos := p.Producers()
	if len(infos) != 2 || infos[0].ProducerID != 1 || infos[0].CoordinatorEpoch != 6 || infos[0].CurrentTxnStartOffset != -1 ||
		infos[0].ProducerEpoch != 1 || infos[0].LastSequence != 1 || infos[1].ProducerID != 77 {
		t.Fatalf("Producers() = %+v", infos)
	}
}

// txnFixture leaves a partition with an aborted transaction (A: [0,1],
// marker 3), a committed one (B: [2], marker 4) and an open one (C: [5])
// and returns what must survive a restart.
type txnState struct {
	ongoing, oldest int64
	lso             int64
	aborted         []AbortedTxn
	producers       []ProducerInfo
}

func txnFixture(t *testing.T, p *Partition) {
	t.Helper()
	mustAppend(t, p, txnBatch(1, 0, 0, 2))
	mustAppend(t, p, txnBatch(2, 0, 0, 1))
	mustMarker(t, p, 1, 0, false, 3)
	mustMarker(t, p, 2, 0, true, 3)
	mustAppend(t, p, txnBatch(3, 0, 0, 1))
	mustFlush(t, p)
}

func stateOf(t *testing.T, p *Partition) txnState {
	t.Helper()
	n, oldest := p.OngoingTxns()
	rr, err := p.ReadCommitted(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	ps := p.Producers()
	for i := range ps {
		ps[i].LastTimestamp = 0 // markers and batches may differ in rounding; not under test
	}
	return txnState{ongoing: int64(n), oldest: oldest, lso: p.LastStableOffset(), aborted: rr.Aborted, producers: ps}
}

// TestTxnStateSurvivesRestart: open transactions, the LSO and the aborted
// index come back after a clean restart and after crashes that lose the
// index and the snapshot, tear the index, or cut the log's tail.
func TestTxnStateSurvivesRestart(t *testing.T) {
	want := txnState{ongoing: 1, oldest: 5, lso: 5, aborted: []AbortedTxn{{ProducerID: 1, FirstOffset: 0}}}
	removeAll := func(t *testing.T, dir, suffix string) {
		ms, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
		if len(ms) == 0 {
			t.Fatalf("no %s file to remove", suffix)
		}
		for _, m := range ms {
			if err := os.Remove(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		mangle func(t *testing.T, dir string)
	}{
		{"clean restart", func(*testing.T, string) {}},
		{"index and snapshot lost", func(t *testing.T, dir string) {
			removeAll(t, dir, ".txnindex")
			removeAll(t, dir, ".snapshot")
		}},
		{"index garbage", func(t *testing.T, dir string) {
			ms, _ := filepath.Glob(filepath.Join(dir, "*.txnindex"))
			if err := os.WriteFile(ms[0], []byte(strings.Repeat("\xff", 34)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"index torn mid-entry, snapshot lost", func(t *testing.T, dir string) {
			ms, _ := filepath.Glob(filepath.Join(dir, "*.txnindex"))
			if err := os.Truncate(ms[0], 20); err != nil {
				t.Fatal(err)
			}
			removeAll(t, dir, ".snapshot")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := openTest(t, dir)
			txnFixture(t, p)
			before := stateOf(t, p)
			if before.ongoing != want.ongoing || before.oldest != want.oldest || before.lso != want.lso ||
				!reflect.DeepEqual(before.aborted, want.aborted) {
				t.Fatalf("before restart: %+v", before)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			tt.mangle(t, dir)
			p = openTest(t, dir)
			defer p.Close()
			if after := stateOf(t, p); !reflect.DeepEqual(after, before) {
				t.Fatalf("after restart:\n%+v\nwant\n%+v", after, before)
			}
		})
	}
}

// TestTornTailReopensTransaction: a crash that cuts the abort marker from
// the log takes its index entry with it, and the transaction is open again
// (the coordinator will write the marker again).
func TestTornTailReopensTransaction(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	mustAppend(t, p, txnBatch(1, 0, 0, 2))
	marker := mustMarker(t, p, 1, 0, false, 0)
	mustFlush(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Cut the marker batch off the segment and lose the snapshot, as an
	// unclean stop before the marker reached the disk would.
	seg := filepath.Join(dir, "00000000000000000000.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := record.ParseHeader(b)
	if err := os.Truncate(seg, int64(first.Size())+10); err != nil {
		t.Fatal(err)
	}
	ms, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	for _, m := range ms {
		_ = os.Remove(m)
	}
	p = openTest(t, dir)
	defer p.Close()
	if p.LogEndOffset() != marker.BaseOffset {
		t.Fatalf("LEO %d, want the marker's offset %d", p.LogEndOffset(), marker.BaseOffset)
	}
	if n, oldest := p.OngoingTxns(); n != 1 || oldest != 0 {
		t.Fatalf("ongoing %d from %d, want 1 from 0", n, oldest)
	}
	if es := p.log.AbortedTxns(0, 100); len(es) != 0 {
		t.Fatalf("aborted entries past the log end survived: %+v", es)
	}
	if lso := p.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d, want 0", lso)
	}
}

// TestTruncateToDropsAbortedEntries: a follower truncation below an abort
// marker removes its index entry (durably) and reopens the transaction.
func TestTruncateToDropsAbortedEntries(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	mustAppend(t, p, txnBatch(1, 0, 0, 2))
	m := mustMarker(t, p, 1, 0, false, 0)
	mustFlush(t, p)
	if es := p.log.AbortedTxns(0, 100); len(es) != 1 {
		t.Fatalf("entries %+v, want one", es)
	}
	if err := p.TruncateTo(m.BaseOffset); err != nil {
		t.Fatal(err)
	}
	if es := p.log.AbortedTxns(0, 100); len(es) != 0 {
		t.Fatalf("entries after truncation %+v", es)
	}
	if n, _ := p.OngoingTxns(); n != 1 {
		t.Fatalf("%d ongoing after truncation, want 1", n)
	}
	// Something else lands at the marker's offset; the old entry must
	// not come back with a reopen.
	mustAppend(t, p, batch(-1, -1, -1, 1))
	mustFlush(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openTest(t, dir)
	defer p.Close()
	if es := p.log.AbortedTxns(0, 100); len(es) != 0 {
		t.Fatalf("entries after reopen %+v", es)
	}
}

// TestFollowerReplaysTransactions: a follower copying the leader's batches
// ends up with the same open transactions, LSO and aborted index.
func TestFollowerReplaysTransactions(t *testing.T) {
	leader := openTest(t, t.TempDir())
	defer leader.Close()
	txnFixture(t, leader)

	f := openTest(t, t.TempDir())
	defer f.Close()
	if err := f.EnableReplication(2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.SetRole(Role{Leader: 1, LeaderEpoch: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	for f.LogEndOffset() < leader.LogEndOffset() {
		rr, err := leader.ReadReplica(f.LogEndOffset(), 100) // a batch at a time
		if err != nil {
			t.Fatal(err)
		}
		if err := f.AppendReplica(rr.Records, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.FlushReplica(); err != nil {
		t.Fatal(err)
	}
	f.SetFollowerHW(leader.HighWatermark(), 0)
	ln, lo := leader.OngoingTxns()
	fn, fo := f.OngoingTxns()
	if ln != fn || lo != fo || leader.LastStableOffset() != f.LastStableOffset() {
		t.Fatalf("follower ongoing %d/%d LSO %d, leader %d/%d LSO %d", fn, fo, f.LastStableOffset(), ln, lo, leader.LastStableOffset())
	}
	if le, fe := leader.log.AbortedTxns(0, 100), f.log.AbortedTxns(0, 100); !reflect.DeepEqual(le, fe) || len(le) != 1 {
		t.Fatalf("follower aborted %+v, leader %+v", fe, le)
	}
}

// TestCompactionOfTransactions: the cleaner drops aborted records (and an
// aborted record never supersedes a committed one), keeps committed
// transactional records, keeps markers while their transaction has data,
// and drops an abort marker once its data is gone and delete.retention.ms
// passed — unless it is its producer's last batch.
func TestCompactionOfTransactions(t *testing.T) {
	p, err := Open(Config{Topic: "t", Dir: t.TempDir(), MaxMessageBytes: 1 << 20, SyncOnAck: true,
		Log: log.Options{Compact: true, SegmentBytes: 100, DeleteRetention: 0, MinCleanableDirtyRatio: 0.01, RetentionAge: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	keyed := func(pid int64, seq int32, txn bool, key, value string) []byte {
		return record.BuildBatch(record.BuildOptions{Transactional: txn, FirstTimestamp: time.Now().UnixMilli(),
			ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq}, []record.Record{{Key: []byte(key), Value: []byte(value)}})
	}
	none := func(key, value string) []byte {
		return record.BuildBatch(record.BuildOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1,
			BaseSequence: -1}, []record.Record{{Key: []byte(key), Value: []byte(value)}})
	}
	mustAppend(t, p, none("a", "committed-a"))      // 0
	mustAppend(t, p, keyed(1, 0, true, "a", "bad")) // 1: aborted
	abortAt := mustMarker(t, p, 1, 0, false, 0)     // 2
	mustAppend(t, p, keyed(2, 0, true, "b", "ok"))  // 3: committed
	mustMarker(t, p, 2, 0, true, 0)                 // 4
	mustAppend(t, p, keyed(1, 1, true, "c", "ok"))  // 5: A again, committed
	mustMarker(t, p, 1, 0, true, 0)                 // 6
	mustAppend(t, p, none("z", "active"))           // 7
	mustFlush(t, p)

	type rec struct {
		offset  int64
		key     string
		control bool
	}
	contents := func() []rec {
		var out []rec
		for off := p.LogStartOffset(); off < p.LogEndOffset(); {
			rr, err := p.Read(off, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(rr.Records) == 0 {
				break
			}
			_ = record.Split(rr.Records, func(h record.BatchHeader, b []byte) error {
				_ = record.ForEachRecord(b, func(r record.Record) error {
					out = append(out, rec{h.BaseOffset + int64(r.OffsetDelta), string(r.Key[:min(len(r.Key), 1)]), h.Control()})
					return nil
				})
				off = h.NextOffset()
				return nil
			})
		}
		return out
	}
	if _, err := p.Compact(time.Now()); err != nil {
		t.Fatal(err)
	}
	got := contents()
	has := func(off int64) bool {
		for _, r := range got {
			if r.offset == off {
				return true
			}
		}
		return false
	}
	if has(1) || !has(0) || !has(3) || !has(5) {
		t.Fatalf("after the first pass: %+v; want 1 gone and 0, 3, 5 kept", got)
	}
	if !has(abortAt.BaseOffset) || !has(4) || !has(6) {
		t.Fatalf("after the first pass: %+v; want every marker kept", got)
	}
	// A second pass, once the first-cleaned segments are older than
	// delete.retention.ms (0): the abort marker's data is gone, so it
	// goes; the commit markers' data is still there, so they stay.
	mustAppend(t, p, none("y", "more"))
	mustAppend(t, p, none("x", "more"))
	mustFlush(t, p)
	if _, err := p.Compact(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got = contents()
	if has(abortAt.BaseOffset) || !has(4) || !has(6) || !has(0) || !has(3) {
		t.Fatalf("after the second pass: %+v; want the abort marker gone, commit markers and data kept", got)
	}
}

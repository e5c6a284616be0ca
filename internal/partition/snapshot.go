package partition

// Producer-state snapshots.
//
// Rebuilding idempotent-producer state from the log means reading every
// batch header from the log start. A snapshot records the state as of an
// offset, so Open reads headers only from there (Kafka's <offset>.snapshot
// files, KAFKA-5242 and friends). A snapshot is written when the log rolls a
// segment (noticed after the Append that rolled) and on Close; the newest
// two are kept.
//
// The file <20-digit offset>.snapshot in the partition directory holds the
// state of every batch below offset (on-disk format; do not change without a
// new version):
//
//	+-------+---------+--------+--------+-------+-------------------+
//	| magic | version | crc    | offset | count | count producers   |
//	| SPSN  | int16=3 | uint32 | int64  | int32 |                   |
//	+-------+---------+--------+--------+-------+-------------------+
//	 0       4         6        10       18      22
//
//	producer: producerID int64, epoch int16, lastTimestamp int64,
//	          txnFirstOffset int64, coordinatorEpoch int32, n int8 (0..5),
//	          then n batches. Version 1 had neither lastTimestamp (read as
//	          -1, "unknown": expiry counts from the load) nor the two
//	          transaction fields; version 2 lacked the transaction fields
//	          (read as -1: no transaction open, no marker seen).
//	          txnFirstOffset is the first offset of the producer's open
//	          transaction (-1 none), below the snapshot's offset.
//	batch:    firstSeq int32, lastSeq int32, firstOffset int64,
//	          lastOffset int64, timestamp int64 (LogAppendTime or -1)
//
// Integers are big-endian. crc is CRC-32C of everything after it. Producers
// are sorted by id and their batches by offset, so an encoding is canonical.
//
// A snapshot is only a cache of the log: a missing, torn or corrupt one
// costs a longer scan, never a wrong answer. Open ignores (and deletes) one
// whose offset is past LogEndOffset: the log lost or truncated what it
// describes. TruncateTo deletes those too.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	snapshotSuffix  = ".snapshot"
	snapshotMagic   = "SPSN"
	snapshotVersion = 3
	// snapshotHeaderSize is magic, version, crc, offset, count.
	snapshotHeaderSize = 4 + 2 + 4 + 8 + 4
	// producerEntrySize and batchEntrySize are the fixed parts
	// (producerEntrySizeV1: without lastTimestamp; V2: without the
	// transaction fields).
	producerEntrySize   = 8 + 2 + 8 + 8 + 4 + 1
	producerEntrySizeV2 = 8 + 2 + 8 + 1
	producerEntrySizeV1 = 8 + 2 + 1
	batchEntrySize      = 4 + 4 + 8 + 8 + 8
	// snapshotsKept is how many snapshots survive a prune: the newest
	// may describe offsets a crash then loses; the one before still helps.
	snapshotsKept = 2
)

var errBadSnapshot = errors.New("partition: corrupt producer snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotEntry is one producer's state copied out of the live map, so that
// sorting and encoding run without the partition lock (snapshotLocked).
type snapshotEntry struct {
	id int64
	producerState
}

// copyState copies the state of p for encodeEntries: a flat copy, the only
// part of a snapshot that runs under the partition lock.
func copyState(p *producers) []snapshotEntry {
	out := make([]snapshotEntry, 0, len(p.m))
	for id, ps := range p.m {
		e := snapshotEntry{id: id, producerState: *ps}
		e.batches = append([]cachedBatch(nil), ps.batches...)
		out = append(out, e)
	}
	return out
}

// encodeSnapshot encodes the state of p as of offset.
func encodeSnapshot(offset int64, p *producers) []byte {
	return encodeEntries(offset, copyState(p))
}

// encodeEntries encodes copied producer states as of offset; it sorts es.
func encodeEntries(offset int64, es []snapshotEntry) []byte {
	slices.SortFunc(es, func(a, b snapshotEntry) int { return cmp.Compare(a.id, b.id) })
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(es)*(producerEntrySize+2*batchEntrySize))
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[4:], snapshotVersion)
	binary.BigEndian.PutUint64(b[10:], uint64(offset))
	binary.BigEndian.PutUint32(b[18:], uint32(len(es)))
	for i := range es {
		id, ps := es[i].id, &es[i].producerState
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(ps.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(ps.lastTimestamp))
		b = binary.BigEndian.AppendUint64(b, uint64(ps.txnFirstOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(ps.coordinatorEpoch))
		b = append(b, byte(len(ps.batches)))
		for _, cb := range ps.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(cb.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(cb.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(cb.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(cb.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(cb.timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[6:], crc32.Checksum(b[10:], castagnoli))
	return b
}

// decodeSnapshot decodes a snapshot file's bytes. It checks every count
// against the bytes left before allocating, and rejects anything that the
// encoder would not have produced from a consistent state: producer ids
// not strictly increasing, more than maxCachedBatches batches, batch
// offsets not increasing or not below the snapshot's offset, trailing bytes.
func decodeSnapshot(b []byte) (offset int64, p producers, err error) {
	bad := func(format string, args ...any) (int64, producers, error) {
		return 0, producers{}, fmt.Errorf("%w: %s", errBadSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) < snapshotHeaderSize {
		return bad("%d bytes, shorter than the header", len(b))
	}
	if string(b[:4]) != snapshotMagic {
		return bad("magic %q", b[:4])
	}
	version := binary.BigEndian.Uint16(b[4:])
	entrySize := producerEntrySize
	switch version {
	case snapshotVersion:
	case 2:
		entrySize = producerEntrySizeV2
	case 1:
		entrySize = producerEntrySizeV1
	default:
		return bad("version %d", version)
	}
	if want, got := binary.BigEndian.Uint32(b[6:]), crc32.Checksum(b[10:], castagnoli); want != got {
		return bad("crc %08x, computed %08x", want, got)
	}
	offset = int64(binary.BigEndian.Uint64(b[10:]))
	count := int64(int32(binary.BigEndian.Uint32(b[18:])))
	rest := b[snapshotHeaderSize:]
	if offset < 0 || count < 0 || count > int64(len(rest))/int64(entrySize) {
		return bad("offset %d, %d producers in %d bytes", offset, count, len(rest))
	}
	p = producers{m: make(map[int64]*producerState, count)}
	prev := int64(-1)
	for i := int64(0); i < count; i++ {
		if len(rest) < entrySize {
			return bad("producer %d cut short", i)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		epoch := int16(binary.BigEndian.Uint16(rest[8:]))
		lastTS, txnFirst, coordEpoch := int64(-1), int64(-1), int32(-1)
		if version >= 2 {
			lastTS = int64(binary.BigEndian.Uint64(rest[10:]))
		}
		if version >= 3 {
			txnFirst = int64(binary.BigEndian.Uint64(rest[18:]))
			coordEpoch = int32(binary.BigEndian.Uint32(rest[26:]))
		}
		n := int(rest[entrySize-1])
		rest = rest[entrySize:]
		if id <= prev || epoch < 0 || n > maxCachedBatches || n*batchEntrySize > len(rest) {
			return bad("producer %d: id %d after %d, epoch %d, %d batches", i, id, prev, epoch, n)
		}
		if txnFirst < -1 || txnFirst >= offset || coordEpoch < -1 {
			return bad("producer %d: transaction first offset %d (snapshot at %d), coordinator epoch %d", id, txnFirst, offset, coordEpoch)
		}
		prev = id
		ps := &producerState{epoch: epoch, lastTimestamp: lastTS, txnFirstOffset: txnFirst, coordinatorEpoch: coordEpoch,
			batches: make([]cachedBatch, n, maxCachedBatches)}
		lastOff := int64(-1)
		for j := range ps.batches {
			cb := cachedBatch{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
				timestamp:   int64(binary.BigEndian.Uint64(rest[24:])),
			}
			rest = rest[batchEntrySize:]
			if cb.firstSeq < 0 || cb.lastSeq < 0 || cb.firstOffset <= lastOff ||
				cb.lastOffset < cb.firstOffset || cb.lastOffset >= offset {
				return bad("producer %d batch %d: seq [%d, %d] offsets [%d, %d]", id, j,
					cb.firstSeq, cb.lastSeq, cb.firstOffset, cb.lastOffset)
			}
			lastOff = cb.lastOffset
			ps.batches[j] = cb
		}
		p.m[id] = ps
	}
	if len(rest) != 0 {
		return bad("%d trailing bytes", len(rest))
	}
	p.rebuildOngoing()
	return offset, p, nil
}

func snapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotSuffix) }

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, e := range entries {
		name := e.Name()
		if len(name) != 20+len(snapshotSuffix) || !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		if off, err := strconv.ParseInt(name[:20], 10, 64); err == nil && off >= 0 {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	return offs, nil
}

// readSnapshot loads the snapshot at offset from dir.
func readSnapshot(dir string, offset int64) (producers, error) {
	b, err := os.ReadFile(filepath.Join(dir, snapshotName(offset)))
	if err != nil {
		return producers{}, err
	}
	off, p, err := decodeSnapshot(b)
	if err != nil {
		return producers{}, err
	}
	if off != offset {
		return producers{}, fmt.Errorf("%w: file for offset %d holds offset %d", errBadSnapshot, offset, off)
	}
	return p, nil
}

// writeSnapshotFile writes b as the snapshot at offset atomically (temp
// file, fsync, rename, fsync dir), then deletes all but the newest
// snapshotsKept. The log's Open deletes a *.tmp left by a crash.
func writeSnapshotFile(dir string, offset int64, b []byte) error {
	path := filepath.Join(dir, snapshotName(offset))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	for len(offs) > snapshotsKept {
		if err := os.Remove(filepath.Join(dir, snapshotName(offs[0]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		offs = offs[1:]
	}
	return syncDir(dir)
}

// removeSnapshotsAbove deletes snapshots past offset (they describe batches
// the log no longer has) and returns how many it deleted.
func removeSnapshotsAbove(dir string, offset int64) (int, error) {
	offs, err := listSnapshots(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, off := range offs {
		if off <= offset {
			continue
		}
		if err := os.Remove(filepath.Join(dir, snapshotName(off))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	if n > 0 {
		return n, syncDir(dir)
	}
	return 0, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

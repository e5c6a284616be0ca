// Package log is the durable record log of one partition replica, stored in
// Apache Kafka's on-disk layout so that an operator (and kafka-dump-log.sh)
// recognises it. It knows batches and offsets; it knows nothing of topics,
// groups or Kafka error codes.
//
// # Files
//
// A Log owns one directory, conventionally <data>/<topic>-<partition>:
//
//	00000000000000000000.log        segment with base offset 0
//	00000000000000000000.index      its sparse offset index
//	00000000000000000000.timeindex  its time index
//	00000000000000000000.txnindex   its aborted transactions, if any (txnindex.go)
//	00000000000000004711.log        next segment: base offset 4711
//	...
//	log-start-offset                "0\n<offset>\n": the log start offset
//	cleaner-offset-checkpoint       "0\n<offset>\n": compaction's first dirty offset
//	cleaner-high-mark               "0\n<offset>\n": segments below it may have offset gaps
//	recovery-point-offset-checkpoint "0\n<offset>\n": everything below was fsynced
//
// Files named by other packages (leader-epoch-checkpoint, producer
// snapshots) may live in the same directory; Open leaves them alone. It
// deletes *.tmp, *.deleted, *.cleaned and *.swap files, and index files whose
// .log is gone.
//
// A segment is named by its base offset, 20 digits, zero-padded. Offsets are
// contiguous across segments: segment i holds [base_i, base_i+1). The last
// segment is the active one; only it is appended to. With
// Options.Preallocate the active segment's file may run past its last batch
// (zeros, grown ahead by fallocate: preallocate.go); it is trimmed at roll
// and Close, so every other segment's file ends at its last batch.
//
// # Compaction
//
// For cleanup.policy=compact, Compact rewrites older segments keeping the
// last record of each key (compact.go has the rules and the crash-safe
// swap through *.cleaned and *.swap files). Offsets never change, so a
// cleaned segment has gaps: between batches, inside a batch (offset deltas),
// at its end, or everywhere (an empty segment still covers its range).
// Batches keep their base offset and lastOffsetDelta. Read, the indexes and
// OffsetForTimestamp only need increasing offsets; Read moves past a
// segment with nothing left at or after the offset asked for.
//
// # Framing
//
// A .log file is v2 record batches back to back, byte for byte as Kafka
// stores them (and as a Fetch returns them); there is no extra framing:
//
//	+------------+-------------+------------------------------------------+
//	| baseOffset | batchLength | leaderEpoch magic=2 crc attributes ...   |
//	|  int64     |  int32      | (batchLength bytes, CRC-32C from attrs)  |
//	+------------+-------------+------------------------------------------+
//	 0            8             12                                 12+batchLength
//
// The .index file is 8-byte big-endian entries (relativeOffset int32,
// position int32): the last offset of a batch relative to the segment base,
// and the file position where that batch starts. An entry is written for a
// batch that starts more than IndexIntervalBytes after the previous entry.
// Offsets and positions strictly increase. A lookup for offset o takes the
// last entry with relativeOffset <= o-base and scans batch headers forward.
//
// The .timeindex file is 12-byte big-endian entries (timestamp int64,
// relativeOffset int32), written at the same moments when the segment's max
// timestamp grew since the last entry, plus one when the segment rolls: its
// last entry is the segment's largest timestamp. Timestamps strictly
// increase.
//
// Both indexes are append-only files (Kafka preallocates and mmaps them; we
// do not, so their size is exactly their entries). Their entries live in
// memory, which is what lookups use; the files are written only when the
// segment rolls, at Close and when rebuilt, each opened just for that, so a
// segment holds one open file (its .log) and appends never touch the
// indexes. A segment rolls before a relative offset or a position would
// overflow int32.
//
// # Durability and fsync order
//
// Append only writes (page cache). Flush is group commit: one fsync round at
// a time, shared by every caller waiting for it. The order that makes
// recovery simple:
//
//  1. Roll: write the outgoing segment's index files (with the final
//     time-index entry), fsync them and its .log, THEN create the next
//     segment. So every segment but the last is whole on disk before a
//     later one exists.
//  2. Flush: fsync the active .log, then, if a segment was created since the
//     last round, the directory. Then publish FlushedOffset. The active
//     segment's index files are not even written: Open rebuilds them. With a
//     Syncer (syncer.go), logs flushing at the same moment share the round:
//     one syncfs(2) of the filesystem makes all their data, sizes and
//     directory entries durable at once; a log alone in its round does the
//     two fsyncs itself, and after a failed syncfs every log does them
//     itself, to learn whose data was lost.
//  3. Log start offset: write log-start-offset.tmp, fsync, rename, fsync the
//     directory, and only then delete segments below the new start.
//  4. Segment deletion unlinks the .log first, then its indexes (an orphan
//     index is recognisable and deleted at Open).
//  5. TruncateTo fsyncs the truncated .log (and the directory when it
//     removed segments) before returning: a crash must not resurrect data a
//     leader told us to drop. A recovery point above the new end is removed
//     first (see Recovery point).
//  6. Close: flush, recovery point, the active index files written and
//     fsynced, every written .txnindex and the directory. Only then may the
//     broker write its clean-shutdown marker.
//  7. A .txnindex is fsynced at roll (with its segment), at truncation, at
//     Close and by SyncTxnIndex (before a producer snapshot), never by
//     Flush: entries past the newest snapshot are rebuilt from the log
//     after a crash (txnindex.go).
//
// A failed fsync is fatal for the Log (ErrStorage, sticky): after an fsync
// error the kernel may have dropped the dirty pages, so retrying could
// report success for data that is gone. A failed write(2) on append (a full
// disk) is not: the partial bytes past the segment's size are truncated away
// and only that append fails (ErrStorage), so producing resumes once space
// is freed; if that truncation fails too, the Log fails for good.
//
// # Recovery
//
// Open lists the segments and:
//
//   - for the ACTIVE segment after a CLEAN SHUTDOWN (Options.CleanShutdown:
//     the broker found its marker, which it writes only after every Close
//     succeeded), trusts the files: Close fsynced the .log, both indexes
//     and the directory. It loads the indexes and re-reads batch headers
//     only from the last offset-index entry to the end of the file: the
//     entry must point at a batch ending at its offset, lengths must chain
//     to exactly the file size, offsets must continue. Nothing is checked
//     by CRC. Any disagreement (a marker that outlived an edit of the
//     files) falls back to the unclean path below, validating everything.
//   - for the ACTIVE segment after an UNCLEAN stop, reads every batch from
//     position 0. Batches below the RECOVERY POINT (recovery-point-offset-
//     checkpoint) only have their headers chained (lengths, offset order):
//     they were fsynced before the point was written, so a crash cannot
//     have torn them. From the batch holding the recovery point on, it
//     checks each batch with record.Validate (CRC-32C, record structure) and that its base
//     offset continues the previous batch (the first one must be the
//     segment's base). Below cleaner-high-mark (a TruncateTo made a cleaned
//     segment active) forward gaps are allowed and batches are checked as
//     compaction leaves them (validateCleaned). At the first failure (a header cut short, a length
//     running past the end of the file, a bad CRC, a gap or overlap in
//     offsets, zeros from unwritten pages) it truncates the .log there,
//     fsyncs it and logs one WARN line with the file, position and reason.
//     Its indexes are rebuilt from what is left, and the .log is fsynced
//     (after a kill -9 its surviving pages may still be dirty; from now on
//     they count as flushed). A tail that is all zeros (preallocated, or
//     pages never written) is trimmed with an INFO line and not counted as
//     truncated: no batch was cut.
//   - for every OLDER segment, loads the indexes and rebuilds one that is
//     missing or damaged (size not a multiple of the entry size, entries not
//     increasing, a position past the end of the .log). Older segments are
//     not truncated: damage found there is ErrCorrupt naming the file and
//     position, and the partition must go offline.
//   - reads log-start-offset (missing or malformed: the first segment's
//     base), deletes segments wholly below it, and, if it is past the
//     recovered end (a torn tail cut below it), starts over empty at it.
//
// LogEndOffset is the offset after the last valid batch (the segment's
// base when it is empty), and everything that survived recovery counts as
// flushed. A recovery point past it (the disk lost fsynced data) is lowered
// to it. Recovery reports what was done (RecoveryStats).
//
// # Recovery point
//
// CheckpointRecoveryPoint writes FlushedOffset to recovery-point-offset-
// checkpoint (temp file, fsync, rename, fsync dir). The broker calls it
// every RecoveryPointInterval and Close calls it last; it is never on the
// append or flush path. It is sound because FlushedOffset only moves after
// the fsync covering it returned, so when the file says N, every byte below
// N was on disk before the file was; and a TruncateTo below N removes the
// file (durably) before it returns, so re-appended offsets below N are never
// vouched for. It is not written at roll: only a point inside the active
// segment saves work, and right after a roll the active segment is empty.
// The trade, as in Kafka: a disk that silently corrupts fsynced bytes below
// the point is not detected at start (Read returns the bytes; the consumer's
// CRC check catches them).
//
// # Concurrency
//
// Lock order: Log.compactMu -> Log.mu, Log.flushMu -> Log.mu and
// Log.rpMu -> Log.mu. Appends, rolls, truncation and
// retention run under mu. Read, OffsetForTimestamp and ScanBatches take mu
// only to snapshot a segment (its size and index slices) and take a
// reference on it, then pread without the lock. A segment removed while
// referenced is unlinked at once and its files are closed by the last
// reader. A read that races a TruncateTo may see ErrOffsetOutOfRange.
package log

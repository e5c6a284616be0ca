package partition

// Leader-epoch cache.
//
// Each partition keeps the start offset of every leader epoch that wrote to
// its log (Kafka's LeaderEpochFileCache). It answers OffsetsForLeaderEpoch —
// "where does epoch e end in your log?" — which followers and consumers use
// to find where their copy diverges, and it is saved to the partition
// directory as leader-epoch-checkpoint, in Kafka's text format so that a
// Kafka data directory and ours read each other's files:
//
//	0            <- version
//	2            <- entry count N
//	0 1          <- N lines "<epoch> <startOffset>", one space apart
//	1 2
//
// Every line, the last too, ends with "\n". Numbers are plain decimal as
// Java's Integer/Long.toString writes non-negative values: no sign, no
// leading zeros. An empty file reads as no entries (Kafka creates the file
// empty before its first write).
//
// Invariant (held by every method, checked by the decoder): entries are
// strictly increasing in both Epoch and StartOffset, and no value is
// negative. The cache is only a summary of the batch headers in the log, so
// a caller that finds the file damaged may rebuild it from them.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
)

const (
	// epochCheckpointName is the file's name in the partition directory
	// (Kafka's LeaderEpochCheckpointFile name; do not change).
	epochCheckpointName = "leader-epoch-checkpoint"
	// epochCheckpointVersion is the only version Kafka has written.
	epochCheckpointVersion = 0
	// undefinedEpoch and undefinedEpochOffset are Kafka's UNDEFINED_EPOCH
	// and UNDEFINED_EPOCH_OFFSET in OffsetsForLeaderEpoch answers.
	undefinedEpoch       int32 = -1
	undefinedEpochOffset int64 = -1
	// minEpochLine is the shortest entry line, "0 0\n": a claimed count is
	// checked against len/minEpochLine before anything is sized by it.
	minEpochLine = 4
)

var errBadEpochCheckpoint = errors.New("partition: corrupt leader-epoch-checkpoint")

// epochEntry says that leader epoch Epoch wrote its first batch at
// StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is one partition's leader-epoch cache.
//
// It has no lock of its own: every method, the readers included, must be
// called with the owning partition's epochMu held (assign and the truncations
// reuse the backing array of entries, so even a reader racing them would see
// torn state). entriesCopy is the way to hand entries to code that runs
// without the lock.
type epochCache struct {
	dir     string       // partition directory holding epochCheckpointName
	entries []epochEntry // see the invariant in the file comment
}

// loadEpochCache reads dir's leader-epoch-checkpoint. A missing file is an
// empty cache (a new partition, or one written before this file existed); a
// damaged one is an error naming the file, wrapping errBadEpochCheckpoint.
func loadEpochCache(dir string) (*epochCache, error) {
	path := filepath.Join(dir, epochCheckpointName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &epochCache{dir: dir}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("partition: read %s: %w", path, err)
	}
	es, err := decodeEpochCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &epochCache{dir: dir, entries: es}, nil
}

// decodeEpochCheckpoint parses a leader-epoch-checkpoint file. It is strict:
// it accepts exactly what appendEpochCheckpoint produces (plus the empty
// file), so anything it returns re-encodes to the same bytes. Kafka's reader
// is looser (any whitespace, signs, "\r\n"), but Kafka's writer never
// produces those on Linux, so strictness costs no compatibility and turns a
// damaged file into an error instead of a guess. It never panics, and it
// checks the claimed count against len(b) before allocating by it.
func decodeEpochCheckpoint(b []byte) ([]epochEntry, error) {
	bad := func(format string, args ...any) ([]epochEntry, error) {
		return nil, fmt.Errorf("%w: %s", errBadEpochCheckpoint, fmt.Sprintf(format, args...))
	}
	if len(b) == 0 {
		return nil, nil
	}
	rest := b
	// line returns the next "\n"-terminated line without its "\n".
	line := func() ([]byte, bool) {
		for i, c := range rest {
			if c == '\n' {
				l := rest[:i]
				rest = rest[i+1:]
				return l, true
			}
		}
		return nil, false
	}
	l, ok := line()
	if !ok {
		return bad("no version line")
	}
	if v, ok := parseDecimal(l, 31); !ok || v != epochCheckpointVersion {
		return bad("version %q, want %d", l, epochCheckpointVersion)
	}
	l, ok = line()
	if !ok {
		return bad("no entry count line")
	}
	// Kafka reads the count with Integer.parseInt: it fits an int32.
	n, ok := parseDecimal(l, 31)
	if !ok {
		return bad("entry count %q", l)
	}
	if n > int64(len(rest)/minEpochLine) {
		return bad("%d entries claimed in %d bytes", n, len(rest))
	}
	es := make([]epochEntry, 0, n)
	for i := int64(0); i < n; i++ {
		l, ok := line()
		if !ok {
			return bad("%d entries claimed, %d found", n, i)
		}
		sp := -1
		for j, c := range l {
			if c == ' ' {
				sp = j
				break
			}
		}
		if sp < 0 {
			return bad("entry %d: %q", i, l)
		}
		epoch, ok1 := parseDecimal(l[:sp], 31)
		off, ok2 := parseDecimal(l[sp+1:], 63)
		if !ok1 || !ok2 {
			return bad("entry %d: %q", i, l)
		}
		e := epochEntry{Epoch: int32(epoch), StartOffset: off}
		if k := len(es); k > 0 && (e.Epoch <= es[k-1].Epoch || e.StartOffset <= es[k-1].StartOffset) {
			return bad("entry %d (%d %d) not after (%d %d)", i, e.Epoch, e.StartOffset, es[k-1].Epoch, es[k-1].StartOffset)
		}
		es = append(es, e)
	}
	if len(rest) != 0 {
		return bad("%d bytes after %d entries", len(rest), n)
	}
	return es, nil
}

// parseDecimal parses a non-negative decimal as Java's toString writes it
// (digits only, no leading zero unless the number is 0) that fits in bits
// value bits (31 for int32, 63 for int64).
func parseDecimal(s []byte, bits int) (int64, bool) {
	if len(s) == 0 || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s), 10, bits+1)
	return v, err == nil
}

// appendEpochCheckpoint appends the file form of es to dst.
func appendEpochCheckpoint(dst []byte, es []epochEntry) []byte {
	dst = strconv.AppendInt(dst, epochCheckpointVersion, 10)
	dst = append(dst, '\n')
	dst = strconv.AppendInt(dst, int64(len(es)), 10)
	dst = append(dst, '\n')
	for _, e := range es {
		dst = strconv.AppendInt(dst, int64(e.Epoch), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, e.StartOffset, 10)
		dst = append(dst, '\n')
	}
	return dst
}

// assign records that epoch starts at startOffset, following Kafka's
// LeaderEpochFileCache.assign:
//
//   - A negative epoch or offset is ignored (Kafka throws; it is a caller
//     bug, and an exception in the append path is worse than a missed entry).
//   - Same epoch as the latest entry at a start offset >= the latest's: no
//     change (an epoch's start never moves forward; later batches of the
//     current epoch call assign on every append).
//   - Otherwise — a different epoch, or the latest epoch at a lower start —
//     every entry from the end whose epoch is >= epoch or whose start offset
//     is >= startOffset is removed, and (epoch, startOffset) is appended.
//     So a new epoch at the latest entry's start offset replaces it (the old
//     epoch wrote nothing), and an epoch lower than the latest truncates the
//     newer epochs away rather than being ignored. Because entries increase
//     in both fields, the removed entries are always a suffix, and what is
//     left plus the new entry keeps the invariant.
//
// changed reports whether entries differ afterwards (then the caller should
// write the file).
func (c *epochCache) assign(epoch int32, startOffset int64) (changed bool) {
	if epoch < 0 || startOffset < 0 {
		return false
	}
	if last, ok := c.latest(); ok && epoch == last.Epoch && startOffset >= last.StartOffset {
		return false
	}
	i := len(c.entries)
	for i > 0 && (c.entries[i-1].Epoch >= epoch || c.entries[i-1].StartOffset >= startOffset) {
		i--
	}
	// The new last entry differs from the old one (another epoch, or the
	// same epoch at a lower offset), so this is always a change.
	c.entries = append(c.entries[:i], epochEntry{Epoch: epoch, StartOffset: startOffset})
	return true
}

// latest returns the newest entry, if any.
func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// endOffsetFor answers OffsetsForLeaderEpoch for requested, as Kafka's
// LeaderEpochFileCache.endOffsetFor does:
//
//   - requested == -1 (UNDEFINED_EPOCH): (-1, -1).
//   - requested == the latest epoch: (latest, logEnd) — the epoch is still
//     open, so it ends at the log end.
//   - no epoch above requested (empty cache, or requested > latest):
//     (-1, -1).
//   - some epoch <= requested: (largest such epoch, start offset of the
//     first epoch above requested).
//   - requested below every cached epoch: (requested, start offset of the
//     first epoch). Kafka's code does this, not the (-1, -1) its javadoc
//     describes: those epochs' data was deleted, and the follower should
//     replicate from the leader's earliest known epoch start.
func (c *epochCache) endOffsetFor(requested int32, logEnd int64) (epoch int32, endOffset int64) {
	if requested == undefinedEpoch {
		return undefinedEpoch, undefinedEpochOffset
	}
	if last, ok := c.latest(); ok && last.Epoch == requested {
		return requested, logEnd
	}
	// higher is the first entry with an epoch above requested.
	higher := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > requested })
	if higher == len(c.entries) {
		return undefinedEpoch, undefinedEpochOffset
	}
	if higher == 0 {
		return requested, c.entries[0].StartOffset
	}
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

// truncateFromEnd drops the entries of epochs that start at or after
// endOffset: the log was truncated to endOffset, so they wrote nothing that
// is left (Kafka's truncateFromEnd; a negative endOffset is ignored as
// there).
func (c *epochCache) truncateFromEnd(endOffset int64) (changed bool) {
	last, ok := c.latest()
	if endOffset < 0 || !ok || last.StartOffset < endOffset {
		return false
	}
	c.entries = c.entries[:sort.Search(len(c.entries), func(i int) bool {
		return c.entries[i].StartOffset >= endOffset
	})]
	return true
}

// truncateFromStart follows the log start moving to startOffset (retention,
// DeleteRecords), as Kafka's truncateFromStart: the entries starting at or
// below startOffset go, except the last of them, which is kept with its
// start moved up to startOffset — its epoch still owns the records from
// there on. Entries starting above startOffset stay, so truncateFromStart(6)
// keeps an entry at 6 as it is.
func (c *epochCache) truncateFromStart(startOffset int64) (changed bool) {
	// n entries start at or below startOffset.
	n := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > startOffset })
	if n == 0 {
		return false
	}
	changed = n > 1 || c.entries[0].StartOffset != startOffset
	c.entries[n-1].StartOffset = startOffset
	// Copy down rather than reslice, so the dropped prefix is not pinned.
	c.entries = append(c.entries[:0], c.entries[n-1:]...)
	return changed
}

// entriesCopy returns the entries in a slice the cache does not share.
func (c *epochCache) entriesCopy() []epochEntry { return slices.Clone(c.entries) }

// write saves the entries durably to dir/leader-epoch-checkpoint. The caller
// holds the partition lock throughout (the fsyncs included); a caller that
// must not fsync under the lock can pass entriesCopy to writeEpochCheckpoint
// instead, provided it serializes those writes itself.
func (c *epochCache) write() error { return writeEpochCheckpoint(c.dir, c.entries) }

// writeEpochCheckpoint writes es to dir/leader-epoch-checkpoint: temp file,
// fsync, rename, fsync of the directory, so a crash leaves the old file or
// the new one, never a torn one. Calls for one dir must not overlap (they
// share the temp file). A temp file left by a crash is removed by the log's
// Open (stray *.tmp).
func writeEpochCheckpoint(dir string, es []epochEntry) error {
	path := filepath.Join(dir, epochCheckpointName)
	tmp := path + ".tmp"
	wrap := func(err error) error { return fmt.Errorf("partition: write %s: %w", path, err) }
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return wrap(err)
	}
	_, err = f.Write(appendEpochCheckpoint(make([]byte, 0, 16+len(es)*16), es))
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
		return wrap(err)
	}
	if err := syncDir(dir); err != nil {
		return wrap(err)
	}
	return nil
}

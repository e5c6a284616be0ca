package partition

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The leader-epoch cache (Kafka's LeaderEpochFileCache): for each leader
// epoch this replica's log holds, the offset of its first record, kept in
// the partition directory's leader-epoch-checkpoint file in Kafka's text
// format ("0", the entry count, then "<epoch> <startOffset>" per line).
//
// Invariant: entries are strictly increasing in epoch and non-decreasing
// in start offset; no entry starts past the log end (truncations drop
// them). Guarded by Partition.epochMu.

const epochCheckpointName = "leader-epoch-checkpoint" // on-disk name; do not change

type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

type epochCache struct {
	dir     string
	entries []epochEntry
}

// loadEpochCache reads dir's checkpoint; a missing file is an empty cache.
func loadEpochCache(dir string) (*epochCache, error) {
	c := &epochCache{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, epochCheckpointName))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	es, err := decodeEpochCheckpoint(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, epochCheckpointName), err)
	}
	c.entries = es
	return c, nil
}

// decodeEpochCheckpoint parses the file strictly. The claimed count is
// checked against the lines present before anything is allocated for it.
func decodeEpochCheckpoint(b []byte) ([]epochEntry, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, errors.New("leader-epoch checkpoint: not version 0")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("leader-epoch checkpoint: count %q does not match %d entries", lines[1], len(lines)-2)
	}
	out := make([]epochEntry, 0, n)
	for _, l := range lines[2:] {
		es, os_, ok := strings.Cut(l, " ")
		e, err1 := strconv.ParseInt(es, 10, 32)
		o, err2 := strconv.ParseInt(os_, 10, 64)
		if !ok || err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("leader-epoch checkpoint: bad entry %q", l)
		}
		if k := len(out); k > 0 && (int32(e) <= out[k-1].Epoch || o < out[k-1].StartOffset) {
			return nil, fmt.Errorf("leader-epoch checkpoint: entry %q does not follow %d %d", l, out[k-1].Epoch, out[k-1].StartOffset)
		}
		out = append(out, epochEntry{Epoch: int32(e), StartOffset: o})
	}
	return out, nil
}

func encodeEpochCheckpoint(es []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

// assign records that epoch starts at offset. As Kafka's assign: an epoch
// not newer than the latest is ignored; entries starting at or after
// offset are dropped first (they describe a tail that was truncated and
// rewritten). It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if epoch < 0 {
		return false
	}
	if k := len(c.entries); k > 0 && epoch <= c.entries[k-1].Epoch {
		return false
	}
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].StartOffset >= offset {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: offset})
	return true
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// endOffsetFor answers OffsetForLeaderEpoch (Kafka's endOffsetFor): for the
// latest epoch, the log end; for an older one, the largest epoch <= it and
// the start of the next epoch after that; (-1, -1) for an epoch newer than
// the latest, older than the first, or an empty cache.
func (c *epochCache) endOffsetFor(requested int32, logEnd int64) (int32, int64) {
	if len(c.entries) == 0 || requested < 0 {
		return -1, -1
	}
	last := c.entries[len(c.entries)-1]
	if requested == last.Epoch {
		return last.Epoch, logEnd
	}
	if requested > last.Epoch {
		return -1, -1
	}
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= requested {
			return c.entries[i].Epoch, c.entries[i+1].StartOffset
		}
	}
	// Older than every entry: the epoch ended before our first one.
	return requested, c.entries[0].StartOffset
}

// truncateFromEnd drops entries starting at or after offset.
func (c *epochCache) truncateFromEnd(offset int64) bool {
	n := len(c.entries)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].StartOffset >= offset {
		c.entries = c.entries[:len(c.entries)-1]
	}
	return len(c.entries) != n
}

func (c *epochCache) entriesCopy() []epochEntry { return append([]epochEntry(nil), c.entries...) }

// write persists the cache: temp file, fsync, rename, directory fsync.
func (c *epochCache) write() error {
	path := filepath.Join(c.dir, epochCheckpointName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(encodeEpochCheckpoint(c.entries)); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(c.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

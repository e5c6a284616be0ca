package partition

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// sample is a cache with three epochs and gaps between them, so that
// "between entries" and "below the first" requests exist.
var sample = []epochEntry{{2, 10}, {4, 20}, {7, 35}}

func cacheOf(es []epochEntry) *epochCache {
	return &epochCache{dir: "unused", entries: slices.Clone(es)}
}

// checkEpochInvariant fails t unless es is strictly increasing in both
// fields with no negative value (the invariant every method keeps).
func checkEpochInvariant(t *testing.T, es []epochEntry) {
	t.Helper()
	for i, e := range es {
		if e.Epoch < 0 || e.StartOffset < 0 {
			t.Fatalf("entry %d negative: %v", i, es)
		}
		if i > 0 && (e.Epoch <= es[i-1].Epoch || e.StartOffset <= es[i-1].StartOffset) {
			t.Fatalf("entry %d not after entry %d: %v", i, i-1, es)
		}
	}
}

func TestEpochAssign(t *testing.T) {
	tests := []struct {
		name        string
		start       []epochEntry
		epoch       int32
		offset      int64
		want        []epochEntry
		wantChanged bool
	}{
		// isUpdateNeeded is true when there is no latest entry.
		{"first entry", nil, 0, 0, []epochEntry{{0, 0}}, true},
		// isUpdateNeeded: same epoch as latest, start >= latest start -> no-op
		// (every append of the current epoch calls assign).
		{"same epoch later offset", sample, 7, 40, sample, false},
		{"same epoch same offset", sample, 7, 35, sample, false},
		// A new epoch past the latest start is appended.
		{"new epoch appended", sample, 9, 50, []epochEntry{{2, 10}, {4, 20}, {7, 35}, {9, 50}}, true},
		// maybeTruncateNonMonotonicEntries: latest has start >= new start,
		// so a new epoch at the same offset replaces it (it wrote nothing).
		{"new epoch same offset replaces latest", sample, 8, 35, []epochEntry{{2, 10}, {4, 20}, {8, 35}}, true},
		// ... and a new epoch at a lower offset removes every entry from
		// the end starting at or after it.
		{"new epoch lower offset removes later", sample, 8, 15, []epochEntry{{2, 10}, {8, 15}}, true},
		{"new epoch lowest offset removes all", sample, 8, 0, []epochEntry{{8, 0}}, true},
		// isUpdateNeeded: same epoch at a lower start is an update; the old
		// entry for that epoch goes (epoch >= new epoch).
		{"same epoch lower offset", sample, 7, 30, []epochEntry{{2, 10}, {4, 20}, {7, 30}}, true},
		{"same epoch offset below previous", sample, 7, 20, []epochEntry{{2, 10}, {7, 20}}, true},
		// isUpdateNeeded: a lower epoch is not ignored; entries with
		// epoch >= it are removed even though their offsets are lower.
		{"lower epoch truncates newer epochs", sample, 5, 50, []epochEntry{{2, 10}, {4, 20}, {5, 50}}, true},
		{"lower epoch equal to middle", sample, 4, 50, []epochEntry{{2, 10}, {4, 50}}, true},
		{"lower epoch below all", sample, 1, 50, []epochEntry{{1, 50}}, true},
		// Kafka throws IllegalArgumentException on negatives; we ignore.
		{"negative epoch ignored", sample, -1, 50, sample, false},
		{"negative offset ignored", sample, 9, -1, sample, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheOf(tt.start)
			changed := c.assign(tt.epoch, tt.offset)
			if changed != tt.wantChanged || !slices.Equal(c.entries, tt.want) {
				t.Fatalf("assign(%d, %d) on %v = %v, %v; want %v, %v",
					tt.epoch, tt.offset, tt.start, changed, c.entries, tt.wantChanged, tt.want)
			}
			checkEpochInvariant(t, c.entries)
		})
	}
}

func TestEpochLatest(t *testing.T) {
	if e, ok := cacheOf(nil).latest(); ok {
		t.Fatalf("empty cache latest = %v, true", e)
	}
	if e, ok := cacheOf(sample).latest(); !ok || e != (epochEntry{7, 35}) {
		t.Fatalf("latest = %v, %v; want {7 35}, true", e, ok)
	}
}

func TestEpochEndOffsetFor(t *testing.T) {
	const logEnd = 50
	tests := []struct {
		name       string
		entries    []epochEntry
		requested  int32
		wantEpoch  int32
		wantOffset int64
	}{
		// requestedEpoch == UNDEFINED_EPOCH -> (UNDEFINED, UNDEFINED).
		{"undefined requested", sample, -1, -1, -1},
		// Latest epoch -> the log end offset.
		{"latest", sample, 7, 7, logEnd},
		// Kafka: floorEntry epoch, higherEntry start offset.
		{"exact middle", sample, 4, 4, 35},
		{"exact first", sample, 2, 2, 20},
		{"between first and middle", sample, 3, 2, 20},
		{"between middle and latest", sample, 6, 4, 35},
		// floorEntry == null: the requested epoch with the first start.
		{"below first", sample, 1, 1, 10},
		{"zero below first", sample, 0, 0, 10},
		// higherEntry == null (above latest, or empty cache) -> undefined.
		{"above latest", sample, 8, -1, -1},
		{"empty", nil, 0, -1, -1},
		{"empty undefined", nil, -1, -1, -1},
		{"single latest", []epochEntry{{3, 5}}, 3, 3, logEnd},
		{"single below", []epochEntry{{3, 5}}, 2, 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheOf(tt.entries)
			e, off := c.endOffsetFor(tt.requested, logEnd)
			if e != tt.wantEpoch || off != tt.wantOffset {
				t.Fatalf("endOffsetFor(%d, %d) on %v = (%d, %d); want (%d, %d)",
					tt.requested, logEnd, tt.entries, e, off, tt.wantEpoch, tt.wantOffset)
			}
			if !slices.Equal(c.entries, tt.entries) {
				t.Fatalf("endOffsetFor changed entries: %v", c.entries)
			}
		})
	}
}

func TestEpochTruncateFromEnd(t *testing.T) {
	tests := []struct {
		name        string
		entries     []epochEntry
		end         int64
		want        []epochEntry
		wantChanged bool
	}{
		// Kafka's guard: nothing to do unless latest start >= endOffset.
		{"past latest start", sample, 36, sample, false},
		// Entries with start >= endOffset are removed.
		{"at latest start", sample, 35, []epochEntry{{2, 10}, {4, 20}}, true},
		{"inside middle epoch", sample, 21, []epochEntry{{2, 10}, {4, 20}}, true},
		{"at middle start", sample, 20, []epochEntry{{2, 10}}, true},
		{"to zero", sample, 0, nil, true},
		// Kafka's guard: endOffset >= 0.
		{"negative", sample, -1, sample, false},
		{"empty", nil, 5, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheOf(tt.entries)
			changed := c.truncateFromEnd(tt.end)
			if changed != tt.wantChanged || !slices.Equal(c.entries, tt.want) {
				t.Fatalf("truncateFromEnd(%d) on %v = %v, %v; want %v, %v",
					tt.end, tt.entries, changed, c.entries, tt.wantChanged, tt.want)
			}
		})
	}
}

func TestEpochTruncateFromStart(t *testing.T) {
	tests := []struct {
		name        string
		entries     []epochEntry
		start       int64
		want        []epochEntry
		wantChanged bool
	}{
		// No entry starts at or below startOffset: nothing removed.
		{"below first", sample, 5, sample, false},
		// The first entry is removed and re-added as it was.
		{"at first start", sample, 10, sample, false},
		// The last entry at or below startOffset keeps its epoch, moved up.
		{"inside first epoch", sample, 15, []epochEntry{{2, 15}, {4, 20}, {7, 35}}, true},
		// "truncateFromStart(6) will retain an entry at offset 6".
		{"at middle start", sample, 20, []epochEntry{{4, 20}, {7, 35}}, true},
		{"inside middle epoch", sample, 25, []epochEntry{{4, 25}, {7, 35}}, true},
		{"past latest start", sample, 100, []epochEntry{{7, 100}}, true},
		{"negative", sample, -1, sample, false},
		{"empty", nil, 5, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheOf(tt.entries)
			changed := c.truncateFromStart(tt.start)
			if changed != tt.wantChanged || !slices.Equal(c.entries, tt.want) {
				t.Fatalf("truncateFromStart(%d) on %v = %v, %v; want %v, %v",
					tt.start, tt.entries, changed, c.entries, tt.wantChanged, tt.want)
			}
		})
	}
}

// TestEpochRandomOps applies random operations and checks after each that
// the invariant holds and that changed is exactly "entries differ".
func TestEpochRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := &epochCache{}
	for i := 0; i < 20000; i++ {
		before := c.entriesCopy()
		var changed bool
		var op string
		switch r.IntN(4) {
		case 0, 1:
			e, off := int32(r.IntN(20)-1), int64(r.IntN(200)-1)
			op, changed = "assign", c.assign(e, off)
		case 2:
			op, changed = "truncateFromEnd", c.truncateFromEnd(int64(r.IntN(200)-1))
		case 3:
			op, changed = "truncateFromStart", c.truncateFromStart(int64(r.IntN(200)-1))
		}
		checkEpochInvariant(t, c.entries)
		if changed == slices.Equal(before, c.entries) {
			t.Fatalf("%s on %v: changed=%v, entries now %v", op, before, changed, c.entries)
		}
	}
}

func TestEpochEntriesCopyIsNotShared(t *testing.T) {
	c := cacheOf(sample)
	cp := c.entriesCopy()
	cp[0].Epoch = 99
	if c.entries[0].Epoch != 2 {
		t.Fatalf("writing the copy changed the cache: %v", c.entries)
	}
	// assign after truncation reuses the backing array; the copy must not
	// see that either.
	cp = c.entriesCopy()
	c.truncateFromEnd(20)
	c.assign(9, 30)
	if !slices.Equal(cp, sample) {
		t.Fatalf("copy changed by later assign: %v", cp)
	}
}

func TestEpochCheckpointWriteLoad(t *testing.T) {
	dir := t.TempDir()
	c, err := loadEpochCache(dir)
	if err != nil || len(c.entries) != 0 || c.dir != dir {
		t.Fatalf("load of missing file = %+v, %v; want empty cache for %s", c, err, dir)
	}
	for _, es := range [][]epochEntry{
		sample,
		{{0, 0}, {2147483647, 9223372036854775807}},
		nil, // an empty cache still writes a file: "0\n0\n"
	} {
		c.entries = slices.Clone(es)
		if err := c.write(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, epochCheckpointName))
		if err != nil {
			t.Fatal(err)
		}
		if want := string(appendEpochCheckpoint(nil, es)); string(b) != want {
			t.Fatalf("file = %q, want %q", b, want)
		}
		got, err := loadEpochCache(dir)
		if err != nil || !slices.Equal(got.entries, es) {
			t.Fatalf("load = %v, %v; want %v", got.entries, err, es)
		}
		if _, err := os.Stat(filepath.Join(dir, epochCheckpointName+".tmp")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("temp file left behind: %v", err)
		}
	}
}

// TestEpochCheckpointKafkaBytes pins the byte format against the example in
// Kafka's LeaderEpochCheckpointFile javadoc.
func TestEpochCheckpointKafkaBytes(t *testing.T) {
	const kafka = "0\n2\n0 1\n1 2\n"
	es := []epochEntry{{0, 1}, {1, 2}}
	if got := string(appendEpochCheckpoint(nil, es)); got != kafka {
		t.Fatalf("encode = %q, want %q", got, kafka)
	}
	got, err := decodeEpochCheckpoint([]byte(kafka))
	if err != nil || !slices.Equal(got, es) {
		t.Fatalf("decode = %v, %v; want %v", got, err, es)
	}
	// Kafka creates the file empty before its first write: no entries.
	if got, err := decodeEpochCheckpoint(nil); err != nil || len(got) != 0 {
		t.Fatalf("decode of empty file = %v, %v", got, err)
	}
}

func TestEpochCheckpointLoadDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, epochCheckpointName)
	if err := os.WriteFile(path, []byte("0\n2\n0 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadEpochCache(dir)
	if err == nil || !errors.Is(err, errBadEpochCheckpoint) || !strings.Contains(err.Error(), path) {
		t.Fatalf("load of damaged file = %v, %v; want errBadEpochCheckpoint naming %s", c, err, path)
	}
}

func TestEpochCheckpointWriteError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	c := &epochCache{dir: dir, entries: slices.Clone(sample)}
	err := c.write()
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, epochCheckpointName)) {
		t.Fatalf("write into missing dir = %v; want ErrNotExist naming the file", err)
	}
}

func TestEpochCheckpointDecodeRejects(t *testing.T) {
	for _, in := range []string{
		"1\n0\n",                        // version 1 does not exist
		"00\n0\n",                       // version not canonical
		"0\n",                           // no count line
		"0",                             // no newline at all
		"0\n2\n0 1\n",                   // fewer entries than claimed
		"0\n1\n0 1\n1 2\n",              // more entries than claimed
		"0\n1\n0 1",                     // last line not terminated
		"0\n2\n1 5\n1 6\n",              // epoch not increasing
		"0\n2\n2 5\n1 6\n",              // epoch decreasing
		"0\n2\n1 5\n2 5\n",              // start offset not increasing
		"0\n2\n1 6\n2 5\n",              // start offset decreasing
		"0\n1\n-1 0\n",                  // negative epoch
		"0\n1\n0 -1\n",                  // negative offset
		"0\n1\n+1 0\n",                  // sign
		"0\n1\n01 0\n",                  // leading zero
		"0\n1\n0  1\n",                  // two spaces
		"0\n1\n0\t1\n",                  // tab
		"0\n1\n0 1 2\n",                 // three fields
		"0\n1\n0\n",                     // one field
		"0\n1\n 0 1\n",                  // leading space
		"0\n1\n2147483648 0\n",          // epoch overflows int32
		"0\n1\n0 9223372036854775808\n", // offset overflows int64
		"0\r\n0\r\n",                    // CRLF
		"0\n-1\n",                       // negative count
		"0\n2147483648\n",               // count overflows int32
		"0\n2147483647\n0 0\n",          // huge count, tiny input
		"\x00\xff\xfe garbage",          // garbage
		"0\n0\n\n",                      // trailing blank line
	} {
		got, err := decodeEpochCheckpoint([]byte(in))
		if err == nil || !errors.Is(err, errBadEpochCheckpoint) {
			t.Errorf("decode(%q) = %v, %v; want errBadEpochCheckpoint", in, got, err)
		}
	}
}

// TestEpochCheckpointDecodeHugeCountNoAlloc checks that a claimed count is
// not used to size an allocation before it is checked against the input:
// 1<<24 entries would be 256 MiB.
func TestEpochCheckpointDecodeHugeCountNoAlloc(t *testing.T) {
	in := []byte("0\n16777216\n0 0\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := decodeEpochCheckpoint(in)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("decode accepted a count of 1<<24 with one entry")
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("decode allocated %d bytes for %d bytes of input", d, len(in))
	}
}

func FuzzDecodeEpochCheckpoint(f *testing.F) {
	for _, s := range []string{
		"", "0\n0\n", "0\n2\n0 1\n1 2\n", "0\n3\n2 10\n4 20\n7 35\n",
		"0\n1\n2147483647 9223372036854775807\n", "0\n2\n1 5\n1 6\n",
		"0\n2147483647\n0 0\n", "1\n0\n", "0\n1\n01 0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeEpochCheckpoint(b)
		if err != nil {
			if !errors.Is(err, errBadEpochCheckpoint) {
				t.Fatalf("error %v does not wrap errBadEpochCheckpoint", err)
			}
			return
		}
		checkEpochInvariant(t, es)
		enc := appendEpochCheckpoint(nil, es)
		// The decoder is strict: what it accepts is the canonical encoding
		// (or the empty file, Kafka's freshly created one).
		if len(b) > 0 && string(enc) != string(b) {
			t.Fatalf("decode(%q) = %v re-encodes to %q", b, es, enc)
		}
		again, err := decodeEpochCheckpoint(enc)
		if err != nil || !slices.Equal(again, es) {
			t.Fatalf("re-decode of %q = %v, %v; want %v", enc, again, err, es)
		}
	})
}

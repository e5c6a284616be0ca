package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// TestRecreatedTopicNeverOpensAnotherTopicsFiles: the metadata says topic
// "t" was deleted and re-created (a new id) while the old incarnation's
// directory is still there under its name — what a crash between the
// delete's metadata record and the directory rename leaves. The new topic
// must start empty, and the old files must be set aside, not deleted.
func TestRecreatedTopicNeverOpensAnotherTopicsFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	old := createTopic(t, b, "t", 1, nil)
	appendFlush(t, old.Partitions[0], valueBatch(nil, "old-1", "old-2"))
	b.Close()

	meta, err := metadata.Open(filepath.Join(dir, "__samsa_metadata"))
	if err != nil {
		t.Fatal(err)
	}
	newID := metadata.NewTopicID()
	if _, err := meta.Apply(
		metadata.Record{Type: metadata.RecordDeleteTopic, Topic: &metadata.Topic{Name: "t"}},
		metadata.Record{Type: metadata.RecordCreateTopic, Topic: &metadata.Topic{Name: "t", ID: newID, Partitions: 1}},
	); err != nil {
		t.Fatal(err)
	}

	b = openBroker(t, cfg)
	p := b.Topic("t").Partitions[0]
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("re-created topic opened with LEO %d: it adopted the deleted topic's records", leo)
	}
	if got, found, err := readPartitionMetadata(p.Dir()); err != nil || !found || got != newID {
		t.Fatalf("partition.metadata = %s, %v, %v; want the new id %s", got, found, err, newID)
	}
	strays, _ := filepath.Glob(filepath.Join(dir, "t-0.*-stray"))
	if len(strays) != 1 {
		t.Fatalf("stray directories %v, want the old incarnation's one", strays)
	}
	if got, _, _ := readPartitionMetadata(strays[0]); got != old.ID {
		t.Fatalf("the stray directory names topic id %s, want the old %s", got, old.ID)
	}
}

// TestPartitionMetadataWrittenAndAdopted: every partition directory gets a
// partition.metadata naming its topic id; a directory without one (made by
// an older samsa) is adopted by the topic of its name, keeping its data.
func TestPartitionMetadataWrittenAndAdopted(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	tp := createTopic(t, b, "up", 2, nil)
	appendFlush(t, tp.Partitions[0], valueBatch(nil, "a", "b"))
	for _, p := range tp.Partitions {
		b, err := os.ReadFile(filepath.Join(p.Dir(), partitionMetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		if want := "version: 0\ntopic_id: " + tp.ID.String() + "\n"; string(b) != want {
			t.Fatalf("partition.metadata = %q, want %q", b, want)
		}
	}
	b.Close()
	if err := os.Remove(filepath.Join(dir, "up-0", partitionMetadataFile)); err != nil {
		t.Fatal(err)
	}
	b = openBroker(t, cfg)
	p := b.Topic("up").Partitions[0]
	if leo := p.LogEndOffset(); leo != 2 {
		t.Fatalf("LEO %d after adopting a directory without partition.metadata, want 2", leo)
	}
	if got, found, _ := readPartitionMetadata(p.Dir()); !found || got != tp.ID {
		t.Fatalf("adopted directory's partition.metadata: %s %v, want %s", got, found, tp.ID)
	}
}

// TestLeftoverDeleteDirectoriesRemoved: a *-delete directory (a crash after
// the rename, before the removal) is removed when the broker starts.
func TestLeftoverDeleteDirectoriesRemoved(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	openBroker(t, cfg).Close()
	dead := filepath.Join(dir, "gone-0.0123456789abcdef0123456789abcdef-delete")
	if err := os.MkdirAll(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, "00000000000000000000.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	openBroker(t, cfg)
	waitFor(t, 5*time.Second, func() error {
		if exists(dead) {
			return os.ErrExist
		}
		return nil
	})
}

func TestReadPartitionMetadataRejects(t *testing.T) {
	for _, content := range []string{"", "version: 1\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n", "version: 0\ntopic_id: nope\n", "garbage"} {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, partitionMetadataFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, found, err := readPartitionMetadata(d); !found || err == nil || !strings.Contains(err.Error(), "partition.metadata") {
			t.Errorf("content %q: found %v err %v, want a malformed-file error", content, found, err)
		}
	}
}

// TestDescriptorLimit: topics and partitions that would not fit under the
// open-file limit are refused up front with ErrDescriptorLimit and a message
// naming the limit, instead of failing half-way with EMFILE.
func TestDescriptorLimit(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	// A quarter (4) kept for connections: room for 12 one-segment partitions.
	b.fdLimit = func() uint64 { return 16 }
	if _, err := b.CreateTopic(CreateTopicRequest{Name: "fits", Partitions: 8, ReplicationFactor: 1}); err != nil {
		t.Fatalf("8 partitions under a limit for 12: %v", err)
	}
	_, err := b.CreateTopic(CreateTopicRequest{Name: "toomany", Partitions: 5, ReplicationFactor: 1})
	if !errors.Is(err, ErrDescriptorLimit) || !strings.Contains(err.Error(), "ulimit -n") {
		t.Fatalf("5 more partitions: err = %v, want ErrDescriptorLimit naming ulimit -n", err)
	}
	if b.Topic("toomany") != nil {
		t.Fatal("a refused topic exists")
	}
	if err := b.CreatePartitions("fits", 13, false); !errors.Is(err, ErrDescriptorLimit) {
		t.Fatalf("growing past the limit: err = %v, want ErrDescriptorLimit", err)
	}
	if err := b.CreatePartitions("fits", 12, false); err != nil {
		t.Fatalf("growing to the limit: %v", err)
	}
}

func TestCheckStartDescriptors(t *testing.T) {
	if err := checkStartDescriptors(100, 0); err != nil {
		t.Fatalf("unknown limit: %v", err)
	}
	if err := checkStartDescriptors(100, fdReserve+300); err != nil {
		t.Fatalf("100 partitions, room for 100: %v", err)
	}
	// One descriptor per segment: 10 000 partitions fit under 20 000,
	// 20 000 do not.
	if err := checkStartDescriptors(10000, 20000); err != nil {
		t.Fatalf("10000 partitions under 20000: %v", err)
	}
	err := checkStartDescriptors(20000, 20000)
	if !errors.Is(err, ErrDescriptorLimit) || !strings.Contains(err.Error(), "20000") {
		t.Fatalf("20000 partitions under 20000: err = %v, want ErrDescriptorLimit naming the limit", err)
	}
}

// FuzzPartitionMetadata: any file content either parses to an id that
// writes back as the same file, or is errBadPartitionMetadata; never a panic.
func FuzzPartitionMetadata(f *testing.F) {
	id := metadata.NewTopicID()
	f.Add([]byte("version: 0\ntopic_id: " + id.String() + "\n"))
	f.Add([]byte("topic_id: " + id.String() + "\nversion: 0"))
	f.Add([]byte("version: 0\ntopic_id: ====\n"))
	f.Add([]byte(strings.Repeat("x", 70000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePartitionMetadata(b)
		if err != nil {
			if !errors.Is(err, errBadPartitionMetadata) {
				t.Fatalf("error %v is not errBadPartitionMetadata", err)
			}
			return
		}
		again, err := parsePartitionMetadata([]byte("version: 0\ntopic_id: " + got.String() + "\n"))
		if err != nil || again != got {
			t.Fatalf("id %s does not round-trip: %s, %v", got, again, err)
		}
	})
}

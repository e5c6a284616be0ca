package metadata

import (
	"errors"
	"os"
	"testing"
)

// TestFailedDirSyncKeepsMemoryWithDisk: the snapshot's rename succeeds but
// the directory fsync fails. Memory must then say what the file says (the
// new topic), the store must refuse further changes, and a reopen must read
// the same state memory had.
func TestFailedDirSyncKeepsMemoryWithDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected EIO")
	s.syncDir = func(*os.File) error { return boom }
	_, err = s.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: NewTopicID(), Partitions: 1}})
	if !errors.Is(err, boom) || !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("Apply err = %v, want the injected error and ErrStoreFailed", err)
	}
	if s.State().Topics["t"] == nil {
		t.Fatal("memory lost the topic the renamed snapshot file holds")
	}
	s.syncDir = (*os.File).Sync
	if _, err := s.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "u", ID: NewTopicID(), Partitions: 1}}); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("Apply after the failure err = %v, want ErrStoreFailed (sticky)", err)
	}
	if s.State().Topics["u"] != nil {
		t.Fatal("a failed store applied a change")
	}
	re, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if re.State().Topics["t"] == nil || re.State().Topics["u"] != nil {
		t.Fatalf("reopened state has topics %v, want just t", re.State().TopicNames())
	}
}

// TestFailedWriteKeepsOldState: a failure before the rename (here the temp
// file cannot be created) leaves memory and disk at the old state, and the
// store keeps working once the cause is gone.
func TestFailedWriteKeepsOldState(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dir + "/" + snapshotName + ".tmp"
	if err := os.Mkdir(tmp, 0o755); err != nil { // a directory where the temp file goes
		t.Fatal(err)
	}
	if _, err := s.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: NewTopicID(), Partitions: 1}}); err == nil {
		t.Fatal("Apply succeeded with an unwritable temp file")
	}
	if s.State().Topics["t"] != nil || s.Failed() != nil {
		t.Fatalf("after a failed write: topic applied %v, store failed %v; want neither", s.State().Topics["t"] != nil, s.Failed())
	}
	os.Remove(tmp)
	if _, err := s.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: NewTopicID(), Partitions: 1}}); err != nil {
		t.Fatalf("Apply once writable again: %v", err)
	}
}

// FuzzTopicIDText: any text either is a topic id that prints back as itself
// or is refused; never a panic (a damaged metadata.json or
// partition.metadata holds anything).
func FuzzTopicIDText(f *testing.F) {
	id := NewTopicID()
	f.Add([]byte(id.String()))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte("===="))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got TopicID
		if err := got.UnmarshalText(b); err != nil {
			return
		}
		if got.String() != string(b) {
			t.Fatalf("%q parsed as %s", b, got)
		}
	})
}

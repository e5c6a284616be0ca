package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// testConfig is the broker default over dir, with three partitions per
// auto-created topic so that "-1 means num.partitions" is told apart from 1.
func testConfig(dir string) config.Broker {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.NumPartitions = 3
	return cfg
}

// openBroker opens a broker over cfg.DataDir and closes it when the test
// ends. Close may run twice (a test that restarts closes explicitly): the
// second call is a no-op apart from rewriting the clean-shutdown marker.
func openBroker(t *testing.T, cfg config.Broker) *Broker {
	t.Helper()
	b, err := Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.DataDir, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func createTopic(t *testing.T, b *Broker, name string, partitions int32, configs map[string]string) *Topic {
	t.Helper()
	tp, err := b.CreateTopic(CreateTopicRequest{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: configs})
	if err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
	return tp
}

// valueBatch is one non-idempotent batch of a record per value, keyed by
// key (nil for no key).
func valueBatch(key []byte, values ...string) []byte {
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: key, Value: []byte(v)}
	}
	return record.BuildBatch(record.BuildOptions{
		FirstTimestamp: time.Now().UnixMilli(),
		ProducerID:     -1, ProducerEpoch: -1, BaseSequence: record.NoSequence,
	}, recs)
}

// appendFlush appends one batch and makes it durable (and visible).
func appendFlush(t *testing.T, p *partition.Partition, batch []byte) {
	t.Helper()
	if _, err := p.Append(batch, time.Now()); err != nil {
		t.Fatalf("Append to %s-%d: %v", p.Topic, p.Index, err)
	}
	if err := p.Flush(); err != nil {
		t.Fatalf("Flush %s-%d: %v", p.Topic, p.Index, err)
	}
}

// readRecord is one record read back from a partition.
type readRecord struct {
	Offset     int64
	Key, Value string
}

// readAll reads every committed record of p from its log start.
func readAll(t *testing.T, p *partition.Partition) []readRecord {
	t.Helper()
	var out []readRecord
	off := p.LogStartOffset()
	for off < p.HighWatermark() {
		res, err := p.Read(off, 1<<20, true)
		if err != nil {
			t.Fatalf("Read %s-%d at %d: %v", p.Topic, p.Index, off, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("Read %s-%d at %d below HW %d returned nothing", p.Topic, p.Index, off, p.HighWatermark())
		}
		err = record.Split(res.Records, func(h record.BatchHeader, batch []byte) error {
			off = h.NextOffset()
			return record.ForEachRecord(batch, func(r record.Record) error {
				out = append(out, readRecord{Offset: h.BaseOffset + int64(r.OffsetDelta), Key: string(r.Key), Value: string(r.Value)})
				return nil
			})
		})
		if err != nil {
			t.Fatalf("decode %s-%d: %v", p.Topic, p.Index, err)
		}
	}
	return out
}

func values(recs []readRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// partitionDirs lists the partition directories of topic under dir.
func partitionDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"a/b", false},
		{"a b", false},
		{"a\\b", false},
		{"tópico", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"__consumer_offsets", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.name), func(t *testing.T) {
			err := ValidateTopicName(tt.name)
			if tt.ok && err != nil {
				t.Fatalf("ValidateTopicName = %v, want ok", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidTopic) {
				t.Fatalf("ValidateTopicName = %v, want ErrInvalidTopic", err)
			}
		})
	}
}

// TestCreateTopic checks every refusal of CreateTopic, and that a refused
// create leaves nothing behind: no topic served, no metadata, no directory.
func TestCreateTopic(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, testConfig(dir))
	createTopic(t, b, "a.b", 1, nil)
	createTopic(t, b, "taken", 1, nil)

	tests := []struct {
		name           string
		req            CreateTopicRequest
		wantErr        error
		wantPartitions int
	}{
		{"empty name", CreateTopicRequest{Name: "", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"dot", CreateTopicRequest{Name: ".", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"dot dot", CreateTopicRequest{Name: "..", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"250 chars", CreateTopicRequest{Name: strings.Repeat("n", 250), Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"249 chars", CreateTopicRequest{Name: strings.Repeat("n", 249), Partitions: 1, ReplicationFactor: 1}, nil, 1},
		{"slash", CreateTopicRequest{Name: "a/b", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"space", CreateTopicRequest{Name: "a b", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"collides with a.b", CreateTopicRequest{Name: "a_b", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic, 0},
		{"exists", CreateTopicRequest{Name: "taken", Partitions: 1, ReplicationFactor: 1}, ErrTopicExists, 0},
		{"partitions -1 is num.partitions", CreateTopicRequest{Name: "p-default", Partitions: -1, ReplicationFactor: 1}, nil, 3},
		{"partitions 0", CreateTopicRequest{Name: "p0", Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions, 0},
		{"partitions -2", CreateTopicRequest{Name: "pm2", Partitions: -2, ReplicationFactor: 1}, ErrInvalidPartitions, 0},
		{"partitions 1", CreateTopicRequest{Name: "p1", Partitions: 1, ReplicationFactor: 1}, nil, 1},
		{"partitions 7", CreateTopicRequest{Name: "p7", Partitions: 7, ReplicationFactor: 1}, nil, 7},
		{"partitions 100001", CreateTopicRequest{Name: "phuge", Partitions: 100001, ReplicationFactor: 1}, ErrInvalidPartitions, 0},
		{"replication -1 is the default", CreateTopicRequest{Name: "rf-default", Partitions: 1, ReplicationFactor: -1}, nil, 1},
		{"replication 0", CreateTopicRequest{Name: "rf0", Partitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor, 0},
		{"replication 2", CreateTopicRequest{Name: "rf2", Partitions: 1, ReplicationFactor: 2}, ErrInvalidReplicationFactor, 0},
		{"replication 3", CreateTopicRequest{Name: "rf3", Partitions: 1, ReplicationFactor: 3}, ErrInvalidReplicationFactor, 0},
		{"unknown config", CreateTopicRequest{Name: "c1", Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"no.such.config": "1"}}, config.ErrUnknownConfig, 0},
		{"invalid config value", CreateTopicRequest{Name: "c2", Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"retention.ms": "soon"}}, config.ErrInvalidValue, 0},
		{"segment.bytes below its minimum", CreateTopicRequest{Name: "c3", Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"segment.bytes": "1"}}, config.ErrInvalidValue, 0},
		{"min lag above max lag", CreateTopicRequest{Name: "c4", Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}}, config.ErrInvalidValue, 0},
		{"valid configs", CreateTopicRequest{Name: "c5", Partitions: 2, ReplicationFactor: 1,
			Configs: map[string]string{"retention.ms": "60000", "cleanup.policy": "compact"}}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(b.Topics())
			tp, err := b.CreateTopic(tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateTopic err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if tp != nil {
					t.Fatalf("CreateTopic returned topic %q with error %v", tp.Name, err)
				}
				if got := len(b.Topics()); got != before {
					t.Fatalf("a refused create changed the topic count: %d -> %d", before, got)
				}
				if tt.req.Name != "taken" && tt.req.Name != "" {
					if _, ok := b.Metadata().State().Topics[tt.req.Name]; ok {
						t.Fatalf("a refused create left %q in the metadata", tt.req.Name)
					}
					if !strings.ContainsAny(tt.req.Name, "/ ") && tt.req.Name != "." && tt.req.Name != ".." {
						if d := partitionDirs(t, dir, tt.req.Name); len(d) > 0 {
							t.Fatalf("a refused create left directories %v", d)
						}
					}
				}
				return
			}
			if tp == nil || tp.Name != tt.req.Name {
				t.Fatalf("CreateTopic returned %+v", tp)
			}
			if len(tp.Partitions) != tt.wantPartitions {
				t.Fatalf("partitions = %d, want %d", len(tp.Partitions), tt.wantPartitions)
			}
			if b.Topic(tt.req.Name) != tp || b.TopicByID(tp.ID) != tp {
				t.Fatal("the created topic is not served by name and id")
			}
			mt := b.Metadata().State().Topics[tt.req.Name]
			if mt == nil || mt.ID != tp.ID || mt.Partitions != int32(tt.wantPartitions) {
				t.Fatalf("metadata = %+v, want id %s and %d partitions", mt, tp.ID, tt.wantPartitions)
			}
			if !maps.Equal(tp.Overrides, tt.req.Configs) {
				t.Fatalf("overrides = %v, want %v", tp.Overrides, tt.req.Configs)
			}
			for i := range tt.wantPartitions {
				if !exists(filepath.Join(dir, fmt.Sprintf("%s-%d", tt.req.Name, i))) {
					t.Fatalf("partition directory %d is missing", i)
				}
			}
		})
	}
	if got := b.Topic("c5").Config; !got.Compact() || got.Delete() || got.Retention != time.Minute {
		t.Fatalf("effective config of c5 = compact %v delete %v retention %v; want the overrides applied", got.Compact(), got.Delete(), got.Retention)
	}
}

// TestCreateTopicValidateOnly checks that ValidateOnly reports the errors a
// real create would and creates nothing, not even after a restart.
func TestCreateTopicValidateOnly(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	createTopic(t, b, "x.y", 1, nil)

	tests := []struct {
		name    string
		req     CreateTopicRequest
		wantErr error
	}{
		{"valid", CreateTopicRequest{Name: "vo", Partitions: 4, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}, nil},
		{"collision", CreateTopicRequest{Name: "x_y", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{"exists", CreateTopicRequest{Name: "x.y", Partitions: 1, ReplicationFactor: 1}, ErrTopicExists},
		{"bad config", CreateTopicRequest{Name: "vo", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "x"}}, config.ErrInvalidValue},
		{"bad partitions", CreateTopicRequest{Name: "vo", Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ValidateOnly = true
			tp, err := b.CreateTopic(tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateTopic(ValidateOnly) err = %v, want %v", err, tt.wantErr)
			}
			if tp != nil {
				t.Fatalf("ValidateOnly returned a topic: %+v", tp)
			}
		})
	}
	check := func(b *Broker) {
		t.Helper()
		if b.Topic("vo") != nil {
			t.Fatal("ValidateOnly created a topic")
		}
		if _, ok := b.Metadata().State().Topics["vo"]; ok {
			t.Fatal("ValidateOnly wrote metadata")
		}
		if d := partitionDirs(t, dir, "vo"); len(d) > 0 {
			t.Fatalf("ValidateOnly made directories %v", d)
		}
		if n := len(b.Topics()); n != 1 {
			t.Fatalf("%d topics, want 1", n)
		}
	}
	check(b)
	b.Close()
	check(openBroker(t, cfg))
}

func TestDescribeTopics(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	for _, n := range []string{"zeta", "alpha", "mid"} {
		createTopic(t, b, n, 2, nil)
	}
	var names []string
	ids := make(map[metadata.TopicID]bool)
	for _, tp := range b.Topics() {
		names = append(names, tp.Name)
		if tp.ID == (metadata.TopicID{}) || ids[tp.ID] {
			t.Fatalf("topic %q has a zero or repeated id %s", tp.Name, tp.ID)
		}
		ids[tp.ID] = true
		if b.TopicByID(tp.ID) != tp {
			t.Fatalf("TopicByID(%s) is not topic %q", tp.ID, tp.Name)
		}
		for i, p := range tp.Partitions {
			if p.Topic != tp.Name || p.Index != int32(i) || tp.Partition(int32(i)) != p {
				t.Fatalf("partition %d of %q is %s-%d", i, tp.Name, p.Topic, p.Index)
			}
		}
		if tp.Partition(-1) != nil || tp.Partition(2) != nil {
			t.Fatal("Partition out of range must be nil")
		}
	}
	if got := strings.Join(names, ","); got != "alpha,mid,zeta" {
		t.Fatalf("Topics() = %s, want sorted alpha,mid,zeta", got)
	}
	if b.Topic("nope") != nil || b.TopicByID(metadata.NewTopicID()) != nil {
		t.Fatal("an unknown topic must be nil")
	}
}

func TestDeleteTopic(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, testConfig(dir))
	tp := createTopic(t, b, "doomed", 3, nil)
	appendFlush(t, tp.Partitions[1], valueBatch(nil, "x"))
	createTopic(t, b, "kept", 1, nil)

	if err := b.DeleteTopic("nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("DeleteTopic(unknown) = %v, want ErrUnknownTopic", err)
	}
	if err := b.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	if b.Topic("doomed") != nil || b.TopicByID(tp.ID) != nil {
		t.Fatal("a deleted topic is still served")
	}
	if _, ok := b.Metadata().State().Topics["doomed"]; ok {
		t.Fatal("a deleted topic is still in the metadata")
	}
	// At once: no directory is left under the topic's partition names
	// (they were renamed to *-delete); soon: those are removed too.
	for i := range 3 {
		if exists(filepath.Join(dir, fmt.Sprintf("doomed-%d", i))) {
			t.Fatalf("doomed-%d still exists under its name after the delete", i)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if d := partitionDirs(t, dir, "doomed"); len(d) > 0 {
			return fmt.Errorf("a deleted topic left directories %v", d)
		}
		return nil
	})
	if _, err := tp.Partitions[1].Append(valueBatch(nil, "y"), time.Now()); !errors.Is(err, partition.ErrClosed) {
		t.Fatalf("Append to a deleted partition = %v, want ErrClosed", err)
	}
	if err := b.DeleteTopic("doomed"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic = %v, want ErrUnknownTopic", err)
	}
	if b.Topic("kept") == nil {
		t.Fatal("deleting one topic removed another")
	}
}

// TestInternalTopicsAreFixed checks that an internal topic (the
// coordinators' __consumer_offsets and friends) cannot be deleted or grown:
// either would lose or misplace every group's committed offsets.
func TestInternalTopicsAreFixed(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, testConfig(dir))
	tp, err := b.CreateTopic(CreateTopicRequest{Name: "__consumer_offsets", Partitions: 4, ReplicationFactor: 1,
		Configs: map[string]string{"cleanup.policy": "compact"}, Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Internal {
		t.Fatal("topic not marked internal")
	}
	if err := b.DeleteTopic(tp.Name); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("DeleteTopic(internal) = %v, want ErrInvalidTopic", err)
	}
	for _, validateOnly := range []bool{true, false} {
		if err := b.CreatePartitions(tp.Name, 8, validateOnly); !errors.Is(err, ErrInvalidPartitions) {
			t.Fatalf("CreatePartitions(internal, validateOnly=%v) = %v, want ErrInvalidPartitions", validateOnly, err)
		}
	}
	if got := b.Topic(tp.Name); got == nil || len(got.Partitions) != 4 {
		t.Fatal("the internal topic changed")
	}
	if d := partitionDirs(t, dir, tp.Name); len(d) != 4 {
		t.Fatalf("internal topic directories = %v, want 4", d)
	}
	b.Close()
	b = openBroker(t, testConfig(dir))
	if got := b.Topic(tp.Name); got == nil || !got.Internal || got.ID != tp.ID {
		t.Fatal("the internal flag or id did not survive a restart")
	}
}

// TestRestartKeepsEverything checks that Close then Open serves the same
// topics (ids, partition counts, configs) and data, and the clean-shutdown
// marker's life: written by Close, taken by Open.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	marker := filepath.Join(dir, cleanShutdownMarker)
	b := openBroker(t, cfg)
	if exists(marker) {
		t.Fatal("a fresh broker has a clean-shutdown marker")
	}
	specs := []struct {
		name       string
		partitions int32
		configs    map[string]string
	}{
		{"plain", 1, nil},
		{"wide", 5, map[string]string{"retention.ms": "3600000", "max.message.bytes": "4096"}},
		{"compacted", 2, map[string]string{"cleanup.policy": "compact", "segment.bytes": "1024"}},
	}
	want := make(map[string]*Topic)
	for _, s := range specs {
		tp := createTopic(t, b, s.name, s.partitions, s.configs)
		want[s.name] = tp
		for _, p := range tp.Partitions {
			for i := range 3 {
				appendFlush(t, p, valueBatch([]byte("k"), fmt.Sprintf("%s-%d-%d", s.name, p.Index, i)))
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !exists(marker) {
		t.Fatal("Close did not write the clean-shutdown marker")
	}
	if _, err := b.CreateTopic(CreateTopicRequest{Name: "late", Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateTopic after Close = %v, want ErrClosed", err)
	}
	if b.Context().Err() == nil {
		t.Fatal("the broker context is live after Close")
	}

	b2 := openBroker(t, cfg)
	if exists(marker) {
		t.Fatal("Open did not take the clean-shutdown marker")
	}
	if got := len(b2.Topics()); got != len(specs) {
		t.Fatalf("%d topics after restart, want %d", got, len(specs))
	}
	if b2.ClusterID() == "" || b2.ClusterID() != b.ClusterID() {
		t.Fatalf("cluster id %q after restart, was %q", b2.ClusterID(), b.ClusterID())
	}
	for _, s := range specs {
		w, g := want[s.name], b2.Topic(s.name)
		if g == nil {
			t.Fatalf("topic %q lost", s.name)
		}
		if g.ID != w.ID || len(g.Partitions) != len(w.Partitions) || !maps.Equal(g.Overrides, w.Overrides) || g.Config != w.Config {
			t.Fatalf("topic %q after restart: id %s partitions %d overrides %v; want %s %d %v (and the same effective config)",
				s.name, g.ID, len(g.Partitions), g.Overrides, w.ID, len(w.Partitions), w.Overrides)
		}
		for _, p := range g.Partitions {
			got := strings.Join(values(readAll(t, p)), ",")
			exp := fmt.Sprintf("%[1]s-%[2]d-0,%[1]s-%[2]d-1,%[1]s-%[2]d-2", s.name, p.Index)
			if got != exp {
				t.Fatalf("%s-%d after restart holds %q, want %q", s.name, p.Index, got, exp)
			}
		}
	}
	// The restarted partitions still take writes after their old data.
	p := b2.Topic("plain").Partition(0)
	appendFlush(t, p, valueBatch(nil, "after"))
	if p.LogEndOffset() != 4 {
		t.Fatalf("LogEndOffset = %d after one more append, want 4", p.LogEndOffset())
	}
}

// TestUncleanStopKeepsFlushedData opens data directories that no Close
// finished: a copy taken while the broker ran (what kill -9 leaves, files
// and all), and a closed directory whose marker was removed. Both must open,
// re-validating the logs, and keep every flushed record.
func TestUncleanStopKeepsFlushedData(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	tp := createTopic(t, b, "events", 2, nil)
	var want [2][]string
	for i := range 10 {
		p := tp.Partitions[i%2]
		v := fmt.Sprintf("v%d", i)
		appendFlush(t, p, valueBatch(nil, v))
		want[i%2] = append(want[i%2], v)
	}

	check := func(t *testing.T, b *Broker) {
		t.Helper()
		g := b.Topic("events")
		if g == nil || g.ID != tp.ID || len(g.Partitions) != 2 {
			t.Fatalf("topic after an unclean stop: %+v", g)
		}
		for i, p := range g.Partitions {
			if got, exp := strings.Join(values(readAll(t, p)), ","), strings.Join(want[i], ","); got != exp {
				t.Fatalf("partition %d holds %q, want %q", i, got, exp)
			}
		}
	}

	t.Run("copied while open", func(t *testing.T) {
		cp := filepath.Join(t.TempDir(), "copy")
		if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if exists(filepath.Join(cp, cleanShutdownMarker)) {
			t.Fatal("a running broker's directory has a clean-shutdown marker")
		}
		check(t, openBroker(t, testConfig(cp)))
	})

	t.Run("marker removed", func(t *testing.T) {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, cleanShutdownMarker)); err != nil {
			t.Fatal(err)
		}
		b2 := openBroker(t, cfg)
		check(t, b2)
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
		if !exists(filepath.Join(dir, cleanShutdownMarker)) {
			t.Fatal("a clean Close after an unclean start wrote no marker")
		}
	})
}

// TestDeleteThenRecreate checks that a topic re-created under a deleted
// one's name is a new topic: a new id, empty, and the old records never come
// back, not even after a restart.
func TestDeleteThenRecreate(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	old := createTopic(t, b, "reborn", 2, map[string]string{"retention.ms": "1000"})
	for _, p := range old.Partitions {
		appendFlush(t, p, valueBatch(nil, "old-1", "old-2"))
	}
	if err := b.DeleteTopic("reborn"); err != nil {
		t.Fatal(err)
	}
	nt := createTopic(t, b, "reborn", 3, nil)
	check := func(b *Broker) {
		t.Helper()
		g := b.Topic("reborn")
		if g == nil || g.ID != nt.ID || g.ID == old.ID {
			t.Fatalf("topic id %v, want the new id %s (old %s)", g, nt.ID, old.ID)
		}
		if b.TopicByID(old.ID) != nil {
			t.Fatal("the old id still resolves")
		}
		if len(g.Overrides) != 0 {
			t.Fatalf("the new topic inherited overrides %v", g.Overrides)
		}
		for _, p := range g.Partitions {
			if p.LogEndOffset() != 0 || p.HighWatermark() != 0 || p.LogStartOffset() != 0 {
				t.Fatalf("new partition %d: LEO %d HW %d start %d, want empty", p.Index, p.LogEndOffset(), p.HighWatermark(), p.LogStartOffset())
			}
		}
	}
	check(b)
	appendFlush(t, nt.Partitions[0], valueBatch(nil, "new"))
	b.Close()
	b = openBroker(t, cfg)
	g := b.Topic("reborn")
	if got := values(readAll(t, g.Partitions[0])); len(got) != 1 || got[0] != "new" {
		t.Fatalf("partition 0 after restart holds %v, want only the new record", got)
	}
	if g.ID != nt.ID || len(g.Partitions) != 3 {
		t.Fatalf("after restart: id %s partitions %d, want %s 3", g.ID, len(g.Partitions), nt.ID)
	}
	for _, p := range g.Partitions[1:] {
		if p.LogEndOffset() != 0 {
			t.Fatalf("partition %d after restart has LEO %d: old data came back", p.Index, p.LogEndOffset())
		}
	}
}

// TestOrphanDirectories checks Open's cleanup of partition directories that
// the metadata does not know (a crash between a DeleteTopics and the removal
// of its files): removed when the metadata already existed, left alone when
// Open made the metadata (a fresh data directory: the directories are not
// samsa's to judge).
func TestOrphanDirectories(t *testing.T) {
	mkdir := func(t *testing.T, path string) {
		t.Helper()
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "00000000000000000000.log"), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("existing metadata", func(t *testing.T) {
		dir := t.TempDir()
		cfg := testConfig(dir)
		b := openBroker(t, cfg)
		tp := createTopic(t, b, "keep", 2, nil)
		appendFlush(t, tp.Partitions[0], valueBatch(nil, "kept"))
		createTopic(t, b, "dash-1", 1, nil) // its directory "dash-1-0" is partition 0 of "dash-1"
		b.Close()

		tests := []struct {
			entry   string
			dir     bool
			removed bool
		}{
			{"gone-0", true, true},           // topic not in the metadata
			{"gone-17", true, true},          // any partition of it
			{"keep-2", true, true},           // past the topic's partition count
			{"keep-0", false, false},         // a live partition (made by the broker)
			{"keep-1", false, false},         // a live partition
			{"dash-1-0", false, false},       // a live partition of a topic whose name ends in -N
			{"dash-0", true, true},           // topic "dash" does not exist
			{"notapartition", true, false},   // no -N suffix
			{"weird-x", true, false},         // suffix not a number
			{"neg--1", true, true},           // topic "neg-" (a legal name), partition 1: not in the metadata
			{"__samsa_extra-0", true, false}, // samsa's own directories
			{"file-0", false, false},         // a file, not a directory
			{"__samsa_metadata", false, false} /* the metadata itself */}
		for _, tt := range tests {
			if tt.dir {
				mkdir(t, filepath.Join(dir, tt.entry))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "file-0"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		b = openBroker(t, cfg)
		for _, tt := range tests {
			if got := !exists(filepath.Join(dir, tt.entry)); got != tt.removed {
				t.Errorf("%s: removed = %v, want %v", tt.entry, got, tt.removed)
			}
			if tt.removed {
				// Set aside, never deleted: the data is still there.
				strays, _ := filepath.Glob(filepath.Join(dir, tt.entry+".*-stray"))
				if len(strays) != 1 {
					t.Errorf("%s: want one %s.*-stray directory, found %v", tt.entry, tt.entry, strays)
				}
			}
		}
		if got := values(readAll(t, b.Topic("keep").Partitions[0])); len(got) != 1 || got[0] != "kept" {
			t.Fatalf("a live partition lost its data: %v", got)
		}
		if b.Topic("gone") != nil || b.Topic("dash") != nil {
			t.Fatal("an orphan directory became a topic")
		}
	})

	t.Run("fresh data directory", func(t *testing.T) {
		dir := t.TempDir()
		stray := []string{"stray-0", "other-3", "keep-9"}
		for _, s := range stray {
			mkdir(t, filepath.Join(dir, s))
		}
		b := openBroker(t, testConfig(dir))
		if len(b.Topics()) != 0 {
			t.Fatalf("stray directories became topics: %d", len(b.Topics()))
		}
		for _, s := range stray {
			if !exists(filepath.Join(dir, s, "00000000000000000000.log")) {
				t.Errorf("the first Open of a fresh data directory removed %s", s)
			}
		}
	})
}

// TestCreatePartitions checks that a topic grows, keeps the data of its
// existing partitions, serves the new ones at once and after a restart, and
// refuses to shrink or stay the same.
func TestCreatePartitions(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	tp := createTopic(t, b, "grow", 1, map[string]string{"max.message.bytes": "2048"})
	appendFlush(t, tp.Partitions[0], valueBatch(nil, "p0"))

	tests := []struct {
		name         string
		topic        string
		count        int32
		validateOnly bool
		wantErr      error
		want         int
	}{
		{"unknown topic", "nope", 3, false, ErrUnknownTopic, 1},
		{"same count", "grow", 1, false, ErrInvalidPartitions, 1},
		{"fewer", "grow", 0, false, ErrInvalidPartitions, 1},
		{"too many", "grow", 100001, false, ErrInvalidPartitions, 1},
		{"validate only", "grow", 3, true, nil, 1},
		{"grow to 3", "grow", 3, false, nil, 3},
		{"shrink back", "grow", 2, false, ErrInvalidPartitions, 3},
		{"grow to 4", "grow", 4, false, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.CreatePartitions(tt.topic, tt.count, tt.validateOnly); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreatePartitions = %v, want %v", err, tt.wantErr)
			}
			g := b.Topic("grow")
			if len(g.Partitions) != tt.want || b.Metadata().State().Topics["grow"].Partitions != int32(tt.want) {
				t.Fatalf("%d partitions served, %d in metadata; want %d", len(g.Partitions), b.Metadata().State().Topics["grow"].Partitions, tt.want)
			}
			if len(partitionDirs(t, dir, "grow")) != tt.want {
				t.Fatalf("directories %v, want %d", partitionDirs(t, dir, "grow"), tt.want)
			}
		})
	}
	g := b.Topic("grow")
	if g.ID != tp.ID || g.Partitions[0] != tp.Partitions[0] {
		t.Fatal("growing replaced the id or the open partition 0")
	}
	if b.TopicByID(tp.ID) != g {
		t.Fatal("TopicByID serves the old version of the topic")
	}
	for _, p := range g.Partitions[1:] {
		appendFlush(t, p, valueBatch(nil, fmt.Sprintf("p%d", p.Index)))
		// The new partitions carry the topic's configs.
		big := valueBatch(nil, strings.Repeat("x", 4096))
		if _, err := p.Append(big, time.Now()); !errors.Is(err, partition.ErrMessageTooLarge) {
			t.Fatalf("partition %d ignores max.message.bytes: %v", p.Index, err)
		}
	}
	b.Close()
	b = openBroker(t, cfg)
	g = b.Topic("grow")
	if len(g.Partitions) != 4 {
		t.Fatalf("%d partitions after restart, want 4", len(g.Partitions))
	}
	for _, p := range g.Partitions {
		if got := values(readAll(t, p)); len(got) != 1 || got[0] != fmt.Sprintf("p%d", p.Index) {
			t.Fatalf("partition %d after restart holds %v", p.Index, got)
		}
	}
}

// TestUpdateTopicConfigsConcurrent has 8 goroutines each add a different
// override to one topic at once: UpdateTopicConfigs reads and stores in one
// step, so none may lose another's key.
func TestUpdateTopicConfigsConcurrent(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	createTopic(t, b, "cfg", 2, map[string]string{"cleanup.policy": "delete"})
	edits := map[string]string{
		"retention.ms":         "7200000",
		"retention.bytes":      "1048576",
		"segment.bytes":        "65536",
		"segment.ms":           "600000",
		"max.message.bytes":    "9999",
		"min.insync.replicas":  "1",
		"delete.retention.ms":  "1000",
		"index.interval.bytes": "1024",
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(edits))
	for k, v := range edits {
		wg.Go(func() {
			errs <- b.UpdateTopicConfigs("cfg", func(cur map[string]string) (map[string]string, error) {
				cur[k] = v
				return cur, nil
			}, false)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := maps.Clone(edits)
	want["cleanup.policy"] = "delete"
	check := func(b *Broker) {
		t.Helper()
		g := b.Topic("cfg")
		if !maps.Equal(g.Overrides, want) {
			t.Fatalf("overrides = %v, want %v", g.Overrides, want)
		}
		if mt := b.Metadata().State().Topics["cfg"]; !maps.Equal(mt.Configs, want) {
			t.Fatalf("metadata configs = %v, want %v", mt.Configs, want)
		}
		if g.Config.MaxMessageBytes != 9999 || g.Config.SegmentBytes != 65536 {
			t.Fatalf("effective config max.message.bytes %d segment.bytes %d: overrides not resolved", g.Config.MaxMessageBytes, g.Config.SegmentBytes)
		}
		// The partitions apply the new max.message.bytes.
		if _, err := g.Partitions[1].Append(valueBatch(nil, strings.Repeat("y", 10000)), time.Now()); !errors.Is(err, partition.ErrMessageTooLarge) {
			t.Fatalf("partition ignores the altered max.message.bytes: %v", err)
		}
	}
	check(b)

	// Refused edits change nothing.
	boom := errors.New("edit refused")
	refused := []struct {
		name    string
		topic   string
		edit    func(map[string]string) (map[string]string, error)
		wantErr error
	}{
		{"unknown topic", "nope", func(c map[string]string) (map[string]string, error) { return c, nil }, ErrUnknownTopic},
		{"edit error", "cfg", func(c map[string]string) (map[string]string, error) { c["retention.ms"] = "1"; return c, boom }, boom},
		{"invalid value", "cfg", func(c map[string]string) (map[string]string, error) { c["retention.ms"] = "never"; return c, nil }, config.ErrInvalidValue},
		{"unknown key", "cfg", func(c map[string]string) (map[string]string, error) { c["bogus"] = "1"; return c, nil }, config.ErrUnknownConfig},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.UpdateTopicConfigs(tt.topic, tt.edit, false); !errors.Is(err, tt.wantErr) {
				t.Fatalf("UpdateTopicConfigs = %v, want %v", err, tt.wantErr)
			}
			check(b)
		})
	}
	if err := b.SetTopicConfigs("cfg", map[string]string{"retention.ms": "5"}, true); err != nil {
		t.Fatalf("validate-only SetTopicConfigs: %v", err)
	}
	check(b)
	b.Close()
	check(openBroker(t, cfg))
}

// TestApplyRetention fills a topic with small segments past retention.bytes
// and checks that a retention pass deletes whole old segments, moving the
// log start offset, and leaves the rest readable.
func TestApplyRetention(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	del := createTopic(t, b, "sized", 1, map[string]string{"segment.bytes": "1024", "retention.bytes": "4096"})
	// A compact-only topic is never trimmed by retention.bytes (Kafka's
	// rule, and what keeps an idle group's last commit).
	cmp := createTopic(t, b, "compact-sized", 1, map[string]string{"segment.bytes": "1024", "retention.bytes": "4096", "cleanup.policy": "compact"})
	value := strings.Repeat("r", 100)
	const n = 200
	for i := range n {
		appendFlush(t, del.Partitions[0], valueBatch(nil, value))
		appendFlush(t, cmp.Partitions[0], valueBatch([]byte(fmt.Sprint(i)), value))
	}
	p, cp := del.Partitions[0], cmp.Partitions[0]
	if p.NumSegments() < 10 || p.Size() < 4*4096 {
		t.Fatalf("setup: %d segments, %d bytes: too few to test retention", p.NumSegments(), p.Size())
	}
	segsBefore := cp.NumSegments()
	b.ApplyRetention()
	if p.LogStartOffset() == 0 {
		t.Fatal("retention did not move the log start offset")
	}
	if p.Size() > 4096+2*1024 {
		t.Fatalf("size %d after retention, want at most retention.bytes plus about one segment", p.Size())
	}
	if p.LogEndOffset() != n || p.HighWatermark() != n {
		t.Fatalf("retention moved the log end: LEO %d HW %d, want %d", p.LogEndOffset(), p.HighWatermark(), n)
	}
	if _, err := p.Read(0, 1<<20, true); !errors.Is(err, partition.ErrOffsetOutOfRange) {
		t.Fatalf("Read below the log start = %v, want ErrOffsetOutOfRange", err)
	}
	recs := readAll(t, p)
	if len(recs) == 0 || recs[0].Offset != p.LogStartOffset() || recs[len(recs)-1].Offset != n-1 {
		t.Fatalf("after retention read %d records from %d, want [%d, %d]", len(recs), recs[0].Offset, p.LogStartOffset(), n-1)
	}
	if cp.LogStartOffset() != 0 || cp.NumSegments() != segsBefore {
		t.Fatalf("retention trimmed a compact-only topic: start %d, segments %d -> %d", cp.LogStartOffset(), segsBefore, cp.NumSegments())
	}
	// A second pass with nothing over the limit deletes nothing.
	start := p.LogStartOffset()
	b.ApplyRetention()
	if p.LogStartOffset() != start {
		t.Fatalf("a second retention pass moved the log start %d -> %d", start, p.LogStartOffset())
	}
}

// TestCompact writes many values for a few keys to a compacted topic and
// checks that a cleaner pass keeps, for every key, the last value written,
// in offset order, and removes superseded records; a delete-policy topic
// is left untouched by the same pass.
func TestCompact(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	ct := createTopic(t, b, "latest", 1, map[string]string{"cleanup.policy": "compact", "segment.bytes": "1024"})
	dt := createTopic(t, b, "history", 1, map[string]string{"segment.bytes": "1024"})
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	const rounds = 40
	last := make(map[string]string)
	for r := range rounds {
		for _, k := range keys {
			v := fmt.Sprintf("%s@%03d", k, r)
			appendFlush(t, ct.Partitions[0], valueBatch([]byte(k), v))
			appendFlush(t, dt.Partitions[0], valueBatch([]byte(k), v))
			last[k] = v
		}
	}
	written := rounds * len(keys)
	b.Compact()

	recs := readAll(t, ct.Partitions[0])
	if len(recs) >= written {
		t.Fatalf("compaction kept %d of %d records", len(recs), written)
	}
	seen := make(map[string]string)
	prevOff := int64(-1)
	for _, r := range recs {
		if r.Offset <= prevOff {
			t.Fatalf("offsets out of order after compaction: %d after %d", r.Offset, prevOff)
		}
		prevOff = r.Offset
		if prev, ok := seen[r.Key]; ok && r.Value <= prev {
			t.Fatalf("key %s: %q after %q: compaction reordered a key's values", r.Key, r.Value, prev)
		}
		seen[r.Key] = r.Value
	}
	if !maps.Equal(seen, last) {
		t.Fatalf("last value per key after compaction = %v, want %v", seen, last)
	}
	if got := ct.Partitions[0].LogEndOffset(); got != int64(written) {
		t.Fatalf("compaction moved the log end to %d, want %d", got, written)
	}
	if got := len(readAll(t, dt.Partitions[0])); got != written {
		t.Fatalf("a delete-policy topic lost records in a cleaner pass: %d of %d", got, written)
	}
}

// TestAutoCreateConcurrent races 10 AutoCreates of one name: exactly one
// topic is created and every caller gets it without an error.
func TestAutoCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, testConfig(dir))
	const n = 10
	got := make([]*Topic, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = b.AutoCreate("auto")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("AutoCreate %d: %v", i, errs[i])
		}
		if got[i] == nil || got[i].ID != got[0].ID {
			t.Fatalf("AutoCreate %d returned %v, want the topic with id %s", i, got[i], got[0].ID)
		}
	}
	if len(b.Topics()) != 1 || len(got[0].Partitions) != 3 {
		t.Fatalf("%d topics, %d partitions; want 1 topic with num.partitions=3", len(b.Topics()), len(got[0].Partitions))
	}
	if d := partitionDirs(t, dir, "auto"); len(d) != 3 {
		t.Fatalf("directories %v, want 3", d)
	}
	for _, name := range []string{"", "a/b", ".."} {
		if tp, err := b.AutoCreate(name); !errors.Is(err, ErrInvalidTopic) || tp != nil {
			t.Fatalf("AutoCreate(%q) = %v, %v; want ErrInvalidTopic", name, tp, err)
		}
	}
}

// TestScheduleFlush checks that an append nobody flushed becomes visible
// (the high watermark reaches it) once ScheduleFlush is asked, and that
// asking many times for one partition neither blocks nor loses the wake-up.
func TestScheduleFlush(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	tp := createTopic(t, b, "acks0", 2, nil)
	p := tp.Partitions[0]
	if _, err := p.Append(valueBatch(nil, "a", "b", "c"), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Durable by default (log.flush.interval.messages=1): the high
	// watermark waits for an fsync, so nothing is visible yet.
	if p.HighWatermark() != 0 || p.LogEndOffset() != 3 {
		t.Fatalf("before any flush: HW %d LEO %d, want 0 and 3", p.HighWatermark(), p.LogEndOffset())
	}
	b.ScheduleFlush(p)
	waitFor(t, 5*time.Second, func() error {
		if hw := p.HighWatermark(); hw != 3 {
			return fmt.Errorf("high watermark %d, want 3", hw)
		}
		return nil
	})
	q := tp.Partitions[1]
	for i := range 100 {
		if _, err := q.Append(valueBatch(nil, fmt.Sprint(i)), time.Now()); err != nil {
			t.Fatal(err)
		}
		b.ScheduleFlush(q)
		b.ScheduleFlush(q)
	}
	waitFor(t, 5*time.Second, func() error {
		if hw := q.HighWatermark(); hw != 100 {
			return fmt.Errorf("high watermark %d, want 100", hw)
		}
		return nil
	})
	if got := readAll(t, q); len(got) != 100 {
		t.Fatalf("read %d records, want 100", len(got))
	}
}

// TestOnCloseRunsBeforePartitionsClose checks Close's order: background
// work stops, the OnClose hooks run while the partitions still take
// writes, and what they write survives into the next Open.
func TestOnCloseRunsBeforePartitionsClose(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	p := createTopic(t, b, "hooked", 1, nil).Partitions[0]
	var hookErr error
	ran := 0
	b.OnClose(func() {
		ran++
		if b.Context().Err() == nil {
			hookErr = errors.New("OnClose ran before the broker context was cancelled")
			return
		}
		if _, err := p.Append(valueBatch(nil, "last words"), time.Now()); err != nil {
			hookErr = fmt.Errorf("append in OnClose: %w", err)
		}
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ran != 1 || hookErr != nil {
		t.Fatalf("OnClose ran %d times, err %v", ran, hookErr)
	}
	b.Close()
	if ran != 1 {
		t.Fatalf("a second Close ran the hook again (%d)", ran)
	}
	b = openBroker(t, cfg)
	if got := values(readAll(t, b.Topic("hooked").Partitions[0])); len(got) != 1 || got[0] != "last words" {
		t.Fatalf("after restart holds %v, want the record written in OnClose", got)
	}
}

// TestFailedOpenLeavesNoTopic makes the partition directories of a create
// impossible (a regular file where a directory must go) and checks that the
// failed CreateTopic or CreatePartitions changes nothing durable: the
// metadata must not name partitions that were never opened, or the broker
// would fail to start on the next Open, and a retry once the obstacle is
// gone must succeed.
func TestFailedOpenLeavesNoTopic(t *testing.T) {
	tests := []struct {
		name     string
		obstacle string // a file at the path of a partition directory
		setup    func(t *testing.T, b *Broker)
		op       func(b *Broker) error
		check    func(t *testing.T, b *Broker) // after the failed op
	}{
		{
			name:     "CreateTopic",
			obstacle: "blocked-1",
			op: func(b *Broker) error {
				_, err := b.CreateTopic(CreateTopicRequest{Name: "blocked", Partitions: 2, ReplicationFactor: 1})
				return err
			},
			check: func(t *testing.T, b *Broker) {
				if b.Topic("blocked") != nil {
					t.Fatal("a failed create is served")
				}
				if _, ok := b.Metadata().State().Topics["blocked"]; ok {
					t.Fatal("a failed create is in the metadata")
				}
			},
		},
		{
			name:     "CreatePartitions",
			obstacle: "grow-2",
			setup:    func(t *testing.T, b *Broker) { createTopic(t, b, "grow", 1, nil) },
			op:       func(b *Broker) error { return b.CreatePartitions("grow", 3, false) },
			check: func(t *testing.T, b *Broker) {
				if n := len(b.Topic("grow").Partitions); n != 1 {
					t.Fatalf("%d partitions served after a failed grow, want 1", n)
				}
				if n := b.Metadata().State().Topics["grow"].Partitions; n != 1 {
					t.Fatalf("metadata has %d partitions after a failed grow, want 1", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			b := openBroker(t, cfg)
			if tt.setup != nil {
				tt.setup(t, b)
			}
			obstacle := filepath.Join(dir, tt.obstacle)
			if err := os.WriteFile(obstacle, []byte("in the way"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.op(b); err == nil {
				t.Fatal("the operation succeeded with a file where a partition directory goes")
			}
			tt.check(t, b)
			// A restart with the obstacle still there must start.
			b.Close()
			b = openBroker(t, cfg)
			tt.check(t, b)
			if tt.name == "CreateTopic" && exists(filepath.Join(dir, "blocked-0")) {
				t.Fatal("the directory of the partition that did open outlived a restart")
			}
			if err := os.Remove(obstacle); err != nil {
				t.Fatal(err)
			}
			if err := tt.op(b); err != nil {
				t.Fatalf("retry once the obstacle is gone: %v", err)
			}
		})
	}
}

// Two brokers never share a data directory: the second Open fails with a
// clear error while the first holds it, and succeeds once it has closed.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "in use by another samsa process") {
		t.Fatalf("second Open on a locked data directory: err = %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(cfg, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b2.Close()
}

package config

import (
	"reflect"
	"testing"
)

func findEntry(t *testing.T, entries []Entry, name string) Entry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %q", name)
	return Entry{}
}

func TestDescribeTopic(t *testing.T) {
	b := Default()
	if _, err := b.Apply(map[string]string{"log.retention.ms": "1000", "log.segment.bytes": "1048576"}); err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{"max.message.bytes": "64000", "retention.ms": "5000"}
	entries := DescribeTopic(b, overrides)
	if len(entries) != len(TopicConfigDefs()) {
		t.Fatalf("%d entries, want one per topic config (%d)", len(entries), len(TopicConfigDefs()))
	}

	tests := []struct {
		name string
		want Entry
	}{
		{"override beats file beats default", Entry{
			Name: "retention.ms", Value: "5000", Source: SourceDynamicTopic, Type: TypeLong,
			Synonyms: []Synonym{
				{"retention.ms", "5000", SourceDynamicTopic},
				{"log.retention.ms", "1000", SourceStaticBroker},
				{"log.retention.hours", "168", SourceDefault},
			},
		}},
		{"override over default", Entry{
			Name: "max.message.bytes", Value: "64000", Source: SourceDynamicTopic, Type: TypeInt,
			Synonyms: []Synonym{
				{"max.message.bytes", "64000", SourceDynamicTopic},
				{"message.max.bytes", "1048588", SourceDefault},
			},
		}},
		{"from the file", Entry{
			Name: "segment.bytes", Value: "1048576", Source: SourceStaticBroker, Type: TypeInt,
			Synonyms: []Synonym{
				{"log.segment.bytes", "1048576", SourceStaticBroker},
				{"log.segment.bytes", "1073741824", SourceDefault},
			},
		}},
		{"default", Entry{
			Name: "cleanup.policy", Value: "delete", Source: SourceDefault, Type: TypeList,
			Synonyms: []Synonym{{"log.cleanup.policy", "delete", SourceDefault}},
		}},
		{"default from hours", Entry{
			Name: "segment.ms", Value: "604800000", Source: SourceDefault, Type: TypeLong,
			Synonyms: []Synonym{{"log.roll.hours", "168", SourceDefault}},
		}},
		{"samsa's durable flush default", Entry{
			Name: "flush.messages", Value: "1", Source: SourceDefault, Type: TypeLong,
			Synonyms: []Synonym{{"log.flush.interval.messages", "1", SourceDefault}},
		}},
		{"Long.MAX default", Entry{
			Name: "max.compaction.lag.ms", Value: "9223372036854775807", Source: SourceDefault, Type: TypeLong,
			Synonyms: []Synonym{{"log.cleaner.max.compaction.lag.ms", "9223372036854775807", SourceDefault}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := findEntry(t, entries, tt.want.Name)
			if got.Doc == "" {
				t.Errorf("%s: no doc", got.Name)
			}
			got.Doc = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestDescribeTopicRetentionUnits checks that the effective retention.ms
// follows the precise broker key while every synonym keeps its own unit.
func TestDescribeTopicRetentionUnits(t *testing.T) {
	b := Default()
	if _, err := b.Apply(map[string]string{"log.retention.hours": "2", "log.retention.minutes": "30"}); err != nil {
		t.Fatal(err)
	}
	got := findEntry(t, DescribeTopic(b, nil), "retention.ms")
	want := Entry{
		Name: "retention.ms", Value: "1800000", Source: SourceStaticBroker, Type: TypeLong, Doc: got.Doc,
		Synonyms: []Synonym{
			{"log.retention.minutes", "30", SourceStaticBroker},
			{"log.retention.hours", "2", SourceStaticBroker},
			{"log.retention.hours", "168", SourceDefault},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDescribeBroker(t *testing.T) {
	b := Default()
	if _, err := b.Apply(map[string]string{
		"num.partitions": "3", "log.retention.hours": "100", "listeners": "PLAINTEXT://:19092",
	}); err != nil {
		t.Fatal(err)
	}
	entries := DescribeBroker(b)
	for i, e := range entries {
		if !e.ReadOnly || e.Doc == "" || e.Type == 0 {
			t.Errorf("%s: ReadOnly=%v Doc=%q Type=%v", e.Name, e.ReadOnly, e.Doc, e.Type)
		}
		if i > 0 && entries[i-1].Name >= e.Name {
			t.Errorf("entries not sorted: %q before %q", entries[i-1].Name, e.Name)
		}
	}
	tests := []struct {
		want Entry
	}{
		{Entry{Name: "num.partitions", Value: "3", Source: SourceStaticBroker, Type: TypeInt,
			Synonyms: []Synonym{{"num.partitions", "3", SourceStaticBroker}, {"num.partitions", "1", SourceDefault}}}},
		{Entry{Name: "message.max.bytes", Value: "1048588", Source: SourceDefault, Type: TypeInt,
			Synonyms: []Synonym{{"message.max.bytes", "1048588", SourceDefault}}}},
		{Entry{Name: "log.retention.hours", Value: "100", Source: SourceStaticBroker, Type: TypeInt,
			Synonyms: []Synonym{{"log.retention.hours", "100", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}}},
		// Kafka: null, yet static, because the hours key it falls back to came from the file.
		{Entry{Name: "log.retention.ms", ValueNull: true, Source: SourceStaticBroker, Type: TypeLong,
			Synonyms: []Synonym{{"log.retention.hours", "100", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}}},
		{Entry{Name: "listeners", Value: "PLAINTEXT://0.0.0.0:19092", Source: SourceStaticBroker, Type: TypeString,
			Synonyms: []Synonym{{"listeners", "PLAINTEXT://0.0.0.0:19092", SourceStaticBroker}, {"listeners", "PLAINTEXT://127.0.0.1:9092", SourceDefault}}}},
		{Entry{Name: "advertised.listeners", ValueNull: true, Source: SourceDefault, Type: TypeString}},
		{Entry{Name: "samsa.cluster.id", ValueNull: true, Source: SourceDefault, Type: TypeString}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Name, func(t *testing.T) {
			got := findEntry(t, entries, tt.want.Name)
			got.Doc = ""
			tt.want.ReadOnly = true
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// Every field of Broker is described by at least one key.
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Name] = true
	}
	for _, k := range []string{"node.id", "log.dirs", "default.replication.factor", "auto.create.topics.enable",
		"log.retention.bytes", "log.segment.bytes", "log.roll.hours", "log.retention.check.interval.ms",
		"log.flush.interval.messages", "log.flush.interval.ms", "socket.request.max.bytes", "queued.max.request.bytes",
		"min.insync.replicas", "log.message.timestamp.type", "compression.type", "log.cleanup.policy",
		"offsets.topic.num.partitions", "offsets.retention.minutes", "group.initial.rebalance.delay.ms",
		"group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.max.size",
		"transactional.id.expiration.ms", "samsa.http.listener"} {
		if !seen[k] {
			t.Errorf("DescribeBroker lacks %q", k)
		}
	}
}

// TestDescribeBrokerProgrammatic checks that a Broker changed in code (not
// through Apply) reports its real value, in the most precise unit needed.
func TestDescribeBrokerProgrammatic(t *testing.T) {
	b := Default()
	b.LogRetention = 90 * 60 * 1e9 // 90 minutes: not whole hours
	entries := DescribeBroker(b)
	if e := findEntry(t, entries, "log.retention.ms"); e.ValueNull || e.Value != "5400000" {
		t.Errorf("log.retention.ms = %+v, want 5400000", e)
	}
	if e := findEntry(t, DescribeTopic(b, nil), "retention.ms"); e.Value != "5400000" || e.Source != SourceDefault {
		t.Errorf("retention.ms = %+v, want 5400000 DEFAULT_CONFIG", e)
	}
}

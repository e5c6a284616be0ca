package config

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTopicConfigDefs(t *testing.T) {
	required := []string{
		"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
		"flush.ms", "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.type",
		"message.timestamp.before.max.ms", "message.timestamp.after.max.ms", "min.cleanable.dirty.ratio",
		"min.compaction.lag.ms", "min.insync.replicas", "preallocate", "retention.bytes", "retention.ms",
		"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
		"message.downconversion.enable",
	}
	defs := TopicConfigDefs()
	if !slices.IsSortedFunc(defs, func(a, b TopicConfigDef) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("TopicConfigDefs not sorted by name")
	}
	for _, name := range required {
		d, ok := LookupTopicConfig(name)
		if !ok {
			t.Errorf("missing topic config %q", name)
			continue
		}
		if d.Type < TypeBoolean || d.Type > TypePassword || d.Doc == "" || d.Validate == nil || len(d.BrokerSynonyms) == 0 {
			t.Errorf("%s: incomplete definition %+v", name, d)
		}
		for _, s := range d.BrokerSynonyms {
			if _, ok := brokerKeyIndex[s]; !ok {
				t.Errorf("%s: broker synonym %q is not a broker key", name, s)
			}
		}
		if err := d.Validate(d.Default()); err != nil {
			t.Errorf("%s: default %q does not validate: %v", name, d.Default(), err)
		}
	}
	if _, ok := LookupTopicConfig("retention.hours"); ok {
		t.Error("LookupTopicConfig found a config that does not exist")
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		wantErr   string
		wantIs    error
	}{
		{"none", nil, "", nil},
		{"all valid", map[string]string{
			"cleanup.policy": "compact,delete", "compression.type": "lz4", "retention.ms": "-1", "segment.bytes": "14",
			"min.insync.replicas": "2", "message.timestamp.type": "LogAppendTime", "min.cleanable.dirty.ratio": "0.1",
			"preallocate": "true", "retention.bytes": "-1", "segment.ms": "1", "max.message.bytes": "0",
		}, "", nil},
		{"unknown", map[string]string{"retention.hours": "1"}, `config: unknown config "retention.hours"`, ErrUnknownConfig},
		{"cleanup both orders", map[string]string{"cleanup.policy": "delete,compact"}, "", nil},
		{"cleanup bad", map[string]string{"cleanup.policy": "compact,archive"},
			`cleanup.policy: "compact,archive" must be delete, compact, or both comma-separated`, ErrInvalidValue},
		{"cleanup empty", map[string]string{"cleanup.policy": ""},
			`cleanup.policy: "" must be delete, compact, or both comma-separated`, ErrInvalidValue},
		{"segment too small", map[string]string{"segment.bytes": "13"}, `segment.bytes: "13" must be at least 14`, ErrInvalidValue},
		{"timestamp type", map[string]string{"message.timestamp.type": "BrokerTime"},
			`message.timestamp.type: "BrokerTime" must be one of CreateTime, LogAppendTime`, ErrInvalidValue},
		{"min isr", map[string]string{"min.insync.replicas": "0"}, `min.insync.replicas: "0" must be at least 1`, ErrInvalidValue},
		{"compression", map[string]string{"compression.type": "none"},
			`compression.type: "none" must be one of uncompressed, zstd, lz4, snappy, gzip, producer`, ErrInvalidValue},
		{"retention below -1", map[string]string{"retention.ms": "-2"}, `retention.ms: "-2" must be at least -1`, ErrInvalidValue},
		{"not a number", map[string]string{"retention.ms": "7d"}, `retention.ms: "7d" is not an integer`, ErrInvalidValue},
		{"INT overflow", map[string]string{"max.message.bytes": "3000000000"},
			`max.message.bytes: "3000000000" is out of range for a 32-bit integer`, ErrInvalidValue},
		{"ratio", map[string]string{"min.cleanable.dirty.ratio": "2"}, `min.cleanable.dirty.ratio: "2" must be between 0 and 1`, ErrInvalidValue},
		{"bool", map[string]string{"preallocate": "1"}, `preallocate: "1" is not a boolean (true or false)`, ErrInvalidValue},
		{"segment.ms zero", map[string]string{"segment.ms": "0"}, `segment.ms: "0" must be at least 1`, ErrInvalidValue},
		{"flush.messages zero", map[string]string{"flush.messages": "0"}, `flush.messages: "0" must be at least 1`, ErrInvalidValue},
		{"segment.index.bytes", map[string]string{"segment.index.bytes": "3"}, `segment.index.bytes: "3" must be at least 4`, ErrInvalidValue},
		{"compaction lags crossed", map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			`min.compaction.lag.ms: "10" must not exceed max.compaction.lag.ms (5)`, ErrInvalidValue},
		{"several, sorted", map[string]string{"segment.bytes": "1", "foo": "x"},
			"config: unknown config \"foo\"\nsegment.bytes: \"1\" must be at least 14", ErrUnknownConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopicConfigs(tt.overrides)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateTopicConfigs = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("ValidateTopicConfigs = %v\nwant %q", err, tt.wantErr)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error is not %v", tt.wantIs)
			}
		})
	}
}

func TestResolveTopic(t *testing.T) {
	def := ResolveTopic(Default(), nil)
	want := Topic{
		CleanupPolicy: "delete", CompressionType: "producer", DeleteRetention: 24 * time.Hour,
		FileDeleteDelay: time.Minute, FlushMessages: 1, FlushInterval: time.Second, IndexIntervalBytes: 4096,
		MaxCompactionLag: math.MaxInt64, MaxMessageBytes: 1048588, TimestampBeforeMax: math.MaxInt64,
		TimestampAfterMax: math.MaxInt64, MinCleanableDirtyRatio: 0.5, MinInsyncReplicas: 1, Preallocate: true,
		RetentionBytes: -1, Retention: 168 * time.Hour, SegmentBytes: 1 << 30, SegmentIndexBytes: 10 << 20,
		SegmentAge: 168 * time.Hour, MessageDownconversion: true,
	}
	if def != want {
		t.Errorf("ResolveTopic(Default(), nil) =\n%+v\nwant\n%+v", def, want)
	}

	b := Default()
	if _, err := b.Apply(map[string]string{
		"log.retention.minutes": "30", "log.cleanup.policy": "compact", "message.max.bytes": "500",
		"log.roll.hours": "2", "log.message.timestamp.type": "LogAppendTime",
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides map[string]string
		check     func(Topic) bool
	}{
		{"broker retention minutes", nil, func(tp Topic) bool { return tp.Retention == 30*time.Minute }},
		{"broker cleanup", nil, func(tp Topic) bool { return tp.Compact() && !tp.Delete() }},
		{"broker max message", nil, func(tp Topic) bool { return tp.MaxMessageBytes == 500 }},
		{"broker roll hours", nil, func(tp Topic) bool { return tp.SegmentAge == 2*time.Hour }},
		{"broker LogAppendTime", nil, func(tp Topic) bool { return tp.LogAppendTime }},
		{"override retention", map[string]string{"retention.ms": "1000"}, func(tp Topic) bool { return tp.Retention == time.Second }},
		{"override retention forever", map[string]string{"retention.ms": "-1"}, func(tp Topic) bool { return tp.Retention < 0 }},
		{"override both policies", map[string]string{"cleanup.policy": "delete , compact"},
			func(tp Topic) bool { return tp.CleanupPolicy == "compact,delete" && tp.Compact() && tp.Delete() }},
		{"override CreateTime", map[string]string{"message.timestamp.type": "CreateTime"}, func(tp Topic) bool { return !tp.LogAppendTime }},
		{"override max message", map[string]string{"max.message.bytes": "64000"}, func(tp Topic) bool { return tp.MaxMessageBytes == 64000 }},
		{"override segment bytes", map[string]string{"segment.bytes": "1048576"}, func(tp Topic) bool { return tp.SegmentBytes == 1<<20 }},
		{"override min isr", map[string]string{"min.insync.replicas": "2"}, func(tp Topic) bool { return tp.MinInsyncReplicas == 2 }},
		{"override flush", map[string]string{"flush.messages": "1000", "flush.ms": "50"},
			func(tp Topic) bool { return tp.FlushMessages == 1000 && tp.FlushInterval == 50*time.Millisecond }},
		{"Long.MAX saturates", map[string]string{"max.compaction.lag.ms": "9223372036854775807"},
			func(tp Topic) bool { return tp.MaxCompactionLag == math.MaxInt64 }},
		{"invalid override falls back to broker", map[string]string{"retention.ms": "soon", "segment.bytes": "1"},
			func(tp Topic) bool { return tp.Retention == 30*time.Minute && tp.SegmentBytes == 1<<30 }},
		{"unknown override ignored", map[string]string{"nope": "1"}, func(tp Topic) bool { return tp.Retention == 30*time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolveTopic(b, tt.overrides); !tt.check(got) {
				t.Errorf("ResolveTopic(%v) = %+v", tt.overrides, got)
			}
		})
	}
}

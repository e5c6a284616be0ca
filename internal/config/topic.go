package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// TopicConfigDef is one Kafka topic config: its name and type as
// DescribeConfigs reports them, the broker settings that supply its default
// (Kafka's synonyms, most precise first), a short description, and its
// validator.
type TopicConfigDef struct {
	Name           string
	Type           ConfigType
	BrokerSynonyms []string
	Doc            string
	// Validate checks a value for this config as CreateTopics or
	// AlterConfigs would receive it. Errors are *ValueError.
	Validate func(v string) error

	// fromBroker is the broker's default for this config, formatted as a
	// topic value (retention.ms from log.retention.hours, etc.).
	fromBroker func(b *Broker) string
	// apply parses a value onto a Topic; it returns the Validate error for
	// an invalid value and leaves t unchanged.
	apply func(t *Topic, v string) error
}

// Default returns the value this config takes for a topic without an
// override on a broker with samsa's defaults.
func (d TopicConfigDef) Default() string {
	b := Default()
	return d.fromBroker(&b)
}

// Topic is a topic's effective settings: its overrides on top of the
// broker's defaults, in samsa's units.
type Topic struct {
	CleanupPolicy          string        // cleanup.policy, canonical: "delete", "compact" or "compact,delete"
	CompressionType        string        // compression.type: "producer" keeps batches as sent
	DeleteRetention        time.Duration // delete.retention.ms: how long compaction keeps tombstones
	FileDeleteDelay        time.Duration // file.delete.delay.ms
	FlushMessages          int64         // flush.messages: 1 = fsync before acknowledging (samsa's default)
	FlushInterval          time.Duration // flush.ms
	IndexIntervalBytes     int           // index.interval.bytes
	MaxCompactionLag       time.Duration // max.compaction.lag.ms; the largest Duration = never
	MaxMessageBytes        int32         // max.message.bytes: largest batch accepted
	LogAppendTime          bool          // message.timestamp.type == LogAppendTime
	TimestampBeforeMax     time.Duration // message.timestamp.before.max.ms (CreateTime only)
	TimestampAfterMax      time.Duration // message.timestamp.after.max.ms (CreateTime only)
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio, in [0, 1]
	MinCompactionLag       time.Duration // min.compaction.lag.ms
	MinInsyncReplicas      int           // min.insync.replicas
	Preallocate            bool          // preallocate
	RetentionBytes         int64         // retention.bytes; negative = no size limit
	Retention              time.Duration // retention.ms; negative = forever
	SegmentBytes           int64         // segment.bytes
	SegmentIndexBytes      int32         // segment.index.bytes
	SegmentJitter          time.Duration // segment.jitter.ms
	SegmentAge             time.Duration // segment.ms
	UncleanLeaderElection  bool          // unclean.leader.election.enable
	MessageDownconversion  bool          // message.downconversion.enable
}

// Compact reports whether the topic is compacted.
func (t Topic) Compact() bool {
	return t.CleanupPolicy == "compact" || t.CleanupPolicy == "compact,delete"
}

// Delete reports whether retention deletes old segments of the topic.
func (t Topic) Delete() bool {
	return t.CleanupPolicy == "delete" || t.CleanupPolicy == "compact,delete"
}

func bitsOf(typ ConfigType) int {
	switch typ {
	case TypeShort:
		return 16
	case TypeLong:
		return 64
	}
	return 32
}

// integerDef is a topic config holding an INT or LONG in [min, max].
func integerDef(name string, typ ConfigType, min, max int64, synonyms []string, doc string,
	fromBroker func(*Broker) string, set func(*Topic, int64)) TopicConfigDef {
	bits := bitsOf(typ)
	return TopicConfigDef{
		Name: name, Type: typ, BrokerSynonyms: synonyms, Doc: doc, fromBroker: fromBroker,
		Validate: func(v string) error { _, err := parseInteger(name, v, bits, min, max); return err },
		apply: func(t *Topic, v string) error {
			n, err := parseInteger(name, v, bits, min, max)
			if err == nil {
				set(t, n)
			}
			return err
		},
	}
}

// msDef is a LONG millisecond topic config held as a Duration.
func msDef(name string, min int64, synonyms []string, doc string, broker func(*Broker) time.Duration, field func(*Topic) *time.Duration) TopicConfigDef {
	return integerDef(name, TypeLong, min, math.MaxInt64, synonyms, doc,
		func(b *Broker) string { return formatMS(broker(b)) },
		func(t *Topic, n int64) { *field(t) = scale(n, time.Millisecond) })
}

func boolDef(name string, synonyms []string, doc string, broker func(*Broker) bool, field func(*Topic) *bool) TopicConfigDef {
	return TopicConfigDef{
		Name: name, Type: TypeBoolean, BrokerSynonyms: synonyms, Doc: doc,
		fromBroker: func(b *Broker) string { return formatBool(broker(b)) },
		Validate:   func(v string) error { _, err := parseBool(name, v); return err },
		apply: func(t *Topic, v string) error {
			x, err := parseBool(name, v)
			if err == nil {
				*field(t) = x
			}
			return err
		},
	}
}

func stringDef(name string, typ ConfigType, parse func(name, v string) (string, error), synonyms []string, doc string,
	broker func(*Broker) string, set func(*Topic, string)) TopicConfigDef {
	return TopicConfigDef{
		Name: name, Type: typ, BrokerSynonyms: synonyms, Doc: doc, fromBroker: broker,
		Validate: func(v string) error { _, err := parse(name, v); return err },
		apply: func(t *Topic, v string) error {
			x, err := parse(name, v)
			if err == nil {
				set(t, x)
			}
			return err
		},
	}
}

// topicDefs is every topic config samsa knows, sorted by name.
var topicDefs = func() []TopicConfigDef {
	defs := []TopicConfigDef{
		stringDef("cleanup.policy", TypeList, parseCleanupPolicy, []string{"log.cleanup.policy"},
			"What to do with old segments: delete them (retention), compact them (keep the last record per key), or both, comma-separated.",
			func(b *Broker) string { return b.LogCleanupPolicy }, func(t *Topic, v string) { t.CleanupPolicy = v }),
		stringDef("compression.type", TypeString, enumParser(compressionTypes), []string{"compression.type"},
			"The compression batches are stored in: uncompressed, zstd, lz4, snappy, gzip, or producer to keep what the producer sent.",
			func(b *Broker) string { return b.CompressionType }, func(t *Topic, v string) { t.CompressionType = v }),
		msDef("delete.retention.ms", 0, []string{"log.cleaner.delete.retention.ms"},
			"How long a compacted topic keeps a tombstone, so that a consumer that reads from the start sees the delete.",
			func(b *Broker) time.Duration { return b.LogCleanerDeleteRetention }, func(t *Topic) *time.Duration { return &t.DeleteRetention }),
		msDef("file.delete.delay.ms", 0, []string{"log.segment.delete.delay.ms"},
			"How long a deleted segment's files stay on disk before they are removed.",
			func(b *Broker) time.Duration { return b.LogSegmentDeleteDelay }, func(t *Topic) *time.Duration { return &t.FileDeleteDelay }),
		integerDef("flush.messages", TypeLong, 1, math.MaxInt64, []string{"log.flush.interval.messages"},
			"Fsync the log after this many messages. 1 (samsa's default) fsyncs before a produce is acknowledged.",
			func(b *Broker) string { return formatInt(b.LogFlushIntervalMessages) }, func(t *Topic, n int64) { t.FlushMessages = n }),
		msDef("flush.ms", 0, []string{"log.flush.interval.ms"},
			"The longest a message may stay unsynced when flush.messages is above 1.",
			func(b *Broker) time.Duration { return b.LogFlushInterval }, func(t *Topic) *time.Duration { return &t.FlushInterval }),
		integerDef("index.interval.bytes", TypeInt, 0, math.MaxInt32, []string{"log.index.interval.bytes"},
			"How many bytes of records between two entries of the offset index: smaller means a larger index and faster lookups.",
			func(b *Broker) string { return formatInt(int64(b.LogIndexIntervalBytes)) }, func(t *Topic, n int64) { t.IndexIntervalBytes = int(n) }),
		msDef("max.compaction.lag.ms", 1, []string{"log.cleaner.max.compaction.lag.ms"},
			"The longest a record may stay uncompacted, whatever the dirty ratio.",
			func(b *Broker) time.Duration { return b.LogCleanerMaxCompactionLag }, func(t *Topic) *time.Duration { return &t.MaxCompactionLag }),
		integerDef("max.message.bytes", TypeInt, 0, math.MaxInt32, []string{"message.max.bytes"},
			"The largest record batch the topic accepts, after compression.",
			func(b *Broker) string { return formatInt(int64(b.MessageMaxBytes)) }, func(t *Topic, n int64) { t.MaxMessageBytes = int32(n) }),
		stringDef("message.timestamp.type", TypeString, enumParser(timestampTypes), []string{"log.message.timestamp.type"},
			"Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
			func(b *Broker) string { return b.LogMessageTimestampType }, func(t *Topic, v string) { t.LogAppendTime = v == "LogAppendTime" }),
		msDef("message.timestamp.before.max.ms", 0, []string{"log.message.timestamp.before.max.ms"},
			"How far before the broker's clock a CreateTime timestamp may be; older batches are rejected.",
			func(b *Broker) time.Duration { return b.LogMessageTimestampBeforeMax }, func(t *Topic) *time.Duration { return &t.TimestampBeforeMax }),
		msDef("message.timestamp.after.max.ms", 0, []string{"log.message.timestamp.after.max.ms"},
			"How far after the broker's clock a CreateTime timestamp may be; batches further in the future are rejected.",
			func(b *Broker) time.Duration { return b.LogMessageTimestampAfterMax }, func(t *Topic) *time.Duration { return &t.TimestampAfterMax }),
		{
			Name: "min.cleanable.dirty.ratio", Type: TypeDouble, BrokerSynonyms: []string{"log.cleaner.min.cleanable.ratio"},
			Doc:        "The share of the log that must be uncompacted before the compactor works on it.",
			fromBroker: func(b *Broker) string { return formatRatio(b.LogCleanerMinCleanableRatio) },
			Validate:   func(v string) error { _, err := parseRatio("min.cleanable.dirty.ratio", v); return err },
			apply: func(t *Topic, v string) error {
				f, err := parseRatio("min.cleanable.dirty.ratio", v)
				if err == nil {
					t.MinCleanableDirtyRatio = f
				}
				return err
			},
		},
		msDef("min.compaction.lag.ms", 0, []string{"log.cleaner.min.compaction.lag.ms"},
			"The youngest a record may be and still be compacted away.",
			func(b *Broker) time.Duration { return b.LogCleanerMinCompactionLag }, func(t *Topic) *time.Duration { return &t.MinCompactionLag }),
		integerDef("min.insync.replicas", TypeInt, 1, math.MaxInt32, []string{"min.insync.replicas"},
			"The fewest in-sync replicas that must hold a write for an acks=all produce to succeed.",
			func(b *Broker) string { return formatInt(int64(b.MinInsyncReplicas)) }, func(t *Topic, n int64) { t.MinInsyncReplicas = int(n) }),
		boolDef("preallocate", []string{"log.preallocate"},
			"Grow the active segment's file ahead of the appends (fallocate, an eighth of its size between 64 KiB and 4 MiB; trimmed at roll and shutdown), so that an fsync need not also commit a new file size: about 40 us (17 %) off each acknowledged produce on ext4. samsa's default is true (Kafka's, false).",
			func(b *Broker) bool { return b.LogPreallocate }, func(t *Topic) *bool { return &t.Preallocate }),
		integerDef("retention.bytes", TypeLong, math.MinInt64, math.MaxInt64, []string{"log.retention.bytes"},
			"The largest a partition may grow before its oldest segments are deleted; -1 means no size limit.",
			func(b *Broker) string { return formatInt(b.LogRetentionBytes) }, func(t *Topic, n int64) { t.RetentionBytes = n }),
		integerDef("retention.ms", TypeLong, -1, math.MaxInt64, []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
			"How long to keep records before their segment may be deleted; -1 keeps them forever.",
			func(b *Broker) string { return formatMS(b.LogRetention) }, func(t *Topic, n int64) { t.Retention = retentionFrom(n, time.Millisecond) }),
		integerDef("segment.bytes", TypeInt, 14, math.MaxInt32, []string{"log.segment.bytes"},
			"The size at which a segment is closed and a new one started; retention and compaction work a segment at a time.",
			func(b *Broker) string { return formatInt(b.LogSegmentBytes) }, func(t *Topic, n int64) { t.SegmentBytes = n }),
		integerDef("segment.index.bytes", TypeInt, 4, math.MaxInt32, []string{"log.index.size.max.bytes"},
			"The largest an offset or time index may grow; a full index rolls the segment.",
			func(b *Broker) string { return formatInt(int64(b.LogIndexSizeMaxBytes)) }, func(t *Topic, n int64) { t.SegmentIndexBytes = int32(n) }),
		msDef("segment.jitter.ms", 0, []string{"log.roll.jitter.ms", "log.roll.jitter.hours"},
			"The most random time subtracted from segment.ms, so that segments do not all roll at once.",
			func(b *Broker) time.Duration { return b.LogRollJitter }, func(t *Topic) *time.Duration { return &t.SegmentJitter }),
		msDef("segment.ms", 1, []string{"log.roll.ms", "log.roll.hours"},
			"The age at which a segment is closed even if not full, so that retention and compaction can act on it.",
			func(b *Broker) time.Duration { return b.LogRoll }, func(t *Topic) *time.Duration { return &t.SegmentAge }),
		boolDef("unclean.leader.election.enable", []string{"unclean.leader.election.enable"},
			"Whether a replica outside the ISR may become leader as a last resort, losing the records it lacks.",
			func(b *Broker) bool { return b.UncleanLeaderElection }, func(t *Topic) *bool { return &t.UncleanLeaderElection }),
		boolDef("message.downconversion.enable", []string{"log.message.downconversion.enable"},
			"Whether fetches at old versions get batches converted to the old message format.",
			func(b *Broker) bool { return b.LogMessageDownconversion }, func(t *Topic) *bool { return &t.MessageDownconversion }),
	}
	slices.SortFunc(defs, func(a, b TopicConfigDef) int { return cmp.Compare(a.Name, b.Name) })
	return defs
}()

var topicDefIndex = func() map[string]int {
	m := make(map[string]int, len(topicDefs))
	for i, d := range topicDefs {
		m[d.Name] = i
	}
	return m
}()

// TopicConfigDefs returns every topic config samsa knows, sorted by name.
// The slice is a copy; callers may keep or change it.
func TopicConfigDefs() []TopicConfigDef { return slices.Clone(topicDefs) }

// LookupTopicConfig returns the definition of a topic config by its Kafka
// name.
func LookupTopicConfig(name string) (TopicConfigDef, bool) {
	i, ok := topicDefIndex[name]
	if !ok {
		return TopicConfigDef{}, false
	}
	return topicDefs[i], true
}

// ValidateTopicConfig checks one topic config value: ErrUnknownConfig for a
// name samsa does not know, a *ValueError (ErrInvalidValue) for a bad value.
func ValidateTopicConfig(name, value string) error {
	d, ok := LookupTopicConfig(name)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownConfig, name)
	}
	return d.Validate(value)
}

// ValidateTopicConfigs checks a set of topic overrides, as CreateTopics and
// AlterConfigs carry them: every name must be known (ErrUnknownConfig) and
// every value valid (ErrInvalidValue), and the overrides must agree with
// each other where Kafka requires it (min.compaction.lag.ms <=
// max.compaction.lag.ms). All problems are reported, sorted by name.
func ValidateTopicConfigs(overrides map[string]string) error {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		if err := ValidateTopicConfig(n, overrides[n]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	minLag, okMin := overrides["min.compaction.lag.ms"]
	maxLag, okMax := overrides["max.compaction.lag.ms"]
	if okMin && okMax {
		lo, _ := parseInteger("min.compaction.lag.ms", minLag, 64, 0, math.MaxInt64)
		hi, _ := parseInteger("max.compaction.lag.ms", maxLag, 64, 1, math.MaxInt64)
		if lo > hi {
			return invalid("min.compaction.lag.ms", minLag, "must not exceed max.compaction.lag.ms (%d)", hi)
		}
	}
	return nil
}

// ResolveTopic returns a topic's effective settings: each override on top
// of b's default for it. overrides should have passed
// ValidateTopicConfigs; an invalid or unknown one is ignored (the broker's
// value is used) rather than trusted, so a bad value stored by an older
// version cannot break the topic.
func ResolveTopic(b Broker, overrides map[string]string) Topic {
	var t Topic
	for _, d := range topicDefs {
		if v, ok := overrides[d.Name]; ok && d.apply(&t, v) == nil {
			continue
		}
		_ = d.apply(&t, d.fromBroker(&b)) // a broker that fails Validate leaves the zero value
	}
	return t
}

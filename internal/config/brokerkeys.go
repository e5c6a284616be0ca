package config

import (
	"math"
	"strings"
	"time"
)

// brokerKey is one Kafka broker setting that samsa reads: how to parse it
// onto a Broker and how to report it back in DescribeConfigs.
type brokerKey struct {
	name string
	typ  ConfigType
	doc  string
	// set parses v (untrimmed, as in the file) onto b; errors are *ValueError.
	set func(b *Broker, v string) error
	// get reports the value as Kafka would; ok false means null (a Kafka
	// setting with no default that the file did not set).
	get func(b *Broker) (v string, ok bool)
	// synonyms lists this key then the lower-precedence keys for the same
	// setting, in Kafka's order (log.retention.ms: .ms, .minutes, .hours).
	synonyms []string
}

// unitGroup is one duration setting spelled with several keys of different
// units, the most precise winning (log.retention.ms > .minutes > .hours).
type unitGroup struct {
	keys       []string        // highest precedence first
	units      []time.Duration // unit of each key
	defaultKey string          // the key Kafka gives a default; the others default to null
	field      func(*Broker) *time.Duration
}

// primary is the key that carries the Broker's current value in
// DescribeConfigs: the most precise key the file set, or else the key Kafka
// defaults; a value that its unit cannot express exactly moves to the
// millisecond key. The other keys report what the file said (or their
// Kafka default), which is what Kafka itself shows.
func (g *unitGroup) primary(b *Broker) string {
	d := *g.field(b)
	fits := func(i int) bool { return d < 0 || d == math.MaxInt64 && i == 0 || d%g.units[i] == 0 }
	for i, k := range g.keys {
		if _, ok := b.static[k]; ok && fits(i) {
			return k
		}
	}
	for i, k := range g.keys {
		if k == g.defaultKey && fits(i) {
			return k
		}
	}
	return g.keys[0]
}

func formatUnit(d, unit time.Duration) string {
	switch {
	case d < 0:
		return "-1"
	case unit == time.Millisecond:
		return formatInt(millis(d))
	}
	return formatInt(int64(d / unit))
}

// unitKeys returns the table rows of g, lowest precedence first, so that
// Apply, walking the table in order, lets the most precise key win.
// forever says whether a negative value means "forever" (retention) rather
// than being out of range.
func unitKeys(g *unitGroup, forever bool, min int64, docs map[string]string) []brokerKey {
	rows := make([]brokerKey, 0, len(g.keys))
	for i := len(g.keys) - 1; i >= 0; i-- {
		name, unit, i := g.keys[i], g.units[i], i
		typ, bits := TypeInt, 32
		if unit == time.Millisecond {
			typ, bits = TypeLong, 64
		}
		rows = append(rows, brokerKey{
			name: name, typ: typ, doc: docs[name], synonyms: g.keys[i:],
			set: func(b *Broker, v string) error {
				lo := min
				if forever {
					lo = math.MinInt64
				}
				n, err := parseInteger(name, v, bits, lo, math.MaxInt64)
				if err != nil {
					return err
				}
				if forever {
					*g.field(b) = retentionFrom(n, unit)
				} else {
					*g.field(b) = scale(n, unit)
				}
				return nil
			},
			get: func(b *Broker) (string, bool) {
				if g.primary(b) == name {
					return formatUnit(*g.field(b), unit), true
				}
				if raw, ok := b.static[name]; ok {
					return raw, true
				}
				if name == g.defaultKey {
					def := Default()
					return formatUnit(*g.field(&def), unit), true
				}
				return "", false
			},
		})
	}
	return rows
}

func intKey[T ~int16 | ~int32 | ~int | ~int64](name string, typ ConfigType, min, max int64, field func(*Broker) *T, doc string) brokerKey {
	bits := 32
	switch typ {
	case TypeShort:
		bits = 16
	case TypeLong:
		bits = 64
	}
	return brokerKey{
		name: name, typ: typ, doc: doc,
		set: func(b *Broker, v string) error {
			n, err := parseInteger(name, v, bits, min, max)
			if err == nil {
				*field(b) = T(n)
			}
			return err
		},
		get: func(b *Broker) (string, bool) { return formatInt(int64(*field(b))), true },
	}
}

// msKey is a Kafka millisecond setting held as a Duration.
func msKey(name string, typ ConfigType, min int64, field func(*Broker) *time.Duration, doc string) brokerKey {
	return durationKey(name, typ, min, time.Millisecond, field, doc)
}

// durationKey is a Kafka setting in unit (ms, seconds) held as a Duration.
func durationKey(name string, typ ConfigType, min int64, unit time.Duration, field func(*Broker) *time.Duration, doc string) brokerKey {
	bits := 64
	if typ == TypeInt {
		bits = 32
	}
	return brokerKey{
		name: name, typ: typ, doc: doc,
		set: func(b *Broker, v string) error {
			n, err := parseInteger(name, v, bits, min, math.MaxInt64)
			if err == nil {
				*field(b) = scale(n, unit)
			}
			return err
		},
		get: func(b *Broker) (string, bool) { return formatUnit(*field(b), unit), true },
	}
}

func boolKey(name string, field func(*Broker) *bool, doc string) brokerKey {
	return brokerKey{
		name: name, typ: TypeBoolean, doc: doc,
		set: func(b *Broker, v string) error {
			x, err := parseBool(name, v)
			if err == nil {
				*field(b) = x
			}
			return err
		},
		get: func(b *Broker) (string, bool) { return formatBool(*field(b)), true },
	}
}

// stringKey is a string setting; parse validates and canonicalises it.
// Reported as null when empty, as Kafka reports unset strings.
func stringKey(name string, typ ConfigType, parse func(name, v string) (string, error), field func(*Broker) *string, doc string) brokerKey {
	return brokerKey{
		name: name, typ: typ, doc: doc,
		set: func(b *Broker, v string) error {
			x, err := parse(name, v)
			if err == nil {
				*field(b) = x
			}
			return err
		},
		get: func(b *Broker) (string, bool) { return *field(b), *field(b) != "" },
	}
}

func anyString(_, v string) (string, error) { return strings.TrimSpace(v), nil }

func enumParser(valid []string) func(name, v string) (string, error) {
	return func(name, v string) (string, error) { return parseEnum(name, v, valid) }
}

func parseDataDirs(name, v string) (string, error) {
	first, _, _ := strings.Cut(v, ",")
	if first = strings.TrimSpace(first); first == "" {
		return "", invalid(name, v, "must name a directory")
	}
	return first, nil
}

func parseHostPort(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	addr, err := listenerAddr(v)
	if err != nil {
		return "", invalid(name, v, "is not host:port: %v", err)
	}
	return addr, nil
}

var (
	retentionGroup = unitGroup{
		keys:       []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		units:      []time.Duration{time.Millisecond, time.Minute, time.Hour},
		defaultKey: "log.retention.hours",
		field:      func(b *Broker) *time.Duration { return &b.LogRetention },
	}
	rollGroup = unitGroup{
		keys:       []string{"log.roll.ms", "log.roll.hours"},
		units:      []time.Duration{time.Millisecond, time.Hour},
		defaultKey: "log.roll.hours",
		field:      func(b *Broker) *time.Duration { return &b.LogRoll },
	}
	rollJitterGroup = unitGroup{
		keys:       []string{"log.roll.jitter.ms", "log.roll.jitter.hours"},
		units:      []time.Duration{time.Millisecond, time.Hour},
		defaultKey: "log.roll.jitter.hours",
		field:      func(b *Broker) *time.Duration { return &b.LogRollJitter },
	}
	offsetsRetentionGroup = unitGroup{
		keys:       []string{"offsets.retention.minutes"},
		units:      []time.Duration{time.Minute},
		defaultKey: "offsets.retention.minutes",
		field:      func(b *Broker) *time.Duration { return &b.OffsetsRetention },
	}
)

// brokerKeys is every broker setting samsa reads. Order matters to Apply:
// of two keys for one setting, the later wins (broker.id before node.id,
// log.dir before log.dirs, hours before ms). listeners and
// advertised.listeners are parsed separately (applyListeners) because they
// depend on other keys; their rows here only report them.
var brokerKeys = concat(
	[]brokerKey{
		intKey("broker.id", TypeInt, 0, math.MaxInt32, func(b *Broker) *int32 { return &b.NodeID },
			"The broker's id; an older name for node.id, which wins if both are set (they must agree)."),
		intKey("node.id", TypeInt, 0, math.MaxInt32, func(b *Broker) *int32 { return &b.NodeID },
			"The id of this node in the cluster. Unique per node."),
		{name: "listeners", typ: TypeString, doc: "The address to accept Kafka clients on, as NAME://host:port. samsa serves the first PLAINTEXT listener; an empty host means all interfaces.",
			get: func(b *Broker) (string, bool) { return "PLAINTEXT://" + b.Listener, true }},
		{name: "advertised.listeners", typ: TypeString, doc: "The address given to clients in metadata, if it differs from listeners (behind NAT, in containers).",
			get: func(b *Broker) (string, bool) {
				if b.AdvertisedListener == "" {
					return "", false
				}
				return "PLAINTEXT://" + b.AdvertisedListener, true
			}},
		{name: "listener.security.protocol.map", typ: TypeString, doc: "Maps listener names to security protocols (NAME:PROTOCOL,...).",
			get: func(b *Broker) (string, bool) {
				if v, ok := b.static["listener.security.protocol.map"]; ok {
					return v, true
				}
				return "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", true
			}},
		stringKey("log.dir", TypeString, parseDataDirs, func(b *Broker) *string { return &b.DataDir },
			"The directory that holds the log data; used when log.dirs is not set."),
		stringKey("log.dirs", TypeList, parseDataDirs, func(b *Broker) *string { return &b.DataDir },
			"The directories that hold the log data. samsa uses the first."),
		intKey("num.partitions", TypeInt, 1, math.MaxInt32, func(b *Broker) *int32 { return &b.NumPartitions },
			"The number of partitions of an automatically created topic, and of a created topic that does not say."),
		intKey("default.replication.factor", TypeInt, 1, math.MaxInt16, func(b *Broker) *int16 { return &b.DefaultReplicationFactor },
			"The replication factor of an automatically created topic, and of a created topic that does not say."),
		boolKey("auto.create.topics.enable", func(b *Broker) *bool { return &b.AutoCreateTopics },
			"Create a topic when a client asks for metadata of, or produces to, a topic that does not exist."),
	},
	unitKeys(&retentionGroup, true, 0, map[string]string{
		"log.retention.hours":   "How long to keep a log segment before deleting it, in hours; the lowest-precedence of the three retention keys. -1 keeps data forever.",
		"log.retention.minutes": "How long to keep a log segment before deleting it, in minutes; overrides log.retention.hours.",
		"log.retention.ms":      "How long to keep a log segment before deleting it, in milliseconds; overrides the minutes and hours keys. -1 keeps data forever.",
	}),
	[]brokerKey{
		intKey("log.retention.bytes", TypeLong, math.MinInt64, math.MaxInt64, func(b *Broker) *int64 { return &b.LogRetentionBytes },
			"The largest a partition may grow before its oldest segments are deleted. -1 means no size limit."),
		intKey("log.segment.bytes", TypeInt, 14, math.MaxInt32, func(b *Broker) *int64 { return &b.LogSegmentBytes },
			"The size at which a log segment is closed and a new one started."),
	},
	unitKeys(&rollGroup, false, 1, map[string]string{
		"log.roll.hours": "The age at which a log segment is closed even if not full, in hours, so that retention and compaction can act on it.",
		"log.roll.ms":    "The age at which a log segment is closed even if not full, in milliseconds; overrides log.roll.hours.",
	}),
	unitKeys(&rollJitterGroup, false, 0, map[string]string{
		"log.roll.jitter.hours": "The most random time subtracted from the roll age, in hours, so that segments do not all roll at once.",
		"log.roll.jitter.ms":    "The most random time subtracted from the roll age, in milliseconds; overrides log.roll.jitter.hours.",
	}),
	[]brokerKey{
		msKey("log.retention.check.interval.ms", TypeLong, 1, func(b *Broker) *time.Duration { return &b.LogRetentionCheckInterval },
			"How often to look for segments that retention may delete."),
		intKey("log.flush.interval.messages", TypeLong, 1, math.MaxInt64, func(b *Broker) *int64 { return &b.LogFlushIntervalMessages },
			"Fsync the log after this many messages. samsa's default of 1 fsyncs (by group commit) before acknowledging a produce; Kafka's default leaves flushing to the OS."),
		msKey("log.flush.interval.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogFlushInterval },
			"The longest a message may wait in memory before an fsync, when log.flush.interval.messages is above 1."),
		msKey("producer.id.expiration.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.ProducerIDExpiration },
			"How long a partition remembers an idempotent producer that appends nothing (its sequence numbers, for duplicate detection)."),
		msKey("producer.id.expiration.check.interval.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.ProducerIDExpirationCheckInterval },
			"How often partitions look for producers idle longer than producer.id.expiration.ms."),
		intKey("message.max.bytes", TypeInt, 0, math.MaxInt32, func(b *Broker) *int32 { return &b.MessageMaxBytes },
			"The largest record batch the broker accepts, after compression."),
		intKey("socket.request.max.bytes", TypeInt, 1, math.MaxInt32, func(b *Broker) *int32 { return &b.SocketRequestMaxBytes },
			"The largest request the broker reads; a larger frame closes the connection before anything is allocated."),
		intKey("queued.max.request.bytes", TypeLong, -1, math.MaxInt64, func(b *Broker) *int64 { return &b.QueuedMaxRequestBytes },
			"The bytes of requests read but not yet answered, across all connections, before the broker stops reading. -1 means no limit."),
		intKey("min.insync.replicas", TypeInt, 1, math.MaxInt32, func(b *Broker) *int { return &b.MinInsyncReplicas },
			"The fewest in-sync replicas that must hold a write for an acks=all produce to succeed."),
		stringKey("log.message.timestamp.type", TypeString, enumParser(timestampTypes), func(b *Broker) *string { return &b.LogMessageTimestampType },
			"Whether a record's timestamp is the producer's (CreateTime) or the broker's append time (LogAppendTime)."),
		stringKey("compression.type", TypeString, enumParser(compressionTypes), func(b *Broker) *string { return &b.CompressionType },
			"The compression the broker stores batches in; producer keeps the producer's."),
		stringKey("log.cleanup.policy", TypeList, parseCleanupPolicy, func(b *Broker) *string { return &b.LogCleanupPolicy },
			"What to do with old segments: delete them, compact them (keep the last value per key), or both."),
		boolKey("log.preallocate", func(b *Broker) *bool { return &b.LogPreallocate },
			"Grow the active segment's file ahead of the appends (fallocate, an eighth of its size between 64 KiB and 4 MiB; trimmed at roll and shutdown), so that an fsync need not also commit a new file size: about 40 us (17 %) off each acknowledged produce on ext4. samsa's default is true (Kafka's, false)."),
		intKey("log.index.interval.bytes", TypeInt, 0, math.MaxInt32, func(b *Broker) *int32 { return &b.LogIndexIntervalBytes },
			"How many bytes of records between two entries of the offset index."),
		intKey("log.index.size.max.bytes", TypeInt, 4, math.MaxInt32, func(b *Broker) *int32 { return &b.LogIndexSizeMaxBytes },
			"The largest an offset or time index may grow; a full index rolls the segment."),
		msKey("log.segment.delete.delay.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogSegmentDeleteDelay },
			"How long a deleted segment's files stay on disk before they are removed."),
		msKey("log.cleaner.delete.retention.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogCleanerDeleteRetention },
			"How long compaction keeps a tombstone, so that consumers can see the delete."),
		msKey("log.cleaner.min.compaction.lag.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogCleanerMinCompactionLag },
			"The youngest a record may be and still be compacted away."),
		msKey("log.cleaner.max.compaction.lag.ms", TypeLong, 1, func(b *Broker) *time.Duration { return &b.LogCleanerMaxCompactionLag },
			"The oldest an uncompacted record may get before its segment is compacted regardless of the dirty ratio."),
		{name: "log.cleaner.min.cleanable.ratio", typ: TypeDouble,
			doc: "The share of a log that must be uncompacted before compaction runs on it.",
			set: func(b *Broker, v string) error {
				f, err := parseRatio("log.cleaner.min.cleanable.ratio", v)
				if err == nil {
					b.LogCleanerMinCleanableRatio = f
				}
				return err
			},
			get: func(b *Broker) (string, bool) { return formatRatio(b.LogCleanerMinCleanableRatio), true }},
		msKey("log.message.timestamp.before.max.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogMessageTimestampBeforeMax },
			"How far in the past a CreateTime timestamp may be before the batch is rejected."),
		msKey("log.message.timestamp.after.max.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.LogMessageTimestampAfterMax },
			"How far in the future a CreateTime timestamp may be before the batch is rejected."),
		boolKey("log.message.downconversion.enable", func(b *Broker) *bool { return &b.LogMessageDownconversion },
			"Whether old fetch versions get batches converted to the old message format."),
		boolKey("unclean.leader.election.enable", func(b *Broker) *bool { return &b.UncleanLeaderElection },
			"Whether a replica outside the ISR may become leader as a last resort, at the price of losing data."),
		intKey("offsets.topic.num.partitions", TypeInt, 1, math.MaxInt32, func(b *Broker) *int32 { return &b.OffsetsTopicNumPartitions },
			"The number of partitions of __consumer_offsets. Fixed once the topic exists."),
		intKey("offsets.topic.replication.factor", TypeShort, 1, math.MaxInt16, func(b *Broker) *int16 { return &b.OffsetsTopicReplicationFactor },
			"The replication factor of __consumer_offsets (Kafka's default, 3). A single broker keeps it on its one replica; a cluster with fewer live brokers creates it with as many replicas as it has."),
	},
	unitKeys(&offsetsRetentionGroup, false, 1, map[string]string{
		"offsets.retention.minutes": "How long the committed offsets of an empty group are kept.",
	}),
	[]brokerKey{
		msKey("group.initial.rebalance.delay.ms", TypeInt, 0, func(b *Broker) *time.Duration { return &b.GroupInitialRebalanceDelay },
			"How long a new group waits for more members before its first rebalance."),
		msKey("group.min.session.timeout.ms", TypeInt, 0, func(b *Broker) *time.Duration { return &b.GroupMinSessionTimeout },
			"The shortest session timeout a consumer may ask for."),
		msKey("group.max.session.timeout.ms", TypeInt, 0, func(b *Broker) *time.Duration { return &b.GroupMaxSessionTimeout },
			"The longest session timeout a consumer may ask for."),
		intKey("group.max.size", TypeInt, 1, math.MaxInt32, func(b *Broker) *int { return &b.GroupMaxSize },
			"The most members a consumer group may have."),
		msKey("group.consumer.session.timeout.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.ConsumerGroupSessionTimeout },
			"How long a member of a consumer-protocol (KIP-848) group may go without a heartbeat before it is fenced."),
		msKey("group.consumer.heartbeat.interval.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.ConsumerGroupHeartbeatInterval },
			"How often members of a consumer-protocol (KIP-848) group are told to heartbeat."),
		intKey("group.consumer.max.size", TypeInt, 1, math.MaxInt32, func(b *Broker) *int { return &b.ConsumerGroupMaxSize },
			"The most members a consumer-protocol (KIP-848) group may have."),
		msKey("transactional.id.expiration.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.TransactionalIDExpiration },
			"How long a transactional id is remembered after its last transaction."),
		msKey("transaction.max.timeout.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.TransactionMaxTimeout },
			"The longest transaction timeout a producer may ask for."),
		intKey("transaction.state.log.num.partitions", TypeInt, 1, math.MaxInt32, func(b *Broker) *int32 { return &b.TransactionStateLogNumPartitions },
			"The number of partitions of __transaction_state. Fixed once the topic exists."),
		intKey("transaction.state.log.replication.factor", TypeShort, 1, math.MaxInt16, func(b *Broker) *int16 { return &b.TransactionStateLogReplicationFactor },
			"The replication factor of __transaction_state (Kafka's default, 3). A single broker keeps it on its one replica; a cluster with fewer live brokers creates it with as many replicas as it has."),
		intKey("transaction.state.log.min.isr", TypeInt, 1, math.MaxInt32, func(b *Broker) *int { return &b.TransactionStateLogMinISR },
			"min.insync.replicas for __transaction_state (at most its replication factor)."),
		intKey("transaction.state.log.segment.bytes", TypeInt, 1024, math.MaxInt32, func(b *Broker) *int32 { return &b.TransactionStateLogSegmentBytes },
			"The segment size of __transaction_state."),
		msKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.TransactionAbortTimedOutInterval },
			"How often the transaction coordinator looks for transactions open longer than their timeout, and aborts them."),
		msKey("transaction.remove.expired.transaction.cleanup.interval.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.TransactionRemoveExpiredInterval },
			"How often the transaction coordinator forgets transactional ids idle for transactional.id.expiration.ms."),
		msKey("replica.lag.time.max.ms", TypeLong, 1, func(b *Broker) *time.Duration { return &b.ReplicaLagTimeMax },
			"How long a follower may go without catching up before it leaves the ISR."),
		boolKey("samsa.log.sync.shared", func(b *Broker) *bool { return &b.SharedSync },
			"samsa only: when several partitions must be made durable at the same moment, do it with one syncfs(2) of the data directory's filesystem instead of one fdatasync(2) each (eight partitions: 0.3 ms instead of 0.8; fifty: 0.9 ms instead of 4). syncfs also writes back other programs' dirty data on that filesystem: set false when the data directory shares a filesystem with heavy writers. Needs Linux 5.8 or later (older kernels always sync each partition alone)."),
		stringKey("samsa.http.listener", TypeString, parseHostPort, func(b *Broker) *string { return &b.HTTPAddr },
			"samsa only: host:port of the web console and Prometheus /metrics. Empty disables them."),
		stringKey("process.roles", TypeList, parseRoles, func(b *Broker) *string { return &b.ProcessRoles },
			"The roles of this node in a cluster: broker, controller, or both (combined mode). Unset: one self-contained broker."),
		stringKey("controller.quorum.voters", TypeList, anyString, func(b *Broker) *string { return &b.QuorumVoters },
			"The controller quorum as id@host:port,...: the Raft voters, at the addresses this node reaches them."),
		stringKey("controller.listener.names", TypeString, anyString, func(b *Broker) *string { return &b.ControllerListenerNames },
			"The names of the listeners (in listeners) that the controller serves the quorum on."),
		stringKey("inter.broker.listener.name", TypeString, anyString, func(b *Broker) *string { return &b.InterBrokerListenerName },
			"The listener other brokers replicate from; its advertised address is registered with the controller."),
		stringKey("broker.rack", TypeString, anyString, func(b *Broker) *string { return &b.BrokerRack },
			"The rack of this broker: replicas of a partition are spread over racks."),
		msKey("broker.session.timeout.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.BrokerSessionTimeout },
			"How long the active controller waits for a broker's heartbeat before fencing it and moving its partitions' leadership. samsa's default is 1500 (Kafka: 9000)."),
		msKey("broker.heartbeat.interval.ms", TypeInt, 1, func(b *Broker) *time.Duration { return &b.BrokerHeartbeatInterval },
			"How often a broker heartbeats to the active controller. samsa's default is 250 (Kafka: 2000)."),
		boolKey("auto.leader.rebalance.enable", func(b *Broker) *bool { return &b.AutoLeaderRebalance },
			"Move leadership back to each partition's preferred replica (the first in its list) when it is in sync."),
		durationKey("leader.imbalance.check.interval.seconds", TypeLong, 1, time.Second, func(b *Broker) *time.Duration { return &b.LeaderImbalanceCheck },
			"How often the active controller moves leadership back to preferred replicas (auto.leader.rebalance.enable)."),
		stringKey("samsa.cluster.id", TypeString, anyString, func(b *Broker) *string { return &b.ClusterID },
			"samsa only: the cluster id. Empty means generate one on first start and keep it in the data dir."),
	},
	securityKeys,
)

func concat(parts ...[]brokerKey) []brokerKey {
	var all []brokerKey
	for _, p := range parts {
		all = append(all, p...)
	}
	for i := range all {
		if all[i].synonyms == nil {
			all[i].synonyms = []string{all[i].name}
		}
	}
	return all
}

// brokerKeyIndex maps a key name to its row in brokerKeys.
var brokerKeyIndex = func() map[string]int {
	m := make(map[string]int, len(brokerKeys))
	for i, k := range brokerKeys {
		m[k.name] = i
	}
	return m
}()

// brokerValue reports key as DescribeConfigs would for b.
func brokerValue(b *Broker, key string) (string, bool) {
	i, ok := brokerKeyIndex[key]
	if !ok {
		return "", false
	}
	return brokerKeys[i].get(b)
}

package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Broker holds the broker settings, in samsa's units, with Kafka's names in
// the comments. The zero value is not useful: start from Default, then
// Apply a server.properties, then Validate.
//
// Durations are converted once from Kafka's ms/minutes/hours here. A
// "never" millisecond value (Kafka's Long.MAX_VALUE) is the largest
// time.Duration; retention uses a negative duration for "forever".
type Broker struct {
	NodeID                   int32         // node.id / broker.id, default 1
	Listener                 string        // host:port, from listeners=PLAINTEXT://host:port; default 127.0.0.1:9092. An empty host becomes 0.0.0.0 (all interfaces), as in Kafka.
	AdvertisedListener       string        // host:port told to clients, from advertised.listeners; "" = same as Listener
	DataDir                  string        // log.dirs (first entry) / log.dir, default ./samsa-data
	NumPartitions            int32         // num.partitions, default 1
	DefaultReplicationFactor int16         // default.replication.factor, default 1
	AutoCreateTopics         bool          // auto.create.topics.enable, default true
	LogRetention             time.Duration // log.retention.ms > .minutes > .hours, default 168h; negative = forever
	LogRetentionBytes        int64         // log.retention.bytes, default -1 (no size limit)
	LogSegmentBytes          int64         // log.segment.bytes, default 1 GiB; Kafka's type is INT, so at most MaxInt32
	LogRoll                  time.Duration // log.roll.ms > log.roll.hours, default 168h
	LogRollJitter            time.Duration // log.roll.jitter.ms > log.roll.jitter.hours, default 0

	LogRetentionCheckInterval time.Duration // log.retention.check.interval.ms, default 5 min

	// LogFlushIntervalMessages is log.flush.interval.messages. samsa's
	// default is 1: every append is fsynced (by group commit) before a
	// produce with acks>=1 is answered. Kafka's default is Long.MAX_VALUE
	// (leave it to the page cache and replication); samsa is durable by
	// default, even as a single broker. A value >1 relaxes this: the log
	// fsyncs every LogFlushInterval (or every that many messages) instead.
	LogFlushIntervalMessages int64
	LogFlushInterval         time.Duration // log.flush.interval.ms, default 1s (used when relaxed)

	// ProducerIDExpiration is producer.id.expiration.ms (default 1 day): a
	// partition forgets an idempotent producer that appended nothing for
	// this long, checked every ProducerIDExpirationCheckInterval
	// (producer.id.expiration.check.interval.ms, default 10 min).
	ProducerIDExpiration              time.Duration
	ProducerIDExpirationCheckInterval time.Duration

	MessageMaxBytes       int32 // message.max.bytes, default 1048588
	SocketRequestMaxBytes int32 // socket.request.max.bytes, default 100 MiB: larger frames are refused before allocation
	// QueuedMaxRequestBytes is queued.max.request.bytes: the broker-wide
	// budget of request bytes read but not yet answered; reading stops
	// while it is spent. Kafka's default is -1 (no limit); samsa's is
	// 256 MiB so that a burst of large produces cannot exhaust memory.
	// -1 still means no limit.
	QueuedMaxRequestBytes int64

	MinInsyncReplicas       int           // min.insync.replicas, default 1
	LogMessageTimestampType string        // log.message.timestamp.type, CreateTime (default) or LogAppendTime
	CompressionType         string        // compression.type, default "producer" (keep what the producer sent)
	LogCleanupPolicy        string        // log.cleanup.policy, canonical "delete" (default), "compact" or "compact,delete"
	LogPreallocate          bool          // log.preallocate, default true (Kafka: false)
	SharedSync              bool          // samsa.log.sync.shared, default true
	LogIndexIntervalBytes   int32         // log.index.interval.bytes, default 4096
	LogIndexSizeMaxBytes    int32         // log.index.size.max.bytes, default 10 MiB
	LogSegmentDeleteDelay   time.Duration // log.segment.delete.delay.ms, default 1 min

	LogCleanerDeleteRetention   time.Duration // log.cleaner.delete.retention.ms, default 1 day (tombstone lifetime)
	LogCleanerMinCompactionLag  time.Duration // log.cleaner.min.compaction.lag.ms, default 0
	LogCleanerMaxCompactionLag  time.Duration // log.cleaner.max.compaction.lag.ms, default never
	LogCleanerMinCleanableRatio float64       // log.cleaner.min.cleanable.ratio, default 0.5

	LogMessageTimestampBeforeMax time.Duration // log.message.timestamp.before.max.ms, default never
	LogMessageTimestampAfterMax  time.Duration // log.message.timestamp.after.max.ms, default never
	LogMessageDownconversion     bool          // log.message.downconversion.enable, default true
	UncleanLeaderElection        bool          // unclean.leader.election.enable, default false

	OffsetsTopicNumPartitions     int32         // offsets.topic.num.partitions, default 50
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor, default 3; a single broker uses 1, a cluster with fewer live brokers as many as it has
	OffsetsRetention              time.Duration // offsets.retention.minutes, default 7 days
	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms, default 3s
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms, default 6s
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms, default 30 min
	GroupMaxSize                  int           // group.max.size, default MaxInt32

	ConsumerGroupSessionTimeout    time.Duration // group.consumer.session.timeout.ms, default 45s (KIP-848 groups)
	ConsumerGroupHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms, default 5s
	ConsumerGroupMaxSize           int           // group.consumer.max.size, default MaxInt32

	TransactionalIDExpiration            time.Duration // transactional.id.expiration.ms, default 7 days
	TransactionMaxTimeout                time.Duration // transaction.max.timeout.ms, default 15 min
	TransactionStateLogNumPartitions     int32         // transaction.state.log.num.partitions, default 50
	TransactionStateLogReplicationFactor int16         // transaction.state.log.replication.factor, default 3; a single broker uses 1, a cluster with fewer live brokers as many as it has
	TransactionStateLogMinISR            int           // transaction.state.log.min.isr, default 2 (capped by the topic's replication factor)
	TransactionStateLogSegmentBytes      int32         // transaction.state.log.segment.bytes, default 100 MiB
	TransactionAbortTimedOutInterval     time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms, default 10s
	TransactionRemoveExpiredInterval     time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms, default 1h

	ReplicaLagTimeMax time.Duration // replica.lag.time.max.ms, default 30s: a follower this far behind leaves the ISR

	// Cluster (KRaft keys; see cluster.go). ProcessRoles "" is the
	// self-contained single broker.
	ProcessRoles            string        // process.roles, canonical "broker", "controller" or "broker,controller"
	QuorumVoters            string        // controller.quorum.voters, id@host:port,...
	ControllerListenerNames string        // controller.listener.names
	ControllerListener      string        // host:port of the first listener named in controller.listener.names
	ControllerListenerName  string        // that listener's name
	InterBrokerListenerName string        // inter.broker.listener.name, default PLAINTEXT
	BrokerRack              string        // broker.rack, "" = none
	BrokerSessionTimeout    time.Duration // broker.session.timeout.ms, samsa default 1.5 s (Kafka 9 s)
	BrokerHeartbeatInterval time.Duration // broker.heartbeat.interval.ms, samsa default 250 ms (Kafka 2 s)
	AutoLeaderRebalance     bool          // auto.leader.rebalance.enable, default true
	LeaderImbalanceCheck    time.Duration // leader.imbalance.check.interval.seconds, default 300 s

	// Listeners and security (security.go). Listener/AdvertisedListener
	// above are the primary listener's: inter.broker.listener.name's, or
	// the first client listener.
	ListenerName                 string            // the primary listener's name, default PLAINTEXT
	OtherListeners               []Listener        // the further client listeners, in file order
	ListenerProtocols            map[string]string // listener.security.protocol.map (upper-case names)
	SASLEnabledMechanisms        []string          // sasl.enabled.mechanisms; Kafka's default GSSAPI is not served, so none
	SASLMechanismInterBroker     string            // sasl.mechanism.inter.broker.protocol, default PLAIN (Kafka: GSSAPI)
	SASLMechanismController      string            // sasl.mechanism.controller.protocol, default PLAIN (Kafka: GSSAPI)
	AuthorizerClassName          string            // authorizer.class.name: "" (allow all) or StandardAuthorizer
	SuperUsers                   []string          // super.users, "User:admin" entries
	AllowEveryoneIfNoACLFound    bool              // allow.everyone.if.no.acl.found, default false
	ConnectionsMaxReauth         time.Duration     // connections.max.reauth.ms, default 0 (sessions never expire)
	SASLServerMaxReceiveSize     int32             // sasl.server.max.receive.size, default 524288
	FailedAuthenticationDelay    time.Duration     // connection.failed.authentication.delay.ms, default 100 ms
	MaxConnections               int               // max.connections, default MaxInt32
	MaxConnectionsPerIP          int               // max.connections.per.ip, default MaxInt32
	MaxConnectionsPerIPOverrides map[string]int    // max.connections.per.ip.overrides
	MaxConnectionCreationRate    int               // max.connection.creation.rate (per second), default MaxInt32
	QuotaWindowNum               int               // quota.window.num, default 11
	QuotaWindowSize              time.Duration     // quota.window.size.seconds, default 1 s

	HTTPAddr  string // samsa.http.listener: web console and /metrics host:port, default 127.0.0.1:9644; "" disables it
	ClusterID string // samsa.cluster.id: "" = generated on first start and kept in the data dir

	// static holds the raw value of every known key set by Apply, for
	// DescribeConfigs' STATIC_BROKER_CONFIG source. Apply replaces the map
	// rather than writing to it, so copies of a Broker never share writes.
	static map[string]string
	// noClientListener: listeners named only controller listeners (a
	// controller-only node).
	noClientListener bool
	// security holds the raw ssl.*, sasl.* and listener.name.* values
	// (secrets among them), replaced, never written to, by Apply.
	security map[string]string
}

// Default returns samsa's defaults: Kafka's, except where the field
// comments say otherwise (durable fsync, bounded request memory, internal
// topics replicated to 1 so that a single broker works).
func Default() Broker {
	return Broker{
		NodeID:                               1,
		Listener:                             "127.0.0.1:9092",
		DataDir:                              "./samsa-data",
		NumPartitions:                        1,
		DefaultReplicationFactor:             1,
		AutoCreateTopics:                     true,
		LogRetention:                         168 * time.Hour,
		LogRetentionBytes:                    -1,
		LogSegmentBytes:                      1 << 30,
		LogRoll:                              168 * time.Hour,
		LogRollJitter:                        0,
		LogRetentionCheckInterval:            5 * time.Minute,
		LogFlushIntervalMessages:             1,
		LogFlushInterval:                     time.Second,
		ProducerIDExpiration:                 24 * time.Hour,
		ProducerIDExpirationCheckInterval:    10 * time.Minute,
		MessageMaxBytes:                      1048588,
		SocketRequestMaxBytes:                100 << 20,
		QueuedMaxRequestBytes:                256 << 20,
		MinInsyncReplicas:                    1,
		LogMessageTimestampType:              "CreateTime",
		CompressionType:                      "producer",
		LogCleanupPolicy:                     "delete",
		LogPreallocate:                       true,
		SharedSync:                           true,
		LogIndexIntervalBytes:                4096,
		LogIndexSizeMaxBytes:                 10 << 20,
		LogSegmentDeleteDelay:                time.Minute,
		LogCleanerDeleteRetention:            24 * time.Hour,
		LogCleanerMinCompactionLag:           0,
		LogCleanerMaxCompactionLag:           math.MaxInt64,
		LogCleanerMinCleanableRatio:          0.5,
		LogMessageTimestampBeforeMax:         math.MaxInt64,
		LogMessageTimestampAfterMax:          math.MaxInt64,
		LogMessageDownconversion:             true,
		UncleanLeaderElection:                false,
		OffsetsTopicNumPartitions:            50,
		OffsetsTopicReplicationFactor:        3,
		OffsetsRetention:                     7 * 24 * time.Hour,
		GroupInitialRebalanceDelay:           3 * time.Second,
		GroupMinSessionTimeout:               6 * time.Second,
		GroupMaxSessionTimeout:               30 * time.Minute,
		GroupMaxSize:                         math.MaxInt32,
		ConsumerGroupSessionTimeout:          45 * time.Second,
		ConsumerGroupHeartbeatInterval:       5 * time.Second,
		ConsumerGroupMaxSize:                 math.MaxInt32,
		TransactionalIDExpiration:            7 * 24 * time.Hour,
		TransactionMaxTimeout:                15 * time.Minute,
		TransactionStateLogNumPartitions:     50,
		TransactionStateLogReplicationFactor: 3,
		TransactionStateLogMinISR:            2,
		TransactionStateLogSegmentBytes:      100 << 20,
		TransactionAbortTimedOutInterval:     10 * time.Second,
		TransactionRemoveExpiredInterval:     time.Hour,
		ReplicaLagTimeMax:                    30 * time.Second,
		HTTPAddr:                             "127.0.0.1:9644",
		InterBrokerListenerName:              "PLAINTEXT",
		ListenerName:                         "PLAINTEXT",
		SASLMechanismInterBroker:             "PLAIN",
		SASLMechanismController:              "PLAIN",
		SASLServerMaxReceiveSize:             524288,
		FailedAuthenticationDelay:            100 * time.Millisecond,
		MaxConnections:                       math.MaxInt32,
		MaxConnectionsPerIP:                  math.MaxInt32,
		MaxConnectionCreationRate:            math.MaxInt32,
		QuotaWindowNum:                       11,
		QuotaWindowSize:                      time.Second,
		BrokerSessionTimeout:                 defaultSessionTimeout,
		BrokerHeartbeatInterval:              defaultHeartbeatInterval,
		AutoLeaderRebalance:                  true,
		LeaderImbalanceCheck:                 300 * time.Second,
	}
}

// Apply sets every known key in props onto b, in an order that gives
// Kafka's precedence regardless of map order (log.retention.ms over
// .minutes over .hours; log.dirs over log.dir; node.id with broker.id).
//
// Unknown keys and Kafka keys samsa does not use yet are not errors: each
// yields one warning sentence, sorted by key, for the operator's log. An
// invalid value is an error (*ValueError, errors.Is ErrInvalidValue) naming
// the key, the value and what is expected; all invalid values are reported
// together (errors.Join). On error b is left unchanged.
func (b *Broker) Apply(props map[string]string) (warnings []string, err error) {
	nb := *b
	nb.static = make(map[string]string, len(b.static)+len(props))
	for k, v := range b.static {
		nb.static[k] = v
	}
	nb.security = make(map[string]string, len(b.security))
	for k, v := range b.security {
		nb.security[k] = v
	}
	for k, v := range props {
		if isSecurityKey(k) {
			nb.security[k] = strings.TrimSpace(v)
		}
	}
	var errs []error
	errs = append(errs, nb.checkListenerKeys()...)
	for i := range brokerKeys {
		k := &brokerKeys[i]
		v, ok := props[k.name]
		if !ok || k.set == nil {
			continue
		}
		if err := k.set(&nb, v); err != nil {
			errs = append(errs, err)
			continue
		}
		nb.static[k.name] = strings.TrimSpace(v)
	}
	if err := nb.applyListeners(props, &warnings); err != nil {
		errs = append(errs, err)
	}
	if id, bid := props["node.id"], props["broker.id"]; id != "" && bid != "" && strings.TrimSpace(id) != strings.TrimSpace(bid) {
		errs = append(errs, invalid("broker.id", bid, "must equal node.id (%s) when both are set", strings.TrimSpace(id)))
	}
	if dirs, ok := props["log.dirs"]; ok && strings.Contains(dirs, ",") {
		warnings = append(warnings, fmt.Sprintf("log.dirs lists several directories; samsa uses only the first, %q", nb.DataDir))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	keys := make([]string, 0, len(props))
	for k := range props {
		if _, known := brokerKeyIndex[k]; !known && !isListenerKey(k) && !(isSecurityKey(k) && securityKeyKnown(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if unusedKafkaKey(k) {
			warnings = append(warnings, fmt.Sprintf("setting %q is a Kafka setting samsa does not use yet; ignored", k))
		} else {
			warnings = append(warnings, fmt.Sprintf("unknown setting %q ignored", k))
		}
	}
	*b = nb
	return warnings, nil
}

// StaticKeys returns, sorted, the keys that Apply set (the ones
// DescribeConfigs reports as STATIC_BROKER_CONFIG).
func (b Broker) StaticKeys() []string {
	keys := make([]string, 0, len(b.static))
	for k := range b.static {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Static returns the raw value the file gave for key, if it gave one.
func (b Broker) Static(key string) (string, bool) {
	v, ok := b.static[key]
	return v, ok
}

func isListenerKey(k string) bool {
	return k == "listeners" || k == "advertised.listeners" || k == "listener.security.protocol.map"
}

// applyListeners reads listeners, advertised.listeners and
// listener.security.protocol.map. The primary listener (Listener,
// AdvertisedListener, ListenerName) is inter.broker.listener.name's when
// listeners has it, else the first client listener; the other client
// listeners go to OtherListeners. Controller listeners
// (controller.listener.names) are the quorum's (cluster.go).
func (b *Broker) applyListeners(props map[string]string, warnings *[]string) error {
	protocols := map[string]string{}
	controllers := map[string]bool{}
	for _, n := range strings.Split(props["controller.listener.names"], ",") {
		if n = strings.ToUpper(strings.TrimSpace(n)); n != "" {
			controllers[n] = true
		}
	}
	if m, ok := props["listener.security.protocol.map"]; ok {
		for _, pair := range strings.Split(m, ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			name, proto, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || name == "" || proto == "" {
				return invalid("listener.security.protocol.map", m, "is not a list of NAME:PROTOCOL")
			}
			proto = strings.ToUpper(strings.TrimSpace(proto))
			if !slices.Contains([]string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}, proto) {
				return invalid("listener.security.protocol.map", m, "maps %s to %q; the protocols are PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL", name, proto)
			}
			protocols[strings.ToUpper(strings.TrimSpace(name))] = proto
		}
		b.static["listener.security.protocol.map"] = strings.TrimSpace(m)
	}
	b.ListenerProtocols = protocols
	for n := range controllers {
		// KRaft: a controller listener missing from the map is PLAINTEXT.
		if _, ok := protocols[n]; !ok {
			protocols[n] = ProtocolPlaintext
		}
	}
	protocolOf := func(name string) (string, bool) {
		if p, ok := protocols[name]; ok {
			return p, true
		}
		switch name {
		case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
			return name, true
		}
		return "", false
	}
	type entry struct{ name, addr string }
	parse := func(key string) ([]entry, error) {
		v := props[key]
		var out []entry
		seen := map[string]bool{}
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			name, hostport, ok := strings.Cut(e, "://")
			if !ok || name == "" {
				return nil, invalid(key, v, "is not a list of NAME://host:port")
			}
			name = strings.ToUpper(name)
			if seen[name] {
				return nil, invalid(key, v, "names listener %s twice", name)
			}
			seen[name] = true
			addr, err := listenerAddr(hostport)
			if err != nil {
				return nil, invalid(key, v, "has %q: %v", e, err)
			}
			if _, ok := protocolOf(name); !ok && !controllers[name] {
				return nil, invalid(key, v, "has listener %s, which is no security protocol; map it in listener.security.protocol.map (e.g. %s:SASL_SSL)", name, name)
			}
			out = append(out, entry{name, addr})
		}
		return out, nil
	}
	_, hasListeners := props["listeners"]
	_, hasAdvertised := props["advertised.listeners"]
	if !hasListeners && !hasAdvertised {
		return nil
	}
	ls, err := parse("listeners")
	if err != nil {
		return err
	}
	adv, err := parse("advertised.listeners")
	if err != nil {
		return err
	}
	advOf := map[string]string{}
	for _, a := range adv {
		if controllers[a.name] {
			continue
		}
		advOf[a.name] = a.addr
	}
	if hasListeners {
		var client []Listener
		for _, l := range ls {
			if controllers[l.name] {
				if b.ControllerListener == "" {
					b.ControllerListener = l.addr
					b.ControllerListenerName = l.name
				}
				continue
			}
			p, _ := protocolOf(l.name)
			client = append(client, Listener{Name: l.name, Protocol: p, Addr: l.addr, Advertised: advOf[l.name]})
		}
		if len(client) == 0 {
			// A controller-only node (process.roles=controller) has no
			// client listener; Validate refuses that for a broker.
			b.noClientListener = true
			b.static["listeners"] = strings.TrimSpace(props["listeners"])
			return nil
		}
		// The primary is the inter-broker listener; without
		// inter.broker.listener.name, the first PLAINTEXT one (Kafka's
		// security.inter.broker.protocol default), else the first.
		primary := max(0, slices.IndexFunc(client, func(l Listener) bool { return l.Protocol == ProtocolPlaintext }))
		if ib := strings.ToUpper(strings.TrimSpace(props["inter.broker.listener.name"])); ib != "" {
			i := slices.IndexFunc(client, func(l Listener) bool { return l.Name == ib })
			if i < 0 {
				return invalid("inter.broker.listener.name", props["inter.broker.listener.name"], "names no listener in listeners (%s)", strings.TrimSpace(props["listeners"]))
			}
			primary = i
		}
		p := client[primary]
		b.Listener, b.AdvertisedListener, b.ListenerName = p.Addr, p.Advertised, p.Name
		if _, set := props["inter.broker.listener.name"]; !set {
			b.InterBrokerListenerName = p.Name
		}
		b.OtherListeners = append(append([]Listener(nil), client[:primary]...), client[primary+1:]...)
		b.static["listeners"] = strings.TrimSpace(props["listeners"])
	} else {
		// advertised.listeners alone: it names the primary listener's
		// advertised address.
		if a, ok := advOf[b.ListenerName]; ok {
			b.AdvertisedListener = a
		} else if len(adv) > 0 && !controllers[adv[0].name] {
			b.AdvertisedListener = adv[0].addr
		}
	}
	for name := range advOf {
		if name != b.ListenerName && !slices.ContainsFunc(b.OtherListeners, func(l Listener) bool { return l.Name == name }) && hasListeners {
			*warnings = append(*warnings, fmt.Sprintf("advertised.listeners: listener %s is not in listeners; ignored", name))
		}
	}
	if hasAdvertised {
		b.static["advertised.listeners"] = strings.TrimSpace(props["advertised.listeners"])
	}
	return nil
}

// checkListenerKeys validates the per-listener values that have a fixed
// form (the rest is checked when the listeners start, by internal/auth).
func (b *Broker) checkListenerKeys() []error {
	var errs []error
	for k, v := range b.security {
		if !strings.HasPrefix(k, "listener.name.") {
			continue
		}
		switch {
		case strings.HasSuffix(k, ".ssl.client.auth"):
			switch strings.ToLower(v) {
			case "none", "requested", "required":
			default:
				errs = append(errs, invalid(k, v, "must be none, requested or required"))
			}
		case strings.HasSuffix(k, ".sasl.enabled.mechanisms"):
			if _, err := parseMechanisms(v); err != nil {
				errs = append(errs, invalid(k, v, "%v", err))
			}
		}
	}
	return errs
}

// onlyControllers reports whether every entry of a listeners value is one
// of the controller listener names.
func onlyControllers(v string, controllers map[string]bool) bool {
	n := 0
	for _, e := range strings.Split(v, ",") {
		name, _, ok := strings.Cut(strings.TrimSpace(e), "://")
		if !ok {
			continue
		}
		if !controllers[strings.ToUpper(name)] {
			return false
		}
		n++
	}
	return n > 0
}

// listenerAddr turns Kafka's "host:port" (host may be empty, or a bracketed
// IPv6 address) into a Go listen address. An empty host binds all
// interfaces, as in Kafka.
func listenerAddr(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", errors.New("not host:port")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// unusedKafkaKey reports whether k is a Kafka broker setting that samsa
// knows of but does not use yet, so the warning can say so instead of
// suggesting a typo.
func unusedKafkaKey(k string) bool {
	if slices.Contains(unusedKafkaKeys, k) {
		return true
	}
	for _, p := range unusedKafkaPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

var unusedKafkaPrefixes = []string{
	"ssl.", "sasl.", "zookeeper.", "controller.", "listener.name.", "remote.log.", "share.",
	"metric.", "metrics.", "kafka.metrics.", "group.consumer.", "group.share.", "metadata.",
	"delegation.token.", "password.encoder.", "quota.", "log.cleaner.", "log.local.retention.",
	"security.", "replica.", "offsets.", "transaction.",
}

var unusedKafkaKeys = []string{
	"inter.broker.protocol.version",
	"num.network.threads", "num.io.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir",
	"background.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
	"socket.listen.backlog.size", "queued.max.requests", "request.timeout.ms",
	"principal.builder.class",
	"delete.topic.enable",
	"leader.imbalance.per.broker.percentage", "log.flush.scheduler.interval.ms",
	"log.flush.offset.checkpoint.interval.ms", "log.flush.start.offset.checkpoint.interval.ms",
	"log.message.format.version", "message.format.version", "connections.max.idle.ms",
	"reserved.broker.max.id",
	"initial.broker.registration.timeout.ms", "create.topic.policy.class.name",
	"alter.config.policy.class.name", "client.quota.callback.class", "eligible.leader.replicas.enable",
	"early.start.listeners", "group.coordinator.rebalance.protocols", "group.coordinator.threads",
	"compression.gzip.level", "compression.lz4.level", "compression.zstd.level",
	"unstable.api.versions.enable", "unstable.feature.versions.enable", "node.id.generation",
	"fetch.max.bytes", "fetch.purgatory.purge.interval.requests",
	"producer.purgatory.purge.interval.requests", "delete.records.purgatory.purge.interval.requests",
	"auto.include.jmx.reporter", "config.providers",
}

// Validate checks b as a whole: values in range and settings that must
// agree with each other. Apply checks each value as it parses it; Validate
// also covers a Broker built or changed in code (flags, embedding).
// Errors are *ValueError, joined.
func (b Broker) Validate() error {
	var errs []error
	check := func(ok bool, name, value, format string, args ...any) {
		if !ok {
			errs = append(errs, invalid(name, value, format, args...))
		}
	}
	ms := formatMS
	i := func(n int64) string { return formatInt(n) }
	check(b.NodeID >= 0, "node.id", i(int64(b.NodeID)), "must be at least 0")
	if _, err := listenerAddr(b.Listener); err != nil {
		errs = append(errs, invalid("listeners", b.Listener, "is not a valid address: %v", err))
	}
	if b.AdvertisedListener != "" {
		if _, err := listenerAddr(b.AdvertisedListener); err != nil {
			errs = append(errs, invalid("advertised.listeners", b.AdvertisedListener, "is not a valid address: %v", err))
		} else if host, port, _ := net.SplitHostPort(b.AdvertisedListener); port == "0" || net.ParseIP(host).IsUnspecified() {
			// Clients must be able to connect to what we advertise, as
			// Kafka also refuses to advertise 0.0.0.0.
			errs = append(errs, invalid("advertised.listeners", b.AdvertisedListener, "must name a host and port clients can connect to"))
		}
	}
	if b.HTTPAddr != "" {
		if _, err := listenerAddr(b.HTTPAddr); err != nil {
			errs = append(errs, invalid("samsa.http.listener", b.HTTPAddr, "is not a valid address: %v", err))
		}
		check(b.HTTPAddr != b.Listener || strings.HasSuffix(b.HTTPAddr, ":0"), "samsa.http.listener", b.HTTPAddr, "must differ from the Kafka listener")
	}
	errs = append(errs, b.validateSecurity()...)
	check(b.DataDir != "", "log.dirs", b.DataDir, "must name a directory")
	check(b.NumPartitions >= 1, "num.partitions", i(int64(b.NumPartitions)), "must be at least 1")
	check(b.DefaultReplicationFactor >= 1, "default.replication.factor", i(int64(b.DefaultReplicationFactor)), "must be at least 1")
	check(b.LogSegmentBytes >= 14 && b.LogSegmentBytes <= math.MaxInt32, "log.segment.bytes", i(b.LogSegmentBytes), "must be between 14 and %d", math.MaxInt32)
	check(b.LogRoll >= time.Millisecond, "log.roll.ms", ms(b.LogRoll), "must be at least 1")
	check(b.LogRollJitter >= 0, "log.roll.jitter.ms", ms(b.LogRollJitter), "must be at least 0")
	check(b.LogRetentionCheckInterval >= time.Millisecond, "log.retention.check.interval.ms", ms(b.LogRetentionCheckInterval), "must be at least 1")
	check(b.LogFlushIntervalMessages >= 1, "log.flush.interval.messages", i(b.LogFlushIntervalMessages), "must be at least 1")
	check(b.LogFlushIntervalMessages == 1 || b.LogFlushInterval >= time.Millisecond, "log.flush.interval.ms", ms(b.LogFlushInterval),
		"must be at least 1 when log.flush.interval.messages is above 1 (nothing else would fsync)")
	check(b.MessageMaxBytes >= 0, "message.max.bytes", i(int64(b.MessageMaxBytes)), "must be at least 0")
	check(b.SocketRequestMaxBytes >= 1, "socket.request.max.bytes", i(int64(b.SocketRequestMaxBytes)), "must be at least 1")
	// As in Kafka: a budget smaller than one request would block forever.
	check(b.QueuedMaxRequestBytes == -1 || b.QueuedMaxRequestBytes >= int64(b.SocketRequestMaxBytes), "queued.max.request.bytes",
		i(b.QueuedMaxRequestBytes), "must be -1 or at least socket.request.max.bytes (%d)", b.SocketRequestMaxBytes)
	check(b.MinInsyncReplicas >= 1, "min.insync.replicas", i(int64(b.MinInsyncReplicas)), "must be at least 1")
	if _, err := parseEnum("log.message.timestamp.type", b.LogMessageTimestampType, timestampTypes); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseEnum("compression.type", b.CompressionType, compressionTypes); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseCleanupPolicy("log.cleanup.policy", b.LogCleanupPolicy); err != nil {
		errs = append(errs, err)
	}
	check(b.LogIndexIntervalBytes >= 0, "log.index.interval.bytes", i(int64(b.LogIndexIntervalBytes)), "must be at least 0")
	check(b.LogIndexSizeMaxBytes >= 4, "log.index.size.max.bytes", i(int64(b.LogIndexSizeMaxBytes)), "must be at least 4")
	check(b.LogSegmentDeleteDelay >= 0, "log.segment.delete.delay.ms", ms(b.LogSegmentDeleteDelay), "must be at least 0")
	check(b.LogCleanerDeleteRetention >= 0, "log.cleaner.delete.retention.ms", ms(b.LogCleanerDeleteRetention), "must be at least 0")
	check(b.LogCleanerMinCompactionLag >= 0, "log.cleaner.min.compaction.lag.ms", ms(b.LogCleanerMinCompactionLag), "must be at least 0")
	check(b.LogCleanerMaxCompactionLag >= time.Millisecond, "log.cleaner.max.compaction.lag.ms", ms(b.LogCleanerMaxCompactionLag), "must be at least 1")
	check(b.LogCleanerMinCompactionLag <= b.LogCleanerMaxCompactionLag, "log.cleaner.min.compaction.lag.ms", ms(b.LogCleanerMinCompactionLag),
		"must not exceed log.cleaner.max.compaction.lag.ms (%s)", ms(b.LogCleanerMaxCompactionLag))
	check(b.LogCleanerMinCleanableRatio >= 0 && b.LogCleanerMinCleanableRatio <= 1, "log.cleaner.min.cleanable.ratio",
		formatRatio(b.LogCleanerMinCleanableRatio), "must be between 0 and 1")
	check(b.LogMessageTimestampBeforeMax >= 0, "log.message.timestamp.before.max.ms", ms(b.LogMessageTimestampBeforeMax), "must be at least 0")
	check(b.LogMessageTimestampAfterMax >= 0, "log.message.timestamp.after.max.ms", ms(b.LogMessageTimestampAfterMax), "must be at least 0")
	check(b.OffsetsTopicNumPartitions >= 1, "offsets.topic.num.partitions", i(int64(b.OffsetsTopicNumPartitions)), "must be at least 1")
	check(b.OffsetsTopicReplicationFactor >= 1, "offsets.topic.replication.factor", i(int64(b.OffsetsTopicReplicationFactor)), "must be at least 1")
	check(b.OffsetsRetention >= time.Minute, "offsets.retention.minutes", formatInt(int64(b.OffsetsRetention/time.Minute)), "must be at least 1")
	check(b.GroupInitialRebalanceDelay >= 0, "group.initial.rebalance.delay.ms", ms(b.GroupInitialRebalanceDelay), "must be at least 0")
	check(b.GroupMinSessionTimeout >= 0, "group.min.session.timeout.ms", ms(b.GroupMinSessionTimeout), "must be at least 0")
	check(b.GroupMinSessionTimeout <= b.GroupMaxSessionTimeout, "group.min.session.timeout.ms", ms(b.GroupMinSessionTimeout),
		"must not exceed group.max.session.timeout.ms (%s)", ms(b.GroupMaxSessionTimeout))
	check(b.GroupMaxSize >= 1, "group.max.size", i(int64(b.GroupMaxSize)), "must be at least 1")
	check(b.ConsumerGroupHeartbeatInterval < b.ConsumerGroupSessionTimeout, "group.consumer.heartbeat.interval.ms",
		ms(b.ConsumerGroupHeartbeatInterval), "must be less than group.consumer.session.timeout.ms")
	check(b.TransactionalIDExpiration >= time.Millisecond, "transactional.id.expiration.ms", ms(b.TransactionalIDExpiration), "must be at least 1")
	check(b.TransactionMaxTimeout >= time.Millisecond, "transaction.max.timeout.ms", ms(b.TransactionMaxTimeout), "must be at least 1")
	check(b.TransactionStateLogNumPartitions >= 1, "transaction.state.log.num.partitions", i(int64(b.TransactionStateLogNumPartitions)), "must be at least 1")
	check(b.TransactionStateLogReplicationFactor >= 1, "transaction.state.log.replication.factor", i(int64(b.TransactionStateLogReplicationFactor)), "must be at least 1")
	check(b.TransactionStateLogMinISR >= 1, "transaction.state.log.min.isr", i(int64(b.TransactionStateLogMinISR)), "must be at least 1")
	check(b.TransactionStateLogSegmentBytes >= 1024, "transaction.state.log.segment.bytes", i(int64(b.TransactionStateLogSegmentBytes)), "must be at least 1024")
	check(b.TransactionAbortTimedOutInterval >= time.Millisecond, "transaction.abort.timed.out.transaction.cleanup.interval.ms", ms(b.TransactionAbortTimedOutInterval), "must be at least 1")
	check(b.TransactionRemoveExpiredInterval >= time.Millisecond, "transaction.remove.expired.transaction.cleanup.interval.ms", ms(b.TransactionRemoveExpiredInterval), "must be at least 1")
	check(b.ReplicaLagTimeMax >= time.Millisecond, "replica.lag.time.max.ms", ms(b.ReplicaLagTimeMax), "must be at least 1")
	errs = append(errs, b.validateCluster()...)
	return errors.Join(errs...)
}

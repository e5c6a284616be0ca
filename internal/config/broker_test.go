package config

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// TestApplyEveryKey sets every key samsa reads to a non-default value and
// checks the field it lands in.
func TestApplyEveryKey(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(b Broker) bool
	}{
		{"node.id", "7", func(b Broker) bool { return b.NodeID == 7 }},
		{"broker.id", "8", func(b Broker) bool { return b.NodeID == 8 }},
		{"listeners", "PLAINTEXT://10.0.0.1:19092", func(b Broker) bool { return b.Listener == "10.0.0.1:19092" }},
		{"listeners", "PLAINTEXT://:9092", func(b Broker) bool { return b.Listener == "0.0.0.0:9092" }},
		{"listeners", "PLAINTEXT://[::1]:9092", func(b Broker) bool { return b.Listener == "[::1]:9092" }},
		{"advertised.listeners", "PLAINTEXT://kafka.example:9092", func(b Broker) bool { return b.AdvertisedListener == "kafka.example:9092" }},
		{"log.dirs", "/data/a,/data/b", func(b Broker) bool { return b.DataDir == "/data/a" }},
		{"log.dir", "/data/c", func(b Broker) bool { return b.DataDir == "/data/c" }},
		{"num.partitions", "12", func(b Broker) bool { return b.NumPartitions == 12 }},
		{"default.replication.factor", "3", func(b Broker) bool { return b.DefaultReplicationFactor == 3 }},
		{"auto.create.topics.enable", "FALSE", func(b Broker) bool { return !b.AutoCreateTopics }},
		{"log.retention.hours", "24", func(b Broker) bool { return b.LogRetention == 24*time.Hour }},
		{"log.retention.minutes", "90", func(b Broker) bool { return b.LogRetention == 90*time.Minute }},
		{"log.retention.ms", "1500", func(b Broker) bool { return b.LogRetention == 1500*time.Millisecond }},
		{"log.retention.ms", "-1", func(b Broker) bool { return b.LogRetention < 0 }},
		{"log.retention.hours", "-1", func(b Broker) bool { return b.LogRetention == -time.Millisecond }},
		{"log.retention.bytes", "1000000", func(b Broker) bool { return b.LogRetentionBytes == 1000000 }},
		{"log.segment.bytes", "1048576", func(b Broker) bool { return b.LogSegmentBytes == 1<<20 }},
		{"log.roll.hours", "2", func(b Broker) bool { return b.LogRoll == 2*time.Hour }},
		{"log.roll.ms", "60000", func(b Broker) bool { return b.LogRoll == time.Minute }},
		{"log.roll.jitter.hours", "1", func(b Broker) bool { return b.LogRollJitter == time.Hour }},
		{"log.roll.jitter.ms", "10", func(b Broker) bool { return b.LogRollJitter == 10*time.Millisecond }},
		{"log.retention.check.interval.ms", "1000", func(b Broker) bool { return b.LogRetentionCheckInterval == time.Second }},
		{"log.flush.interval.messages", "10000", func(b Broker) bool { return b.LogFlushIntervalMessages == 10000 }},
		{"log.flush.interval.ms", "50", func(b Broker) bool { return b.LogFlushInterval == 50*time.Millisecond }},
		{"producer.id.expiration.ms", "3600000", func(b Broker) bool { return b.ProducerIDExpiration == time.Hour }},
		{"producer.id.expiration.check.interval.ms", "1000", func(b Broker) bool { return b.ProducerIDExpirationCheckInterval == time.Second }},
		{"message.max.bytes", "2000000", func(b Broker) bool { return b.MessageMaxBytes == 2000000 }},
		{"socket.request.max.bytes", "1000", func(b Broker) bool { return b.SocketRequestMaxBytes == 1000 }},
		{"queued.max.request.bytes", "-1", func(b Broker) bool { return b.QueuedMaxRequestBytes == -1 }},
		{"min.insync.replicas", "2", func(b Broker) bool { return b.MinInsyncReplicas == 2 }},
		{"log.message.timestamp.type", "LogAppendTime", func(b Broker) bool { return b.LogMessageTimestampType == "LogAppendTime" }},
		{"compression.type", "zstd", func(b Broker) bool { return b.CompressionType == "zstd" }},
		{"log.cleanup.policy", "delete, compact", func(b Broker) bool { return b.LogCleanupPolicy == "compact,delete" }},
		{"log.preallocate", "false", func(b Broker) bool { return !b.LogPreallocate }},
		{"samsa.log.sync.shared", "false", func(b Broker) bool { return !b.SharedSync }},
		{"log.index.interval.bytes", "100", func(b Broker) bool { return b.LogIndexIntervalBytes == 100 }},
		{"log.index.size.max.bytes", "4096", func(b Broker) bool { return b.LogIndexSizeMaxBytes == 4096 }},
		{"log.segment.delete.delay.ms", "0", func(b Broker) bool { return b.LogSegmentDeleteDelay == 0 }},
		{"log.cleaner.delete.retention.ms", "1000", func(b Broker) bool { return b.LogCleanerDeleteRetention == time.Second }},
		{"log.cleaner.min.compaction.lag.ms", "5", func(b Broker) bool { return b.LogCleanerMinCompactionLag == 5*time.Millisecond }},
		{"log.cleaner.max.compaction.lag.ms", "6", func(b Broker) bool { return b.LogCleanerMaxCompactionLag == 6*time.Millisecond }},
		{"log.cleaner.min.cleanable.ratio", "0.25", func(b Broker) bool { return b.LogCleanerMinCleanableRatio == 0.25 }},
		{"log.message.timestamp.before.max.ms", "1", func(b Broker) bool { return b.LogMessageTimestampBeforeMax == time.Millisecond }},
		{"log.message.timestamp.after.max.ms", "3600000", func(b Broker) bool { return b.LogMessageTimestampAfterMax == time.Hour }},
		{"log.message.downconversion.enable", "false", func(b Broker) bool { return !b.LogMessageDownconversion }},
		{"unclean.leader.election.enable", "true", func(b Broker) bool { return b.UncleanLeaderElection }},
		{"offsets.topic.num.partitions", "3", func(b Broker) bool { return b.OffsetsTopicNumPartitions == 3 }},
		{"offsets.topic.replication.factor", "3", func(b Broker) bool { return b.OffsetsTopicReplicationFactor == 3 }},
		{"offsets.retention.minutes", "60", func(b Broker) bool { return b.OffsetsRetention == time.Hour }},
		{"group.initial.rebalance.delay.ms", "0", func(b Broker) bool { return b.GroupInitialRebalanceDelay == 0 }},
		{"group.min.session.timeout.ms", "1000", func(b Broker) bool { return b.GroupMinSessionTimeout == time.Second }},
		{"group.max.session.timeout.ms", "60000", func(b Broker) bool { return b.GroupMaxSessionTimeout == time.Minute }},
		{"group.max.size", "10", func(b Broker) bool { return b.GroupMaxSize == 10 }},
		{"group.consumer.session.timeout.ms", "30000", func(b Broker) bool { return b.ConsumerGroupSessionTimeout == 30*time.Second }},
		{"group.consumer.heartbeat.interval.ms", "1000", func(b Broker) bool { return b.ConsumerGroupHeartbeatInterval == time.Second }},
		{"group.consumer.max.size", "7", func(b Broker) bool { return b.ConsumerGroupMaxSize == 7 }},
		{"transactional.id.expiration.ms", "1000", func(b Broker) bool { return b.TransactionalIDExpiration == time.Second }},
		{"transaction.max.timeout.ms", "1000", func(b Broker) bool { return b.TransactionMaxTimeout == time.Second }},
		{"transaction.state.log.num.partitions", "5", func(b Broker) bool { return b.TransactionStateLogNumPartitions == 5 }},
		{"transaction.state.log.replication.factor", "3", func(b Broker) bool { return b.TransactionStateLogReplicationFactor == 3 }},
		{"transaction.state.log.min.isr", "3", func(b Broker) bool { return b.TransactionStateLogMinISR == 3 }},
		{"transaction.state.log.segment.bytes", "2048", func(b Broker) bool { return b.TransactionStateLogSegmentBytes == 2048 }},
		{"transaction.abort.timed.out.transaction.cleanup.interval.ms", "500", func(b Broker) bool { return b.TransactionAbortTimedOutInterval == 500*time.Millisecond }},
		{"transaction.remove.expired.transaction.cleanup.interval.ms", "700", func(b Broker) bool { return b.TransactionRemoveExpiredInterval == 700*time.Millisecond }},
		{"replica.lag.time.max.ms", "10000", func(b Broker) bool { return b.ReplicaLagTimeMax == 10*time.Second }},
		{"samsa.http.listener", "0.0.0.0:8080", func(b Broker) bool { return b.HTTPAddr == "0.0.0.0:8080" }},
		{"samsa.http.listener", "", func(b Broker) bool { return b.HTTPAddr == "" }},
		{"process.roles", "controller, broker", func(b Broker) bool { return b.ProcessRoles == "broker,controller" }},
		{"controller.quorum.voters", "1@h1:9093,2@h2:9093", func(b Broker) bool {
			v, err := b.Voters()
			return err == nil && len(v) == 2 && v[1] == Voter{ID: 2, Addr: "h2:9093"}
		}},
		{"controller.listener.names", "CONTROLLER", func(b Broker) bool { return b.ControllerListenerNames == "CONTROLLER" }},
		{"inter.broker.listener.name", "PLAINTEXT", func(b Broker) bool { return b.InterBrokerListenerName == "PLAINTEXT" }},
		{"broker.rack", "r1", func(b Broker) bool { return b.BrokerRack == "r1" }},
		{"broker.session.timeout.ms", "3000", func(b Broker) bool { return b.BrokerSessionTimeout == 3*time.Second }},
		{"broker.heartbeat.interval.ms", "500", func(b Broker) bool { return b.BrokerHeartbeatInterval == 500*time.Millisecond }},
		{"auto.leader.rebalance.enable", "false", func(b Broker) bool { return !b.AutoLeaderRebalance }},
		{"leader.imbalance.check.interval.seconds", "30", func(b Broker) bool { return b.LeaderImbalanceCheck == 30*time.Second }},
		{"samsa.cluster.id", " abc ", func(b Broker) bool { return b.ClusterID == "abc" }},
		{"sasl.enabled.mechanisms", "plain, SCRAM-SHA-512", func(b Broker) bool {
			return slices.Equal(b.SASLEnabledMechanisms, []string{"PLAIN", "SCRAM-SHA-512"})
		}},
		{"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256", func(b Broker) bool { return b.SASLMechanismInterBroker == "SCRAM-SHA-256" }},
		{"sasl.mechanism.controller.protocol", "SCRAM-SHA-512", func(b Broker) bool { return b.SASLMechanismController == "SCRAM-SHA-512" }},
		{"authorizer.class.name", StandardAuthorizer, func(b Broker) bool { return b.AuthorizerEnabled() }},
		{"authorizer.class.name", "kafka.security.authorizer.AclAuthorizer", func(b Broker) bool { return b.AuthorizerClassName == StandardAuthorizer }},
		{"super.users", "User:admin; User:ops", func(b Broker) bool { return slices.Equal(b.SuperUsers, []string{"User:admin", "User:ops"}) }},
		{"allow.everyone.if.no.acl.found", "true", func(b Broker) bool { return b.AllowEveryoneIfNoACLFound }},
		{"connections.max.reauth.ms", "60000", func(b Broker) bool { return b.ConnectionsMaxReauth == time.Minute }},
		{"sasl.server.max.receive.size", "1024", func(b Broker) bool { return b.SASLServerMaxReceiveSize == 1024 }},
		{"connection.failed.authentication.delay.ms", "0", func(b Broker) bool { return b.FailedAuthenticationDelay == 0 }},
		{"max.connections", "100", func(b Broker) bool { return b.MaxConnections == 100 }},
		{"max.connections.per.ip", "10", func(b Broker) bool { return b.MaxConnectionsPerIP == 10 }},
		{"max.connections.per.ip.overrides", "127.0.0.1:200, host1:5", func(b Broker) bool {
			return b.MaxConnectionsPerIPOverrides["127.0.0.1"] == 200 && b.MaxConnectionsPerIPOverrides["host1"] == 5
		}},
		{"max.connection.creation.rate", "50", func(b Broker) bool { return b.MaxConnectionCreationRate == 50 }},
		{"quota.window.num", "5", func(b Broker) bool { return b.QuotaWindowNum == 5 }},
		{"quota.window.size.seconds", "2", func(b Broker) bool { return b.QuotaWindowSize == 2*time.Second }},
	}
	for _, k := range []string{"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.key", "ssl.keystore.certificate.chain",
		"ssl.key.password", "ssl.keystore.password", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.certificates",
		"ssl.truststore.password", "ssl.client.auth", "ssl.enabled.protocols", "ssl.protocol", "ssl.cipher.suites",
		"ssl.principal.mapping.rules", "ssl.endpoint.identification.algorithm", "sasl.jaas.config"} {
		v := "required" // a value every raw key accepts (ssl.client.auth checks it)
		tests = append(tests, struct {
			key, value string
			check      func(Broker) bool
		}{k, v, func(b Broker) bool { got, ok := b.SecurityValue("", k); return ok && got == v }})
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.key] = true
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			b := Default()
			warnings, err := b.Apply(map[string]string{tt.key: tt.value})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if len(warnings) > 0 && tt.key != "log.dirs" {
				t.Errorf("unexpected warnings: %q", warnings)
			}
			if !tt.check(b) {
				t.Errorf("%s=%s not applied: %+v", tt.key, tt.value, b)
			}
			if !slices.Contains(b.StaticKeys(), tt.key) {
				t.Errorf("StaticKeys() = %q, missing %q", b.StaticKeys(), tt.key)
			}
		})
	}
	for _, k := range brokerKeys {
		if !covered[k.name] && k.name != "listener.security.protocol.map" {
			t.Errorf("broker key %q has no Apply test", k.name)
		}
	}
}

func TestApplyInvalidValues(t *testing.T) {
	tests := []struct {
		key, value, wantErr string
	}{
		{"num.partitions", "abc", `num.partitions: "abc" is not an integer`},
		{"num.partitions", "0", `num.partitions: "0" must be at least 1`},
		{"num.partitions", "99999999999", `num.partitions: "99999999999" is out of range for a 32-bit integer`},
		{"default.replication.factor", "40000", `default.replication.factor: "40000" must be between 1 and 32767`},
		{"auto.create.topics.enable", "yes", `auto.create.topics.enable: "yes" is not a boolean (true or false)`},
		{"log.segment.bytes", "13", `log.segment.bytes: "13" must be at least 14`},
		{"log.retention.ms", "1h", `log.retention.ms: "1h" is not an integer`},
		{"log.roll.hours", "0", `log.roll.hours: "0" must be at least 1`},
		{"log.flush.interval.messages", "0", `log.flush.interval.messages: "0" must be at least 1`},
		{"queued.max.request.bytes", "-2", `queued.max.request.bytes: "-2" must be at least -1`},
		{"log.message.timestamp.type", "createtime", `log.message.timestamp.type: "createtime" must be one of CreateTime, LogAppendTime`},
		{"compression.type", "brotli", `compression.type: "brotli" must be one of uncompressed, zstd, lz4, snappy, gzip, producer`},
		{"log.cleanup.policy", "archive", `log.cleanup.policy: "archive" must be delete, compact, or both comma-separated`},
		{"log.cleanup.policy", "compact,compact", `log.cleanup.policy: "compact,compact" lists compact twice`},
		{"log.cleaner.min.cleanable.ratio", "1.5", `log.cleaner.min.cleanable.ratio: "1.5" must be between 0 and 1`},
		{"log.cleaner.min.cleanable.ratio", "NaN", `log.cleaner.min.cleanable.ratio: "NaN" is not a number`},
		{"log.dirs", " ,/x", `log.dirs: " ,/x" must name a directory`},
		{"listeners", "FOO://:9093", `listeners: "FOO://:9093" has listener FOO, which is no security protocol; map it in listener.security.protocol.map (e.g. FOO:SASL_SSL)`},
		{"listeners", "PLAINTEXT://:9092,PLAINTEXT://:9093", `listeners: "PLAINTEXT://:9092,PLAINTEXT://:9093" names listener PLAINTEXT twice`},
		{"sasl.enabled.mechanisms", "GSSAPI", `sasl.enabled.mechanisms: "GSSAPI" mechanism "GSSAPI" is not supported (samsa serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)`},
		{"ssl.client.auth", "maybe", `ssl.client.auth: "maybe" must be none, requested or required`},
		{"authorizer.class.name", "com.example.Auth", `authorizer.class.name: "com.example.Auth" is not an authorizer samsa has; use org.apache.kafka.metadata.authorizer.StandardAuthorizer`},
		{"super.users", "admin", `super.users: "admin" has "admin"; each entry is a principal such as User:admin, separated by ;`},
		{"listeners", "localhost:9092", `listeners: "localhost:9092" is not a list of NAME://host:port`},
		{"listeners", "PLAINTEXT://host", `listeners: "PLAINTEXT://host" has "PLAINTEXT://host": not host:port`},
		{"listeners", "PLAINTEXT://:99999", `listeners: "PLAINTEXT://:99999" has "PLAINTEXT://:99999": port "99999" is not a number from 0 to 65535`},
		{"samsa.http.listener", "nope", `samsa.http.listener: "nope" is not host:port: not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			b := Default()
			before := b
			_, err := b.Apply(map[string]string{tt.key: tt.value})
			if err == nil {
				t.Fatal("Apply succeeded, want error")
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant    %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidValue) {
				t.Errorf("error is not ErrInvalidValue")
			}
			if b.NumPartitions != before.NumPartitions || b.Listener != before.Listener || len(b.StaticKeys()) != 0 {
				t.Errorf("failed Apply changed the broker")
			}
		})
	}
}

func TestApplyReportsAllErrors(t *testing.T) {
	b := Default()
	_, err := b.Apply(map[string]string{"num.partitions": "x", "message.max.bytes": "y"})
	want := "num.partitions: \"x\" is not an integer\nmessage.max.bytes: \"y\" is not an integer"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

// TestRetentionPrecedence checks Kafka's rule: log.retention.ms beats
// .minutes beats .hours, whatever order the keys come in.
func TestRetentionPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  time.Duration
	}{
		{"default", nil, 168 * time.Hour},
		{"hours", map[string]string{"log.retention.hours": "1"}, time.Hour},
		{"minutes beat hours", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "5"}, 5 * time.Minute},
		{"ms beat hours", map[string]string{"log.retention.hours": "1", "log.retention.ms": "7"}, 7 * time.Millisecond},
		{"ms beat all", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "5", "log.retention.ms": "7"}, 7 * time.Millisecond},
		{"ms -1 beats hours", map[string]string{"log.retention.hours": "1", "log.retention.ms": "-1"}, -time.Millisecond},
		{"huge hours saturate", map[string]string{"log.retention.hours": "2147483647"}, math.MaxInt64},
		{"roll ms beat hours", map[string]string{"log.roll.hours": "1", "log.roll.ms": "7"}, 168 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // map order varies; the answer must not
				b := Default()
				if _, err := b.Apply(tt.props); err != nil {
					t.Fatal(err)
				}
				if b.LogRetention != tt.want {
					t.Fatalf("LogRetention = %v, want %v", b.LogRetention, tt.want)
				}
			}
		})
	}
	b := Default()
	if _, err := b.Apply(map[string]string{"log.roll.hours": "1", "log.roll.ms": "7"}); err != nil {
		t.Fatal(err)
	}
	if b.LogRoll != 7*time.Millisecond {
		t.Errorf("LogRoll = %v, want 7ms (log.roll.ms beats log.roll.hours)", b.LogRoll)
	}
}

func TestApplyWarnings(t *testing.T) {
	b := Default()
	warnings, err := b.Apply(map[string]string{
		"foo.bar":                  "1",
		"ssl.keystore.location":    "/x",
		"zookeeper.connect":        "localhost:2181",
		"process.roles":            "broker",
		"num.partitions":           "3",
		"listeners":                "PLAINTEXT://:9092,SSL://:9093",
		"log.dirs":                 "/a,/b",
		"sasl.enabled.mechanisms":  "PLAIN",
		"controller.quorum.voters": "1@localhost:9093",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`log.dirs lists several directories; samsa uses only the first, "/a"`,
		`unknown setting "foo.bar" ignored`,
		`setting "zookeeper.connect" is a Kafka setting samsa does not use yet; ignored`,
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	if b.NumPartitions != 3 || b.Listener != "0.0.0.0:9092" {
		t.Errorf("known keys not applied alongside warnings: %+v", b)
	}
}

func TestApplyNodeIDConflict(t *testing.T) {
	b := Default()
	_, err := b.Apply(map[string]string{"node.id": "1", "broker.id": "2"})
	if err == nil || err.Error() != `broker.id: "2" must equal node.id (1) when both are set` {
		t.Fatalf("err = %v", err)
	}
	b = Default()
	if _, err := b.Apply(map[string]string{"node.id": "4", "broker.id": "4"}); err != nil || b.NodeID != 4 {
		t.Fatalf("agreeing ids: err = %v, NodeID = %d", err, b.NodeID)
	}
}

func TestApplyDoesNotShareStatic(t *testing.T) {
	a := Default()
	if _, err := a.Apply(map[string]string{"num.partitions": "2"}); err != nil {
		t.Fatal(err)
	}
	c := a
	if _, err := c.Apply(map[string]string{"message.max.bytes": "10"}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(a.StaticKeys(), "message.max.bytes") {
		t.Errorf("Apply on a copy changed the original's static keys: %q", a.StaticKeys())
	}
}

func TestListenerProtocolMap(t *testing.T) {
	b := Default()
	_, err := b.Apply(map[string]string{
		"listeners":                      "CONTROLLER://:9093,INTERNAL://127.0.0.2:9094,EXTERNAL://:9095",
		"listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:SSL,EXTERNAL:PLAINTEXT",
		"controller.listener.names":      "CONTROLLER",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Listener != "0.0.0.0:9095" {
		t.Errorf("Listener = %q, want the first PLAINTEXT non-controller listener 0.0.0.0:9095", b.Listener)
	}
}

func TestStockServerProperties(t *testing.T) {
	f, err := os.Open("testdata/server.properties")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	props, err := ParseProperties(f)
	if err != nil {
		t.Fatal(err)
	}
	b := Default()
	warnings, err := b.Apply(props)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := b.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := []string{
		`setting "controller.quorum.bootstrap.servers" is a Kafka setting samsa does not use yet; ignored`,
		`setting "num.io.threads" is a Kafka setting samsa does not use yet; ignored`,
		`setting "num.network.threads" is a Kafka setting samsa does not use yet; ignored`,
		`setting "num.recovery.threads.per.data.dir" is a Kafka setting samsa does not use yet; ignored`,
		`setting "share.coordinator.state.topic.min.isr" is a Kafka setting samsa does not use yet; ignored`,
		`setting "share.coordinator.state.topic.replication.factor" is a Kafka setting samsa does not use yet; ignored`,
		`setting "socket.receive.buffer.bytes" is a Kafka setting samsa does not use yet; ignored`,
		`setting "socket.send.buffer.bytes" is a Kafka setting samsa does not use yet; ignored`,
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range warnings {
		if strings.HasPrefix(w, "unknown") {
			t.Errorf("stock file key reported unknown: %s", w)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID, int32(1)},
		{"Listener", b.Listener, "0.0.0.0:9092"},
		{"AdvertisedListener", b.AdvertisedListener, "localhost:9092"},
		{"DataDir", b.DataDir, "/tmp/kraft-combined-logs"},
		{"LogRetention", b.LogRetention, 168 * time.Hour},
		{"LogSegmentBytes", b.LogSegmentBytes, int64(1 << 30)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"LogFlushIntervalMessages", b.LogFlushIntervalMessages, int64(1)}, // commented out in the file: samsa's durable default holds
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(b *Broker)
		wantErr string // "" = valid
	}{
		{"default", func(*Broker) {}, ""},
		{"queued budget below request max", func(b *Broker) { b.QueuedMaxRequestBytes = 10 },
			`queued.max.request.bytes: "10" must be -1 or at least socket.request.max.bytes (104857600)`},
		{"queued budget unlimited", func(b *Broker) { b.QueuedMaxRequestBytes = -1 }, ""},
		{"session timeouts crossed", func(b *Broker) { b.GroupMinSessionTimeout = time.Hour },
			`group.min.session.timeout.ms: "3600000" must not exceed group.max.session.timeout.ms (1800000)`},
		{"relaxed flush needs interval", func(b *Broker) { b.LogFlushIntervalMessages = 100; b.LogFlushInterval = 0 },
			`log.flush.interval.ms: "0" must be at least 1 when log.flush.interval.messages is above 1 (nothing else would fsync)`},
		{"segment too small", func(b *Broker) { b.LogSegmentBytes = 1 }, `log.segment.bytes: "1" must be between 14 and 2147483647`},
		{"segment too big for INT", func(b *Broker) { b.LogSegmentBytes = 1 << 31 }, `log.segment.bytes: "2147483648" must be between 14 and 2147483647`},
		{"advertise all interfaces", func(b *Broker) { b.AdvertisedListener = "0.0.0.0:9092" },
			`advertised.listeners: "0.0.0.0:9092" must name a host and port clients can connect to`},
		{"bad listener", func(b *Broker) { b.Listener = "nohost" }, `listeners: "nohost" is not a valid address: not host:port`},
		{"http on kafka port", func(b *Broker) { b.HTTPAddr = b.Listener }, `samsa.http.listener: "127.0.0.1:9092" must differ from the Kafka listener`},
		{"both ports ephemeral", func(b *Broker) { b.Listener, b.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"empty data dir", func(b *Broker) { b.DataDir = "" }, `log.dirs: "" must name a directory`},
		{"bad enum", func(b *Broker) { b.CompressionType = "lzma" },
			`compression.type: "lzma" must be one of uncompressed, zstd, lz4, snappy, gzip, producer`},
		{"compaction lags crossed", func(b *Broker) { b.LogCleanerMinCompactionLag = time.Hour; b.LogCleanerMaxCompactionLag = time.Minute },
			`log.cleaner.min.compaction.lag.ms: "3600000" must not exceed log.cleaner.max.compaction.lag.ms (60000)`},
		{"two problems", func(b *Broker) { b.NumPartitions = 0; b.MinInsyncReplicas = 0 },
			"num.partitions: \"0\" must be at least 1\nmin.insync.replicas: \"0\" must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Default()
			tt.mutate(&b)
			err := b.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("Validate() = %v\nwant %q", err, tt.wantErr)
			case err != nil && !errors.Is(err, ErrInvalidValue):
				t.Fatalf("Validate error is not ErrInvalidValue")
			}
		})
	}
}

package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// This file runs IBM/sarama against a real broker. sarama picks request
// versions from Config.Version, not from ApiVersions, so the same test at
// DefaultVersion (2.8), at a modern version, at 1.0 and at 0.10.2 exercises
// four distinct sets of API versions (Produce v2..v9 with v1 message sets
// or v2 batches, Fetch v3..v13, JoinGroup v1..v9, ...) against the same
// broker code. Shared helpers for the other Go clients (kafka-go) live
// here too: ackedAt, readRec, checkAcked.

// ackedAt is where the broker said a record landed.
type ackedAt struct {
	partition int32
	offset    int64
}

// readRec is one record as a client read it back.
type readRec struct {
	key, value string
	header     string // the value of the "i" header, "" if absent
	partition  int32
	offset     int64
}

// checkAcked asserts that got holds every acknowledged record exactly once,
// at the partition and offset its ack named, with key "k-"+value and (when
// headers is set) an "i" header equal to the value; and that got holds
// nothing else.
func checkAcked(t *testing.T, what string, acked map[string]ackedAt, got []readRec, headers bool) {
	t.Helper()
	seen := map[string]bool{}
	bad := 0
	for _, r := range got {
		a, ok := acked[r.value]
		switch {
		case !ok:
			t.Errorf("%s: read %q at %d@%d, never produced", what, r.value, r.partition, r.offset)
		case seen[r.value]:
			t.Errorf("%s: read %q twice (again at %d@%d)", what, r.value, r.partition, r.offset)
		case a != (ackedAt{r.partition, r.offset}):
			t.Errorf("%s: %q read at %d@%d, acked at %d@%d", what, r.value, r.partition, r.offset, a.partition, a.offset)
		case r.key != "k-"+r.value || (headers && r.header != r.value):
			t.Errorf("%s: %q read with key %q header %q", what, r.value, r.key, r.header)
		default:
			seen[r.value] = true
			continue
		}
		if bad++; bad > 10 {
			t.Fatalf("%s: too many bad records", what)
		}
	}
	if len(seen) != len(acked) {
		var missing []string
		for v := range acked {
			if !seen[v] {
				missing = append(missing, v)
			}
		}
		slices.Sort(missing)
		t.Errorf("%s: %d of %d acked records never read, e.g. %v", what, len(missing), len(acked), first(missing, 5))
	}
}

// saramaVersions are the protocol levels sarama is run at. "default" is
// what a user who never sets Config.Version gets.
var saramaVersions = []struct {
	name string
	v    sarama.KafkaVersion
}{
	{"default", sarama.DefaultVersion},
	{"V3_6", sarama.V3_6_0_0},
	{"V1_0", sarama.V1_0_0_0},
	// Before 0.11: Produce v2 and Fetch v3 with v1 message sets (magic 1),
	// no headers, no idempotence, no DescribeConfigs.
	{"V0_10_2", sarama.V0_10_2_0},
}

// saramaConfig is sarama's default configuration at version v, with
// timeouts short enough for a test on loopback.
func saramaConfig(v sarama.KafkaVersion, clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = clientID
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

// saramaCodecs are the compression codecs sarama allows at version v
// (zstd needs Produce v7, Kafka 2.1).
func saramaCodecs(v sarama.KafkaVersion) []sarama.CompressionCodec {
	cs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4}
	if v.IsAtLeast(sarama.V2_1_0_0) {
		cs = append(cs, sarama.CompressionZSTD)
	}
	return cs
}

// TestSarama runs sarama's producers, consumers, consumer group and admin
// client against one broker per protocol level.
func TestSarama(t *testing.T) {
	t.Parallel()
	for _, sv := range saramaVersions {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			p := startBroker(t, t.TempDir(), "--set", "num.partitions=4", "--http-addr", "off")
			addrs := []string{p.Addr}
			t.Run("Admin", func(t *testing.T) { saramaAdmin(t, addrs, sv.v) })
			t.Run("SyncProducer", func(t *testing.T) { saramaSync(t, addrs, sv.v) })
			t.Run("AsyncProducer", func(t *testing.T) { saramaAsync(t, addrs, sv.v) })
			t.Run("ConsumerGroup", func(t *testing.T) {
				saramaGroup(t, addrs, sv.v)
			})
		})
	}
}

// saramaAdmin creates a topic with a config override, describes it and its
// config, and deletes it.
func saramaAdmin(t *testing.T, addrs []string, v sarama.KafkaVersion) {
	adm, err := sarama.NewClusterAdmin(addrs, saramaConfig(v, "sarama-admin"))
	if err != nil {
		t.Fatalf("NewClusterAdmin: %v", err)
	}
	defer adm.Close()
	const topic = "sarama-admin"
	retention := "3600000"
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("CreateTopic of an existing topic: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}

	md, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("DescribeTopics: %v", err)
	}
	if len(md) != 1 || md[0].Name != topic || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 3 {
		t.Fatalf("DescribeTopics = %s, want %s with 3 partitions", describeSaramaMD(md), topic)
	}
	for _, part := range md[0].Partitions {
		if part.Leader < 0 || len(part.Replicas) != 1 || len(part.Isr) != 1 {
			t.Errorf("partition %d: leader %d replicas %v isr %v", part.ID, part.Leader, part.Replicas, part.Isr)
		}
	}

	if v.IsAtLeast(sarama.V0_11_0_0) { // no DescribeConfigs before 0.11
		saramaCheckRetention(t, adm, topic, retention)
	}

	// sarama's ListTopics sends DescribeConfigs, which it refuses to send
	// before 0.11; and there a Metadata request for a deleted topic
	// (v0..v3) would auto-create it again, so the deletion is trusted.
	if !v.IsAtLeast(sarama.V0_11_0_0) {
		if err := adm.DeleteTopic(topic); err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
		return
	}
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != 3 {
		t.Errorf("ListTopics[%s] = %+v (present %v), want 3 partitions", topic, d, ok)
	}

	if err := adm.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	waitFor(t, 10*time.Second, func() error {
		topics, err := adm.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := topics[topic]; ok {
			return fmt.Errorf("%s still listed after DeleteTopic", topic)
		}
		return nil
	})
}

// saramaCheckRetention asserts that DescribeConfig reports retention.ms of
// topic as set (not default) to want.
func saramaCheckRetention(t *testing.T, adm sarama.ClusterAdmin, topic, want string) {
	t.Helper()
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = true
			if e.Value != want || e.Default {
				t.Errorf("retention.ms = %q default=%v, want %q set on the topic", e.Value, e.Default, want)
			}
		}
	}
	if !found {
		t.Errorf("DescribeConfig has no retention.ms among %d entries", len(entries))
	}
}

func describeSaramaMD(md []*sarama.TopicMetadata) string {
	var b strings.Builder
	for _, m := range md {
		fmt.Fprintf(&b, "[%s err=%v partitions=%d]", m.Name, m.Err, len(m.Partitions))
	}
	return b.String()
}

// saramaMessage is record i of a test: value "<prefix>-i", key "k-"+value
// and, from version 0.11 (v2 record batches) on, an "i" header equal to
// the value.
func saramaMessage(ver sarama.KafkaVersion, topic, prefix string, i int) *sarama.ProducerMessage {
	v := fmt.Sprintf("%s-%d", prefix, i)
	m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k-" + v), Value: sarama.StringEncoder(v)}
	if saramaHeaders(ver) {
		m.Headers = []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(v)}}
	}
	return m
}

// saramaHeaders reports whether version v carries record headers.
func saramaHeaders(v sarama.KafkaVersion) bool { return v.IsAtLeast(sarama.V0_11_0_0) }

// saramaSync produces with an idempotent acks=all SyncProducer, one by one
// and in batches, and reads everything back with a partition consumer.
func saramaSync(t *testing.T, addrs []string, v sarama.KafkaVersion) {
	const topic, n = "sarama-sync", 300
	cfg := saramaConfig(v, "sarama-sync")
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	if v.IsAtLeast(sarama.V0_11_0_0) { // InitProducerID arrived in 0.11
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer prod.Close()
	acked := map[string]ackedAt{}
	for i := range n / 2 {
		m := saramaMessage(v, topic, "s", i)
		part, off, err := prod.SendMessage(m)
		if err != nil {
			t.Fatalf("SendMessage %d: %v", i, err)
		}
		acked[string(m.Value.(sarama.StringEncoder))] = ackedAt{part, off}
	}
	var batch []*sarama.ProducerMessage
	for i := n / 2; i < n; i++ {
		batch = append(batch, saramaMessage(v, topic, "s", i))
	}
	if err := prod.SendMessages(batch); err != nil {
		t.Fatalf("SendMessages: %v", err)
	}
	for _, m := range batch {
		acked[string(m.Value.(sarama.StringEncoder))] = ackedAt{m.Partition, m.Offset}
	}
	got := saramaReadAll(t, addrs, v, topic, n)
	checkAcked(t, "sync", acked, got, saramaHeaders(v))
}

// saramaAsync produces with an AsyncProducer per codec (acks=all) and reads
// every topic back.
func saramaAsync(t *testing.T, addrs []string, v sarama.KafkaVersion) {
	const n = 500
	for _, codec := range saramaCodecs(v) {
		t.Run(codec.String(), func(t *testing.T) {
			topic := "sarama-async-" + codec.String()
			cfg := saramaConfig(v, "sarama-async")
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Compression = codec
			cfg.Producer.Return.Successes = true
			cfg.Producer.Flush.Messages = 50                     // several batches per partition
			cfg.Producer.Flush.Frequency = 10 * time.Millisecond // and the remainder
			prod, err := sarama.NewAsyncProducer(addrs, cfg)
			if err != nil {
				t.Fatalf("NewAsyncProducer: %v", err)
			}
			go func() {
				for i := range n {
					prod.Input() <- saramaMessage(v, topic, codec.String(), i)
				}
			}()
			acked := map[string]ackedAt{}
			timeout := time.After(60 * time.Second)
			for len(acked) < n {
				select {
				case m := <-prod.Successes():
					acked[string(m.Value.(sarama.StringEncoder))] = ackedAt{m.Partition, m.Offset}
				case e := <-prod.Errors():
					t.Fatalf("produce %v: %v", e.Msg.Value, e.Err)
				case <-timeout:
					t.Fatalf("%d of %d acked after 60s", len(acked), n)
				}
			}
			if err := prod.Close(); err != nil {
				t.Errorf("AsyncProducer.Close: %v", err)
			}
			got := saramaReadAll(t, addrs, v, topic, n)
			checkAcked(t, codec.String(), acked, got, saramaHeaders(v))
		})
	}
}

// saramaReadAll reads every partition of topic from the oldest offset with
// sarama's (groupless) Consumer until want records arrived.
func saramaReadAll(t *testing.T, addrs []string, v sarama.KafkaVersion, topic string, want int) []readRec {
	t.Helper()
	cfg := saramaConfig(v, "sarama-reader")
	cons, err := sarama.NewConsumer(addrs, cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		t.Fatalf("Partitions(%s): %v", topic, err)
	}
	msgs := make(chan *sarama.ConsumerMessage)
	errs := make(chan error, len(parts))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for _, part := range parts {
		pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition(%s, %d): %v", topic, part, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case msgs <- m:
					case <-stop:
						return
					}
				case e := <-pc.Errors():
					errs <- e
					return
				case <-stop:
					return
				}
			}
		}()
	}
	var got []readRec
	timeout := time.After(60 * time.Second)
	for len(got) < want {
		select {
		case m := <-msgs:
			r := readRec{key: string(m.Key), value: string(m.Value), partition: m.Partition, offset: m.Offset}
			for _, h := range m.Headers {
				if string(h.Key) == "i" {
					r.header = string(h.Value)
				}
			}
			got = append(got, r)
		case err := <-errs:
			t.Fatalf("consume %s: %v", topic, err)
		case <-timeout:
			t.Fatalf("read %d of %d records from %s in 60s", len(got), want, topic)
		}
	}
	return got
}

// groupHandler is a sarama.ConsumerGroupHandler that records what its
// member was assigned and consumed, marking every message for commit.
type groupHandler struct {
	name string
	out  chan<- readRec

	mu     sync.Mutex
	claims []int32 // partitions of the current generation
	gens   int     // number of Setup calls (generations joined)
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gens++
	h.claims = nil
	for _, ps := range s.Claims() {
		h.claims = append(h.claims, ps...)
	}
	slices.Sort(h.claims)
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			// Marked offsets are committed by sarama's auto-commit loop
			// (every second). A synchronous Commit per message would
			// queue behind the member's fetch long-poll on the shared
			// connection (Kafka answers a connection's requests in
			// order), costing up to Consumer.MaxWaitTime each.
			s.MarkMessage(m, "")
			r := readRec{key: string(m.Key), value: string(m.Value), partition: m.Partition, offset: m.Offset}
			for _, hd := range m.Headers {
				if string(hd.Key) == "i" {
					r.header = string(hd.Value)
				}
			}
			select {
			case h.out <- r:
			case <-s.Context().Done():
				return nil
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (h *groupHandler) state() ([]int32, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.claims), h.gens
}

// saramaGroup runs two ConsumerGroup members over a 4-partition topic.
// Once they share the partitions (two each, none twice) records are
// produced; each must be consumed exactly once, and the committed offsets
// must reach every partition's end. A third member joining then makes the
// group rebalance, and records produced after it are again consumed once.
func saramaGroup(t *testing.T, addrs []string, v sarama.KafkaVersion) {
	const topic, group, n = "sarama-group", "sarama-group", 400
	cfg := saramaConfig(v, "sarama-setup")
	adm, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		t.Fatalf("NewClusterAdmin: %v", err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := make(chan readRec, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	startMember := func(name string) *groupHandler {
		h := &groupHandler{name: name, out: out}
		gcfg := saramaConfig(v, name)
		gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		gcfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
		gcfg.Consumer.Group.Session.Timeout = 10 * time.Second
		gcfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		cg, err := sarama.NewConsumerGroup(addrs, group, gcfg)
		if err != nil {
			t.Fatalf("NewConsumerGroup: %v", err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for err := range cg.Errors() {
				t.Logf("%s: group error: %v", name, err)
			}
		}()
		go func() {
			defer wg.Done()
			defer cg.Close()
			// Consume returns at every rebalance; the loop rejoins.
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					t.Errorf("%s: Consume: %v", name, err)
					return
				}
			}
		}()
		return h
	}
	// balanced waits until the members' latest claims split the 4
	// partitions between them, every member holding at least one.
	balanced := func(hs ...*groupHandler) {
		t.Helper()
		waitFor(t, 30*time.Second, func() error {
			var all []int32
			var desc []string
			for _, h := range hs {
				c, gens := h.state()
				desc = append(desc, fmt.Sprintf("%s:%v(gen#%d)", h.name, c, gens))
				if len(c) == 0 {
					return fmt.Errorf("not balanced: %v", desc)
				}
				all = append(all, c...)
			}
			slices.Sort(all)
			if !slices.Equal(all, []int32{0, 1, 2, 3}) {
				return fmt.Errorf("not balanced: %v", desc)
			}
			return nil
		})
	}
	a, b := startMember("sarama-a"), startMember("sarama-b")
	balanced(a, b)

	produce := func(prefix string, count int) map[string]ackedAt {
		pcfg := saramaConfig(v, "sarama-group-producer")
		pcfg.Producer.RequiredAcks = sarama.WaitForAll
		pcfg.Producer.Return.Successes = true
		prod, err := sarama.NewSyncProducer(addrs, pcfg)
		if err != nil {
			t.Fatalf("NewSyncProducer: %v", err)
		}
		defer prod.Close()
		var batch []*sarama.ProducerMessage
		for i := range count {
			batch = append(batch, saramaMessage(v, topic, prefix, i))
		}
		if err := prod.SendMessages(batch); err != nil {
			t.Fatalf("SendMessages: %v", err)
		}
		acked := map[string]ackedAt{}
		for _, m := range batch {
			acked[string(m.Value.(sarama.StringEncoder))] = ackedAt{m.Partition, m.Offset}
		}
		return acked
	}
	collect := func(count int) []readRec {
		t.Helper()
		var got []readRec
		for len(got) < count {
			select {
			case r := <-out:
				got = append(got, r)
			case <-ctx.Done():
				per := map[int32][]int64{}
				for _, r := range got {
					per[r.partition] = append(per[r.partition], r.offset)
				}
				var desc []string
				for part, offs := range per {
					desc = append(desc, fmt.Sprintf("p%d: %d records, offsets %d..%d", part, len(offs), slices.Min(offs), slices.Max(offs)))
				}
				slices.Sort(desc)
				t.Fatalf("group consumed %d of %d records: %v", len(got), count, desc)
			}
		}
		return got
	}
	acked := produce("g1", n)
	checkAcked(t, "group", acked, collect(n), saramaHeaders(v))
	saramaWaitCommitted(t, adm, group, topic, acked)

	c := startMember("sarama-c")
	balanced(a, b, c)
	acked2 := produce("g2", n)
	checkAcked(t, "group after rebalance", acked2, collect(n), saramaHeaders(v))
	for k, v := range acked2 {
		acked[k] = v
	}
	saramaWaitCommitted(t, adm, group, topic, acked)
	// Nothing more may arrive: a record delivered twice would show here.
	select {
	case r := <-out:
		t.Errorf("record %q at %d@%d consumed again", r.value, r.partition, r.offset)
	default:
	}
}

// saramaWaitCommitted waits until the group's committed offset of every
// partition is one past the last acked offset there.
func saramaWaitCommitted(t *testing.T, adm sarama.ClusterAdmin, group, topic string, acked map[string]ackedAt) {
	t.Helper()
	want := map[int32]int64{}
	for _, a := range acked {
		want[a.partition] = max(want[a.partition], a.offset+1)
	}
	waitFor(t, 20*time.Second, func() error {
		resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
		if err != nil {
			return err
		}
		if resp.Err != sarama.ErrNoError {
			return resp.Err
		}
		for part, off := range want {
			b := resp.GetBlock(topic, part)
			if b == nil {
				return fmt.Errorf("no committed offset for %s[%d]", topic, part)
			}
			if b.Err != sarama.ErrNoError || b.Offset != off {
				return fmt.Errorf("%s[%d] committed %d (%v), want %d", topic, part, b.Offset, b.Err, off)
			}
		}
		return nil
	})
}

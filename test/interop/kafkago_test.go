package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/twmb/franz-go/pkg/kadm"
)

// This file runs segmentio/kafka-go against a real broker. kafka-go has two
// stacks: Writer and the group half of Reader use its newer protocol
// package, while Conn and the partition readers behind Reader pick the
// highest version the broker offers from short fixed lists (Produce
// v2/v3/v7, Fetch v2/v5/v10, Metadata v1/v6, CreateTopics v0..v2) and send
// some APIs at one old version only (ListOffsets v1, OffsetCommit v2,
// OffsetFetch v1). Both stacks are exercised here.

// kafkaGoCodecs are the Writer compression variants; 0 is none.
var kafkaGoCodecs = []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd}

func kafkaGoCodecName(c kafka.Compression) string {
	if c == 0 {
		return "none"
	}
	return c.String()
}

// TestKafkaGo runs kafka-go's Conn, Writer and Reader (with and without a
// group) against one broker.
func TestKafkaGo(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir(), "--set", "num.partitions=4", "--http-addr", "off")
	t.Run("Conn", func(t *testing.T) { kafkaGoConn(t, p.Addr) })
	t.Run("Writer", func(t *testing.T) {
		for _, codec := range kafkaGoCodecs {
			t.Run(kafkaGoCodecName(codec), func(t *testing.T) { kafkaGoWriter(t, p.Addr, codec) })
		}
	})
	t.Run("Group", func(t *testing.T) {
		kafkaGoGroup(t, p)
	})
}

// kafkaGoMessage is record i of a test: value "<prefix>-i", key
// "k-"+value and an "i" header equal to the value.
func kafkaGoMessage(prefix string, i int) kafka.Message {
	v := fmt.Sprintf("%s-%d", prefix, i)
	return kafka.Message{Key: []byte("k-" + v), Value: []byte(v),
		Headers: []kafka.Header{{Key: "i", Value: []byte(v)}}}
}

func kafkaGoRead(m kafka.Message) readRec {
	r := readRec{key: string(m.Key), value: string(m.Value), partition: int32(m.Partition), offset: m.Offset}
	for _, h := range m.Headers {
		if h.Key == "i" {
			r.header = string(h.Value)
		}
	}
	return r
}

// kafkaGoConn drives the low-level Conn: CreateTopics with a config,
// ReadPartitions, Controller/Brokers, ApiVersions, a leader connection
// writing plain and compressed message sets, ListOffsets and ReadBatch,
// then DeleteTopics.
func kafkaGoConn(t *testing.T, addr string) {
	const topic = "kg-conn"
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	vs, err := conn.ApiVersions()
	if err != nil || len(vs) == 0 {
		t.Fatalf("ApiVersions = %d versions, %v", len(vs), err)
	}
	err = conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	err = conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1})
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		// kafka-go's Conn.CreateTopics ignores TOPIC_ALREADY_EXISTS.
		t.Errorf("CreateTopics of an existing topic: %v", err)
	}

	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("ReadPartitions: %v", err)
	}
	if len(parts) != 3 {
		t.Fatalf("ReadPartitions(%s) = %d partitions, want 3: %+v", topic, len(parts), parts)
	}
	for _, part := range parts {
		if part.Topic != topic || part.Leader.Port == 0 || len(part.Replicas) != 1 || len(part.Isr) != 1 {
			t.Errorf("partition %+v: want a leader, 1 replica, 1 ISR", part)
		}
	}
	ctrl, err := conn.Controller()
	if err != nil || ctrl.Port == 0 {
		t.Errorf("Controller = %+v, %v", ctrl, err)
	}
	brokers, err := conn.Brokers()
	if err != nil || len(brokers) != 1 {
		t.Errorf("Brokers = %+v, %v; want one", brokers, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := kafka.DialLeader(ctx, "tcp", addr, topic, 1)
	if err != nil {
		t.Fatalf("DialLeader: %v", err)
	}
	defer lc.Close()
	_ = lc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := lc.SetRequiredAcks(-1); err != nil {
		t.Fatalf("SetRequiredAcks: %v", err)
	}
	acked := map[string]ackedAt{}
	const perWrite = 20
	write := func(codec compress.Codec, prefix string) {
		t.Helper()
		var msgs []kafka.Message
		for i := range perWrite {
			msgs = append(msgs, kafkaGoMessage(prefix, i))
		}
		_, part, base, _, err := lc.WriteCompressedMessagesAt(codec, msgs...)
		if err != nil {
			t.Fatalf("WriteCompressedMessagesAt(%s): %v", prefix, err)
		}
		if part != 1 {
			t.Errorf("WriteCompressedMessagesAt(%s) wrote to partition %d, want 1", prefix, part)
		}
		for i, m := range msgs {
			acked[string(m.Value)] = ackedAt{1, base + int64(i)}
		}
	}
	write(nil, "plain")
	write(&compress.GzipCodec, "gzip")
	write(&compress.SnappyCodec, "snappy")
	write(&compress.Lz4Codec, "lz4")
	write(&compress.ZstdCodec, "zstd")

	first, last, err := lc.ReadOffsets()
	if err != nil {
		t.Fatalf("ReadOffsets: %v", err)
	}
	if first != 0 || last != int64(len(acked)) {
		t.Errorf("ReadOffsets = %d, %d; want 0, %d", first, last, len(acked))
	}
	if _, err := lc.Seek(0, kafka.SeekAbsolute); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	var got []readRec
	for len(got) < len(acked) {
		b := lc.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
		n := 0
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			got = append(got, kafkaGoRead(m))
			n++
		}
		if err := b.Close(); err != nil {
			t.Fatalf("ReadBatch after %d records: %v", len(got), err)
		}
		if n == 0 {
			t.Fatalf("ReadBatch returned nothing after %d of %d records", len(got), len(acked))
		}
	}
	checkAcked(t, "conn", acked, got, true)

	if err := conn.DeleteTopics(topic); err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	waitFor(t, 10*time.Second, func() error {
		parts, err := conn.ReadPartitions()
		if err != nil {
			return err
		}
		for _, part := range parts {
			if part.Topic == topic {
				return fmt.Errorf("%s still listed after DeleteTopics", topic)
			}
		}
		return nil
	})
}

// kafkaGoWriter writes n keyed records with an acks=all Writer using
// codec, to an auto-created topic, then reads every partition back with a
// groupless Reader.
func kafkaGoWriter(t *testing.T, addr string, codec kafka.Compression) {
	const n = 500
	topic := "kg-writer-" + kafkaGoCodecName(codec)
	var mu sync.Mutex
	acked := map[string]ackedAt{}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(addr),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		Compression:            codec,
		BatchSize:              50,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: true,
		WriteTimeout:           20 * time.Second,
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return // WriteMessages reports it
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				acked[string(m.Value)] = ackedAt{int32(m.Partition), m.Offset}
			}
		},
	}
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafkaGoMessage(kafkaGoCodecName(codec), i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The first write may race the topic's creation: kafka-go surfaces
	// UNKNOWN_TOPIC_OR_PARTITION from the auto-create Metadata round
	// (Kafka answers LEADER_NOT_AVAILABLE the same way), so retry.
	waitFor(t, 20*time.Second, func() error {
		err := w.WriteMessages(ctx, msgs...)
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
			t.Fatalf("WriteMessages: %v", err)
		}
		return err
	})
	if err := w.Close(); err != nil {
		t.Errorf("Writer.Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != n {
		t.Fatalf("Completion reported %d of %d records", len(acked), n)
	}

	perPart := map[int32]int{}
	for _, a := range acked {
		perPart[a.partition]++
	}
	if len(perPart) != 4 {
		t.Errorf("hash balancer used %d partitions, want 4", len(perPart))
	}
	var got []readRec
	for part, want := range perPart {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: int(part),
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond})
		for range want {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("Reader %s[%d] after %d records: %v", topic, part, len(got), err)
			}
			got = append(got, kafkaGoRead(m))
		}
		// Lag is the last message's high watermark (from its Fetch
		// response) minus the next offset: 0 once the end is read.
		// (Stats().Lag is a sampled gauge, not exact.)
		if lag := r.Lag(); lag != 0 {
			t.Errorf("Reader %s[%d]: lag %d after reading all %d records", topic, part, lag, want)
		}
		r.Close()
	}
	checkAcked(t, kafkaGoCodecName(codec), acked, got, true)
}

// kafkaGoGroup runs two group Readers over a 4-partition topic. Once the
// group is stable with both members holding partitions, records are
// written; each must be read exactly once, by either member, with both
// members reading some. The readers commit synchronously (CommitInterval
// 0), so after they close the committed offsets are every partition's end
// and a new member of the group resumes there: it reads the records
// written afterwards and nothing older.
func kafkaGoGroup(t *testing.T, p *proc) {
	const topic, group, n = "kg-group", "kg-group", 400
	addr := p.Addr
	adm := kadm.NewClient(p.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}

	newReader := func() *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group, Topic: topic,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond,
			StartOffset: kafka.FirstOffset, HeartbeatInterval: 500 * time.Millisecond,
			SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
			JoinGroupBackoff: 200 * time.Millisecond})
	}
	type got struct {
		member int
		rec    readRec
	}
	out := make(chan got, n)
	var wg sync.WaitGroup
	// run reads with r until ctx ends, sending what it read to out.
	run := func(ctx context.Context, member int, r *kafka.Reader) {
		defer wg.Done()
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("member %d: ReadMessage: %v", member, err)
				}
				return
			}
			out <- got{member, kafkaGoRead(m)}
		}
	}
	// stable waits until the group is Stable with members members, each
	// assigned at least one partition and all 4 partitions assigned.
	stable := func(members int) {
		t.Helper()
		waitFor(t, 30*time.Second, func() error {
			gs, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return err
			}
			g := gs[group]
			if g.Err != nil || g.State != "Stable" || len(g.Members) != members {
				return fmt.Errorf("group %s: state %q, %d members, err %v", group, g.State, len(g.Members), g.Err)
			}
			var all []int32
			for _, m := range g.Members {
				ca, ok := m.Assigned.AsConsumer()
				if !ok || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) == 0 {
					return fmt.Errorf("member %s has assignment %+v", m.MemberID, m.Assigned)
				}
				all = append(all, ca.Topics[0].Partitions...)
			}
			slices.Sort(all)
			if !slices.Equal(all, []int32{0, 1, 2, 3}) {
				return fmt.Errorf("assigned partitions %v, want 0..3 once each", all)
			}
			return nil
		})
	}
	produce := func(prefix string, count int) map[string]ackedAt {
		t.Helper()
		var mu sync.Mutex
		acked := map[string]ackedAt{}
		w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
			Completion: func(msgs []kafka.Message, err error) {
				mu.Lock()
				defer mu.Unlock()
				for _, m := range msgs {
					if err == nil {
						acked[string(m.Value)] = ackedAt{int32(m.Partition), m.Offset}
					}
				}
			}}
		var msgs []kafka.Message
		for i := range count {
			msgs = append(msgs, kafkaGoMessage(prefix, i))
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("WriteMessages: %v", err)
		}
		w.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(acked) != count {
			t.Fatalf("Completion reported %d of %d records", len(acked), count)
		}
		return acked
	}
	collect := func(count int) ([]readRec, map[int]int) {
		t.Helper()
		var recs []readRec
		byMember := map[int]int{}
		for len(recs) < count {
			select {
			case g := <-out:
				recs = append(recs, g.rec)
				byMember[g.member]++
			case <-ctx.Done():
				t.Fatalf("group read %d of %d records", len(recs), count)
			}
		}
		return recs, byMember
	}

	rctx, rcancel := context.WithCancel(ctx)
	ra, rb := newReader(), newReader()
	wg.Add(2)
	go run(rctx, 0, ra)
	go run(rctx, 1, rb)
	stable(2)
	acked := produce("g1", n)
	recs, byMember := collect(n)
	checkAcked(t, "group", acked, recs, true)
	if byMember[0] == 0 || byMember[1] == 0 {
		t.Errorf("records read per member: %v; want both members reading", byMember)
	}
	// ReadMessage commits before it returns, so the ends are committed
	// already; Close leaves the group.
	rcancel()
	wg.Wait()
	for _, r := range []*kafka.Reader{ra, rb} {
		if err := r.Close(); err != nil {
			t.Errorf("Reader.Close: %v", err)
		}
	}
	kafkaGoWaitCommitted(t, ctx, adm, group, topic, acked)

	// A new member resumes from the commits: only the new records.
	acked2 := produce("g2", 100)
	rctx, rcancel = context.WithCancel(ctx)
	defer rcancel()
	rc := newReader()
	defer rc.Close()
	wg.Add(1)
	go run(rctx, 2, rc)
	recs, _ = collect(100)
	checkAcked(t, "group resumed", acked2, recs, true)
	for k, v := range acked2 {
		acked[k] = v
	}
	kafkaGoWaitCommitted(t, ctx, adm, group, topic, acked)
	rcancel()
	wg.Wait()
	select {
	case g := <-out:
		t.Errorf("record %q at %d@%d read again", g.rec.value, g.rec.partition, g.rec.offset)
	default:
	}
}

// kafkaGoWaitCommitted waits until the group's committed offset of every
// partition is one past the last acked offset there.
func kafkaGoWaitCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, acked map[string]ackedAt) {
	t.Helper()
	want := map[int32]int64{}
	for _, a := range acked {
		want[a.partition] = max(want[a.partition], a.offset+1)
	}
	waitFor(t, 20*time.Second, func() error {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		for part, off := range want {
			o, ok := offs.Lookup(topic, part)
			if !ok || o.Err != nil || o.At != off {
				return fmt.Errorf("%s[%d] committed %+v (found %v), want %d", topic, part, o, ok, off)
			}
		}
		return nil
	})
}

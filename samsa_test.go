package samsa_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/wire"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startBroker(t *testing.T, dir string, props map[string]string) *samsa.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: dir, Properties: props, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newClient(t *testing.T, b *samsa.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.RequestTimeoutOverhead(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumeAll reads n records from topic with a direct consumer.
func consumeAll(t *testing.T, b *samsa.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch error: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"num.partitions": "3"})
	cl := newClient(t, b, kgo.DefaultProduceTopic("rt"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	const n = 300
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, b, "rt", n)
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	keyPart := map[string]int32{}
	next := map[int32]int64{}
	for _, r := range recs {
		if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPart[string(r.Key)] = r.Partition
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		if len(r.Headers) != 1 || string(r.Headers[0].Value) != "x" {
			t.Fatalf("headers lost: %+v", r.Headers)
		}
	}
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("keep"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, dir, nil)
	recs := consumeAll(t, b2, "keep", 50)
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("record %d = %q", i, r.Value)
		}
	}
	// Idempotent producing continues after the restart.
	cl2 := newClient(t, b2, kgo.DefaultProduceTopic("keep"))
	if err := cl2.ProduceSync(ctx, &kgo.Record{Value: []byte("50")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, b)
	ctx := testCtx(t)

	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("nope")
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-create: %+v", resp.Topics)
	}

	req.AllowAutoTopicCreation = true
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("auto-create: %+v", resp.Topics[0])
	}

	// Metadata v1 (kafka-python) implies auto-creation.
	req1 := kmsg.NewPtrMetadataRequest()
	req1.Version = 1
	rt.Topic = kmsg.StringPtr("implied")
	req1.Topics = []kmsg.MetadataRequestTopic{rt}
	resp1 := rawRequest(t, b, req1).(*kmsg.MetadataResponse)
	if resp1.Topics[0].ErrorCode != 0 {
		t.Fatalf("v1 implied auto-create: code %d", resp1.Topics[0].ErrorCode)
	}

	rt.Topic = kmsg.StringPtr("bad/name")
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: code %d", resp.Topics[0].ErrorCode)
	}
}

// produceRaw sends a Produce request with the given record bytes to
// partition 0 of topic and returns the partition's answer.
func produceRaw(t *testing.T, b *samsa.Broker, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9 // by name; kgo would pick v13 (topic ids)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, b, req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func plainBatch(values ...string) []byte {
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(v)}
	}
	return record.BuildBatch(record.BuildOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
}

func TestProduceErrors(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, b)
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("200")}, "small"); err != nil {
		t.Fatal(err)
	}
	good := plainBatch("a", "b")
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 1
	lying := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(lying[8:], 1000)

	tests := []struct {
		name  string
		topic string
		recs  []byte
		want  int16
	}{
		{"good", "small", good, 0},
		{"bad crc", "small", badCRC, kerr.CorruptMessage.Code},
		{"lying length", "small", lying, kerr.CorruptMessage.Code},
		{"garbage", "small", []byte("garbage garbage garbage garbage garbage garbage garbage garbage"), kerr.CorruptMessage.Code},
		{"too large", "small", plainBatch(string(make([]byte, 500))), kerr.MessageTooLarge.Code},
		{"unknown topic", "missing", good, kerr.UnknownTopicOrPartition.Code},
		// Produce v3+ carries exactly one batch per partition (Kafka:
		// INVALID_RECORD); the first, valid batch is not written either.
		{"two batches", "small", append(plainBatch("c"), plainBatch("d")...), kerr.InvalidRecord.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := produceRaw(t, b, tt.topic, tt.recs)
			if got.ErrorCode != tt.want {
				t.Fatalf("error code %d (%v), want %d", got.ErrorCode, kerr.ErrorForCode(got.ErrorCode), tt.want)
			}
		})
	}
	// Only the good batch was written.
	offs, err := adm.ListEndOffsets(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("small", 0); o.Offset != 2 {
		t.Fatalf("end offset %d, want 2: a rejected batch was written", o.Offset)
	}
}

func TestListOffsets(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("lo"), kgo.AllowAutoTopicCreation())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("earliest = %d", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 10 {
		t.Fatalf("latest = %d", o.Offset)
	}
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base.Add(150*time.Second).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTime.Lookup("lo", 0); o.Offset != 3 {
		t.Fatalf("by timestamp = %d, want 3", o.Offset)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(time.Hour).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	// Kafka answers -1 for "no such record"; kadm maps that to the end offset.
	if o, _ := after.Lookup("lo", 0); o.Offset != -1 && o.Offset != 10 {
		t.Fatalf("after the last record = %d", o.Offset)
	}
}

func TestFetchLongPoll(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("lp"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := func(offset int64, wait time.Duration) (*kmsg.FetchResponse, time.Duration) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.MaxWaitMillis = int32(wait / time.Millisecond)
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "lp"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		// Pinned to v11 on a raw connection: kgo would pick v13+ and
		// name topics by id.
		resp := rawRequest(t, b, req).(*kmsg.FetchResponse)
		return resp, time.Since(start)
	}
	// Data available: immediate answer.
	resp, _ := fetch(0, 10*time.Second)
	if len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatal("no data for offset 0")
	}
	// At the end: the fetch waits until a produce lands, not for max wait.
	go func() {
		time.Sleep(200 * time.Millisecond)
		cl.ProduceSync(ctx, &kgo.Record{Value: []byte("second")})
	}()
	resp, took := fetch(1, 20*time.Second)
	if len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatal("long poll returned no data")
	}
	if took > 10*time.Second {
		t.Fatalf("long poll was not woken by the produce (took %v)", took)
	}
	// Nothing arrives: empty answer (not null) after max wait.
	resp, _ = fetch(2, 100*time.Millisecond)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.RecordBatches == nil || p.HighWatermark != 2 {
		t.Fatalf("empty fetch: code %d hw %d records nil=%v", p.ErrorCode, p.HighWatermark, p.RecordBatches == nil)
	}
	// Past the end: OFFSET_OUT_OF_RANGE.
	resp, _ = fetch(99, 100*time.Millisecond)
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.OffsetOutOfRange.Code {
		t.Fatalf("past end: code %d", c)
	}
}

func TestApiVersions(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	for _, v := range []int16{0, 1, 2, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		resp := rawRequest(t, b, req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: code %d", v, resp.ErrorCode)
		}
		keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
		for _, k := range resp.ApiKeys {
			keys[k.ApiKey] = k
		}
		// Written out, not read from kmsg or the broker's own table: a
		// change to what the broker advertises must be a deliberate edit
		// here too.
		want := map[kmsg.Key][2]int16{
			kmsg.Produce: {0, 13}, kmsg.Fetch: {0, 18}, kmsg.ListOffsets: {0, 11}, kmsg.Metadata: {0, 13},
			kmsg.OffsetCommit: {0, 10}, kmsg.OffsetFetch: {0, 10}, kmsg.FindCoordinator: {0, 6},
			kmsg.JoinGroup: {0, 9}, kmsg.Heartbeat: {0, 4}, kmsg.LeaveGroup: {0, 5}, kmsg.SyncGroup: {0, 5},
			kmsg.DescribeGroups: {0, 6}, kmsg.ListGroups: {0, 5}, kmsg.ApiVersions: {0, 5},
			kmsg.CreateTopics: {0, 7}, kmsg.DeleteTopics: {0, 6}, kmsg.DeleteRecords: {0, 2},
			kmsg.InitProducerID: {0, 5}, kmsg.OffsetForLeaderEpoch: {0, 4}, kmsg.DescribeACLs: {0, 3},
			kmsg.CreateACLs: {0, 3}, kmsg.DeleteACLs: {0, 3}, kmsg.DescribeConfigs: {0, 4},
			kmsg.AlterConfigs: {0, 2}, kmsg.DescribeLogDirs: {0, 5}, kmsg.CreatePartitions: {0, 3},
			kmsg.DeleteGroups: {0, 3}, kmsg.IncrementalAlterConfigs: {0, 1}, kmsg.OffsetDelete: {0, 0},
			kmsg.DescribeClientQuotas: {0, 1}, kmsg.DescribeCluster: {0, 2},
			kmsg.ConsumerGroupHeartbeat: {0, 1}, kmsg.ConsumerGroupDescribe: {0, 1},
			kmsg.ElectLeaders: {0, 2}, kmsg.AlterPartitionAssignments: {0, 1},
			kmsg.ListPartitionReassignments: {0, 0}, kmsg.DescribeQuorum: {0, 2},
			kmsg.AddPartitionsToTxn: {0, 5}, kmsg.AddOffsetsToTxn: {0, 4}, kmsg.EndTxn: {0, 5},
			kmsg.WriteTxnMarkers: {0, 2}, kmsg.TxnOffsetCommit: {0, 5}, kmsg.DescribeTransactions: {0, 0},
			kmsg.ListTransactions: {0, 2}, kmsg.DescribeProducers: {0, 0},
			kmsg.AlterClientQuotas: {0, 1}, kmsg.DescribeUserSCRAMCredentials: {0, 0},
			kmsg.AlterUserSCRAMCredentials: {0, 0}, kmsg.SASLHandshake: {0, 1}, kmsg.SASLAuthenticate: {0, 2},
		}
		if len(keys) != len(want) {
			t.Errorf("v%d: %d APIs advertised, want %d", v, len(keys), len(want))
		}
		for key, r := range want {
			k, ok := keys[int16(key)]
			if !ok || k.MinVersion != r[0] || k.MaxVersion != r[1] {
				t.Errorf("v%d: %s advertised %+v (present %v), want v%d-v%d", v, kmsg.NameForKey(int16(key)), k, ok, r[0], r[1])
			}
		}
	}
}

// rawRequest sends one request on a fresh connection and decodes the
// answer, handling the ApiVersions v0 response header rule.
func rawRequest(t *testing.T, b *samsa.Broker, req kmsg.Request) kmsg.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	id := "raw"
	if _, err := c.Write(wire.AppendRequest(nil, 5, &id, req)); err != nil {
		t.Fatal(err)
	}
	frame, _, err := wire.ReadFrame(c, 1<<24, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:]
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return resp
}

// A newer client's ApiVersions (a version we do not know) gets a v0
// answer with UNSUPPORTED_VERSION and our ranges (KIP-511).
func TestApiVersionsUnknownVersion(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// key 18, version 99, correlation 7, client id "c", empty tags, body.
	msg := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'c', 0, 0, 0, 0}
	c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...))
	frame, _, err := wire.ReadFrame(c, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var resp kmsg.ApiVersionsResponse
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("code %d keys %d", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// Bad input on one connection closes that connection only.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"socket.request.max.bytes": "1048576"})
	cl := newClient(t, b, kgo.DefaultProduceTopic("ok"), kgo.AllowAutoTopicCreation())
	ctx := testCtx(t)
	inputs := map[string][]byte{
		"huge size":       {0x7f, 0xff, 0xff, 0xff},
		"over limit":      {0x00, 0x20, 0x00, 0x00},
		"negative size":   {0xff, 0xff, 0xff, 0xf0},
		"unknown api key": append([]byte{0, 0, 0, 10}, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"bad version":     append([]byte{0, 0, 0, 10}, 0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff),
		"truncated body":  append([]byte{0, 0, 0, 12}, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(in)
			_, err = c.Read(make([]byte, 1))
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("connection not closed: %v", err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatalf("other client disturbed: %v", err)
			}
		})
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func TestLogAppendTimeTopic(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("lat"))
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": kmsg.StringPtr("LogAppendTime")}, "lat"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour)
	before := time.Now().Add(-time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, b, "lat", 1)
	if recs[0].Timestamp.Before(before) || recs[0].Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp %v (type %v), want broker time", recs[0].Timestamp, recs[0].Attrs.TimestampType())
	}
}

// A long-poll fetch whose client went away must not hold up shutdown: the
// connection's context ends the wait.
func TestCloseDoesNotWaitForAbandonedLongPoll(t *testing.T) {
	b, err := samsa.Start(context.Background(), samsa.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b, kgo.DefaultProduceTopic("poll"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 60_000, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "poll"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 1, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.Write(wire.AppendRequest(nil, 1, nil, req))
	time.Sleep(100 * time.Millisecond) // let the fetch start waiting
	c.Close()

	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Close is waiting for a long poll whose client is gone")
	}
}

func TestInternalTopicsAreProtected(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{"group.initial.rebalance.delay.ms": "0"})
	cl := newClient(t, b)
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	// A standalone commit creates __consumer_offsets.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "x", Partition: 0, At: 0})
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	resps, err := adm.DeleteTopics(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["__consumer_offsets"]; !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("delete __consumer_offsets: %v", r.Err)
	}
	cp, err := adm.CreatePartitions(ctx, 1, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if r := cp["__consumer_offsets"]; !errors.Is(r.Err, kerr.InvalidPartitions) {
		t.Fatalf("add partitions to __consumer_offsets: %v", r.Err)
	}
}

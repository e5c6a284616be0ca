package bench

// The discard broker: the smallest Kafka broker a kgo producer will work
// with, and the ceiling (or floor, for latency) of what the client and the
// loopback socket can do on this machine. It speaks the wire protocol with
// kmsg bodies, keeps no data and never touches the disk:
//
//   - ApiVersions: the keys below, at kmsg's versions (Produce and Fetch
//     capped at v12, the last versions that name topics instead of topic
//     IDs);
//   - Metadata: one broker (itself, node 1, also the controller); topics
//     are auto-created with a fixed partition count when a request allows
//     it, each partition led by node 1 with ISR {1};
//   - InitProducerID: a fresh producer ID per call, epoch 0, so idempotent
//     producers work;
//   - Produce: counts the records of each v2 batch, acknowledges it with
//     the next base offset of its partition and throws the bytes away;
//     acks=0 gets no answer, as in Kafka;
//   - ListOffsets: 0 for the earliest offset, the next offset otherwise;
//   - Fetch: never any records; waits the request's MaxWaitMillis (at
//     most one second) and answers each partition with its high watermark.
//
// Each connection is one goroutine that reads a frame, answers it and
// writes the answer, in order. Anything else (an unknown API, a version out
// of range, a malformed frame) closes the connection.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	discardNodeID   = 1
	discardMaxFrame = 100 << 20 // larger frames close the connection
	discardMaxWait  = time.Second
)

// discardVersions is the ApiVersions answer: key -> max version (min 0,
// except Produce, whose v0-v2 carry the old message format).
var discardVersions = func() map[int16]int16 {
	m := map[int16]int16{}
	for _, r := range []kmsg.Request{
		kmsg.NewPtrProduceRequest(), kmsg.NewPtrFetchRequest(), kmsg.NewPtrListOffsetsRequest(),
		kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrInitProducerIDRequest(),
	} {
		m[r.Key()] = r.MaxVersion()
	}
	m[0] = min(m[0], 12) // Produce v13+ names topics by ID
	m[1] = min(m[1], 12) // Fetch v13+ likewise
	return m
}()

func discardMinVersion(key int16) int16 {
	if key == 0 {
		return 3
	}
	return 0
}

// discardBroker is a running discard broker.
type discardBroker struct {
	ln         net.Listener
	host       string
	port       int32
	partitions int32 // partition count of auto-created topics
	done       chan struct{}
	wg         sync.WaitGroup
	nextPID    atomic.Int64

	mu     sync.Mutex
	topics map[string]*discardTopic
	conns  map[net.Conn]struct{}
	closed bool
	err    error // first protocol error seen, for tests
}

type discardTopic struct {
	id   [16]byte
	next []atomic.Int64 // next offset of each partition
}

// startDiscard listens on a loopback port and serves until Close.
func startDiscard(partitions int) (*discardBroker, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("partitions %d < 1", partitions)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d := &discardBroker{
		ln: ln, host: host, port: int32(p), partitions: int32(partitions),
		done:   make(chan struct{}),
		topics: map[string]*discardTopic{},
		conns:  map[net.Conn]struct{}{},
	}
	d.nextPID.Store(1000)
	d.wg.Go(d.accept)
	return d, nil
}

func (d *discardBroker) Addr() string { return d.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (d *discardBroker) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	close(d.done)
	d.ln.Close()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// Err is the first protocol error a connection was closed for, if any.
func (d *discardBroker) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *discardBroker) fail(err error) {
	d.mu.Lock()
	if d.err == nil && !d.closed {
		d.err = err
	}
	d.mu.Unlock()
}

func (d *discardBroker) accept() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.mu.Unlock()
		d.wg.Go(func() {
			defer func() {
				d.mu.Lock()
				delete(d.conns, c)
				d.mu.Unlock()
				c.Close()
			}()
			if err := d.serve(c); err != nil {
				d.fail(err)
			}
		})
	}
}

// serve answers the frames of one connection in order. It returns nil when
// the peer hangs up or the broker closes, an error for a protocol problem.
func (d *discardBroker) serve(c net.Conn) error {
	r := bufio.NewReaderSize(c, 64<<10)
	var size [4]byte
	var in, out []byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return nil
		}
		n := binary.BigEndian.Uint32(size[:])
		if n < 8 || n > discardMaxFrame {
			return fmt.Errorf("frame of %d bytes", n)
		}
		in = slices.Grow(in[:0], int(n))[:n]
		if _, err := io.ReadFull(r, in); err != nil {
			return nil
		}
		key := int16(binary.BigEndian.Uint16(in[0:]))
		version := int16(binary.BigEndian.Uint16(in[2:]))
		corr := binary.BigEndian.Uint32(in[4:])
		resp, err := d.handle(key, version, in[8:])
		if err != nil {
			return fmt.Errorf("key %d v%d: %w", key, version, err)
		}
		if resp == nil { // acks=0
			continue
		}
		out = append(out[:0], 0, 0, 0, 0)
		out = binary.BigEndian.AppendUint32(out, corr)
		if resp.IsFlexible() && key != 18 { // ApiVersions answers with header v0 always
			out = append(out, 0) // no tagged fields
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return nil
		}
	}
}

// handle decodes one request (the frame after key, version and correlation
// ID) and returns its response; nil for a produce with acks=0.
func (d *discardBroker) handle(key, version int16, rest []byte) (kmsg.Response, error) {
	maxV, ok := discardVersions[key]
	if key == 18 && ok && version > maxV {
		// A newer client's ApiVersions: answer v0 with UNSUPPORTED_VERSION
		// and our keys, and it retries at a version we know.
		resp := d.apiVersions(0)
		resp.ErrorCode = 35
		return resp, nil
	}
	if !ok || version < discardMinVersion(key) || version > maxV {
		return nil, errors.New("unsupported API key or version")
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	body, err := skipHeaderRest(rest, req.IsFlexible())
	if err != nil {
		return nil, err
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		return d.apiVersions(version), nil
	case *kmsg.MetadataRequest:
		return d.metadata(req), nil
	case *kmsg.InitProducerIDRequest:
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerID = d.nextPID.Add(1)
		resp.ProducerEpoch = 0
		return resp, nil
	case *kmsg.ProduceRequest:
		resp := d.produce(req)
		if req.Acks == 0 {
			return nil, nil
		}
		return resp, nil
	case *kmsg.ListOffsetsRequest:
		return d.listOffsets(req), nil
	case *kmsg.FetchRequest:
		return d.fetch(req), nil
	}
	return nil, errors.New("unhandled request")
}

// skipHeaderRest skips the request header's client ID (a nullable string
// in every header version) and, in flexible versions, its tagged fields.
func skipHeaderRest(b []byte, flexible bool) ([]byte, error) {
	if len(b) < 2 {
		return nil, errors.New("short header")
	}
	if n := int16(binary.BigEndian.Uint16(b)); n > 0 {
		if len(b) < 2+int(n) {
			return nil, errors.New("short client ID")
		}
		b = b[2+int(n):]
	} else {
		b = b[2:]
	}
	if !flexible {
		return b, nil
	}
	tags, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[n:]
	for range tags {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad tag key")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

func (d *discardBroker) apiVersions(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	for key, maxV := range discardVersions {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, discardMinVersion(key), maxV
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	slices.SortFunc(resp.ApiKeys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return resp
}

// topic returns the named topic, creating it when create is set.
func (d *discardBroker) topic(name string, create bool) *discardTopic {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.topics[name]
	if t == nil && create && name != "" && len(name) <= 249 {
		t = &discardTopic{next: make([]atomic.Int64, d.partitions)}
		binary.BigEndian.PutUint64(t.id[:], uint64(len(d.topics)+1))
		t.id[15] = 0xd1
		d.topics[name] = t
	}
	return t
}

func (d *discardBroker) partition(topic string, p int32) *atomic.Int64 {
	t := d.topic(topic, false)
	if t == nil || p < 0 || int(p) >= len(t.next) {
		return nil
	}
	return &t.next[p]
}

func (d *discardBroker) metadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = discardNodeID, d.host, d.port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = kmsg.StringPtr("discard")
	resp.ControllerID = discardNodeID

	var names []string
	if req.Topics == nil { // every topic
		d.mu.Lock()
		for name := range d.topics {
			names = append(names, name)
		}
		d.mu.Unlock()
		slices.Sort(names)
	} else {
		for _, t := range req.Topics {
			if t.Topic == nil { // by topic ID only: not supported here
				names = append(names, "")
				continue
			}
			names = append(names, *t.Topic)
		}
	}
	create := req.Version < 4 || req.AllowAutoTopicCreation
	for _, name := range names {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(name)
		t := d.topic(name, create)
		if t == nil {
			rt.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.id
		for i := range t.next {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition = int32(i)
			p.Leader = discardNodeID
			p.Replicas = []int32{discardNodeID}
			p.ISR = []int32{discardNodeID}
			rt.Partitions = append(rt.Partitions, p)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (d *discardBroker) produce(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LogAppendTime = -1
			next := d.partition(t.Topic, p.Partition)
			n, err := countRecords(p.Records)
			switch {
			case next == nil:
				rp.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			case err != nil:
				rp.ErrorCode = 2 // CORRUPT_MESSAGE
				rp.ErrorMessage = kmsg.StringPtr(err.Error())
			default:
				rp.BaseOffset = next.Add(n) - n
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// countRecords returns how many offsets the v2 record batches in b take:
// the sum of lastOffsetDelta+1 over the batches. Nothing else is checked.
func countRecords(b []byte) (int64, error) {
	const headerLen = 61 // base offset .. record count
	var n int64
	if len(b) == 0 {
		return 0, errors.New("no record batch")
	}
	for len(b) > 0 {
		if len(b) < headerLen {
			return 0, errors.New("short record batch")
		}
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if b[16] != 2 {
			return 0, fmt.Errorf("record batch magic %d", b[16])
		}
		if length < headerLen-12 || length > int64(len(b)-12) {
			return 0, fmt.Errorf("record batch length %d of %d bytes", length, len(b)-12)
		}
		n += int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
		b = b[12+length:]
	}
	return n, nil
}

func (d *discardBroker) listOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp = -1
			next := d.partition(t.Topic, p.Partition)
			switch {
			case next == nil:
				rp.ErrorCode = 3
			case p.Timestamp == -2: // earliest
				rp.Offset = 0
			default:
				rp.Offset = next.Load()
			}
			rp.OldStyleOffsets = []int64{rp.Offset}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (d *discardBroker) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, discardMaxWait)
	if wait > 0 {
		tm := time.NewTimer(wait)
		select {
		case <-tm.C:
		case <-d.done:
			tm.Stop()
		}
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			if next := d.partition(t.Topic, p.Partition); next == nil {
				rp.ErrorCode = 3
			} else {
				rp.HighWatermark = next.Load()
				rp.LastStableOffset = rp.HighWatermark
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// discardPeer runs the discard broker as a peer of the reports. It keeps
// nothing, so dir is unused.
func discardPeer() peerKind {
	return peerKind{name: "discard", start: func(_ context.Context, _ string, partitions int) (*peer, error) {
		d, err := startDiscard(partitions)
		if err != nil {
			return nil, err
		}
		return &peer{name: "discard", addr: d.Addr(), close: d.Close}, nil
	}}
}

// TestDiscardBroker checks that an idempotent kgo producer (acks=all) gets
// its records acknowledged by the discard broker with increasing offsets,
// and that the rest of what the broker answers parses.
func TestDiscardBroker(t *testing.T) {
	d, err := startDiscard(3)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := producerClient(d.Addr(), "t", kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var last [3]int64
	for i := range last {
		last[i] = -1
	}
	for i := range 10 {
		r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: int32(i % 3)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.Offset != last[r.Partition]+1 {
			t.Errorf("record %d: offset %d in partition %d, want %d", i, r.Offset, r.Partition, last[r.Partition]+1)
		}
		last[r.Partition] = r.Offset
		if r.ProducerID < 1000 {
			t.Errorf("record %d: producer ID %d: not idempotent", i, r.ProducerID)
		}
	}
	// A batch of several records takes as many offsets.
	rs := make([]*kgo.Record, 5)
	for i := range rs {
		rs[i] = &kgo.Record{Value: payload, Partition: 0}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := rs[4].Offset - rs[0].Offset; got != 4 {
		t.Errorf("5 records span %d offsets, want 4", got)
	}

	// Metadata and list offsets through kgo's own requests.
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("t")
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != 3 || mresp.Topics[0].Partitions[2].Leader != discardNodeID {
		t.Errorf("metadata: %+v", mresp.Topics)
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "t"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = 0, -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := lresp.Topics[0].Partitions[0].Offset; got != rs[4].Offset+1 {
		t.Errorf("latest offset of partition 0 = %d, want %d", got, rs[4].Offset+1)
	}
	// An empty fetch answers after its max wait, with the high watermark.
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis = 10
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = 1
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := fresp.Topics[0].Partitions[0].HighWatermark; got != last[1]+1 {
		t.Errorf("fetch high watermark of partition 1 = %d, want %d", got, last[1]+1)
	}
	if err := d.Err(); err != nil {
		t.Errorf("discard broker closed a connection: %v", err)
	}

	// The flat-out load of the reports runs against it too.
	tp, err := produceFlat(ctx, d.Addr(), "flat", 2, 200*time.Millisecond, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if tp.records == 0 {
		t.Error("flat-out produce acknowledged nothing")
	}
	if err := d.Err(); err != nil {
		t.Errorf("discard broker closed a connection: %v", err)
	}
}

func TestCountRecords(t *testing.T) {
	batch := func(lastDelta int32, recs int) []byte {
		b := make([]byte, 61+recs)
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		b[16] = 2
		binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
		return b
	}
	two := append(batch(4, 3), batch(0, 1)...)
	if n, err := countRecords(two); err != nil || n != 6 {
		t.Errorf("countRecords(two batches) = %d, %v; want 6", n, err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": batch(0, 5)[:64],
		"magic 1":   func() []byte { b := batch(0, 0); b[16] = 1; return b }(),
	} {
		if _, err := countRecords(b); err == nil {
			t.Errorf("countRecords(%s) accepted it", name)
		}
	}
}

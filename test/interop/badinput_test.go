package interop

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// closeWithin is how fast the broker must drop a connection that sent a bad
// frame: it decides on the 4-byte size or the header, without waiting for
// more input.
const closeWithin = 3 * time.Second

// rawFrame encodes a request header v1 (api key, version, correlation ID,
// client ID) followed by body. flexible adds the v2 header's empty tag
// buffer. The frame is returned with its size prefix.
func rawFrame(key, version int16, corr int32, clientID string, flexible bool, body []byte) []byte {
	b := make([]byte, 4, 64+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if flexible {
		b = append(b, 0) // no tagged fields
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// sizePrefixed returns size as a 4-byte big-endian prefix followed by rest.
func sizePrefixed(size uint32, rest []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, size), rest...)
}

// dial opens a raw connection to the broker, closed at cleanup.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFrame reads one response frame (size, correlation ID, body) within
// the deadline.
func readFrame(c net.Conn, deadline time.Duration) (int32, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return 0, nil, fmt.Errorf("response frame size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// expectClosed fails unless the broker closes c within closeWithin
// without sending a response first.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(closeWithin))
	var buf [64]byte
	n, err := c.Read(buf[:])
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("connection still open %v after the bad frame", closeWithin)
	case err == nil:
		t.Fatalf("broker answered %d bytes (%x) instead of closing", n, buf[:n])
	}
	// io.EOF or connection reset: closed, as wanted.
}

// vmRSS returns the resident set size of pid in bytes, from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// apiVersionsV0 asks for ApiVersions v0 on c and checks the answer, proving
// the connection is alive and in sync.
func apiVersionsV0(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	if _, err := c.Write(rawFrame(int16(kmsg.ApiVersions), 0, corr, "probe", false, nil)); err != nil {
		t.Fatalf("write ApiVersions v0: %v", err)
	}
	gotCorr, body, err := readFrame(c, 5*time.Second)
	if err != nil {
		t.Fatalf("read ApiVersions v0 response: %v", err)
	}
	resp := kmsg.ApiVersionsResponse{Version: 0}
	if err := resp.ReadFrom(body); err != nil || gotCorr != corr || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v0: corr %d (want %d), error %d, %d keys, decode err %v", gotCorr, corr, resp.ErrorCode, len(resp.ApiKeys), err)
	}
}

// TestBadInput sends malformed frames on raw connections. Each must close
// only its own connection, quickly, without the broker allocating what the
// frame claims; meanwhile a franz-go client on its own connection keeps
// producing and consuming, and a raw "bystander" connection keeps answering.
func TestBadInput(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir())
	const topic = "bad-input-bystander"

	// Background traffic that must not notice anything.
	prod := p.client(t, kgo.DefaultProduceTopic(topic), kgo.RequestRetries(0))
	cons := p.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		produced atomic.Int64 // records acked so far, numbered from 0
		prodErr  atomic.Pointer[error]
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			err := prod.ProduceSync(rctx, &kgo.Record{Value: []byte(strconv.FormatInt(produced.Load(), 10))}).FirstErr()
			rcancel()
			if err != nil {
				prodErr.Store(&err)
				return
			}
			produced.Add(1)
		}
	}()
	// The consumer checks every record arrives in order, at offset = value.
	var (
		cwg      sync.WaitGroup
		consumed atomic.Int64
		consErr  atomic.Pointer[error]
	)
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		for cctx.Err() == nil {
			fs := cons.PollFetches(cctx)
			fs.EachError(func(topic string, part int32, err error) {
				if cctx.Err() == nil {
					err = fmt.Errorf("fetch %s[%d]: %w", topic, part, err)
					consErr.Store(&err)
				}
			})
			for _, r := range fs.Records() {
				n := consumed.Load()
				if string(r.Value) != strconv.FormatInt(n, 10) || r.Offset != n {
					err := fmt.Errorf("record %d: offset %d value %q", n, r.Offset, r.Value)
					consErr.Store(&err)
					return
				}
				consumed.Add(1)
			}
		}
	}()
	// bystanderAlive waits until the producer has acked, and the consumer
	// read, more records than before, so every bad frame is sent while
	// traffic flows on the other connections.
	bystanderAlive := func(t *testing.T) {
		t.Helper()
		wantP, wantC := produced.Load()+3, consumed.Load()+3
		waitFor(t, 10*time.Second, func() error {
			if e := prodErr.Load(); e != nil {
				return fmt.Errorf("bystander producer failed: %w", *e)
			}
			if e := consErr.Load(); e != nil {
				return fmt.Errorf("bystander consumer failed: %w", *e)
			}
			if n, m := produced.Load(), consumed.Load(); n < wantP || m < wantC {
				return fmt.Errorf("bystander produced %d (waiting for %d), consumed %d (waiting for %d)", n, wantP, m, wantC)
			}
			return nil
		})
	}
	bystanderAlive(t)

	bystander := dial(t, p.Addr)
	corr := int32(100)

	cases := []struct {
		name  string
		frame []byte
	}{
		{"size 0x7fffffff", sizePrefixed(0x7fffffff, []byte("more bytes that never add up"))},
		{"negative size", sizePrefixed(0xfffffffe, nil)},
		{"size zero", sizePrefixed(0, nil)},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")},
		{"garbage header", sizePrefixed(16, []byte{0xff, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 0x7f, 0xff, 1, 2, 3, 4, 5, 6})},
		{"unknown api key", rawFrame(9999, 0, 1, "bad", false, nil)},
		{"truncated header", sizePrefixed(3, []byte{0, 18, 0})},
		{"client id past frame end", sizePrefixed(10, []byte{0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff})},
		{"unsupported produce version", rawFrame(int16(kmsg.Produce), 99, 1, "bad", true, nil)},
		{"produce body garbage", rawFrame(int16(kmsg.Produce), 7, 1, "bad", false, []byte{0xff, 0xff, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, p.Addr)
			if _, err := c.Write(tc.frame); err != nil {
				t.Fatalf("write: %v", err)
			}
			expectClosed(t, c)
			bystanderAlive(t)
			corr++
			apiVersionsV0(t, bystander, corr)
			if rss := vmRSS(t, p.Pid()); rss > 200<<20 {
				t.Errorf("broker RSS %d MB after %s, want < 200 MB", rss>>20, tc.name)
			}
		})
	}

	t.Run("ApiVersions v99", func(t *testing.T) {
		// A newer client's ApiVersions: header v2 and a v3-style body
		// (client software name and version, compact strings, tag buffer).
		c := dial(t, p.Addr)
		body := []byte{byte(len("future") + 1)}
		body = append(body, "future"...)
		body = append(body, byte(len("9.9")+1))
		body = append(body, "9.9"...)
		body = append(body, 0)
		if _, err := c.Write(rawFrame(int16(kmsg.ApiVersions), 99, 42, "future-client", true, body)); err != nil {
			t.Fatal(err)
		}
		gotCorr, resp, err := readFrame(c, 5*time.Second)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		av := kmsg.ApiVersionsResponse{Version: 0}
		if err := av.ReadFrom(resp); err != nil {
			t.Fatalf("response is not ApiVersions v0 (%x): %v", resp, err)
		}
		if gotCorr != 42 || av.ErrorCode != 35 {
			t.Errorf("ApiVersions v99: correlation %d error %d, want 42 and 35 (UNSUPPORTED_VERSION)", gotCorr, av.ErrorCode)
		}
		keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
		for _, k := range av.ApiKeys {
			keys[k.ApiKey] = k
		}
		for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.Metadata, kmsg.ApiVersions} {
			if _, ok := keys[int16(k)]; !ok {
				t.Errorf("ApiVersions v99 answer lacks %s: %+v", kmsg.NameForKey(int16(k)), av.ApiKeys)
			}
		}
		// The client retries with a version it finds in the list, on the
		// same connection (KIP-511).
		apiVersionsV0(t, c, 43)
		bystanderAlive(t)
	})

	close(stop)
	wg.Wait()
	if e := prodErr.Load(); e != nil {
		t.Fatalf("bystander producer failed after %d records: %v", produced.Load(), *e)
	}
	// Everything the bystander produced reads back, in order.
	total := produced.Load()
	waitFor(t, 10*time.Second, func() error {
		if e := consErr.Load(); e != nil {
			return fmt.Errorf("bystander consumer failed: %w", *e)
		}
		if n := consumed.Load(); n < total {
			return fmt.Errorf("bystander consumer read %d of %d records", n, total)
		}
		return nil
	})
	stopConsumer()
	cwg.Wait()
	t.Logf("bystander produced and consumed %d records while bad frames were sent", total)
}

// TestSlowLorisFrames: three connections that each announce a frame just
// under socket.request.max.bytes (100 MiB) and then send nothing must not
// stop the broker serving everyone else, nor make it allocate what they
// claim. Twelve bytes from an unauthenticated peer should not be able to
// charge 300 MiB against queued.max.request.bytes and park every other
// connection's next request behind it.
func TestSlowLorisFrames(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir())
	for range 3 {
		c := dial(t, p.Addr)
		if _, err := c.Write(sizePrefixed(100<<20-1, nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing observable says when the broker has read those sizes, so
	// keep probing with fresh connections for a second: the first probes
	// may beat the lorises, the later ones cannot.
	probes := 0
	for start := time.Now(); time.Since(start) < time.Second; probes++ {
		c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := c.Write(rawFrame(int16(kmsg.ApiVersions), 0, 1, "probe", false, nil)); err != nil {
			c.Close()
			t.Fatal(err)
		}
		sent := time.Now()
		_, _, err = readFrame(c, 3*time.Second)
		c.Close()
		if err != nil {
			t.Fatalf("probe %d: ApiVersions on a new connection while 3 connections hold unsent 100 MiB frames: %v after %v",
				probes, err, time.Since(sent).Round(time.Millisecond))
		}
	}
	if rss := vmRSS(t, p.Pid()); rss > 200<<20 {
		t.Errorf("broker RSS %d MB with 3 unsent 100 MiB frames, want < 200 MB", rss>>20)
	}
}

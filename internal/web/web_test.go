package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/web"
)

// Metrics must satisfy the server's Observer: the broker wires them so.
var _ server.Observer = (*web.Metrics)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startBroker(t *testing.T, httpAddr string) *samsa.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := samsa.Start(ctx, samsa.Config{
		Addr: "127.0.0.1:0", HTTPAddr: httpAddr, DataDir: t.TempDir(), Logger: quietLogger(),
		// Groups rebalance at once: no 3s initial delay in tests.
		Properties: map[string]string{"group.initial.rebalance.delay.ms": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, b *samsa.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// waitFor polls fn until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape parses /metrics with Prometheus' own text parser, so a malformed
// exposition fails the test.
func scrape(t *testing.T, b *samsa.Broker) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, "http://"+b.HTTPAddr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want, and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestHealth(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	base := "http://" + b.HTTPAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := get(t, base+path)
		if code != http.StatusOK || strings.TrimSpace(body) != "ok" {
			t.Errorf("%s = %d %q, want 200 ok", path, code, body)
		}
	}
	code, _ := get(t, base+"/no/such/page")
	if code != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", code)
	}
}

func TestHTTPOffAndClose(t *testing.T) {
	off := startBroker(t, samsa.HTTPOff)
	if a := off.HTTPAddr(); a != "" {
		t.Errorf("HTTPAddr() with HTTP off = %q, want empty", a)
	}

	b := startBroker(t, "127.0.0.1:0")
	addr := b.HTTPAddr()
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returns after the HTTP server stopped: nothing listens.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("HTTP still accepting on %s after Close", addr)
	}
}

func TestMetrics(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	cl := newClient(t, b, kgo.DefaultProduceTopic("metered"), kgo.AllowAutoTopicCreation())
	produce(t, cl, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}, &kgo.Record{Value: []byte("c")})

	fams := scrape(t, b)
	tp := map[string]string{"topic": "metered", "partition": "0"}
	if hw, ok := value(fams, "samsa_partition_high_watermark", tp); !ok || hw != 3 {
		t.Errorf("high watermark = %v (present %v), want 3", hw, ok)
	}
	if leo, _ := value(fams, "samsa_partition_log_end_offset", tp); leo != 3 {
		t.Errorf("log end offset = %v, want 3", leo)
	}
	if size, _ := value(fams, "samsa_partition_size_bytes", tp); size <= 0 {
		t.Errorf("size = %v, want > 0", size)
	}
	if segs, _ := value(fams, "samsa_partition_segments", tp); segs != 1 {
		t.Errorf("segments = %v, want 1", segs)
	}
	if syncs, _ := value(fams, "samsa_partition_fsyncs_total", tp); syncs < 1 {
		t.Errorf("fsyncs = %v, want >= 1 (acks=all is fsynced)", syncs)
	}
	// Request metrics are recorded after the response is written, so the
	// client may see its answer a moment before the counters move.
	var produceReqs float64
	waitFor(t, 10*time.Second, func() error {
		fams = scrape(t, b)
		n, ok := value(fams, "samsa_requests_total", map[string]string{"api": "Produce"})
		if d, _ := value(fams, "samsa_request_duration_seconds", map[string]string{"api": "Produce"}); !ok || n < 1 || d != n {
			return fmt.Errorf("Produce requests = %v (present %v), latency samples %v: want >= 1, one sample per request", n, ok, d)
		}
		produceReqs = n
		return nil
	})
	if v, _ := value(fams, "samsa_received_bytes_total", map[string]string{"api": "Produce"}); v <= 0 {
		t.Errorf("Produce bytes received = %v", v)
	}
	if v, _ := value(fams, "samsa_sent_bytes_total", map[string]string{"api": "Metadata"}); v <= 0 {
		t.Errorf("Metadata bytes sent = %v", v)
	}
	if v, _ := value(fams, "samsa_connections_open", nil); v < 1 {
		t.Errorf("open connections = %v, want >= 1 (the client is connected)", v)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "samsa_build_info"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}

	produce(t, cl, &kgo.Record{Value: []byte("d")})
	waitFor(t, 10*time.Second, func() error {
		fams = scrape(t, b)
		if after, _ := value(fams, "samsa_requests_total", map[string]string{"api": "Produce"}); after <= produceReqs {
			return fmt.Errorf("Produce requests %v -> %v after another produce, want an increase", produceReqs, after)
		}
		return nil
	})
	if hw, _ := value(fams, "samsa_partition_high_watermark", tp); hw != 4 {
		t.Errorf("high watermark = %v, want 4", hw)
	}
}

func TestMetricsProtocolErrors(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	before, _ := value(scrape(t, b), "samsa_request_errors_total", map[string]string{"api": "unknown"})
	c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil { // frame size -1
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		after, _ := value(scrape(t, b), "samsa_request_errors_total", map[string]string{"api": "unknown"})
		if after != before+1 {
			return fmt.Errorf("request errors %v -> %v, want +1", before, after)
		}
		return nil
	})
}

func TestConsole(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	base := "http://" + b.HTTPAddr()
	cl := newClient(t, b, kgo.DefaultProduceTopic("orders"), kgo.AllowAutoTopicCreation())
	produce(t, cl,
		&kgo.Record{Key: []byte("k1"), Value: []byte("hello console"),
			Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte("abc123")}}},
		&kgo.Record{Value: []byte("<script>alert('x')</script>")},
		&kgo.Record{Value: []byte{0x00, 0xde, 0xad, 0xbe, 0xef}},
		&kgo.Record{Value: []byte("fourth")},
	)

	// A group that committed offset 1 of 4: lag 3.
	adm := kadm.NewClient(newClient(t, b))
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 1, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(testCtx(t), "billing", offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	code, page := get(t, base+"/")
	if code != http.StatusOK {
		t.Fatalf("/ status %d", code)
	}
	for _, want := range []string{`href="/topics/orders"`, `href="/groups/billing"`, b.Addr()} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(page, "__consumer_offsets") {
		t.Error("overview lists internal topics by default")
	}
	if _, page := get(t, base+"/?internal=1"); !strings.Contains(page, "__consumer_offsets") {
		t.Error("overview with internal=1 does not list __consumer_offsets")
	}

	code, page = get(t, base+"/topics/orders")
	if code != http.StatusOK {
		t.Fatalf("topic page status %d", code)
	}
	for _, want := range []string{
		"hello console", "trace-id", "abc123", // text value and header
		"00deadbeef", // binary value as hex
		"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", // escaped
		"retention.ms", // configs
	} {
		if !strings.Contains(page, want) {
			t.Errorf("topic page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("topic page contains an unescaped <script> from a message value")
	}

	// From an offset, bounded by n.
	_, page = get(t, base+"/topics/orders?partition=0&offset=3&n=1")
	if !strings.Contains(page, "fourth") || strings.Contains(page, "hello console") {
		t.Error("offset=3&n=1 should show only the fourth message")
	}
	code, page = get(t, base+"/topics/orders?partition=7")
	if code != http.StatusOK || !strings.Contains(page, "does not exist") {
		t.Errorf("missing partition: status %d, want the page with an error", code)
	}
	if code, _ := get(t, base+"/topics/nope"); code != http.StatusNotFound {
		t.Errorf("unknown topic: status %d, want 404", code)
	}

	code, page = get(t, base+"/groups/billing")
	if code != http.StatusOK {
		t.Fatalf("group page status %d", code)
	}
	if !strings.Contains(page, `<td class="n lag">3</td>`) {
		t.Errorf("group page does not show lag 3:\n%s", page)
	}
	if code, _ := get(t, base+"/groups/nobody"); code != http.StatusNotFound {
		t.Errorf("unknown group: status %d, want 404", code)
	}

	fams := scrape(t, b)
	gtp := map[string]string{"group": "billing", "topic": "orders", "partition": "0"}
	if lag, ok := value(fams, "samsa_consumer_group_lag", gtp); !ok || lag != 3 {
		t.Errorf("samsa_consumer_group_lag = %v (present %v), want 3", lag, ok)
	}
	if off, _ := value(fams, "samsa_consumer_group_committed_offset", gtp); off != 1 {
		t.Errorf("committed offset metric = %v, want 1", off)
	}
	if n, _ := value(fams, "samsa_consumer_groups", map[string]string{"state": "Empty"}); n != 1 {
		t.Errorf("Empty groups = %v, want 1", n)
	}
}

func TestConsoleLiveGroup(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	base := "http://" + b.HTTPAddr()
	produce(t, newClient(t, b, kgo.DefaultProduceTopic("events"), kgo.AllowAutoTopicCreation()),
		&kgo.Record{Value: []byte("one")}, &kgo.Record{Value: []byte("two")})

	cons := newClient(t, b, kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("console-test"))
	got := 0
	for got < 2 {
		fs := cons.PollFetches(testCtx(t))
		if err := fs.Err0(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("consumer did not get the records")
			}
			continue
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		_, page := get(t, base+"/groups/readers")
		for _, want := range []string{"Stable", "console-test", "events: 0"} {
			if !strings.Contains(page, want) {
				return fmt.Errorf("group page lacks %q", want)
			}
		}
		return nil
	})
	fams := scrape(t, b)
	if n, _ := value(fams, "samsa_consumer_group_members", map[string]string{"group": "readers"}); n != 1 {
		t.Errorf("members = %v, want 1", n)
	}
	if lag, _ := value(fams, "samsa_consumer_group_lag", map[string]string{"group": "readers", "topic": "events", "partition": "0"}); lag != 0 {
		t.Errorf("lag after consuming everything = %v, want 0", lag)
	}
}

// TestTransactionMetricsAndConsole: an open transaction shows in the
// transaction gauges, holds the partition's last stable offset (LSO lag),
// and is listed on the console; after its commit it is gone.
func TestTransactionMetricsAndConsole(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	plain := newClient(t, b, kgo.DefaultProduceTopic("txns"), kgo.AllowAutoTopicCreation())
	produce(t, plain, &kgo.Record{Value: []byte("before")})
	tx := newClient(t, b, kgo.DefaultProduceTopic("txns"), kgo.AllowAutoTopicCreation(), kgo.TransactionalID("console-txn"))
	ctx := testCtx(t)
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, plain, &kgo.Record{Value: []byte("after")})

	fams := scrape(t, b)
	tp := map[string]string{"topic": "txns", "partition": "0"}
	if lso, ok := value(fams, "samsa_partition_last_stable_offset", tp); !ok || lso != 1 {
		t.Errorf("last stable offset = %v (present %v), want 1 (the open transaction's first offset)", lso, ok)
	}
	if lag, _ := value(fams, "samsa_partition_lso_lag_records", tp); lag != 2 {
		t.Errorf("LSO lag = %v, want 2", lag)
	}
	if n, _ := value(fams, "samsa_partition_open_transactions", tp); n != 1 {
		t.Errorf("open transactions on the partition = %v, want 1", n)
	}
	if n, ok := value(fams, "samsa_transactions_open", nil); !ok || n != 1 {
		t.Errorf("samsa_transactions_open = %v (present %v), want 1", n, ok)
	}
	if n, _ := value(fams, "samsa_transactional_ids", nil); n != 1 {
		t.Errorf("samsa_transactional_ids = %v, want 1", n)
	}
	if code, body := get(t, "http://"+b.HTTPAddr()+"/"); code != 200 || !strings.Contains(body, "console-txn") || !strings.Contains(body, "Ongoing") {
		t.Errorf("console: status %d, open transaction listed: %v", code, strings.Contains(body, "console-txn"))
	}

	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		fams = scrape(t, b)
		if n, _ := value(fams, "samsa_transactions_open", nil); n != 0 {
			return fmt.Errorf("samsa_transactions_open = %v after the commit", n)
		}
		if lag, _ := value(fams, "samsa_partition_lso_lag_records", tp); lag != 0 {
			return fmt.Errorf("LSO lag = %v after the commit", lag)
		}
		return nil
	})
	if _, body := get(t, "http://"+b.HTTPAddr()+"/"); strings.Contains(body, "console-txn") {
		t.Error("the committed transaction is still listed as open")
	}
}

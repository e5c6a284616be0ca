package web

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/record"
)

func openBroker(t *testing.T) *broker.Broker {
	t.Helper()
	bc := config.Default()
	bc.DataDir = t.TempDir()
	b, err := broker.Open(bc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func serve(t *testing.T, s *Server, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestReadyz(t *testing.T) {
	s, err := New(Config{Broker: openBroker(t)})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"before the Kafka listener serves", func() {}, http.StatusServiceUnavailable},
		{"serving", func() { s.SetReady(true) }, http.StatusOK},
		{"shutting down", func() { s.SetReady(false) }, http.StatusServiceUnavailable},
		{"closed", func() { s.SetReady(true); _ = s.Close(context.Background()) }, http.StatusServiceUnavailable},
	}
	for _, st := range steps {
		st.do()
		if got := serve(t, s, "/readyz").Code; got != st.want {
			t.Errorf("%s: /readyz = %d, want %d", st.name, got, st.want)
		}
		if got := serve(t, s, "/healthz").Code; got != http.StatusOK {
			t.Errorf("%s: /healthz = %d, want 200 (the process is up)", st.name, got)
		}
	}
}

func TestConsoleSecurityHeaders(t *testing.T) {
	s, err := New(Config{Broker: openBroker(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(t, s, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("/ = %d: %s", rec.Code, rec.Body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q, want scripts disallowed", csp)
	}
	if !strings.Contains(rec.Body.String(), "No topics yet") {
		t.Error("empty broker's overview does not say there are no topics")
	}
	if rec := serve(t, s, "/static/style.css"); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style.css = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// TestBrowse checks the browser's offset arithmetic and bounds against a
// real partition with several batches.
func TestBrowse(t *testing.T) {
	b := openBroker(t)
	top, err := b.CreateTopic(broker.CreateTopicRequest{Name: "t", Partitions: 1, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := top.Partitions[0]
	// Ten batches of three records: offsets 0..29, values "v<offset>".
	for i := range 10 {
		var recs []record.Record
		for j := range 3 {
			recs = append(recs, record.Record{OffsetDelta: int32(j), Value: fmt.Appendf(nil, "v%d", 3*i+j)})
		}
		batch := record.BuildBatch(record.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1000}, recs)
		if _, err := p.Append(batch, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		from      int64
		n         int
		wantFirst int64
		wantCount int
		wantNext  int64
	}{
		{"last 5", -1, 5, 25, 5, 30},
		{"from the middle of a batch", 4, 4, 4, 4, 8},
		{"more than exist", 28, 10, 28, 2, 30},
		{"before the log start clamps", -1, 1000, 0, 30, 30}, // n clamps to 200, then the start to 0
		{"at the high watermark", 30, 5, -1, 0, 30},
		{"past the high watermark clamps", 99, 5, -1, 0, 30},
		{"n below 1 shows one", 0, 0, 0, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := browse(p, tc.from, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Messages) != tc.wantCount {
				t.Fatalf("%d messages, want %d", len(res.Messages), tc.wantCount)
			}
			if res.Next != tc.wantNext {
				t.Errorf("next = %d, want %d", res.Next, tc.wantNext)
			}
			for i, m := range res.Messages {
				want := tc.wantFirst + int64(i)
				if m.Offset != want || m.Value.Text != fmt.Sprintf("v%d", want) {
					t.Errorf("message %d = offset %d value %q, want offset %d", i, m.Offset, m.Value.Text, want)
				}
				if !m.Key.Null {
					t.Errorf("offset %d: key should be null", m.Offset)
				}
				if m.Timestamp.UnixMilli() != 1000 {
					t.Errorf("offset %d: timestamp %v", m.Offset, m.Timestamp)
				}
			}
		})
	}
}

func TestShow(t *testing.T) {
	long := strings.Repeat("é", maxShownBytes) // 2 bytes each
	tests := []struct {
		name string
		in   []byte
		want shownBytes
	}{
		{"null", nil, shownBytes{Null: true}},
		{"empty", []byte{}, shownBytes{}},
		{"text", []byte("héllo\n\tworld"), shownBytes{Text: "héllo\n\tworld", Size: 13}},
		{"binary", []byte{0, 1, 0xff}, shownBytes{Text: "0001ff", Hex: true, Size: 3}},
		{"control char", []byte("a\x1bb"), shownBytes{Text: "611b62", Hex: true, Size: 3}},
		{"invalid utf-8", []byte{'a', 0xc3}, shownBytes{Text: "61c3", Hex: true, Size: 2}},
		{"long text cut at a rune", []byte(long), shownBytes{Text: long[:maxShownBytes], Size: 2 * maxShownBytes, Truncated: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := show(tc.in); got != tc.want {
				t.Errorf("show(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzShow checks, for any bytes: no panic; text output is valid UTF-8 and a
// prefix of the input; hex output decodes to a prefix of the input; Size is
// the input length; Truncated exactly when the shown prefix is shorter; the
// shown form is never longer than maxShownBytes.
func FuzzShow(f *testing.F) {
	for _, s := range [][]byte{nil, {}, []byte("plain"), {0}, {0xff, 0xfe}, []byte("\u2028 ok"), bytes.Repeat([]byte("ab"), maxShownBytes)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := show(b)
		if s.Null {
			return
		}
		if s.Size != len(b) {
			t.Fatalf("Size %d, len %d", s.Size, len(b))
		}
		if len(s.Text) > maxShownBytes {
			t.Fatalf("shown %d bytes", len(s.Text))
		}
		shown := []byte(s.Text)
		if s.Hex {
			var err error
			if shown, err = hex.DecodeString(s.Text); err != nil {
				t.Fatal(err)
			}
		} else if !utf8.ValidString(s.Text) {
			t.Fatal("text is not UTF-8")
		}
		if !bytes.HasPrefix(b, shown) || s.Truncated != (len(shown) < len(b)) {
			t.Fatalf("shown %q (truncated %v) is not a faithful prefix of %q", shown, s.Truncated, b)
		}
	})
}

// FuzzConsumerAssignment checks, for any bytes a client could put in a
// SyncGroup assignment: no panic, and a well-formed assignment lists every
// topic once.
func FuzzConsumerAssignment(f *testing.F) {
	a := kmsg.NewConsumerMemberAssignment()
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: []int32{2, 0, 1}}, {Topic: "a", Partitions: []int32{5}}}
	valid := a.AppendTo(nil)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(valid[:len(valid)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = consumerAssignment(b)
	})
	got := consumerAssignment(valid)
	if len(got) != 2 || got[0] != "a: 5" || got[1] != "t: 0, 1, 2" {
		f.Errorf("consumerAssignment = %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{humanBytes(0), "0 B"},
		{humanBytes(1023), "1023 B"},
		{humanBytes(1536), "1.5 KiB"},
		{humanBytes(5 << 30), "5.0 GiB"},
		{groupDigits(0), "0"},
		{groupDigits(999), "999"},
		{groupDigits(1000), "1,000"},
		{groupDigits(-1234567), "-1,234,567"},
		{humanDuration(1500 * time.Millisecond), "2s"},
		{humanDuration(61 * time.Second), "1m 1s"},
		{humanDuration(26 * time.Hour), "1d 2h"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestObserverAllocs checks the hot path: once an API's series exist,
// reporting a request allocates nothing.
func TestObserverAllocs(t *testing.T) {
	m := newMetrics()
	m.RequestDone(0, 9, time.Millisecond, 100, 50)
	allocs := testing.AllocsPerRun(100, func() {
		m.RequestDone(0, 9, time.Millisecond, 100, 50)
		m.ConnOpened()
		m.ConnClosed()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
	m.RequestDone(-5, 0, 0, 1, 0)
	m.RequestDone(9999, 0, 0, 1, 0)
	if m.byKey[unknownKey].Load() == nil {
		t.Error("out-of-range keys did not land in the unknown slot")
	}
}

// TestOfflinePartitionMetric: a partition whose storage failed shows as
// samsa_partition_offline 1 and in samsa_offline_partitions.
func TestOfflinePartitionMetric(t *testing.T) {
	b := openBroker(t)
	tp, err := b.CreateTopic(broker.CreateTopicRequest{Name: "sick", Partitions: 2, ReplicationFactor: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	if body := serve(t, s, "/metrics").Body.String(); !strings.Contains(body, "samsa_offline_partitions 0") {
		t.Fatalf("healthy broker: no samsa_offline_partitions 0 in /metrics")
	}
	p := tp.Partitions[1]
	p.InjectSyncFault(func() error { return fmt.Errorf("injected EIO") })
	if _, err := p.Append(record.BuildBatch(record.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]record.Record{{Value: []byte("v")}}), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err == nil {
		t.Fatal("flush succeeded with an injected fsync fault")
	}
	body := serve(t, s, "/metrics").Body.String()
	for _, want := range []string{
		`samsa_offline_partitions 1`,
		`samsa_partition_offline{partition="1",topic="sick"} 1`,
		`samsa_partition_offline{partition="0",topic="sick"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

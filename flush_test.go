package samsa_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionFsyncs scrapes samsa_partition_fsyncs_total for topic-0 from the
// broker's /metrics: a black-box count of the fsyncs its log made.
func partitionFsyncs(t *testing.T, httpAddr, topic string) int {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`samsa_partition_fsyncs_total{partition="0",topic=%q}`, topic)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatalf("no %s in /metrics", want)
	return 0
}

// TestRelaxedFlush checks log.flush.interval.messages / flush.messages above
// 1 and flush.ms as the README documents them: acks come back without a
// per-ack fsync, the log is fsynced once flush.messages records are
// unflushed or flush.ms has passed, and a topic at flush.messages=1 on the
// same broker still fsyncs before every ack.
func TestRelaxedFlush(t *testing.T) {
	b := startBroker(t, t.TempDir(), map[string]string{
		"log.flush.interval.messages": "1000",
		"log.flush.interval.ms":       "3600000",
		"samsa.http.listener":         "127.0.0.1:0",
	})
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	ctx := testCtx(t)
	one := func(s string) *string { return &s }
	for topic, cfg := range map[string]map[string]*string{
		"relaxed": nil,
		"durable": {"flush.messages": one("1")},
		"counted": {"flush.messages": one("10")},
		"timed":   {"flush.ms": one("50")},
	} {
		if r, err := adm.CreateTopic(ctx, 1, -1, cfg, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}
	produce := func(topic string, n int) {
		t.Helper()
		for i := range n {
			r := &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
		}
	}
	base := map[string]int{}
	for _, topic := range []string{"relaxed", "durable", "counted", "timed"} {
		base[topic] = partitionFsyncs(t, b.HTTPAddr(), topic)
	}
	fsyncs := func(topic string) int { return partitionFsyncs(t, b.HTTPAddr(), topic) - base[topic] }

	produce("relaxed", 20)
	if n := fsyncs("relaxed"); n != 0 {
		t.Errorf("relaxed topic: %d fsyncs for 20 acknowledged records, want 0 (acks from the page cache)", n)
	}
	// Acknowledged records are visible at once: the high watermark follows
	// the log end in relaxed mode.
	if got := consumeAll(t, b, "relaxed", 20); len(got) != 20 {
		t.Errorf("relaxed topic: consumed %d records, want 20", len(got))
	}

	produce("durable", 5)
	if n := fsyncs("durable"); n < 5 {
		t.Errorf("flush.messages=1 topic: %d fsyncs for 5 sequential acks, want one per ack", n)
	}

	produce("counted", 9)
	if n := fsyncs("counted"); n != 0 {
		t.Errorf("flush.messages=10: %d fsyncs after 9 records, want 0", n)
	}
	produce("counted", 1)
	waitUntil(t, 5*time.Second, "flush.messages=10 to fsync after the 10th record", func() bool { return fsyncs("counted") >= 1 })

	produce("timed", 1)
	waitUntil(t, 5*time.Second, "flush.ms=50 to fsync the unflushed record", func() bool { return fsyncs("timed") >= 1 })
	// Nothing new unflushed: the scheduler does not fsync again and again.
	n := fsyncs("timed")
	time.Sleep(200 * time.Millisecond)
	if m := fsyncs("timed"); m != n {
		t.Errorf("flush.ms=50 with nothing unflushed: fsyncs went from %d to %d", n, m)
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

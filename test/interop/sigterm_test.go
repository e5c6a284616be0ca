package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSIGTERMCleanShutdown: SIGTERM exits 0 within 10s after logging
// "stopped cleanly", and a restart on the same data directory serves every
// record produced before.
func TestSIGTERMCleanShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startBroker(t, dir, "--set", "num.partitions=3")
	const topic, n = "sigterm", 300

	cl := p.client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()

	start := time.Now()
	code, err := p.Terminate(10 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.Logs(), "stopped cleanly") {
		t.Errorf("log lacks \"stopped cleanly\":\n%s", p.Logs())
	}

	p = p.Restart()
	recs := kgoReadAll(t, p, topic, n, 30*time.Second)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Errorf("record %s read twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(recs) != n || len(seen) != n {
		t.Errorf("after restart read %d records (%d distinct), want %d", len(recs), len(seen), n)
	}
}

// TestSIGTERMWithLongPoll: a consumer parked in a long Fetch (max wait 20s,
// longer than the broker's 10s shutdown budget) must not hold up SIGTERM.
// Kafka completes pending fetches when it shuts down; a broker that waits
// for each long poll's deadline exits late, or not cleanly.
func TestSIGTERMWithLongPoll(t *testing.T) {
	t.Parallel()
	p := startBroker(t, t.TempDir())
	const topic = "long-poll"
	prod := p.client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := p.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(20*time.Second))
	if fs := cons.PollFetches(ctx); len(fs.Records()) != 1 {
		t.Fatalf("consumer read %d records, want 1 (errors %v)", len(fs.Records()), fs.Errors())
	}
	// kgo sends its next Fetch in the background as soon as the first
	// returns; nothing observable says it is parked at the broker, so give
	// it a bounded 200ms (a poll that finds nothing) to get there.
	pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	cons.PollFetches(pctx)
	pcancel()

	start := time.Now()
	code, err := p.Terminate(10 * time.Second)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.Fatalf("SIGTERM with a consumer long-polling: %v", err)
	}
	t.Logf("SIGTERM to exit with a long poll parked: %v", took)
	if code != 0 || !strings.Contains(p.Logs(), "stopped cleanly") {
		t.Errorf("exit code %d, log:\n%s", code, p.Logs())
	}
	if took > 3*time.Second {
		t.Errorf("SIGTERM took %v with a parked Fetch; pending fetches should be answered at shutdown", took)
	}
}

// TestFirstAckLatency logs how long a cold `samsa serve` takes from exec to
// the first acknowledged produce (acks=all, topic auto-created). It is a
// measurement for the log, not an assertion: timings belong to bench/.
func TestFirstAckLatency(t *testing.T) {
	t.Parallel()
	// Reserve a free port, then hand it to the broker: the client dials
	// from the first instant instead of waiting for the ready line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, samsaBin, "serve", "--addr", addr, "--data-dir", t.TempDir())
	logs := &logBuffer{}
	cmd.Stderr = logs
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("first-ack"),
		kgo.RetryBackoffFn(func(int) time.Duration { return time.Millisecond }), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr()
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("no acknowledged produce within 30s of exec: %v\n%s", err, logs.String())
		}
	}
	t.Logf("exec to first acknowledged produce: %v (includes kgo's connect retries)", time.Since(start).Round(time.Microsecond))
}

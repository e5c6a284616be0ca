package cli

// End-to-end tests: the cobra commands run in-process against a real samsa
// broker (samsa.Start on a loopback port with a temp data dir).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa"
	"github.com/twmb/franz-go/pkg/kadm"
)

// startBroker starts a broker for one test and closes it at cleanup;
// props are server.properties settings.
func startBroker(t *testing.T, props map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := samsa.Start(ctx, samsa.Config{
		Addr:       "127.0.0.1:0",
		DataDir:    t.TempDir(),
		Properties: props,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b.Addr()
}

// cli runs one command against addr and fails the test unless it exits 0.
func cli(t *testing.T, addr, stdin string, args ...string) (out, errOut string) {
	t.Helper()
	code, out, errOut := runCLI(t, stdin, append([]string{"-b", addr, "--timeout", "10s"}, args...)...)
	if code != 0 {
		t.Fatalf("samsa %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out, errOut
}

// cliFail runs one command that must fail and returns its stderr.
func cliFail(t *testing.T, addr string, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "", append([]string{"-b", addr, "--timeout", "5s"}, args...)...)
	if code != 1 {
		t.Fatalf("samsa %s: exit %d, want 1 (stdout %q)", strings.Join(args, " "), code, out)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "samsa: ") {
		t.Fatalf("samsa %s: stderr is not one \"samsa: \" line: %q", strings.Join(args, " "), errOut)
	}
	return errOut
}

// waitFor polls fn every 20ms until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tableRows parses a whitespace-aligned table into rows of fields, keyed
// by the first field; the header row is included.
func tableRows(s string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	return rows
}

func TestTopicLifecycle(t *testing.T) {
	addr := startBroker(t, nil)

	out, _ := cli(t, addr, "", "topic", "create", "orders", "-p", "3", "-r", "1", "-c", "retention.ms=3600000")
	if !strings.Contains(out, "created topic orders (partitions 3, replicas 1)") {
		t.Fatalf("create: %q", out)
	}
	errOut := cliFail(t, addr, "topic", "create", "orders")
	if !strings.Contains(errOut, `topic "orders" already exists`) {
		t.Fatalf("create twice: %q", errOut)
	}
	out, _ = cli(t, addr, "", "topic", "create", "dry", "-p", "2", "--dry-run")
	if !strings.Contains(out, "would create topic dry") {
		t.Fatalf("dry run: %q", out)
	}

	out, _ = cli(t, addr, "", "topic", "list")
	rows := tableRows(out)
	if got := rows["orders"]; len(got) != 3 || got[1] != "3" || got[2] != "1" {
		t.Fatalf("list: orders row %v in\n%s", got, out)
	}
	if _, ok := rows["dry"]; ok {
		t.Fatalf("--dry-run created the topic:\n%s", out)
	}
	if _, ok := rows["NAME"]; !ok {
		t.Fatalf("list has no header:\n%s", out)
	}

	out, _ = cli(t, addr, "", "topic", "describe", "orders")
	rows = tableRows(out)
	if got := rows["retention.ms"]; len(got) != 3 || got[1] != "3600000" || got[2] != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("describe: retention.ms row %v in\n%s", got, out)
	}
	for p := range 3 {
		row := rows[fmt.Sprint(p)]
		// PARTITION LEADER EPOCH REPLICAS ISR LOG-START-OFFSET HIGH-WATERMARK
		if len(row) != 7 || row[5] != "0" || row[6] != "0" {
			t.Fatalf("describe: partition %d row %v in\n%s", p, row, out)
		}
	}

	cli(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=60000", "--set", "cleanup.policy=compact")
	out, _ = cli(t, addr, "", "topic", "describe", "orders")
	rows = tableRows(out)
	if got := rows["retention.ms"]; len(got) < 2 || got[1] != "60000" {
		t.Fatalf("after alter-config: retention.ms row %v in\n%s", got, out)
	}
	if got := rows["cleanup.policy"]; len(got) < 2 || got[1] != "compact" {
		t.Fatalf("after alter-config: cleanup.policy row %v in\n%s", got, out)
	}
	cli(t, addr, "", "topic", "alter-config", "orders", "--delete", "retention.ms")
	out, _ = cli(t, addr, "", "topic", "describe", "orders")
	if got, ok := tableRows(out)["retention.ms"]; ok {
		t.Fatalf("after --delete retention.ms still shown: %v in\n%s", got, out)
	}

	cli(t, addr, "", "topic", "add-partitions", "orders", "--num", "5")
	out, _ = cli(t, addr, "", "topic", "list")
	if got := tableRows(out)["orders"]; len(got) != 3 || got[1] != "5" {
		t.Fatalf("after add-partitions: orders row %v in\n%s", got, out)
	}

	out, _ = cli(t, addr, "", "topic", "delete", "orders")
	if !strings.Contains(out, "deleted topic orders") {
		t.Fatalf("delete: %q", out)
	}
	waitFor(t, 5*time.Second, func() error {
		out, _ := cli(t, addr, "", "topic", "list")
		if _, ok := tableRows(out)["orders"]; ok {
			return fmt.Errorf("orders still listed:\n%s", out)
		}
		return nil
	})
	errOut = cliFail(t, addr, "topic", "describe", "orders")
	if errOut != "samsa: topic \"orders\" does not exist\n" {
		t.Fatalf("describe deleted: %q", errOut)
	}
	errOut = cliFail(t, addr, "topic", "delete", "orders")
	if !strings.Contains(errOut, `topic "orders" does not exist`) {
		t.Fatalf("delete twice: %q", errOut)
	}
}

func TestProduceConsume(t *testing.T) {
	// The topic is auto-created by the first produce, with num.partitions
	// partitions: this needs no admin API, only Metadata, Produce, Fetch
	// and ListOffsets.
	addr := startBroker(t, map[string]string{"num.partitions": "4", "auto.create.topics.enable": "true"})

	input := "alice:login\nbob:logout\ncarol:login\nalice:logout\nno-key-line\n"
	_, errOut := cli(t, addr, input, "produce", "events", "-k", ":", "-H", "src=cli", "-H", "trace=1")
	if errOut != "produced 5 records to events\n" {
		t.Fatalf("produce summary: %q", errOut)
	}

	out, _ := cli(t, addr, "", "consume", "events", "--exit", "-f", "json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("consume json: %d lines, want 5:\n%s", len(lines), out)
	}
	byValue := map[string]jsonRecord{}
	keyPartition := map[string]int32{}
	for _, l := range lines {
		var r jsonRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad json %q: %v", l, err)
		}
		if r.Topic != "events" || r.Timestamp <= 0 || r.Value == nil {
			t.Fatalf("record %s", l)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "src" || *r.Headers[0].Value != "cli" || r.Headers[1].Key != "trace" {
			t.Fatalf("headers of %s", l)
		}
		if r.Key != nil {
			// Same key, same partition; and the partition is Kafka's.
			if p, ok := keyPartition[*r.Key]; ok && p != r.Partition {
				t.Fatalf("key %q in partitions %d and %d", *r.Key, p, r.Partition)
			}
			keyPartition[*r.Key] = r.Partition
			if want := kafkaPartition([]byte(*r.Key), 4); r.Partition != want {
				t.Fatalf("key %q in partition %d; Kafka's partitioner says %d", *r.Key, r.Partition, want)
			}
		}
		k := "<null>"
		if r.Key != nil {
			k = *r.Key
		}
		byValue[k+"/"+*r.Value] = r
	}
	for _, want := range []string{"alice/login", "bob/logout", "carol/login", "alice/logout", "<null>/no-key-line"} {
		if _, ok := byValue[want]; !ok {
			t.Fatalf("%s missing from %v", want, byValue)
		}
	}

	// kv on one partition, in offset order.
	alicePart := keyPartition["alice"]
	out, _ = cli(t, addr, "", "consume", "events", "-e", "-f", "kv", "-p", fmt.Sprint(alicePart))
	var aliceLines []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "alice\t") {
			aliceLines = append(aliceLines, l)
		}
	}
	if strings.Join(aliceLines, "") != "alice\tlogin\nalice\tlogout\n" {
		t.Fatalf("kv of partition %d:\n%q", alicePart, out)
	}

	// -n stops early; -o -1 is the last record of each partition.
	out, _ = cli(t, addr, "", "consume", "events", "-n", "2")
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("-n 2 printed:\n%q", out)
	}
	// The key-less record may share alice's partition (sticky), so the
	// expected last record comes from the JSON dump.
	var last jsonRecord
	last.Offset = -1
	for _, r := range byValue {
		if r.Partition == alicePart && r.Offset > last.Offset {
			last = r
		}
	}
	lastKey := ""
	if last.Key != nil {
		lastKey = *last.Key
	}
	out, _ = cli(t, addr, "", "consume", "events", "-e", "-o", "-1", "-p", fmt.Sprint(alicePart), "-f", "%o:%k=%v\\n")
	if want := fmt.Sprintf("%d:%s=%s\n", last.Offset, lastKey, *last.Value); out != want {
		t.Fatalf("-o -1: %q, want %q", out, want)
	}
	// Nothing past the end: -o end with -e exits at once, printing nothing.
	out, _ = cli(t, addr, "", "consume", "events", "-e", "-o", "end")
	if out != "" {
		t.Fatalf("-o end -e: %q", out)
	}

	errOut = cliFail(t, addr, "consume", "nope", "-e")
	if errOut != "samsa: topic \"nope\" does not exist\n" {
		t.Fatalf("consume unknown topic: %q", errOut)
	}
}

func TestProduceOptionsEndToEnd(t *testing.T) {
	addr := startBroker(t, map[string]string{"num.partitions": "3", "auto.create.topics.enable": "true"})

	// Every codec and acks level, all forced into partition 2; the
	// consumer must see them in order with values intact.
	var want strings.Builder
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"all", "1", "0"} {
			line := fmt.Sprintf("%s-%s-%s", codec, acks, strings.Repeat("x", 200))
			_, errOut := cli(t, addr, line+"\n", "produce", "opts", "-p", "2", "-z", codec, "--acks", acks)
			wantOut := "produced 1 record to opts\n"
			if acks == "0" {
				wantOut = "sent 1 record to opts (acks=0: not confirmed)\n"
			}
			if errOut != wantOut {
				t.Fatalf("%s/%s: %q", codec, acks, errOut)
			}
			want.WriteString("2 " + line + "\n")
		}
	}
	// acks=0 gets no response: wait until the broker has the last one.
	waitFor(t, 5*time.Second, func() error {
		out, _ := cli(t, addr, "", "consume", "opts", "-e", "-f", "%p %v\\n")
		if out != want.String() {
			return fmt.Errorf("consumed\n%s\nwant\n%s", out, want.String())
		}
		return nil
	})

	code, _, errOut := runCLI(t, "x\n", "-b", addr, "produce", "opts", "-p", "7")
	if code != 1 || errOut != "samsa: produced 0 of 1 records to opts: topic \"opts\" has no partition 7\n" {
		t.Fatalf("produce to a missing partition: exit %d, %q", code, errOut)
	}
}

// TestProduceKeylessToCompacted follows what a user hits first with a
// compacted topic: the broker rejects keyless records, and the one error
// line must point at -k, since kgo drops the broker's reason.
func TestProduceKeylessToCompacted(t *testing.T) {
	addr := startBroker(t, nil)
	cli(t, addr, "", "topic", "create", "users", "-c", "cleanup.policy=compact")

	code, _, errOut := runCLI(t, "alice\n", "-b", addr, "--timeout", "5s", "produce", "users")
	if code != 1 || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("keyless produce to a compacted topic: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"produced 0 of 1 records to users", "INVALID_RECORD", "-k"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	// The hint is right: with keys the same topic takes the record.
	if _, errOut := cli(t, addr, "u1:alice\n", "produce", "users", "-k", ":"); errOut != "produced 1 record to users\n" {
		t.Fatalf("keyed produce: %q", errOut)
	}
}

func TestConsumeGroupCommits(t *testing.T) {
	addr := startBroker(t, map[string]string{"num.partitions": "1", "auto.create.topics.enable": "true"})
	cli(t, addr, "a\nb\nc\n", "produce", "jobs")

	out, _ := cli(t, addr, "", "consume", "jobs", "-g", "workers", "-e", "-n", "2")
	if out != "a\nb\n" {
		t.Fatalf("first member: %q", out)
	}
	// Only printed records are committed: the group resumes at c.
	out, _ = cli(t, addr, "", "consume", "jobs", "-g", "workers", "-e")
	if out != "c\n" {
		t.Fatalf("second member: %q", out)
	}
}

func TestClusterInfo(t *testing.T) {
	addr := startBroker(t, nil)
	out, _ := cli(t, addr, "", "cluster")
	_, port, _ := strings.Cut(addr, ":")
	if !strings.Contains(out, "CLUSTER") || !strings.Contains(out, "CONTROLLER") || !strings.Contains(out, port) {
		t.Fatalf("cluster:\n%s", out)
	}
	if !strings.Contains(out, "OFFLINE PARTITIONS  none") {
		t.Fatalf("cluster on a healthy broker does not say that no partition is offline:\n%s", out)
	}
	out2, _ := cli(t, addr, "", "cluster", "info")
	if out2 != out {
		t.Fatalf("cluster info differs from cluster:\n%s\nvs\n%s", out2, out)
	}
}

// kafkaPartition is the Java client's default partition for a key:
// toPositive(murmur2(key)) % n, written from Kafka's Utils.murmur2 so the
// test does not take franz-go's word for it.
func kafkaPartition(key []byte, n int32) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	length := len(key)
	h := uint32(seed) ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := key[length&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h&0x7fffffff) % n
}

func TestKafkaPartitionVectors(t *testing.T) {
	// Known murmur2 values from Kafka's UtilsTest.testMurmur2.
	tests := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		// kafkaPartition masks the sign bit; compare masked values.
		want := (tt.want & 0x7fffffff) % 1000003
		if got := kafkaPartition([]byte(tt.key), 1000003); got != want {
			t.Errorf("%q: got %d, want %d", tt.key, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestProduceInterrupt: Ctrl-C (a cancelled context in Execute) while
// produce waits on stdin that stays open, as a terminal does, must end the
// command promptly with exit 0, deliver the lines already read and say it
// was interrupted. Before readLines, the read blocked until more input.
func TestProduceInterrupt(t *testing.T) {
	addr := startBroker(t, map[string]string{"num.partitions": "1", "auto.create.topics.enable": "true"})

	stdin, typing := io.Pipe()
	defer typing.Close()
	root := NewRootCommand("test")
	var out, errOut syncBuffer
	root.SetArgs([]string{"-b", addr, "produce", "typed"})
	root.SetIn(stdin)
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codec := make(chan int, 1)
	go func() { codec <- run(ctx, root) }()

	if _, err := io.WriteString(typing, "one\n"); err != nil {
		t.Fatal(err)
	}
	// kgo sends without lingering, so the line reaches the broker while
	// stdin is still open.
	waitFor(t, 10*time.Second, func() error {
		_, got, _ := runCLI(t, "", "-b", addr, "consume", "typed", "-e")
		if got != "one\n" {
			return fmt.Errorf("consumed %q", got)
		}
		return nil
	})
	cancel()
	select {
	case code := <-codec:
		if code != 0 || errOut.String() != "produced 1 record to typed (interrupted: stopped reading stdin)\n" {
			t.Fatalf("after interrupt: exit %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("produce did not stop within 10s of the interrupt while stdin stayed open")
	}
}

// TestConsumeInterrupt checks that cancelling the context (what SIGINT
// does in Execute) stops a follow-mode consumer with exit code 0, and that
// records produced while it waits are printed.
func TestConsumeInterrupt(t *testing.T) {
	addr := startBroker(t, map[string]string{"num.partitions": "1", "auto.create.topics.enable": "true"})
	cli(t, addr, "first\n", "produce", "live")

	root := NewRootCommand("test")
	var out, errOut syncBuffer
	root.SetArgs([]string{"-b", addr, "consume", "live"})
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codec := make(chan int, 1)
	go func() { codec <- run(ctx, root) }()

	waitFor(t, 10*time.Second, func() error {
		if out.String() != "first\n" {
			return fmt.Errorf("output so far %q", out.String())
		}
		return nil
	})
	cli(t, addr, "second\n", "produce", "live")
	waitFor(t, 10*time.Second, func() error {
		if out.String() != "first\nsecond\n" {
			return fmt.Errorf("output so far %q", out.String())
		}
		return nil
	})
	cancel()
	select {
	case code := <-codec:
		if code != 0 || errOut.String() != "" {
			t.Fatalf("after interrupt: exit %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consume did not stop within 10s of the interrupt")
	}
}

// TestOfflinePartitionsListed: partitions whose Metadata names offline
// replicas (a broker whose storage failed; see api's
// TestStorageFailureReported) are listed by 'samsa cluster', sorted.
func TestOfflinePartitionsListed(t *testing.T) {
	md := kadm.Metadata{Topics: kadm.TopicDetails{
		"b": {Topic: "b", Partitions: kadm.PartitionDetails{
			0: {Partition: 0, Leader: 1},
			2: {Partition: 2, Leader: -1, OfflineReplicas: []int32{1}},
		}},
		"a": {Topic: "a", Partitions: kadm.PartitionDetails{
			1: {Partition: 1, Leader: -1, OfflineReplicas: []int32{1, 3}},
		}},
	}}
	got := offlinePartitions(md)
	want := []string{"a-1 (offline on broker 1,3)", "b-2 (offline on broker 1)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("offlinePartitions = %q, want %q", got, want)
	}
}

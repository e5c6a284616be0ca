package interop

// Clients built on librdkafka: kcat and confluent-kafka (Python). They
// negotiate versions, parse Metadata and Fetch, and compress batches their
// own way, independently of franz-go and kafka-python.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kcatTimeout bounds one kcat run; -e makes the consumer exit at the end
// of the partition, so only a broken broker gets near it.
const kcatTimeout = 30 * time.Second

// kcatMetadata is the part of `kcat -L -J` the test checks.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
		} `json:"partitions"`
	} `json:"topics"`
}

// TestKcat produces keyed records with headers with `kcat -P` and reads
// them back with `kcat -C -e`: keys, values, headers and offsets exactly.
// kcat is librdkafka underneath, with its own version negotiation and its
// own parsing of Metadata and Fetch.
func TestKcat(t *testing.T) {
	t.Parallel()
	kcat := needKcat(t)
	p := startBroker(t, t.TempDir())
	const topic = "kcat-topic"

	var in strings.Builder
	var want strings.Builder
	const n = 50
	for i := range n {
		v := fmt.Sprintf("value %d with spaces", i)
		fmt.Fprintf(&in, "key-%d:%s\n", i, v)
		fmt.Fprintf(&want, "key-%d %s h1=v1,h2=second value %d\n", i, v, i)
	}
	runCmd(t, kcatTimeout, []byte(in.String()), kcat, "-b", p.Addr, "-t", topic, "-P", "-K:",
		"-H", "h1=v1", "-H", "h2=second value", "-X", "topic.acks=all")

	out := runCmd(t, kcatTimeout, nil, kcat, "-b", p.Addr, "-t", topic, "-C", "-e", "-q",
		"-f", `%k %s %h %o\n`)
	if out != want.String() {
		t.Fatalf("kcat -C read:\n%s\nwant:\n%s", out, want.String())
	}

	t.Run("metadata", func(t *testing.T) {
		out := runCmd(t, kcatTimeout, nil, kcat, "-b", p.Addr, "-L", "-J")
		var md kcatMetadata
		if err := json.Unmarshal([]byte(out), &md); err != nil {
			t.Fatalf("kcat -L -J: %v\n%s", err, out)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].Name != p.Addr {
			t.Errorf("kcat -L brokers = %+v, want one broker at %s", md.Brokers, p.Addr)
		}
		found := false
		for _, tp := range md.Topics {
			if tp.Topic != topic {
				continue
			}
			found = true
			if len(tp.Partitions) != 1 || tp.Partitions[0].Leader != md.Brokers[0].ID {
				t.Errorf("kcat -L %s partitions = %+v, want 1 led by broker %d", topic, tp.Partitions, md.Brokers[0].ID)
			}
		}
		if !found {
			t.Errorf("kcat -L does not list %s:\n%s", topic, out)
		}
	})
}

// ckValue is ck_client.py's record_value: compressible text followed by
// every byte value up to i%256, so the round trip checks exact bytes.
func ckValue(i int, codec string) []byte {
	head := fmt.Sprintf("value-%d-%s-", i, codec)
	v := bytes.Repeat([]byte(head), 4)
	for b := range i % 256 {
		v = append(v, byte(b))
	}
	return v
}

// checkCKRoundTrip checks what ck_client.py consumed against what it
// produced: every record exactly once, at the partition and offset its
// delivery report named, with exact key, value and headers; per partition
// the offsets run 0,1,2,... and the records keep their produce order.
func checkCKRoundTrip(t *testing.T, codec string, n int, acks, got []pyRecord) {
	t.Helper()
	type pos struct {
		p int32
		o int64
	}
	acked := make(map[int]pos, n)
	for _, a := range acks {
		if _, dup := acked[a.Index]; dup {
			t.Errorf("record %d has two delivery reports", a.Index)
		}
		acked[a.Index] = pos{a.Partition, a.Offset}
	}
	if len(acked) != n {
		t.Fatalf("%d delivery reports for %d records", len(acked), n)
	}
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	seen := make(map[int]bool, n)
	byPart := map[int32][]pyRecord{}
	for _, r := range got {
		if len(r.Headers) != 2 || r.Headers[0]["k"] != "idx" || r.Headers[1]["k"] != "codec" {
			t.Fatalf("record at %d@%d has headers %v, want idx and codec", r.Partition, r.Offset, r.Headers)
		}
		i, err := strconv.Atoi(unhex(ptr(r.Headers[0]["v"])))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("record at %d@%d: bad idx header %v", r.Partition, r.Offset, r.Headers[0])
		}
		if seen[i] {
			t.Errorf("record %d consumed twice", i)
		}
		seen[i] = true
		if got := unhex(ptr(r.Headers[1]["v"])); got != codec {
			t.Errorf("record %d: codec header %q, want %q", i, got, codec)
		}
		if r.key() != fmt.Sprintf("k-%d", i) || r.value() != string(ckValue(i, codec)) {
			t.Errorf("record %d: key %q value %q differ from what was produced", i, r.key(), r.value())
		}
		if want := acked[i]; want != (pos{r.Partition, r.Offset}) {
			t.Errorf("record %d consumed at %d@%d, delivery report said %d@%d", i, r.Partition, r.Offset, want.p, want.o)
		}
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	if len(byPart) < 2 {
		t.Errorf("all records in %d partition(s); keyed records should spread over the topic's 3", len(byPart))
	}
	// byPart keeps consume order, which within a partition is offset order.
	for part, rs := range byPart {
		prev := -1
		for j, r := range rs {
			if r.Offset != int64(j) {
				t.Errorf("partition %d: record %d of the fetch has offset %d, want %d", part, j, r.Offset, j)
			}
			i, _ := strconv.Atoi(unhex(ptr(r.Headers[0]["v"])))
			if i <= prev {
				t.Errorf("partition %d: record %d after record %d: produce order lost", part, i, prev)
			}
			prev = i
		}
	}
}

func ptr(s string) *string { return &s }

// TestConfluentKafka round-trips 1000 records per compression codec with
// an idempotent librdkafka producer and an assign()ed consumer. librdkafka
// compresses whole v2 batches, which the broker stores as received and
// serves back unchanged, so this covers every codec end to end.
func TestConfluentKafka(t *testing.T) {
	t.Parallel()
	needPython(t, "confluent_kafka")
	p := startBroker(t, t.TempDir(), "--set", "num.partitions=3")
	const n = 1000
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "ck-" + codec
			acks := parseLines(t, runPy(t, pyTimeout, "ck_client.py", "produce", p.Addr, topic, strconv.Itoa(n), codec))
			got := parseLines(t, runPy(t, pyTimeout, "ck_client.py", "consume", p.Addr, topic, strconv.Itoa(n), "assign"))
			checkCKRoundTrip(t, codec, n, acks, got)
		})
	}

	t.Run("group", func(t *testing.T) {
		const topic = "ck-group"
		acks := parseLines(t, runPy(t, pyTimeout, "ck_client.py", "produce", p.Addr, topic, strconv.Itoa(n), "lz4"))
		got := parseLines(t, runPy(t, pyTimeout, "ck_client.py", "consume", p.Addr, topic, strconv.Itoa(n), "group:ck-interop"))
		checkCKRoundTrip(t, "lz4", n, acks, got)
	})
}

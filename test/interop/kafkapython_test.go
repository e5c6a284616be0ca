package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pyTimeout bounds one Python client run. kafka-python needs a second or
// two to start; consumers stop 15s after the last record at worst.
const pyTimeout = 60 * time.Second

// pyRecord is one line of kp_client.py / ck_client.py consume output.
type pyRecord struct {
	Partition int32               `json:"p"`
	Offset    int64               `json:"o"`
	Key       *string             `json:"k"` // hex; nil for a null key
	Value     *string             `json:"v"` // hex; nil for a null value
	Timestamp int64               `json:"ts"`
	Headers   []map[string]string `json:"h"` // [{"k": key, "v": hex}]
	Index     int                 `json:"i"` // produce acks: record number
}

func (r pyRecord) key() string   { return unhex(r.Key) }
func (r pyRecord) value() string { return unhex(r.Value) }

func unhex(s *string) string {
	if s == nil {
		return "<nil>"
	}
	b, err := hex.DecodeString(*s)
	if err != nil {
		return "<bad hex " + *s + ">"
	}
	return string(b)
}

// parseLines decodes one JSON object per non-empty line of out.
func parseLines(t *testing.T, out string) []pyRecord {
	t.Helper()
	var recs []pyRecord
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var r pyRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad line from client %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// kgoReadAll consumes topic from the start of every partition without a
// group until want records arrived (or fails after timeout).
func kgoReadAll(t *testing.T, p *proc, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := p.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s before %v", len(recs), want, topic, timeout)
		}
		fs.EachError(func(topic string, part int32, err error) {
			t.Errorf("fetch %s[%d]: %v", topic, part, err)
		})
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// TestKafkaPythonSeed runs the README's kafka-python example. The producer
// half is py/seed_producer.py: the README's lines verbatim plus the
// flush() the README leaves out (without it the process exits before the
// batch is sent); only the port is substituted here.
func TestKafkaPythonSeed(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	p := startBroker(t, t.TempDir())

	src, err := os.ReadFile(filepath.Join("py", "seed_producer.py"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "bootstrap_servers='localhost:9092'") {
		t.Fatal("seed_producer.py no longer has the README's bootstrap_servers='localhost:9092'")
	}
	script := filepath.Join(t.TempDir(), "seed_producer.py")
	body := strings.ReplaceAll(string(src), "localhost:9092", "localhost:"+p.Port())
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, pyTimeout, nil, pythonBin, script)

	// Read back with franz-go: the record is exactly what the README sent.
	recs := kgoReadAll(t, p, "my-topic", 1, 20*time.Second)
	if len(recs) != 1 || string(recs[0].Key) != "key" || string(recs[0].Value) != "value" || recs[0].Offset != 0 {
		t.Fatalf("my-topic holds %v, want one record key=key value=value at offset 0", describe(recs))
	}

	t.Run("without group", func(t *testing.T) {
		for _, mode := range []string{"assign", "subscribe"} {
			out := runPy(t, pyTimeout, "kp_client.py", "consume", p.Addr, "my-topic", "1", "auto", mode)
			got := parseLines(t, out)
			if len(got) != 1 || got[0].key() != "key" || got[0].value() != "value" || got[0].Offset != 0 {
				t.Errorf("%s: kafka-python read %+v, want key=key value=value at offset 0", mode, got)
			}
		}
	})

	t.Run("group my-group", func(t *testing.T) {
		out := runPy(t, pyTimeout, "seed_consumer.py", p.Addr, "1")
		if strings.TrimSpace(out) != "b'value'" {
			t.Fatalf("seed consumer printed %q, want b'value'", out)
		}
	})
}

// describe prints records compactly for failure messages.
func describe(recs []*kgo.Record) string {
	var b strings.Builder
	for i, r := range recs {
		if i == 10 {
			fmt.Fprintf(&b, " ...(%d more)", len(recs)-10)
			break
		}
		fmt.Fprintf(&b, " %s[%d]@%d %q=%q", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
	}
	return "[" + b.String() + " ]"
}

// TestOldClientVersions pins kafka-python to old protocol versions:
// api_version=(0,10,0) sends Produce v2 and Fetch v2 with message format v1
// (timestamps, no headers), and (0,9) sends Produce v1 and Fetch v1 with
// format v0. Records a modern client wrote as v2 batches first must come
// back to the old client down-converted, and what the old client wrote
// must read back to a modern client (franz-go) as well.
func TestOldClientVersions(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	p := startBroker(t, t.TempDir())

	cases := []struct {
		api, codec string
	}{
		{"0.10.0", "none"},
		{"0.10.0", "gzip"},
		{"0.9", "none"},
		{"0.9", "gzip"},
	}
	const modern, old = 5, 20
	for _, tc := range cases {
		t.Run(tc.api+"/"+tc.codec, func(t *testing.T) {
			topic := "old-" + strings.ReplaceAll(tc.api, ".", "_") + "-" + tc.codec
			// Modern v2 batches first, with a header the old format cannot
			// carry: down-conversion drops it and keeps key and value.
			cl := p.client(t, kgo.DefaultProduceTopic(topic))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range modern {
				r := &kgo.Record{Key: fmt.Appendf(nil, "m-%d", i), Value: fmt.Appendf(nil, "modern-%d", i),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("kgo produce: %v", err)
				}
			}

			acks := parseLines(t, runPy(t, pyTimeout, "kp_client.py", "produce", p.Addr, topic, fmt.Sprint(old), tc.api, tc.codec))
			if len(acks) != old {
				t.Fatalf("kafka-python acked %d records, want %d", len(acks), old)
			}
			for _, a := range acks {
				if want := int64(modern + a.Index); a.Offset != want {
					t.Errorf("record %d acked at offset %d, want %d", a.Index, a.Offset, want)
				}
			}

			got := parseLines(t, runPy(t, pyTimeout, "kp_client.py", "consume", p.Addr, topic, fmt.Sprint(modern+old), tc.api, "assign"))
			if len(got) != modern+old {
				t.Fatalf("old client read %d records, want %d: %+v", len(got), modern+old, got)
			}
			for i, r := range got {
				wantK, wantV := fmt.Sprintf("m-%d", i), fmt.Sprintf("modern-%d", i)
				if i >= modern {
					wantK, wantV = fmt.Sprintf("k-%d", i-modern), fmt.Sprintf("v-%d-%s-%s", i-modern, tc.api, tc.codec)
				}
				if r.Offset != int64(i) || r.key() != wantK || r.value() != wantV {
					t.Errorf("old client record %d: offset %d %q=%q, want offset %d %q=%q", i, r.Offset, r.key(), r.value(), i, wantK, wantV)
				}
				// Format v0 has no timestamp (-1); v1 carries the producer's.
				if tc.api == "0.10.0" && r.Timestamp <= 0 {
					t.Errorf("old client record %d: timestamp %d, want the create time (format v1)", i, r.Timestamp)
				}
			}

			// And a modern client reads the old client's records.
			recs := kgoReadAll(t, p, topic, modern+old, 20*time.Second)
			for i, r := range recs[modern:] {
				if string(r.Key) != fmt.Sprintf("k-%d", i) || r.Offset != int64(modern+i) {
					t.Errorf("kgo read %s[%d]@%d %q, want offset %d key k-%d", r.Topic, r.Partition, r.Offset, r.Key, modern+i, i)
				}
			}
		})
	}
}

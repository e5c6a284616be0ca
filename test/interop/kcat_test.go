package interop

import (
	"encoding/json"
	"fmt"
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

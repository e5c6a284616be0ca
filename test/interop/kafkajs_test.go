package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs kafkajs (npm, pinned in js/package.json, installed from
// js/package-lock.json by `npm ci`) against a real broker. js/kafkajs.js
// does the client work and prints JSON lines; the assertions are here.
// kafkajs negotiates versions through ApiVersions up to its own maxima
// (Produce v7, Fetch v11, JoinGroup v5, CreateTopics v3, ...).

// kafkajsVersion is the version js/package.json pins.
const kafkajsVersion = "2.2.4"

var (
	npmOnce sync.Once
	npmErr  error
)

// needKafkajs returns the node binary once js/node_modules holds the
// pinned kafkajs, running `npm ci` the first time if it does not. Without
// node and npm the test skips (fails under CI=true).
func needKafkajs(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not installed (kafkajs tests need node and npm)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		skipOrFail(t, "npm not installed (kafkajs tests need node and npm)")
	}
	npmOnce.Do(func() {
		var pkg struct{ Version string }
		if b, err := os.ReadFile(filepath.Join("js", "node_modules", "kafkajs", "package.json")); err == nil &&
			json.Unmarshal(b, &pkg) == nil && pkg.Version == kafkajsVersion {
			return // installed by an earlier run
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = "js"
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in test/interop/js: %v\n%s", err, out)
		}
	})
	if npmErr != nil {
		skipOrFail(t, npmErr.Error())
	}
	return node
}

// kjsLine is one line kafkajs.js prints; which fields are set depends on
// Op.
type kjsLine struct {
	Op string `json:"op"`

	Created *bool `json:"created"`
	Topics  json.RawMessage
	Entries []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		IsDefault bool   `json:"isDefault"`
	} `json:"entries"`
	Partitions json.RawMessage `json:"partitions"`

	Member      int       `json:"member"`
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	Key         string    `json:"key"`
	Value       string    `json:"value"`
	Header      string    `json:"header"`
	Assignments [][]int32 `json:"assignments"`
	Groups      []struct {
		GroupID string `json:"groupId"`
		State   string `json:"state"`
		Members int    `json:"members"`
		Error   int    `json:"error"`
	} `json:"groups"`
}

// runKafkajs runs js/kafkajs.js with args and returns its lines by op.
func runKafkajs(t *testing.T, node string, timeout time.Duration, args ...string) map[string][]kjsLine {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("js", "kafkajs.js"))
	if err != nil {
		t.Fatal(err)
	}
	out := runCmd(t, timeout, nil, node, append([]string{script}, args...)...)
	byOp := map[string][]kjsLine{}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l kjsLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("bad line from kafkajs.js %q: %v", line, err)
		}
		byOp[l.Op] = append(byOp[l.Op], l)
	}
	return byOp
}

// one returns the single line of op, failing the test if there is not
// exactly one.
func one(t *testing.T, byOp map[string][]kjsLine, op string) kjsLine {
	t.Helper()
	if len(byOp[op]) != 1 {
		t.Fatalf("kafkajs.js printed %d %q lines, want 1", len(byOp[op]), op)
	}
	return byOp[op][0]
}

// TestKafkajs runs kafkajs's admin client, an idempotent producer and a
// two-member consumer group against one broker.
func TestKafkajs(t *testing.T) {
	t.Parallel()
	node := needKafkajs(t)
	p := startBroker(t, t.TempDir(), "--http-addr", "off")

	t.Run("Admin", func(t *testing.T) {
		const topic = "kjs-admin"
		byOp := runKafkajs(t, node, 60*time.Second, p.Addr, "admin", topic)
		if c := one(t, byOp, "createTopics").Created; c == nil || !*c {
			t.Errorf("createTopics = %v, want true (created)", c)
		}
		if c := one(t, byOp, "createTopicsAgain").Created; c == nil || *c {
			t.Errorf("createTopics of an existing topic = %v, want false", c)
		}

		var md []struct {
			Name       string
			Partitions []struct {
				Partition, Leader, Error int32
				Replicas, ISR            []int32
			}
		}
		if err := json.Unmarshal(one(t, byOp, "metadata").Topics, &md); err != nil {
			t.Fatal(err)
		}
		if len(md) != 1 || md[0].Name != topic || len(md[0].Partitions) != 3 {
			t.Fatalf("fetchTopicMetadata = %+v, want %s with 3 partitions", md, topic)
		}
		for _, part := range md[0].Partitions {
			if part.Error != 0 || part.Leader < 0 || len(part.Replicas) != 1 || len(part.ISR) != 1 {
				t.Errorf("partition %+v: want no error, a leader, 1 replica, 1 ISR", part)
			}
		}

		cfg := map[string]string{}
		for _, e := range one(t, byOp, "describeConfigs").Entries {
			cfg[e.Name] = e.Value
			if e.Name == "retention.ms" && e.IsDefault {
				t.Errorf("retention.ms reported as default though set at creation")
			}
		}
		if cfg["retention.ms"] != "3600000" || cfg["cleanup.policy"] != "delete" {
			t.Errorf("describeConfigs = %v, want retention.ms=3600000 cleanup.policy=delete", cfg)
		}

		var offs []struct {
			Partition         int32
			Offset, High, Low string
		}
		if err := json.Unmarshal(one(t, byOp, "topicOffsets").Partitions, &offs); err != nil {
			t.Fatal(err)
		}
		if len(offs) != 3 {
			t.Errorf("fetchTopicOffsets = %+v, want 3 partitions", offs)
		}
		for _, o := range offs {
			if o.High != "0" || o.Low != "0" {
				t.Errorf("fetchTopicOffsets partition %+v: want high=low=0 on a new topic", o)
			}
		}

		var before, after []string
		_ = json.Unmarshal(one(t, byOp, "listTopics").Topics, &before)
		_ = json.Unmarshal(one(t, byOp, "listTopicsAfterDelete").Topics, &after)
		if !slices.Contains(before, topic) || slices.Contains(after, topic) {
			t.Errorf("listTopics = %v before delete, %v after; want %s only before", before, after, topic)
		}
	})

	t.Run("Group", func(t *testing.T) {
		const topic, group, n = "kjs-group", "kjs-group", 400
		byOp := runKafkajs(t, node, 120*time.Second, p.Addr, "group", topic, group, fmt.Sprint(n))

		// kafkajs.js produces only once both members hold partitions
		// (it waits for that); check the split it saw.
		as := one(t, byOp, "ready").Assignments
		all := slices.Concat(as...)
		slices.Sort(all)
		if len(as) != 2 || len(as[0]) == 0 || len(as[1]) == 0 || !slices.Equal(all, []int32{0, 1, 2, 3}) {
			t.Errorf("assignments when ready = %v, want partitions 0..3 split between 2 members", as)
		}

		acked := map[string]ackedAt{}
		for _, l := range byOp["acked"] {
			if _, dup := acked[l.Value]; dup {
				t.Errorf("%s acked twice", l.Value)
			}
			acked[l.Value] = ackedAt{l.Partition, l.Offset}
		}
		if len(acked) != n {
			t.Fatalf("%d records acked, want %d", len(acked), n)
		}
		var got []readRec
		perMember := map[int]int{}
		for _, l := range byOp["consumed"] {
			got = append(got, readRec{key: l.Key, value: l.Value, header: l.Header, partition: l.Partition, offset: l.Offset})
			perMember[l.Member]++
		}
		checkAcked(t, "kafkajs group", acked, got, true)
		if perMember[0] == 0 || perMember[1] == 0 {
			t.Errorf("records consumed per member: %v; want both members consuming", perMember)
		}

		want := map[int32]int64{}
		for _, a := range acked {
			want[a.partition] = max(want[a.partition], a.offset+1)
		}
		var committed []struct {
			Partition int32
			Offset    int64
		}
		if err := json.Unmarshal(one(t, byOp, "offsets").Partitions, &committed); err != nil {
			t.Fatal(err)
		}
		gotOffs := map[int32]int64{}
		for _, c := range committed {
			gotOffs[c.Partition] = c.Offset
		}
		if fmt.Sprint(gotOffs) != fmt.Sprint(want) {
			t.Errorf("fetchOffsets after the members left = %v, want %v", gotOffs, want)
		}

		gs := one(t, byOp, "describeGroups").Groups
		if len(gs) != 1 || gs[0].GroupID != group || gs[0].State != "Empty" || gs[0].Members != 0 || gs[0].Error != 0 {
			t.Errorf("describeGroups after the members left = %+v, want %s Empty with no members", gs, group)
		}
	})
}

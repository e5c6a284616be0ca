package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPlanReset(t *testing.T) {
	// Two partitions: p0 holds [10, 50) with a commit at 30; p1 holds
	// [0, 20) and the group never committed there.
	parts := func(forTime0, forTime1 int64) []partitionOffsets {
		return []partitionOffsets{
			{Topic: "orders", Partition: 0, Current: 30, Start: 10, End: 50, ForTime: forTime0},
			{Topic: "orders", Partition: 1, Current: -1, Start: 0, End: 20, ForTime: forTime1},
		}
	}
	tests := []struct {
		name    string
		spec    resetSpec
		parts   []partitionOffsets
		want    []int64 // new offset per partition, in order
		wantErr error
	}{
		{"earliest", resetSpec{kind: resetToEarliest}, parts(-1, -1), []int64{10, 0}, nil},
		{"latest", resetSpec{kind: resetToLatest}, parts(-1, -1), []int64{50, 20}, nil},
		{"offset inside both", resetSpec{kind: resetToOffset, n: 15}, parts(-1, -1), []int64{15, 15}, nil},
		{"offset below start clamps up", resetSpec{kind: resetToOffset, n: 0}, parts(-1, -1), []int64{10, 0}, nil},
		{"offset past end clamps down", resetSpec{kind: resetToOffset, n: 1000}, parts(-1, -1), []int64{50, 20}, nil},
		{"datetime found", resetSpec{kind: resetToDatetime, n: 1}, parts(42, 3), []int64{42, 3}, nil},
		// No record at or after the time: the end, so nothing old is re-read.
		{"datetime with no later record is the end", resetSpec{kind: resetToDatetime, n: 1}, parts(-1, -1), []int64{50, 20}, nil},
		{"datetime answer outside the log is clamped", resetSpec{kind: resetToDatetime, n: 1}, parts(5, 99), []int64{10, 20}, nil},
		{"shift forward", resetSpec{kind: resetShiftBy, n: 5}, parts(-1, -1)[:1], []int64{35}, nil},
		{"shift back", resetSpec{kind: resetShiftBy, n: -5}, parts(-1, -1)[:1], []int64{25}, nil},
		{"shift back past start clamps", resetSpec{kind: resetShiftBy, n: -100}, parts(-1, -1)[:1], []int64{10}, nil},
		{"shift forward past end clamps", resetSpec{kind: resetShiftBy, n: 100}, parts(-1, -1)[:1], []int64{50}, nil},
		{"shift by max int64 saturates", resetSpec{kind: resetShiftBy, n: maxInt64}, parts(-1, -1)[:1], []int64{50}, nil},
		{"shift needs a commit", resetSpec{kind: resetShiftBy, n: 1}, parts(-1, -1), nil, errNoCommit},
		{"no partitions", resetSpec{kind: resetToEarliest}, nil, []int64{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := planReset(tt.spec, tt.parts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if !strings.Contains(err.Error(), "orders/1") {
					t.Fatalf("error does not name the partition: %v", err)
				}
				return
			}
			got := make([]int64, len(rows))
			for i, r := range rows {
				got[i] = r.New
				p := tt.parts[i]
				if r.Topic != p.Topic || r.Partition != p.Partition || r.Current != p.Current {
					t.Fatalf("row %d %+v does not carry its partition %+v", i, r, p)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("new offsets %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseResetTopics(t *testing.T) {
	tests := []struct {
		in      []string
		want    []resetScope
		wantErr bool
	}{
		{in: []string{"orders"}, want: []resetScope{{Topic: "orders"}}},
		{in: []string{"orders:0,2"}, want: []resetScope{{Topic: "orders", Partitions: []int32{0, 2}}}},
		{in: []string{"a:1", "b", "a:3,1"}, want: []resetScope{{Topic: "a", Partitions: []int32{1, 3}}, {Topic: "b"}}},
		// All partitions of a topic absorb a subset named elsewhere.
		{in: []string{"a:1", "a"}, want: []resetScope{{Topic: "a"}}},
		{in: []string{"a", "a:1"}, want: []resetScope{{Topic: "a"}}},
		{in: []string{":1"}, wantErr: true},
		{in: []string{"a:"}, wantErr: true},
		{in: []string{"a:x"}, wantErr: true},
		{in: []string{"a:-1"}, wantErr: true},
		{in: []string{"a:1,1"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseResetTopics(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "--topic") {
				t.Errorf("%q: error does not name --topic: %v", tt.in, err)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDatetime(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "2026-01-02T15:04:05Z", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli()},
		{in: "2026-01-02T15:04:05.250Z", want: time.Date(2026, 1, 2, 15, 4, 5, 250e6, time.UTC).UnixMilli()},
		{in: "2026-01-02T16:04:05+01:00", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli()},
		{in: "1767366245000", want: 1767366245000},
		{in: "0", want: 0},
		{in: "-5", wantErr: true},
		{in: "1969-12-31T23:59:59Z", wantErr: true},
		{in: "2026-01-02", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseDatetime(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("%q: got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeStates(t *testing.T) {
	got, err := normalizeStates([]string{"stable", " EMPTY ", "Stable", "", "preparingrebalance"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Stable", "Empty", "PreparingRebalance"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := normalizeStates([]string{"Stabel"}); err == nil || !strings.Contains(err.Error(), "Stabel") {
		t.Fatalf("unknown state: err %v", err)
	}
}

func TestFormatAssignment(t *testing.T) {
	a := &kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{
		{Topic: "orders", Partitions: []int32{2, 0}},
		{Topic: "audit", Partitions: []int32{1}},
	}}
	if got := formatAssignment(a); got != "audit(1),orders(0,2)" {
		t.Fatalf("consumer assignment: %q", got)
	}
	if got := formatAssignment(&kmsg.ConsumerMemberAssignment{}); got != "-" {
		t.Fatalf("empty assignment: %q", got)
	}
	if got := formatAssignment(nil); got != "-" {
		t.Fatalf("non-consumer assignment: %q", got)
	}
}

func TestGroupUsageErrors(t *testing.T) {
	// Flag mistakes are caught before any connection: the broker address
	// is a closed port, and the error must still be the usage problem.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"group", "reset-offsets", "g", "--topic", "t"}, "give one of --to-earliest"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest"}, "give --topic"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--all-topics", "--to-earliest"}, "--topic and --all-topics cannot be combined"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"}, "--to-earliest and --to-latest cannot be combined"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "0", "--shift-by", "0"}, "--to-offset and --shift-by cannot be combined"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"}, "--to-offset -1"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "soon"}, `--to-datetime "soon"`},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--dry-run", "--execute"}, "--dry-run and --execute cannot be combined"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t:x", "--to-latest"}, `--topic "t:x"`},
		{[]string{"group", "reset-offsets", "--topic", "t", "--to-latest"}, "accepts 1 arg(s)"},
		{[]string{"group", "list", "--state", "Sleepy"}, `--state "Sleepy"`},
		{[]string{"group", "describe"}, "requires at least 1 arg(s)"},
		{[]string{"group", "delete"}, "requires at least 1 arg(s)"},
		{[]string{"group", "nope"}, `unknown command "nope"`},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, "", append([]string{"-b", dead}, tt.args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "samsa: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want one error line", tt.args, code, errOut)
			continue
		}
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: stderr %q does not contain %q", tt.args, errOut, tt.want)
		}
	}
}

func TestGroupHelp(t *testing.T) {
	for _, sub := range []string{"list", "describe", "delete", "reset-offsets"} {
		code, out, _ := runCLI(t, "", "group", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "samsa group "+sub) {
			t.Errorf("group %s --help: exit %d, output lacks examples:\n%s", sub, code, out)
		}
	}
}

// TestGroupCommands runs the group lifecycle against a samsa broker.
func TestGroupCommands(t *testing.T) {
	addr := startBroker(t, map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"num.partitions":                   "3",
		"auto.create.topics.enable":        "true",
	})
	groupScenario(t, addr)
}

// TestGroupCommandsKfake runs the same lifecycle against franz-go's kfake,
// a reference peer: it checks the scenario and the commands themselves
// independently of samsa's group coordinator.
func TestGroupCommandsKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	groupScenario(t, c.ListenAddrs()[0])
}

// lagRow is one row of describe's per-partition table.
type lagRow struct {
	partition         int32
	current, end, lag string
	member            string
}

// lagRows parses the TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
// MEMBER-ID rows of topic from describe's output.
func lagRows(t *testing.T, out, topic string) []lagRow {
	t.Helper()
	var rows []lagRow
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != topic {
			continue
		}
		p, err := strconv.ParseInt(f[1], 10, 32)
		if err != nil {
			t.Fatalf("bad partition in %q", line)
		}
		rows = append(rows, lagRow{partition: int32(p), current: f[2], end: f[3], lag: f[4], member: f[5]})
	}
	return rows
}

// groupScenario produces 30 records to "orders", consumes them all in
// group "workers", then drives list, describe, reset-offsets and delete.
func groupScenario(t *testing.T, addr string) {
	const (
		topic   = "orders"
		group   = "workers"
		records = 30
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range records {
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("scenario"))
	if err != nil {
		t.Fatal(err)
	}
	consClosed := false
	defer func() {
		if !consClosed {
			cons.Close()
		}
	}()
	for seen := 0; seen < records; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", seen, records, err)
		}
		fs.EachError(func(t2 string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", t2, p, err) })
		seen += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// While the member is in the group: describe shows it, and the
	// commands that need an inactive group refuse.
	out, _ := cli(t, addr, "", "group", "describe", group)
	if rows := tableRows(out); len(rows["MEMBERS"]) != 2 || rows["MEMBERS"][1] != "1" || rows["STATE"][1] != "Stable" {
		t.Fatalf("describe with a member:\n%s", out)
	}
	if !strings.Contains(out, topic+"(0,1,2)") {
		t.Fatalf("describe does not show the member's assignment:\n%s", out)
	}
	if !strings.Contains(out, "scenario") {
		t.Fatalf("describe does not show the member's client id:\n%s", out)
	}
	errOut := cliFail(t, addr, "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
	if !strings.Contains(errOut, `group "workers" is active (state Stable, 1 member)`) || !strings.Contains(errOut, "stop its consumers first") {
		t.Fatalf("reset of an active group: %q", errOut)
	}
	errOut = cliFail(t, addr, "group", "delete", group)
	if errOut != "samsa: group \"workers\" still has active members; stop them first\n" {
		t.Fatalf("delete of an active group: %q", errOut)
	}

	cons.Close() // leaves the group
	consClosed = true
	waitFor(t, 10*time.Second, func() error {
		out, _ := cli(t, addr, "", "group", "list")
		if got := tableRows(out)[group]; len(got) != 3 || got[1] != "Empty" || got[2] != "consumer" {
			return fmt.Errorf("list: %v in\n%s", got, out)
		}
		return nil
	})
	out, _ = cli(t, addr, "", "group", "list", "--state", "stable")
	if _, ok := tableRows(out)[group]; ok {
		t.Fatalf("--state stable lists the Empty group:\n%s", out)
	}
	out, _ = cli(t, addr, "", "group", "list", "--state", "Stable,Empty")
	if _, ok := tableRows(out)[group]; !ok {
		t.Fatalf("--state Stable,Empty misses the Empty group:\n%s", out)
	}

	// All consumed: lag 0 everywhere, commits at the ends.
	describe := func() (string, []lagRow) {
		t.Helper()
		out, _ := cli(t, addr, "", "group", "describe", group)
		return out, lagRows(t, out, topic)
	}
	out, rows := describe()
	if len(rows) != 3 || tableRows(out)["TOTAL-LAG"][1] != "0" {
		t.Fatalf("describe after full consumption:\n%s", out)
	}
	ends := map[int32]int64{}
	for _, r := range rows {
		if r.lag != "0" || r.current != r.end || r.member != "-" {
			t.Fatalf("partition %d row %+v in\n%s", r.partition, r, out)
		}
		ends[r.partition], _ = strconv.ParseInt(r.end, 10, 64)
	}

	// No --execute: a plan and a note, and nothing changes.
	out, errOut = cli(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if !strings.Contains(errOut, "add --execute") {
		t.Fatalf("dry run note: %q", errOut)
	}
	if got := tableRows(out)["TOPIC"]; !slices.Equal(got, []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"}) {
		t.Fatalf("plan header %v in\n%s", got, out)
	}
	if n := strings.Count(out, topic+" "); n != 3 {
		t.Fatalf("plan has %d rows, want 3:\n%s", n, out)
	}
	if out, _ := describe(); tableRows(out)["TOTAL-LAG"][1] != "0" {
		t.Fatalf("dry run changed the commits:\n%s", out)
	}

	_, errOut = cli(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
	if want := "committed new offsets for 3 partitions of group " + group + "\n"; errOut != want {
		t.Fatalf("reset summary %q, want %q", errOut, want)
	}
	out, rows = describe()
	if got := tableRows(out)["TOTAL-LAG"][1]; got != strconv.Itoa(records) {
		t.Fatalf("after --to-earliest: total lag %s, want %d:\n%s", got, records, out)
	}
	for _, r := range rows {
		if r.current != "0" || r.lag != r.end {
			t.Fatalf("after --to-earliest: partition %d row %+v in\n%s", r.partition, r, out)
		}
	}

	// --shift-by on one partition, clamped at its end.
	_, errOut = cli(t, addr, "", "group", "reset-offsets", group, "--topic", topic+":1", "--shift-by", "1000", "--execute")
	if want := "committed new offsets for 1 partition of group " + group + "\n"; errOut != want {
		t.Fatalf("one-partition reset summary %q, want %q", errOut, want)
	}
	_, rows = describe()
	for _, r := range rows {
		want := "0"
		if r.partition == 1 {
			want = fmt.Sprint(ends[1])
		}
		if r.current != want {
			t.Fatalf("after --shift-by 1000 on partition 1: row %+v, want current %s", r, want)
		}
	}

	// --to-datetime in the future: no record that new, so the end.
	cli(t, addr, "", "group", "reset-offsets", group, "--all-topics", "--to-datetime",
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--execute")
	if out, _ := describe(); tableRows(out)["TOTAL-LAG"][1] != "0" {
		t.Fatalf("after --to-datetime in the future:\n%s", out)
	}

	errOut = cliFail(t, addr, "group", "reset-offsets", group, "--topic", "nope", "--to-earliest")
	if !strings.Contains(errOut, `topic "nope" does not exist`) {
		t.Fatalf("reset of an unknown topic: %q", errOut)
	}
	errOut = cliFail(t, addr, "group", "reset-offsets", group, "--topic", topic+":7", "--to-earliest")
	if !strings.Contains(errOut, "has no partition 7") {
		t.Fatalf("reset of an unknown partition: %q", errOut)
	}

	out, _ = cli(t, addr, "", "group", "delete", group)
	if out != "deleted group workers\n" {
		t.Fatalf("delete: %q", out)
	}
	out, _ = cli(t, addr, "", "group", "list")
	if _, ok := tableRows(out)[group]; ok {
		t.Fatalf("deleted group still listed:\n%s", out)
	}
	errOut = cliFail(t, addr, "group", "describe", group)
	if errOut != "samsa: group \"workers\" does not exist\n" {
		t.Fatalf("describe of a deleted group: %q", errOut)
	}
	errOut = cliFail(t, addr, "group", "delete", group)
	if !strings.Contains(errOut, `group "workers" does not exist`) {
		t.Fatalf("delete of a deleted group: %q", errOut)
	}
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runCLI runs the root command in-process with args and stdin and returns
// the exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (code int, out, errOut string) {
	t.Helper()
	root := NewRootCommand("test")
	var o, e bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&o)
	root.SetErr(&e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, root)
	return code, o.String(), e.String()
}

func TestErrorsAreOneLine(t *testing.T) {
	// A port nothing listens on: bind then close, so the refusal is real.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name string
		args []string
		want string // the whole stderr
	}{
		{
			name: "unreachable broker",
			args: []string{"topic", "list", "-b", dead, "--timeout", "2s"},
			want: fmt.Sprintf("samsa: cannot reach broker %s: connection refused (is \"samsa serve\" running?)\n", dead),
		},
		{
			name: "unknown flag",
			args: []string{"consume", "t", "--bogus"},
			want: "samsa: unknown flag: --bogus (see \"samsa consume --help\")\n",
		},
		{
			name: "missing argument",
			args: []string{"topic", "describe"},
			want: "samsa: accepts 1 arg(s), received 0 (see \"samsa topic describe --help\")\n",
		},
		{
			name: "unknown subcommand",
			args: []string{"topic", "frobnicate"},
			want: "samsa: unknown command \"frobnicate\" for \"samsa topic\" (see \"samsa topic --help\")\n",
		},
		{
			name: "bad flag value caught before dialing",
			args: []string{"consume", "t", "-o", "yesterday", "-b", dead},
			want: "samsa: --offset \"yesterday\": want start, end, N, -N or @TIMESTAMP_MS\n",
		},
		{
			name: "bad acks",
			args: []string{"produce", "t", "--acks", "2", "-b", dead},
			want: "samsa: --acks \"2\": want all, 1 or 0\n",
		},
		{
			name: "required flag",
			args: []string{"topic", "add-partitions", "t"},
			want: "samsa: required flag(s) \"num\" not set (see \"samsa topic add-partitions --help\")\n",
		},
		{
			name: "bad topic name caught before dialing",
			args: []string{"produce", "bad name!", "-b", dead},
			want: "samsa: invalid topic name \"bad name!\": use only ASCII letters, digits, '.', '_' and '-'\n",
		},
		{
			name: "group with partitions",
			args: []string{"consume", "t", "-g", "g", "-p", "0"},
			want: "samsa: --partitions and --group cannot be combined: the group assigns partitions\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tt.args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q, want nothing", out)
			}
			if errOut != tt.want {
				t.Fatalf("stderr\n got %q\nwant %q", errOut, tt.want)
			}
		})
	}
}

func TestHelpMentionsExamples(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"topic", "create", "--help"}, {"produce", "--help"}, {"consume", "--help"}, {"cluster", "--help"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: code %d stderr %q", args, code, errOut)
		}
		if !strings.Contains(out, "Examples:") {
			t.Errorf("%v: help has no examples:\n%s", args, out)
		}
	}
	_, out, _ := runCLI(t, "", "consume", "--help")
	if !strings.Contains(out, "value_base64") {
		t.Errorf("consume help does not document non-UTF-8 JSON output")
	}
}

func TestBrokersFromEnv(t *testing.T) {
	t.Setenv(envBrokers, "h1:1, h2:2,")
	root := NewRootCommand("test")
	f := root.PersistentFlags().Lookup("brokers")
	if f.DefValue != "h1:1, h2:2," {
		t.Fatalf("default = %q", f.DefValue)
	}
	g := &globalOptions{brokers: f.DefValue}
	if got := g.seeds(); strings.Join(got, "|") != "h1:1|h2:2" {
		t.Fatalf("seeds = %q", got)
	}
}

func TestNetReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "connection refused"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timed out"},
		{&net.DNSError{Name: "nohost", Err: "no such host"}, "unknown host nohost"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("network is unreachable")}, "network is unreachable"},
		{errors.New("odd"), "odd"},
	}
	for _, tt := range tests {
		if got := netReason(tt.err); got != tt.want {
			t.Errorf("netReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestTopicError(t *testing.T) {
	tests := []struct {
		err  error
		msg  string
		want string
	}{
		{kerr.UnknownTopicOrPartition, "", `topic "t" does not exist`},
		{kerr.TopicAlreadyExists, "Topic 't' already exists.", `topic "t" already exists: Topic 't' already exists.`},
		{kerr.InvalidReplicationFactor, "", `topic "t": ` + kerr.InvalidReplicationFactor.Error()},
		// With a broker message, the message replaces kerr's generic
		// description and the code's name stays for searching.
		{kerr.InvalidReplicationFactor, "replication factor 3, but this cluster has 1 broker",
			`topic "t": replication factor 3, but this cluster has 1 broker (INVALID_REPLICATION_FACTOR)`},
	}
	for _, tt := range tests {
		err := topicError("t", tt.err, tt.msg)
		if err.Error() != tt.want {
			t.Errorf("got %q, want %q", err.Error(), tt.want)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%v does not wrap %v", err, tt.err)
		}
	}
	if topicError("t", nil, "") != nil {
		t.Error("nil error must stay nil")
	}
}

func TestErrorLineFoldsNewlines(t *testing.T) {
	c := &cobra.Command{Use: "x"}
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("a\nb\n\tc"), "a; b; c"},
		{errors.New("a  b\n\n  c\t d\n"), "a b; c d"},
		// Two topics failing in one "topic create" must read as two clauses.
		{errors.Join(errors.New(`topic "x" already exists`), errors.New(`topic "y" already exists`)),
			`topic "x" already exists; topic "y" already exists`},
	}
	for _, tt := range tests {
		if got := errorLine(c, tt.err); got != tt.want {
			t.Errorf("errorLine(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestLineRecord(t *testing.T) {
	h := []kgo.RecordHeader{{Key: "a", Value: []byte("b")}}
	tests := []struct {
		line      string
		delim     string
		wantKey   []byte // nil means a null key
		wantValue string
	}{
		{line: "hello", wantValue: "hello"},
		{line: "", wantValue: ""},
		{line: "k:v", delim: ":", wantKey: []byte("k"), wantValue: "v"},
		{line: "k:v:w", delim: ":", wantKey: []byte("k"), wantValue: "v:w"},
		{line: ":v", delim: ":", wantKey: []byte{}, wantValue: "v"},
		{line: "k:", delim: ":", wantKey: []byte("k"), wantValue: ""},
		{line: "novalue", delim: ":", wantValue: "novalue"},
		{line: "a::b", delim: "::", wantKey: []byte("a"), wantValue: "b"},
	}
	for _, tt := range tests {
		buf := []byte(tt.line)
		r := lineRecord(buf, tt.delim, h)
		if (r.Key == nil) != (tt.wantKey == nil) || !bytes.Equal(r.Key, tt.wantKey) {
			t.Errorf("%q/%q: key %q (nil %t), want %q (nil %t)", tt.line, tt.delim, r.Key, r.Key == nil, tt.wantKey, tt.wantKey == nil)
		}
		if string(r.Value) != tt.wantValue || r.Value == nil {
			t.Errorf("%q/%q: value %q, want %q (non-nil)", tt.line, tt.delim, r.Value, tt.wantValue)
		}
		// The reader reuses its buffer: the record must not alias it.
		for i := range buf {
			buf[i] = 'X'
		}
		if len(tt.line) > 0 && (bytes.Contains(r.Value, []byte("X")) || bytes.Contains(r.Key, []byte("X"))) {
			t.Errorf("%q: record aliases the line buffer", tt.line)
		}
		if len(r.Headers) != 1 {
			t.Errorf("headers = %v", r.Headers)
		}
	}
}

func TestProduceOptions(t *testing.T) {
	g := &globalOptions{timeout: time.Second}
	for _, acks := range []string{"all", "-1", "1", "0"} {
		o := &produceOptions{acks: acks, compression: "zstd", partition: -1}
		if _, err := o.clientOpts(g); err != nil {
			t.Errorf("acks %s: %v", acks, err)
		}
	}
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd", "ZSTD"} {
		if _, err := parseCompression(c); err != nil {
			t.Errorf("compression %s: %v", c, err)
		}
	}
	if _, err := parseCompression("brotli"); err == nil {
		t.Error("brotli: want an error")
	}
	if _, err := (&produceOptions{acks: "all", compression: "none", partition: -2}).clientOpts(g); err == nil {
		t.Error("partition -2: want an error")
	}
}

func TestConsumeState(t *testing.T) {
	// Partition 0 has [0,3) to read, partition 1 starts at its end,
	// partition 2 has [5,6).
	starts := map[int32]int64{0: 0, 1: 4, 2: 5}
	ends := map[int32]int64{0: 3, 1: 4, 2: 6}

	s := newConsumeState(0, true, starts, ends)
	if s.done() {
		t.Fatal("done before reading anything")
	}
	s.record(0, 0)
	s.record(2, 5)
	s.record(0, 1)
	if s.done() {
		t.Fatal("done with partition 0 offset 2 unread")
	}
	s.record(0, 2)
	if !s.done() {
		t.Fatal("not done after every partition reached its end")
	}

	// Offsets can skip (compaction, transaction markers): a record past
	// the end still finishes the partition.
	s = newConsumeState(0, true, map[int32]int64{0: 0}, map[int32]int64{0: 10})
	s.record(0, 12)
	if !s.done() {
		t.Fatal("a record past the end did not finish the partition")
	}

	// Nothing to read: done at once with --exit, never without it.
	if !newConsumeState(0, true, map[int32]int64{0: 4}, map[int32]int64{0: 4}).done() {
		t.Fatal("empty partitions with --exit: want done")
	}
	if newConsumeState(0, false, map[int32]int64{0: 4}, map[int32]int64{0: 4}).done() {
		t.Fatal("without --exit: never done by offsets")
	}

	// --num stops first.
	s = newConsumeState(2, true, starts, ends)
	s.record(0, 0)
	s.record(0, 1)
	if !s.done() {
		t.Fatal("-n 2 not done after 2 records")
	}
}

func TestCheckTopicName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true}, // only "." and ".." are reserved
		{"bad name", false},
		{"a/b", false},
		{"café", false}, // ASCII only, as in Kafka
	}
	for _, tt := range tests {
		err := checkTopicName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("checkTopicName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		var ue *usageError
		if err != nil && !errors.As(err, &ue) {
			t.Errorf("checkTopicName(%q): %v is not a usage error", tt.name, err)
		}
	}
}

func TestProduceErrorHints(t *testing.T) {
	tests := []struct {
		err      error
		keyed    bool
		contains string // "" means the hint must be absent
	}{
		{kerr.InvalidRecord, false, "every record needs a key"},
		{kerr.InvalidRecord, true, ""},
		{kerr.InvalidTopicException, false, `invalid topic name "t"`},
		{kerr.UnknownTopicOrPartition, false, `topic "t" does not exist`},
	}
	for _, tt := range tests {
		err := produceError("t", tt.err, tt.keyed)
		if !errors.Is(err, tt.err) {
			t.Errorf("%v: result %v does not wrap it", tt.err, err)
		}
		switch {
		case tt.contains == "" && strings.Contains(err.Error(), "needs a key"):
			t.Errorf("%v keyed=%v: unexpected key hint in %q", tt.err, tt.keyed, err)
		case tt.contains != "" && !strings.Contains(err.Error(), tt.contains):
			t.Errorf("%v keyed=%v: %q lacks %q", tt.err, tt.keyed, err, tt.contains)
		}
	}
}

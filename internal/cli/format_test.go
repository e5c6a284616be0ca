package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []keyValue
		wantErr string
	}{
		{name: "none", in: nil, want: []keyValue{}},
		{name: "simple", in: []string{"a=1", "b=2"}, want: []keyValue{{"a", "1"}, {"b", "2"}}},
		{name: "value with equals", in: []string{"q=x=y"}, want: []keyValue{{"q", "x=y"}}},
		{name: "empty value", in: []string{"k="}, want: []keyValue{{"k", ""}}},
		{name: "duplicates kept in order", in: []string{"h=1", "h=2"}, want: []keyValue{{"h", "1"}, {"h", "2"}}},
		{name: "no equals", in: []string{"abc"}, wantErr: `--header "abc": want key=value`},
		{name: "empty key", in: []string{"=v"}, wantErr: `--header "=v": empty key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeyValues("header", tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var ue *usageError
				if !errors.As(err, &ue) {
					t.Fatalf("err %T is not a usageError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseConfigs(t *testing.T) {
	got, err := parseConfigs("config", []string{"retention.ms=1000", "cleanup.policy=compact,delete"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || *got["retention.ms"] != "1000" || *got["cleanup.policy"] != "compact,delete" {
		t.Fatalf("got %v", got)
	}
	if _, err := parseConfigs("config", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), `"a" given twice`) {
		t.Fatalf("duplicate key: err = %v", err)
	}
}

func TestParseOffsetSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    offsetSpec
		wantErr bool
	}{
		{in: "start", want: offsetSpec{kind: offsetStart}},
		{in: "beginning", want: offsetSpec{kind: offsetStart}},
		{in: "END", want: offsetSpec{kind: offsetEnd}},
		{in: "0", want: offsetSpec{kind: offsetExact, n: 0}},
		{in: "42", want: offsetSpec{kind: offsetExact, n: 42}},
		{in: "-5", want: offsetSpec{kind: offsetFromEnd, n: 5}},
		{in: "-0", want: offsetSpec{kind: offsetFromEnd, n: 0}},
		{in: "@1700000000000", want: offsetSpec{kind: offsetTimestamp, n: 1700000000000}},
		{in: "@", wantErr: true},
		{in: "@-1", wantErr: true},
		{in: "@abc", wantErr: true},
		{in: "", wantErr: true},
		{in: "first", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "-9223372036854775808", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseOffsetSpec(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOffsetSpecResolve(t *testing.T) {
	// Partition with retained records [10, 20): log start 10, HWM 20.
	const logStart, hwm = 10, 20
	tests := []struct {
		name    string
		spec    offsetSpec
		forTime int64
		want    int64
	}{
		{"start", offsetSpec{kind: offsetStart}, -1, 10},
		{"end", offsetSpec{kind: offsetEnd}, -1, 20},
		{"exact inside", offsetSpec{kind: offsetExact, n: 15}, -1, 15},
		{"exact below start clamps", offsetSpec{kind: offsetExact, n: 3}, -1, 10},
		{"exact past end clamps", offsetSpec{kind: offsetExact, n: 99}, -1, 20},
		{"last 3", offsetSpec{kind: offsetFromEnd, n: 3}, -1, 17},
		{"last 0", offsetSpec{kind: offsetFromEnd, n: 0}, -1, 20},
		{"last more than retained", offsetSpec{kind: offsetFromEnd, n: 50}, -1, 10},
		{"timestamp found", offsetSpec{kind: offsetTimestamp, n: 5}, 12, 12},
		{"timestamp newer than all", offsetSpec{kind: offsetTimestamp, n: 5}, -1, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.resolve(logStart, hwm, tt.forTime); got != tt.want {
				t.Fatalf("resolve = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOffsetSpecKgoOffset(t *testing.T) {
	// kgo.Offset has no accessors; its String form is stable enough to
	// tell the cases apart.
	tests := []struct {
		spec offsetSpec
		want kgo.Offset
	}{
		{offsetSpec{kind: offsetStart}, kgo.NewOffset().AtStart()},
		{offsetSpec{kind: offsetEnd}, kgo.NewOffset().AtEnd()},
		{offsetSpec{kind: offsetExact, n: 7}, kgo.NewOffset().At(7)},
		{offsetSpec{kind: offsetFromEnd, n: 4}, kgo.NewOffset().AtEnd().Relative(-4)},
		{offsetSpec{kind: offsetTimestamp, n: 99}, kgo.NewOffset().AfterMilli(99)},
	}
	for _, tt := range tests {
		if got := tt.spec.kgoOffset(); got.String() != tt.want.String() {
			t.Errorf("%+v: got %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestParsePartitions(t *testing.T) {
	tests := []struct {
		in      string
		want    []int32
		wantErr bool
	}{
		{in: "0", want: []int32{0}},
		{in: "0,1, 5", want: []int32{0, 1, 5}},
		{in: "3,", want: []int32{3}},
		{in: "", wantErr: true},
		{in: ",", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "a", wantErr: true},
		{in: "1,1", wantErr: true},
		{in: "4294967296", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePartitions(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// testRecord is a record with every field the formatters print.
func testRecord() *kgo.Record {
	return &kgo.Record{
		Topic:     "orders",
		Partition: 2,
		Offset:    41,
		Timestamp: time.UnixMilli(1700000000123),
		Key:       []byte("user-1"),
		Value:     []byte("hello"),
		Headers:   []kgo.RecordHeader{{Key: "src", Value: []byte("cli")}, {Key: "n", Value: []byte("1")}},
	}
}

func TestRecordFormatter(t *testing.T) {
	tests := []struct {
		format string
		rec    func(*kgo.Record)
		want   string
	}{
		{format: "value", want: "hello\n"},
		{format: "kv", want: "user-1\thello\n"},
		{format: "%t %p %o %k %v %h %T\\n", want: "orders 2 41 user-1 hello src=cli,n=1 1700000000123\n"},
		{format: "%K/%S %%\\t|\\\\", want: "6/5 %\t|\\"},
		{format: "[%k]\\n", rec: func(r *kgo.Record) { r.Key = nil }, want: "[]\n"},
		{format: "%h\\n", rec: func(r *kgo.Record) { r.Headers = nil }, want: "\n"},
		{format: "a\\qb%v", want: "a\\qbhello"}, // unknown escapes stay literal
		{format: "%v\\", want: "hello\\"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := newRecordFormatter(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			r := testRecord()
			if tt.rec != nil {
				tt.rec(r)
			}
			var buf bytes.Buffer
			if err := f(&buf, r); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestRecordFormatterErrors(t *testing.T) {
	for _, f := range []string{"xml", "%", "%q", "abc%"} {
		if _, err := newRecordFormatter(f); err == nil {
			t.Errorf("format %q: want an error", f)
		}
	}
}

func TestJSONFormat(t *testing.T) {
	f, err := newRecordFormatter("json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  func(*kgo.Record)
		want string
	}{
		{
			name: "utf8",
			want: `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":"user-1","value":"hello","headers":[{"key":"src","value":"cli"},{"key":"n","value":"1"}]}`,
		},
		{
			name: "null key and value, no headers",
			rec:  func(r *kgo.Record) { r.Key, r.Value, r.Headers = nil, nil, nil },
			want: `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":null,"value":null,"headers":[]}`,
		},
		{
			name: "empty is not null",
			rec:  func(r *kgo.Record) { r.Key, r.Value, r.Headers = []byte{}, []byte{}, nil },
			want: `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":"","value":"","headers":[]}`,
		},
		{
			name: "binary goes to base64",
			rec: func(r *kgo.Record) {
				r.Key = []byte{0xff, 0x00}
				r.Value = []byte{0xc3, 0x28}
				r.Headers = []kgo.RecordHeader{{Key: "bin", Value: []byte{0x80}}}
			},
			want: `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":null,"key_base64":"/wA=","value":null,"value_base64":"wyg=","headers":[{"key":"bin","value":null,"value_base64":"gA=="}]}`,
		},
		{
			name: "quotes and newlines are escaped",
			rec:  func(r *kgo.Record) { r.Value = []byte("a\"b\nc"); r.Headers = nil },
			want: `{"topic":"orders","partition":2,"offset":41,"timestamp":1700000000123,"key":"user-1","value":"a\"b\nc","headers":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRecord()
			if tt.rec != nil {
				tt.rec(r)
			}
			var buf bytes.Buffer
			if err := f(&buf, r); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want+"\n" {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(buf.Bytes()) {
				t.Fatal("output is not valid JSON")
			}
		})
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	tb := newTable(&buf, "NAME", "PARTITIONS")
	tb.row("a-long-name", 3)
	tb.row("b", 12)
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	want := "NAME         PARTITIONS\n" +
		"a-long-name  3\n" +
		"b            12\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if got := int32List([]int32{1, 2, 3}); got != "1,2,3" {
		t.Fatalf("int32List = %q", got)
	}
	if got := int32List(nil); got != "" {
		t.Fatalf("int32List(nil) = %q", got)
	}
}

// FuzzParseTemplate checks, for any --format string: no panic; a template
// that parses renders any record without error; a template without
// directives renders the same bytes for two different records.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"%t %p %o %k %v %h %T\\n", "%%", "%", "\\", "\\n\\t\\r\\\\", "%K%S", "plain", "%z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := parseTemplate(s)
		if err != nil {
			return
		}
		var a, b bytes.Buffer
		r1 := testRecord()
		r2 := &kgo.Record{Topic: "x", Value: []byte{0xff}}
		if err := tmpl.write(&a, r1); err != nil {
			t.Fatal(err)
		}
		if err := tmpl.write(&b, r2); err != nil {
			t.Fatal(err)
		}
		hasDirective := false
		for _, p := range tmpl {
			if p.dir != 0 {
				hasDirective = true
			}
		}
		if !hasDirective && a.String() != b.String() {
			t.Fatalf("literal template rendered differently: %q vs %q", a.String(), b.String())
		}
	})
}

// FuzzParseOffsetSpec checks, for any --offset string: no panic; a spec
// that parses resolves inside [logStart, highWatermark] for any partition
// bounds and timestamp answer.
func FuzzParseOffsetSpec(f *testing.F) {
	for _, s := range []string{"start", "end", "0", "-1", "-0", "@0", "@", "9223372036854775807", "-9223372036854775808", "x"} {
		f.Add(s, int64(0), int64(10), int64(-1))
	}
	f.Fuzz(func(t *testing.T, s string, logStart, hwm, forTime int64) {
		spec, err := parseOffsetSpec(s)
		if err != nil {
			return
		}
		if logStart < 0 || hwm < logStart {
			return // not a partition a broker can report
		}
		got := spec.resolve(logStart, hwm, forTime)
		if got < logStart || got > hwm {
			t.Fatalf("%q resolve(%d, %d, %d) = %d, outside the partition", s, logStart, hwm, forTime, got)
		}
	})
}

func TestKafkaUUID(t *testing.T) {
	// An ID whose bytes produce both characters that differ between the
	// two base64 alphabets ('-' and '_' for '+' and '/').
	id := [16]byte{0xfb, 0xef, 0xff, 0xa5, 0x66, 0x08, 0x61, 0xd0, 0x70, 0xc1, 0xb3, 0x79, 0x7e, 0x37, 0x56, 0x8d}
	got := kafkaUUID(id)
	if got != "--__pWYIYdBwwbN5fjdWjQ" {
		t.Fatalf("kafkaUUID = %q", got)
	}
	if len(got) != 22 || strings.ContainsAny(got, "+/=") {
		t.Fatalf("%q is not Kafka's 22-character URL-safe form", got)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 partitions", 1: "1 partition", 2: "2 partitions"} {
		if got := count(n, "partition", "partitions"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

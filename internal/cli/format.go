package cli

// Parsers for flag values and formatters for output. Everything here is
// pure (no network) so it is covered by table tests.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// keyValue is one parsed "k=v" flag value; order and duplicates are kept
// because record headers may repeat a key.
type keyValue struct {
	Key, Value string
}

// parseKeyValues parses "k=v" items, splitting at the first '=' so values
// may themselves contain '='. An empty key is an error; an empty value is
// allowed ("k=").
func parseKeyValues(flag string, items []string) ([]keyValue, error) {
	out := make([]keyValue, 0, len(items))
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok {
			return nil, usageErrorf("--%s %q: want key=value", flag, it)
		}
		if k == "" {
			return nil, usageErrorf("--%s %q: empty key", flag, it)
		}
		out = append(out, keyValue{Key: k, Value: v})
	}
	return out, nil
}

// parseConfigs parses "k=v" topic configs into the map kadm takes; a key
// given twice is an error, since only one value can win.
func parseConfigs(flag string, items []string) (map[string]*string, error) {
	kvs, err := parseKeyValues(flag, items)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		if _, dup := out[kv.Key]; dup {
			return nil, usageErrorf("--%s: %q given twice", flag, kv.Key)
		}
		v := kv.Value
		out[kv.Key] = &v
	}
	return out, nil
}

// offsetKind says how an offsetSpec picks the first offset of a partition.
type offsetKind int

const (
	offsetStart     offsetKind = iota // the log start offset
	offsetEnd                         // the high watermark: only new records
	offsetExact                       // N: absolute offset, clamped to [start, end]
	offsetFromEnd                     // -N: N records before the high watermark
	offsetTimestamp                   // @MS: first record with timestamp >= MS
)

// offsetSpec is the parsed --offset flag.
type offsetSpec struct {
	kind offsetKind
	n    int64 // offset for exact, count for fromEnd, millis for timestamp
}

// parseOffsetSpec parses --offset: "start" (also "beginning", "oldest"),
// "end" (also "newest"), "N", "-N" or "@TIMESTAMP_MS".
func parseOffsetSpec(s string) (offsetSpec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "start", "beginning", "oldest", "earliest":
		return offsetSpec{kind: offsetStart}, nil
	case "end", "newest", "latest":
		return offsetSpec{kind: offsetEnd}, nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return offsetSpec{}, usageErrorf("--offset %q: want @TIMESTAMP_MS, a non-negative number of milliseconds since the epoch", s)
		}
		return offsetSpec{kind: offsetTimestamp, n: n}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetSpec{}, usageErrorf("--offset %q: want start, end, N, -N or @TIMESTAMP_MS", s)
	}
	if strings.HasPrefix(s, "-") {
		// "-0" parses as 0 but means "zero records before the end".
		if -n < 0 { // math.MinInt64 has no positive counterpart
			return offsetSpec{}, usageErrorf("--offset %q: out of range", s)
		}
		return offsetSpec{kind: offsetFromEnd, n: -n}, nil
	}
	return offsetSpec{kind: offsetExact, n: n}, nil
}

// resolve returns the concrete first offset for a partition given its log
// start offset, high watermark and, for timestamp specs, the offset the
// broker returned for the timestamp (-1 when no record is that new).
// Invariant: logStart <= result <= highWatermark, so consuming from the
// result never hits OFFSET_OUT_OF_RANGE for a stable partition.
func (o offsetSpec) resolve(logStart, highWatermark, forTimestamp int64) int64 {
	var at int64
	switch o.kind {
	case offsetStart:
		at = logStart
	case offsetEnd:
		at = highWatermark
	case offsetExact:
		at = o.n
	case offsetFromEnd:
		at = highWatermark - o.n
	case offsetTimestamp:
		at = forTimestamp
		if at < 0 {
			at = highWatermark
		}
	}
	return min(max(at, logStart), highWatermark)
}

// kgoOffset is the spec as a kgo reset offset, used in group mode when the
// group has no committed offset for a partition.
func (o offsetSpec) kgoOffset() kgo.Offset {
	switch o.kind {
	case offsetEnd:
		return kgo.NewOffset().AtEnd()
	case offsetExact:
		return kgo.NewOffset().At(o.n)
	case offsetFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-o.n)
	case offsetTimestamp:
		return kgo.NewOffset().AfterMilli(o.n)
	default:
		return kgo.NewOffset().AtStart()
	}
}

// parsePartitions parses "0,1,5" into partition numbers, rejecting
// negatives and duplicates.
func parsePartitions(s string) ([]int32, error) {
	var out []int32
	seen := map[int32]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || n < 0 {
			return nil, usageErrorf("--partitions %q: %q is not a partition number", s, f)
		}
		if seen[int32(n)] {
			return nil, usageErrorf("--partitions %q: partition %d listed twice", s, n)
		}
		seen[int32(n)] = true
		out = append(out, int32(n))
	}
	if len(out) == 0 {
		return nil, usageErrorf("--partitions %q: no partitions", s)
	}
	return out, nil
}

// recordFormatter writes one consumed record to w.
type recordFormatter func(w io.Writer, r *kgo.Record) error

// newRecordFormatter returns the formatter for --format: "value", "kv",
// "json", or a template containing '%' directives (see formatHelp).
func newRecordFormatter(format string) (recordFormatter, error) {
	switch format {
	case "value", "":
		return func(w io.Writer, r *kgo.Record) error {
			_, err := fmt.Fprintf(w, "%s\n", r.Value)
			return err
		}, nil
	case "kv":
		return func(w io.Writer, r *kgo.Record) error {
			_, err := fmt.Fprintf(w, "%s\t%s\n", r.Key, r.Value)
			return err
		}, nil
	case "json":
		return writeJSONRecord, nil
	}
	if !strings.Contains(format, "%") {
		return nil, usageErrorf("--format %q: want value, kv, json or a template such as '%%k %%v\\n'", format)
	}
	t, err := parseTemplate(format)
	if err != nil {
		return nil, err
	}
	return t.write, nil
}

// formatHelp documents --format for the consume help text.
const formatHelp = `Formats (-f):
  value   the value, one record per line (default)
  kv      key<TAB>value
  json    one JSON object per line:
            {"topic","partition","offset","timestamp" (ms),"key","value","headers":[{"key","value"}]}
          key, value and header values are JSON strings when they are valid
          UTF-8 and null when absent (a null key or value). Bytes that are not
          valid UTF-8 are written base64-encoded under "key_base64",
          "value_base64" or a header's "value_base64" instead, so the output
          is always valid JSON and never lossy.
  a template, as in kcat, with these directives:
            %t topic   %p partition   %o offset   %T timestamp (ms)
            %k key     %v value       %K key length   %S value length
            %h headers as k=v,k=v     %% a percent sign
          and escapes \n \r \t \\. A template that does not end in a newline
          prints records back to back.`

// templatePart is either literal text or a single directive letter.
type templatePart struct {
	lit string
	dir byte // 0 for a literal
}

// recordTemplate is a parsed kcat-style --format template.
type recordTemplate []templatePart

// parseTemplate parses a kcat-like template. Unknown directives and a
// trailing lone '%' are errors, so a typo does not silently print nothing.
func parseTemplate(s string) (recordTemplate, error) {
	var t recordTemplate
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = append(t, templatePart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+1 >= len(s) {
				return nil, usageErrorf("--format %q: lone %% at the end", s)
			}
			i++
			switch d := s[i]; d {
			case '%':
				lit.WriteByte('%')
			case 't', 'p', 'o', 'T', 'k', 'v', 'K', 'S', 'h':
				flush()
				t = append(t, templatePart{dir: d})
			default:
				return nil, usageErrorf("--format %q: unknown directive %%%c", s, d)
			}
		case '\\':
			if i+1 >= len(s) {
				lit.WriteByte('\\')
				continue
			}
			i++
			switch s[i] {
			case 'n':
				lit.WriteByte('\n')
			case 'r':
				lit.WriteByte('\r')
			case 't':
				lit.WriteByte('\t')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(s[i])
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

func (t recordTemplate) write(w io.Writer, r *kgo.Record) error {
	// Build the whole record first so a record is one Write: output piped
	// into another program is never interleaved mid-record.
	var b []byte
	for _, p := range t {
		switch p.dir {
		case 0:
			b = append(b, p.lit...)
		case 't':
			b = append(b, r.Topic...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'k':
			b = append(b, r.Key...)
		case 'v':
			b = append(b, r.Value...)
		case 'K':
			b = strconv.AppendInt(b, int64(len(r.Key)), 10)
		case 'S':
			b = strconv.AppendInt(b, int64(len(r.Value)), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
	}
	_, err := w.Write(b)
	return err
}

// jsonRecord is the --format json shape. Pointers make absent fields
// disappear (omitempty) while a nil key or value is still written as null.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// jsonBytes splits b into its JSON string form (nil when b is nil or not
// UTF-8) and its base64 form (set only when b is not valid UTF-8).
func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func writeJSONRecord(w io.Writer, r *kgo.Record) error {
	jr := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	jr.Key, jr.KeyBase64 = jsonBytes(r.Key)
	jr.Value, jr.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		jr.Headers = append(jr.Headers, jh)
	}
	b, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// table writes aligned columns the way kubectl and rpk print lists:
// upper-case headers, two spaces between columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

// row writes one row; each cell is formatted with %v.
func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprint(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// int32List renders a replica list as "1,2,3" (empty for none).
func int32List(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ",")
}

// kafkaUUID renders a topic or cluster ID as Kafka does (Uuid.toString:
// URL-safe base64 without padding), so the ID that "samsa topic describe"
// prints matches kafka-topics.sh, the broker's log and the Metadata
// cluster ID, and can be pasted where Kafka tools expect one. kadm's
// String uses standard base64 with padding ("/", "+", "==").
func kafkaUUID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// count says "1 partition" or "3 partitions": summary lines are read by
// people, and "1 partitions" reads like a bug.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ConfigType is a config's type as DescribeConfigs reports it (v3+).
// Values are the protocol's; do not renumber.
type ConfigType int8

// Config types, numbered as in the DescribeConfigs protocol.
const (
	TypeBoolean  ConfigType = 1
	TypeString   ConfigType = 2
	TypeInt      ConfigType = 3
	TypeShort    ConfigType = 4
	TypeLong     ConfigType = 5
	TypeDouble   ConfigType = 6
	TypeList     ConfigType = 7
	TypeClass    ConfigType = 8
	TypePassword ConfigType = 9
)

func (t ConfigType) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// Source says where a config value comes from, as DescribeConfigs reports
// it (v1+). Values are the protocol's; do not renumber.
type Source int8

// Config sources, numbered as in the DescribeConfigs protocol.
const (
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceDynamicBrokerLogger  Source = 6
)

func (s Source) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLogger:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

var (
	// ErrUnknownConfig is returned, wrapped with the name, for a topic config
	// samsa does not know (Kafka answers INVALID_CONFIG).
	ErrUnknownConfig = errors.New("config: unknown config")
	// ErrInvalidValue is matched (errors.Is) by every *ValueError: a known
	// config whose value is out of range, of the wrong type or inconsistent.
	ErrInvalidValue = errors.New("config: invalid value")
)

// ValueError is an invalid value for one config. Its text names the key,
// the value and what is expected, e.g.
//
//	num.partitions: "abc" is not an integer
//
// so that an operator can fix the file or the request without the docs.
type ValueError struct {
	Name   string // the Kafka config name
	Value  string // the value as given
	Reason string // what is wrong, starting with a verb ("is not", "must be")
}

func (e *ValueError) Error() string { return fmt.Sprintf("%s: %q %s", e.Name, e.Value, e.Reason) }

// Is makes errors.Is(err, ErrInvalidValue) true for every ValueError.
func (e *ValueError) Is(target error) bool { return target == ErrInvalidValue }

func invalid(name, value, format string, args ...any) error {
	return &ValueError{Name: name, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// Kafka's Long.MAX_VALUE, the "never" of its millisecond settings.
const longMax = math.MaxInt64

// parseInteger parses a Kafka INT (bits 32), SHORT (16) or LONG (64) after
// trimming blanks, as Kafka's ConfigDef does, and checks it against
// [min, max]. Errors are *ValueError for name.
func parseInteger(name, v string, bits int, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, invalid(name, v, "is out of range for a %d-bit integer", bits)
		}
		return 0, invalid(name, v, "is not an integer")
	}
	// A bound at the type's own limit is no bound worth naming: say "at
	// least 1", not "between 1 and 2147483647".
	if bits < 64 && max >= 1<<(bits-1)-1 {
		max = math.MaxInt64
	}
	if bits < 64 && min <= -1<<(bits-1) {
		min = math.MinInt64
	}
	return n, checkRange(name, v, n, min, max)
}

func checkRange(name, v string, n, min, max int64) error {
	lo, hi := min > math.MinInt64, max < math.MaxInt64
	switch {
	case lo && hi && (n < min || n > max):
		return invalid(name, v, "must be between %d and %d", min, max)
	case lo && n < min:
		return invalid(name, v, "must be at least %d", min)
	case hi && n > max:
		return invalid(name, v, "must be at most %d", max)
	}
	return nil
}

// parseBool accepts "true" and "false" in any case, as Kafka does.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(name, v, "is not a boolean (true or false)")
}

func parseRatio(name, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return 0, invalid(name, v, "is not a number")
	}
	if f < 0 || f > 1 {
		return 0, invalid(name, v, "must be between 0 and 1")
	}
	return f, nil
}

// parseEnum checks v against Kafka's valid strings; like Kafka's
// ValidString it is case-sensitive.
func parseEnum(name, v string, valid []string) (string, error) {
	t := strings.TrimSpace(v)
	for _, s := range valid {
		if t == s {
			return t, nil
		}
	}
	return "", invalid(name, v, "must be one of %s", strings.Join(valid, ", "))
}

var (
	timestampTypes   = []string{"CreateTime", "LogAppendTime"}
	compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
)

// parseCleanupPolicy accepts "delete", "compact" or both, comma-separated
// in any order, and returns samsa's canonical form: "delete", "compact" or
// "compact,delete".
func parseCleanupPolicy(name, v string) (string, error) {
	var compact, del bool
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			if compact {
				return "", invalid(name, v, "lists compact twice")
			}
			compact = true
		case "delete":
			if del {
				return "", invalid(name, v, "lists delete twice")
			}
			del = true
		default:
			return "", invalid(name, v, "must be delete, compact, or both comma-separated")
		}
	}
	switch {
	case compact && del:
		return "compact,delete", nil
	case compact:
		return "compact", nil
	}
	return "delete", nil
}

// scale converts n units to a Duration, saturating instead of overflowing:
// Kafka's Long.MAX_VALUE milliseconds (and anything beyond 292 years) becomes
// the largest Duration, which millis maps back to Long.MAX_VALUE. Negative
// values saturate the same way; callers that mean "forever" by -1 check the
// sign before scaling.
func scale(n int64, unit time.Duration) time.Duration {
	u := int64(unit)
	if n > math.MaxInt64/u {
		return math.MaxInt64
	}
	if n < math.MinInt64/u {
		return math.MinInt64
	}
	return time.Duration(n * u)
}

// millis is the inverse of scale(ms, time.Millisecond), including the
// saturated "never" value.
func millis(d time.Duration) int64 {
	if d == math.MaxInt64 {
		return longMax
	}
	return d.Milliseconds()
}

// retentionFrom maps Kafka's retention numbers to samsa's: any negative
// value means keep forever and becomes -1ms, as Kafka turns a negative
// log.retention.hours into -1 ms.
func retentionFrom(n int64, unit time.Duration) time.Duration {
	if n < 0 {
		return -time.Millisecond
	}
	return scale(n, unit)
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
func formatBool(v bool) string { return strconv.FormatBool(v) }
func formatMS(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return formatInt(millis(d))
}
func formatRatio(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

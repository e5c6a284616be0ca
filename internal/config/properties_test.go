package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"comments and blanks", "# a comment\n! another\n\n   \n  # indented comment\nk=v\n", map[string]string{"k": "v"}},
		{"equals", "a=1", map[string]string{"a": "1"}},
		{"colon", "a:1", map[string]string{"a": "1"}},
		{"space separator", "a 1", map[string]string{"a": "1"}},
		{"blanks around separator", "a  =  1\nb\t:\t2\nc \f 3", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"only first separator counts", "a=b=c\nx:y:z", map[string]string{"a": "b=c", "x": "y:z"}},
		{"space then equals", "a = =b", map[string]string{"a": "=b"}},
		{"key alone", "flag", map[string]string{"flag": ""}},
		{"empty value", "a=\nb=   \nc:", map[string]string{"a": "", "b": "", "c": ""}},
		{"leading and trailing blanks trimmed", "   a=1   \t", map[string]string{"a": "1"}},
		{"escaped trailing space kept", `a=1\ `, map[string]string{"a": "1 "}},
		{"continuation", "a=1,\\\n    2,\\\n\t3", map[string]string{"a": "1,2,3"}},
		{"continuation of key", "lo\\\n  ng=v", map[string]string{"long": "v"}},
		{"double backslash is not continuation", "a=x\\\\\nb=y", map[string]string{"a": `x\`, "b": "y"}},
		{"continuation at end of input", "a=x\\", map[string]string{"a": "x"}},
		{"comment does not continue", "# c \\\na=1", map[string]string{"a": "1"}},
		{"continued line starting with hash is data", "a=1\\\n#2", map[string]string{"a": "1#2"}},
		{"escapes", `a=\t\n\r\f\\\=\:\#\!\q`, map[string]string{"a": "\t\n\r\f\\=:#!q"}},
		{"unicode escape", `a=caf\u00e9 \u0041`, map[string]string{"a": "café A"}},
		{"surrogate pair", `a=\uD83D\uDE00`, map[string]string{"a": "😀"}},
		{"lone surrogate", `a=\uD83Dx`, map[string]string{"a": "\uFFFDx"}},
		{"escaped separator in key", `a\=b\ c=d`, map[string]string{"a=b c": "d"}},
		{"CRLF and CR line ends", "a=1\r\nb=2\rc=3", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"duplicate key: last wins", "a=1\na=2", map[string]string{"a": "2"}},
		{"utf-8 passes through", "ключ=значение", map[string]string{"ключ": "значение"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProperties(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseProperties(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty key", "a=1\n=x", "config: properties syntax: line 2: empty key"},
		{"colon key", ":x", "config: properties syntax: line 1: empty key"},
		{"short unicode escape", `a=\u12`, `config: properties syntax: line 1: value of "a": malformed \u escape "\\u12"`},
		{"bad hex", `a=\u12zz`, `config: properties syntax: line 1: value of "a": malformed \u escape "\\u12zz"`},
		{"bad escape in key", `k\u0=1`, `config: properties syntax: line 1: key "k\\u0": malformed \u escape "\\u0"`},
		{"line number counts continuations", "a=1\\\n2\n\n=3", "config: properties syntax: line 4: empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProperties(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseProperties(%q) succeeded, want error", tt.in)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v is not ErrSyntax", err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParsePropertiesTooLarge(t *testing.T) {
	in := strings.NewReader(strings.Repeat("#", maxPropertiesBytes+1))
	if _, err := ParseProperties(in); !errors.Is(err, ErrSyntax) {
		t.Fatalf("oversized input: err = %v, want ErrSyntax", err)
	}
}

// FuzzParseProperties checks, for any input: no panic; on success every key
// is non-empty; and the result is stable: writing it back out with every
// byte escaped that needs it and parsing again gives the same map.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a:1", "a 1", "a", "# c\n! c\n", "a=1\\\n  2", "a=\\u0041\\uD83D\\uDE00",
		"=x", "a=\\u12", "\\", "a\\", "a=b\\\\", "\r\n\r", "k\\ ey = v\\ ", "a=\t\f ", "\\\n=", "\x00=\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		props, err := ParseProperties(strings.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		for k, v := range props {
			if k == "" {
				t.Fatalf("ParseProperties(%q) gave an empty key", in)
			}
			b.WriteString(escapeProperty(k))
			b.WriteByte('=')
			b.WriteString(escapeProperty(v))
			b.WriteByte('\n')
		}
		again, err := ParseProperties(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if !maps.Equal(props, again) {
			t.Fatalf("round trip changed %q to %q (via %q)", props, again, b.String())
		}
	})
}

// escapeProperty writes s so that ParseProperties reads it back unchanged.
func escapeProperty(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ { // bytes, so that invalid UTF-8 survives
		switch r := s[i]; r {
		case '\\', '=', ':', '#', '!', ' ':
			b.WriteByte('\\')
			b.WriteByte(r)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(r)
		}
	}
	return b.String()
}

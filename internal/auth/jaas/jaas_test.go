package jaas

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const plainClass = "org.apache.kafka.common.security.plain.PlainLoginModule"
const scramClass = "org.apache.kafka.common.security.scram.ScramLoginModule"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Module
	}{
		{"plain users", plainClass + ` required user_admin="admin-secret" user_alice="alice-secret";`,
			[]Module{{plainClass, "required", map[string]string{"user_admin": "admin-secret", "user_alice": "alice-secret"}}}},
		{"scram client", scramClass + ` required username="admin" password="x";`,
			[]Module{{scramClass, "required", map[string]string{"username": "admin", "password": "x"}}}},
		{"no options", "a.B optional;", []Module{{"a.B", "optional", map[string]string{}}}},
		{"flag case", "a.B SUFFICIENT;", []Module{{"a.B", "sufficient", map[string]string{}}}},
		{"unquoted values", "a.B requisite k=v path=/etc/x n=42;",
			[]Module{{"a.B", "requisite", map[string]string{"k": "v", "path": "/etc/x", "n": "42"}}}},
		{"escapes", `a.B required p="q\"uo\\te" e="";`,
			[]Module{{"a.B", "required", map[string]string{"p": `q"uo\te`, "e": ""}}}},
		{"punctuation in quotes", `a.B required p="a;b=c 'd' // e";`,
			[]Module{{"a.B", "required", map[string]string{"p": "a;b=c 'd' // e"}}}},
		{"whitespace and newlines", "\n\t a.B\r\n  required\n  k = \"v\"\n  j=\n\"w\"\n ;\n",
			[]Module{{"a.B", "required", map[string]string{"k": "v", "j": "w"}}}},
		{"two modules", `a.B required k="1"; c.D optional k="2";`,
			[]Module{{"a.B", "required", map[string]string{"k": "1"}}, {"c.D", "optional", map[string]string{"k": "2"}}}},
		{"comments", "// leading\na.B /* here */ required k=\"v\" // trailing\n;/* end */",
			[]Module{{"a.B", "required", map[string]string{"k": "v"}}}},
		{"non-ascii", `a.B required user_zoë="pässwörd";`,
			[]Module{{"a.B", "required", map[string]string{"user_zoë": "pässwörd"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %#v, want %#v", renderAll(got), renderAll(tt.want))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string // substring of the error
	}{
		{"empty", "", 0, "no login module"},
		{"only space", "  \n // c\n", 0, "no login module"},
		{"missing semicolon", `a.B required k="secret"`, 23, "missing ';'"},
		{"missing semicolon between", `a.B required k="secret" c.D required;`, 28, "expected '='"},
		{"missing flag", "a.B;", 3, "expected a control flag"},
		{"missing flag at end", "a.B", 3, "missing control flag"},
		{"unknown flag", `a.B mandatory k="secret";`, 4, "unknown control flag"},
		{"unterminated quote", `a.B required k="secret;`, 15, "unterminated quoted value"},
		{"unterminated after backslash", `a.B required k="secret\`, 15, "unterminated quoted value"},
		{"bad escape", `a.B required k="sec\ret";`, 19, "unsupported escape"},
		{"empty class", "; a.B required;", 0, "empty login module class name"},
		{"empty class later", "a.B required;;", 13, "empty login module class name"},
		{"duplicate key", `a.B required k="secret1" k="secret2";`, 25, `duplicate option key "k"`},
		{"missing value", "a.B required k=;", 15, `missing value for option "k"`},
		{"missing value at end", "a.B required k=", 15, `missing value for option "k"`},
		{"single quotes", "a.B required k='secret';", 15, "single-quoted"},
		{"bare key", "a.B required secret;", 19, "expected '='"},
		{"quote as class", `"a.B" required;`, 0, "expected a login module class name"},
		{"control char", "a.B required \x01;", 13, "expected an option key"},
		{"unterminated comment", "a.B required /* k=1;", 13, "unterminated /* comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", mods)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError: %v", err, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Fatalf("error %q at %d, want %q at %d", se.Msg, se.Offset, tt.msg, tt.offset)
			}
			// Secrets in the tests above all contain "secret"; keys do not.
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error echoes a value: %v", err)
			}
		})
	}
}

func TestStringRedacts(t *testing.T) {
	mods, err := Parse(plainClass + ` required user_admin="admin-secret";`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{mods[0].String(), mods[0].GoString()} {
		if strings.Contains(s, "admin-secret") || !strings.Contains(s, "user_admin") {
			t.Fatalf("rendering %q leaks a value or drops a key", s)
		}
	}
}

// renderAll renders modules with their values, for test diagnostics and
// the fuzz round trip only: the output contains secrets.
func renderAll(mods []Module) string {
	var b strings.Builder
	for i, m := range mods {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.render(false))
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		plainClass + ` required user_admin="admin-secret" user_alice="alice-secret";`,
		scramClass + " required\n username=\"admin\"\n password=\"x\";",
		`a.B required p="q\"uo\\te" e=""; c.D optional k=v;`,
		"// c\na.B /* c */ Required k=/x;",
		`a.B required k="unterminated`,
		"a.B required k='v';",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if len(mods) == 0 {
			t.Fatal("success with no modules")
		}
		for _, m := range mods {
			if m.Class == "" || !flags[m.Flag] || m.Options == nil {
				t.Fatalf("invalid module %#v", renderAll([]Module{m}))
			}
		}
		again, err := Parse(renderAll(mods))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", renderAll(mods), err)
		}
		if !reflect.DeepEqual(mods, again) {
			t.Fatalf("round trip changed modules: %q -> %q", renderAll(mods), renderAll(again))
		}
	})
}

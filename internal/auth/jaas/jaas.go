// Package jaas parses the value of Kafka's sasl.jaas.config property: a
// list of JAAS login module entries in the syntax of Java's
// javax.security.auth.login.ConfigFile, without the outer "Name { ... };"
// application block, as Kafka's JaasConfig accepts it:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    user_admin="admin-secret"
//	    user_alice="alice-secret";
//
// Each entry is a class name, a control flag (required, requisite,
// sufficient or optional, in any letter case) and zero or more key=value
// options, ended by ';'. Values are double-quoted (with \" and \\ as the
// only escapes) or bare words. Whitespace, including newlines, may appear
// between tokens, and so may Java-style comments (// to the end of the
// line, /* ... */), which are recognised only where a token may start.
//
// Parse returns every module it finds; Kafka itself requires exactly one
// per sasl.jaas.config value, and that check is the caller's.
//
// Option values are often passwords. Nothing in this package puts a value
// into an error message or into Module's String or GoString output: errors
// name the byte offset and, where a key is known, the key.
package jaas

import (
	"fmt"
	"sort"
	"strings"
)

// Module is one login module entry.
type Module struct {
	// Class is the fully qualified login module class name, never empty.
	Class string
	// Flag is the control flag, normalised to lower case: one of
	// "required", "requisite", "sufficient", "optional".
	Flag string
	// Options holds the key=value options; never nil after Parse, and
	// each key appears once (Parse rejects duplicates).
	Options map[string]string
}

// String renders the module with every option value redacted, so that a
// Module can be logged with %v or %s without leaking passwords. It is not
// the inverse of Parse.
func (m Module) String() string { return m.render(true) }

// GoString is String for %#v, which would otherwise print Options in full.
func (m Module) GoString() string { return m.render(true) }

// render writes the module in JAAS syntax with keys in sorted order (maps
// have no order; sorting makes the output deterministic). When redact is
// false the values are written quoted and escaped, so that Parse of the
// result yields m again; that form holds secrets and is for tests only.
func (m Module) render(redact bool) string {
	var b strings.Builder
	b.WriteString(m.Class)
	b.WriteByte(' ')
	b.WriteString(m.Flag)
	keys := make([]string, 0, len(m.Options))
	for k := range m.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(' ')
		b.WriteString(k)
		if redact {
			b.WriteString(`=<redacted>`)
			continue
		}
		b.WriteString(`="`)
		v := m.Options[k]
		for i := 0; i < len(v); i++ {
			if v[i] == '"' || v[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteByte('"')
	}
	b.WriteByte(';')
	return b.String()
}

// SyntaxError reports why and where Parse rejected its input. Msg never
// contains an option value.
type SyntaxError struct {
	Offset int    // byte offset into the input
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jaas: %s (at offset %d)", e.Msg, e.Offset)
}

// flags are the JAAS control flags; Java compares them ignoring case.
var flags = map[string]bool{"required": true, "requisite": true, "sufficient": true, "optional": true}

// Parse parses a sasl.jaas.config value into its login modules, in input
// order. It returns a *SyntaxError for input that is not a non-empty list
// of well-formed entries each ended by ';'.
func Parse(s string) ([]Module, error) {
	p := parser{s: s}
	var mods []Module
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos == len(s) {
			break
		}
		m, err := p.module()
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
	}
	if len(mods) == 0 {
		return nil, &SyntaxError{Offset: 0, Msg: "no login module"}
	}
	return mods, nil
}

// parser holds the input and the offset of the next unread byte;
// invariant: 0 <= pos <= len(s).
type parser struct {
	s   string
	pos int
}

func (p *parser) fail(at int, format string, args ...any) error {
	return &SyntaxError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// module parses one "Class flag key=value ... ;" entry; pos is at the first
// byte of the class name.
func (p *parser) module() (Module, error) {
	start := p.pos
	class := p.word()
	if class == "" {
		if p.s[p.pos] == ';' {
			return Module{}, p.fail(p.pos, "empty login module class name")
		}
		return Module{}, p.unexpected("expected a login module class name")
	}
	if err := p.skipSpace(); err != nil {
		return Module{}, err
	}
	if p.pos == len(p.s) {
		return Module{}, p.fail(p.pos, "missing control flag and ';' after login module class")
	}
	flagAt := p.pos
	flag := strings.ToLower(p.word())
	if flag == "" {
		return Module{}, p.unexpected("expected a control flag (required, requisite, sufficient or optional)")
	}
	if !flags[flag] {
		// The word is not echoed: in a malformed entry it may be a value.
		return Module{}, p.fail(flagAt, "unknown control flag (want required, requisite, sufficient or optional)")
	}
	m := Module{Class: class, Flag: flag, Options: map[string]string{}}
	for {
		if err := p.skipSpace(); err != nil {
			return Module{}, err
		}
		if p.pos == len(p.s) {
			return Module{}, p.fail(p.pos, "missing ';' at the end of the login module that starts at offset %d", start)
		}
		if p.s[p.pos] == ';' {
			p.pos++
			return m, nil
		}
		keyAt := p.pos
		key := p.word()
		if key == "" {
			return Module{}, p.unexpected("expected an option key or ';'")
		}
		if err := p.skipSpace(); err != nil {
			return Module{}, err
		}
		if p.pos == len(p.s) || p.s[p.pos] != '=' {
			// Not echoed either: without '=' the word need not be a key.
			// The usual cause is a ';' missing before the next module.
			return Module{}, p.fail(p.pos, "expected '=' after the word at offset %d (missing ';' before another login module?)", keyAt)
		}
		p.pos++
		if err := p.skipSpace(); err != nil {
			return Module{}, err
		}
		val, err := p.value(key)
		if err != nil {
			return Module{}, err
		}
		if _, dup := m.Options[key]; dup {
			return Module{}, p.fail(keyAt, "duplicate option key %q", key)
		}
		m.Options[key] = val
	}
}

// value parses an option value for key: a quoted string or a bare word.
func (p *parser) value(key string) (string, error) {
	if p.pos == len(p.s) {
		return "", p.fail(p.pos, "missing value for option %q", key)
	}
	switch p.s[p.pos] {
	case '"':
		return p.quoted(key)
	case '\'':
		return "", p.fail(p.pos, "single-quoted value for option %q: use double quotes", key)
	}
	v := p.word()
	if v == "" {
		return "", p.fail(p.pos, "missing value for option %q", key)
	}
	return v, nil
}

// quoted parses a double-quoted string at pos. Only \" and \\ are escapes;
// any other backslash sequence is rejected rather than guessed at, since
// the value is likely a password and a silent change would lock users out.
func (p *parser) quoted(key string) (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 == len(p.s) {
				return "", p.fail(open, "unterminated quoted value for option %q", key)
			}
			e := p.s[p.pos+1]
			if e != '"' && e != '\\' {
				return "", p.fail(p.pos, "unsupported escape sequence in the value of option %q (only \\\" and \\\\ are allowed)", key)
			}
			b.WriteByte(e)
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.fail(open, "unterminated quoted value for option %q", key)
}

// isWordByte reports whether c may appear in a bare word (class name,
// flag, key or unquoted value): anything printable except the
// punctuation of the grammar. Bytes >= 0x80 are allowed so that non-ASCII
// names pass through untouched.
func isWordByte(c byte) bool {
	if c <= ' ' || c == 0x7f {
		return false
	}
	switch c {
	case '=', ';', '"', '\'':
		return false
	}
	return true
}

// word consumes and returns the longest run of word bytes at pos; "" if
// the byte at pos is not one.
func (p *parser) word() string {
	start := p.pos
	for p.pos < len(p.s) && isWordByte(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// unexpected reports the byte at pos (never part of a value: values are
// read by value and quoted) or the end of input.
func (p *parser) unexpected(what string) error {
	if p.pos == len(p.s) {
		return p.fail(p.pos, "%s, found the end of the input", what)
	}
	return p.fail(p.pos, "%s, found %q", what, p.s[p.pos])
}

// skipSpace skips whitespace and comments. A comment opener is only
// recognised here, at a token boundary, so "/" inside a bare word is an
// ordinary byte.
func (p *parser) skipSpace() error {
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case strings.HasPrefix(p.s[p.pos:], "//"):
			if i := strings.IndexByte(p.s[p.pos:], '\n'); i >= 0 {
				p.pos += i + 1
			} else {
				p.pos = len(p.s)
			}
		case strings.HasPrefix(p.s[p.pos:], "/*"):
			i := strings.Index(p.s[p.pos+2:], "*/")
			if i < 0 {
				return p.fail(p.pos, "unterminated /* comment")
			}
			p.pos += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxPropertiesBytes bounds what ParseProperties reads. A server.properties
// is a few kilobytes; anything near this limit is a wrong file, and refusing
// it is better than holding an arbitrary stream in memory.
const maxPropertiesBytes = 8 << 20

// ErrSyntax marks a server.properties file that cannot be parsed.
var ErrSyntax = errors.New("config: properties syntax")

// ParseProperties reads Java .properties syntax, the format of Kafka's
// server.properties (java.util.Properties.load):
//
//   - A natural line ends at "\n", "\r" or "\r\n". Blank lines are skipped.
//   - A line whose first non-blank character is '#' or '!' is a comment.
//     Comments never continue onto the next line.
//   - A line ending in an odd number of backslashes continues on the next
//     line; the next line's leading blanks are dropped.
//   - The key ends at the first unescaped '=', ':' or blank. Blanks around
//     the separator are skipped; "key value", "key=value", "key: value" and
//     "key" (empty value) are all accepted.
//   - Escapes in keys and values: \t \n \r \f, \uXXXX (exactly four hex
//     digits), and backslash before any other character stands for that
//     character ("\=" "\:" "\ " "\\" "\#").
//   - The value's trailing blanks are trimmed unless escaped (Java keeps
//     them; Kafka trims them when it parses the value, so the result is the
//     same for every key Kafka knows).
//   - A later duplicate key replaces an earlier one, as in Java.
//
// Unlike Java, an empty key (a line like "=x") and a malformed \u escape are
// errors that name the line, rather than a silently empty entry or an
// exception. The input is read as UTF-8.
func ParseProperties(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPropertiesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: read properties: %w", err)
	}
	if len(data) > maxPropertiesBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrSyntax, maxPropertiesBytes)
	}
	props := make(map[string]string)
	p := propReader{s: string(data)}
	for {
		line, lineNo, ok := p.logicalLine()
		if !ok {
			return props, nil
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, lineNo, err)
		}
		props[key] = value
	}
}

// propReader yields logical lines: comments and blank lines removed,
// continuations joined, leading blanks of each natural line dropped.
type propReader struct {
	s    string
	pos  int // next byte of s to read
	line int // number of natural lines consumed so far
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// naturalLine returns the next natural line without its terminator.
func (p *propReader) naturalLine() (string, bool) {
	if p.pos >= len(p.s) {
		return "", false
	}
	start := p.pos
	i := start
	for i < len(p.s) && p.s[i] != '\n' && p.s[i] != '\r' {
		i++
	}
	line := p.s[start:i]
	if i < len(p.s) {
		if p.s[i] == '\r' && i+1 < len(p.s) && p.s[i+1] == '\n' {
			i++
		}
		i++
	}
	p.pos = i
	p.line++
	return line, true
}

// logicalLine returns the next key/value line and the number of the natural
// line it starts on.
func (p *propReader) logicalLine() (string, int, bool) {
	for {
		line, ok := p.naturalLine()
		if !ok {
			return "", 0, false
		}
		lineNo := p.line
		line = strings.TrimLeft(line, " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		var b strings.Builder
		for endsInContinuation(line) {
			b.WriteString(line[:len(line)-1])
			next, ok := p.naturalLine()
			if !ok {
				// A continuation at end of input continues onto nothing;
				// Java drops the backslash too.
				line = ""
				break
			}
			line = strings.TrimLeft(next, " \t\f")
		}
		b.WriteString(line)
		return b.String(), lineNo, true
	}
}

// endsInContinuation reports whether line ends in an odd number of
// backslashes: "a\" continues, "a\\" is a literal backslash.
func endsInContinuation(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line into its unescaped key and value.
func splitProperty(line string) (key, value string, err error) {
	// Find the end of the key: the first unescaped separator or blank.
	end := 0
	for end < len(line) {
		c := line[end]
		if c == '\\' {
			end += 2 // the escaped byte belongs to the key
			continue
		}
		if c == '=' || c == ':' || isBlank(c) {
			break
		}
		end++
	}
	if end > len(line) {
		end = len(line) // a lone trailing backslash
	}
	rawKey := line[:end]
	rest := line[end:]
	// Skip blanks, at most one '=' or ':', then blanks again.
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	key, _, err = unescape(rawKey)
	if err != nil {
		return "", "", fmt.Errorf("key %q: %w", rawKey, err)
	}
	if key == "" {
		return "", "", errors.New("empty key")
	}
	value, keep, err := unescape(rest)
	if err != nil {
		return "", "", fmt.Errorf("value of %q: %w", key, err)
	}
	// Trim trailing blanks, but never into an escaped character.
	for len(value) > keep && isBlank(value[len(value)-1]) {
		value = value[:len(value)-1]
	}
	return key, value, nil
}

// unescape decodes the .properties escapes in s. keep is the length of the
// result up to and including the last escaped character, so that the caller
// can trim trailing blanks without eating an escaped "\ ".
func unescape(s string) (out string, keep int, err error) {
	if !strings.Contains(s, `\`) {
		return s, 0, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash stands for nothing, as in Java
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return "", 0, fmt.Errorf("malformed \\u escape %q", s[i-1:min(i+5, len(s))])
			}
			i += 4
			// Java strings are UTF-16, so a character outside the BMP is
			// written as two escapes (a surrogate pair); join them.
			if utf16.IsSurrogate(r) && strings.HasPrefix(s[i+1:], `\u`) {
				if lo, ok := hex4(s[i+3:]); ok {
					if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
						r = pair
						i += 6
					}
				}
			}
			b.WriteRune(r) // a lone surrogate becomes U+FFFD
		default:
			b.WriteByte(c)
		}
		keep = b.Len()
	}
	return b.String(), keep, nil
}

// hex4 decodes the four hex digits at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := range 4 {
		d, ok := hexDigit(s[i])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

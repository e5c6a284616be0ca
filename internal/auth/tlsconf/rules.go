package tlsconf

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Rules are parsed ssl.principal.mapping.rules (KIP-371): a comma-separated
// list of
//
//	RULE:pattern/replacement/[LU]
//	DEFAULT
//
// tried in order. A RULE applies when its pattern matches the whole
// distinguished name; the result is Java's dn.replaceAll(pattern,
// replacement), lower- or upper-cased with /L or /U. DEFAULT yields the
// distinguished name unchanged. Within pattern and replacement a backslash
// escapes the next character, so "\/" is a literal slash; commas need no
// escaping inside a RULE (a rule ends at its third unescaped slash), and
// empty entries are ignored, as in Kafka.
//
// Patterns are Java regular expressions in Kafka and RE2 here. The common
// subset (classes, groups, lazy and greedy quantifiers, (?i), \Q…\E, named
// groups) behaves the same. Known differences:
//   - RE2 has no backreferences (\1), lookaround ((?=…), (?<=…)), possessive
//     quantifiers (a*+), atomic groups, or class intersections ([a-z&&[^e]]);
//     such patterns are rejected at parse time, not at connection time.
//   - Java's '$' (without MULTILINE) also matches before a final line
//     terminator and '.' excludes \r, \u0085, \u2028 and \u2029 as well as
//     \n; RE2's '$' is end of text and '.' excludes only \n. Distinguished
//     names rarely contain line terminators.
//   - replaceAll: after a non-empty match Java also replaces an empty match
//     at the same position (so RULE:.*/x/ yields "xx" in Kafka); Go skips
//     empty matches abutting a previous match and yields "x".
//   - /L and /U use Unicode case mapping rather than Java's Locale.ENGLISH
//     rules, which differ only for a few special letters.
//   - A replacement naming group 1 or higher when the pattern has no groups
//     fails every connection in Kafka; here it fails ParseRules.
type Rules struct {
	rules []rule
}

type rule struct {
	isDefault    bool
	text         string         // the rule as written, for messages
	full         *regexp.Regexp // pattern anchored at both ends: Java's matches()
	re           *regexp.Regexp // pattern as written: Java's replaceAll
	repl         []piece
	lower, upper bool
}

// piece is one part of a compiled replacement: a literal, or group >= 0.
type piece struct {
	lit   string
	group int // -1 for a literal
}

// ParseRules parses ssl.principal.mapping.rules. Every syntax error —
// text after a rule, a pattern RE2 cannot compile, a bad group reference —
// is reported now, so that a listener does not start with rules that would
// refuse connections later. An empty list is an error (Kafka would accept
// it and then refuse every client certificate).
func ParseRules(s string) (*Rules, error) {
	r := &Rules{}
	i := 0
	skipSpace := func(j int) int {
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		return j
	}
	// badRule reports the rule text from start to the next comma.
	badRule := func(start int, why string) error {
		end := strings.IndexByte(s[start:], ',')
		if end < 0 {
			end = len(s) - start
		}
		return fmt.Errorf("invalid rule %q: %s", strings.TrimSpace(s[start:start+end]), why)
	}
	for {
		i = skipSpace(i)
		if i >= len(s) {
			break
		}
		if s[i] == ',' { // empty entry
			i++
			continue
		}
		start := i
		switch {
		case strings.HasPrefix(s[i:], "DEFAULT"):
			j := skipSpace(i + len("DEFAULT"))
			if j < len(s) && s[j] != ',' {
				return nil, badRule(start, "unexpected text after DEFAULT")
			}
			r.rules = append(r.rules, rule{isDefault: true, text: "DEFAULT"})
			i = j
		case strings.HasPrefix(s[i:], "RULE:"):
			j := i + len("RULE:")
			pat, j, ok := scanPart(s, j)
			if !ok {
				return nil, badRule(start, "want RULE:pattern/replacement/ with an optional L or U")
			}
			rep, j, ok := scanPart(s, j+1)
			if !ok {
				return nil, badRule(start, "want RULE:pattern/replacement/ with an optional L or U")
			}
			j++ // the closing slash
			ru := rule{}
			if j < len(s) && (s[j] == 'L' || s[j] == 'U') {
				ru.lower, ru.upper = s[j] == 'L', s[j] == 'U'
				j++
			}
			ru.text = s[start:j]
			j = skipSpace(j)
			if j < len(s) && s[j] != ',' {
				return nil, badRule(start, "unexpected text after the rule (only /L or /U may follow the replacement)")
			}
			if err := ru.compile(pat, rep); err != nil {
				return nil, fmt.Errorf("invalid rule %q: %v", ru.text, err)
			}
			r.rules = append(r.rules, ru)
			i = j
		default:
			return nil, badRule(start, "want DEFAULT or RULE:pattern/replacement/[LU]")
		}
	}
	if len(r.rules) == 0 {
		return nil, fmt.Errorf("no rules; use DEFAULT for the full distinguished name")
	}
	return r, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// scanPart returns s[j:k] where s[k] is the first unescaped '/', keeping
// escapes as written. ok is false when no such slash exists or a backslash
// ends the text.
func scanPart(s string, j int) (part string, k int, ok bool) {
	for k = j; k < len(s); {
		switch s[k] {
		case '/':
			return s[j:k], k, true
		case '\\':
			if k+1 >= len(s) {
				return "", k, false
			}
			_, n := utf8.DecodeRuneInString(s[k+1:])
			k += 1 + n
		default:
			k++
		}
	}
	return "", k, false
}

func (ru *rule) compile(pat, rep string) error {
	re, err := regexp.Compile(pat)
	if err != nil {
		return err
	}
	// Anchor through the parse tree, not by pasting "^(?:" and ")\z" around
	// the text: an unterminated \Q in pat would swallow the pasted suffix.
	tree, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return err
	}
	anchored := &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
		{Op: syntax.OpBeginText}, tree, {Op: syntax.OpEndText},
	}}
	full, err := regexp.Compile(anchored.String())
	if err != nil {
		return fmt.Errorf("anchoring the pattern: %v", err)
	}
	if full.NumSubexp() != re.NumSubexp() {
		return fmt.Errorf("anchoring the pattern changed its groups")
	}
	ru.re, ru.full = re, full
	ru.repl, err = parseReplacement(rep, re)
	return err
}

// parseReplacement compiles a replacement the way Java's
// Matcher.appendReplacement reads it, after Kafka's rewrite of references
// to groups that do not exist: "\c" is a literal c; "${name}" is a named
// group; "$" and digits is a group number, read greedily while the number
// stays a group ($12 with 11 groups is group 1 and a literal 2); when even
// the first digit names no group (and the pattern has groups) Kafka keeps
// "$n" literally.
func parseReplacement(rep string, re *regexp.Regexp) ([]piece, error) {
	groups := re.NumSubexp()
	var out []piece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(rep); {
		c := rep[i]
		switch {
		case c == '\\':
			if i+1 >= len(rep) {
				return nil, fmt.Errorf("replacement ends with a backslash")
			}
			_, n := utf8.DecodeRuneInString(rep[i+1:])
			lit.WriteString(rep[i+1 : i+1+n])
			i += 1 + n
		case c == '$':
			i++
			if i >= len(rep) {
				return nil, fmt.Errorf("replacement ends with '$'")
			}
			if rep[i] == '{' {
				end := strings.IndexByte(rep[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("replacement: '${' without '}'")
				}
				name := rep[i+1 : i+end]
				idx := -1
				if name != "" {
					idx = re.SubexpIndex(name)
				}
				if idx < 0 {
					return nil, fmt.Errorf("replacement: no group named %q", name)
				}
				flush()
				out = append(out, piece{group: idx})
				i += end + 1
				continue
			}
			if rep[i] < '0' || rep[i] > '9' {
				return nil, fmt.Errorf("replacement: '$' must be followed by a group number or {name} (write \\$ for a dollar sign)")
			}
			ref := int(rep[i] - '0')
			if ref > groups {
				if groups == 0 {
					return nil, fmt.Errorf("replacement refers to group %d but the pattern has no groups", ref)
				}
				lit.WriteByte('$') // Kafka's escape: the digits follow as literals
				continue
			}
			i++
			for i < len(rep) && rep[i] >= '0' && rep[i] <= '9' {
				next := ref*10 + int(rep[i]-'0')
				if next > groups {
					break
				}
				ref = next
				i++
			}
			flush()
			out = append(out, piece{group: ref})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return out, nil
}

// Apply maps a distinguished name (as DistinguishedName renders it) to a
// principal name with the first rule that matches. No match is an error:
// Kafka refuses the connection.
func (r *Rules) Apply(distinguishedName string) (string, error) {
	if r != nil {
		for i := range r.rules {
			if name, ok := r.rules[i].apply(distinguishedName); ok {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no ssl.principal.mapping.rules rule matches %q (rules %s)", distinguishedName, r)
}

func (ru *rule) apply(dn string) (string, bool) {
	if ru.isDefault {
		return dn, true
	}
	if !ru.full.MatchString(dn) {
		return "", false
	}
	var b strings.Builder
	last := 0
	for _, m := range ru.re.FindAllStringSubmatchIndex(dn, -1) {
		b.WriteString(dn[last:m[0]])
		for _, p := range ru.repl {
			if p.group < 0 {
				b.WriteString(p.lit)
			} else if lo, hi := m[2*p.group], m[2*p.group+1]; lo >= 0 {
				b.WriteString(dn[lo:hi]) // a group that did not take part adds nothing, as in Java
			}
		}
		last = m[1]
	}
	b.WriteString(dn[last:])
	out := b.String()
	switch {
	case ru.lower:
		out = strings.ToLower(out)
	case ru.upper:
		out = strings.ToUpper(out)
	}
	return out, true
}

// String renders the rules comma-separated, as they were written.
func (r *Rules) String() string {
	if r == nil {
		return "[]"
	}
	parts := make([]string, len(r.rules))
	for i, ru := range r.rules {
		parts[i] = ru.text
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

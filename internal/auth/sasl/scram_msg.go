package sasl

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file parses the SCRAM messages of RFC 5802 section 7. Parsers take
// the whole message as a string (the caller has bounded its size), split
// it on ',' — no attribute value may contain one — and check each
// attribute in the order the grammar fixes. Errors wrap ErrMalformed and
// never quote the message.

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// encodeSaslname escapes a user name for n= and a=: '=' as "=3D" first,
// then ',' as "=2C" (the order matters: the other way round would escape
// the '=' of "=2C").
func encodeSaslname(s string) string {
	s = strings.ReplaceAll(s, "=", "=3D")
	return strings.ReplaceAll(s, ",", "=2C")
}

// decodeSaslname reverses encodeSaslname; ok is false for an empty name,
// an '=' not starting "=2C" or "=3D", or a NUL.
func decodeSaslname(s string) (string, bool) {
	if s == "" || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce: printable = %x21-2B / %x2D-7E, at least one.
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// attr splits "k=value" with a one-letter k; ok is false otherwise.
func attr(field string, k byte) (string, bool) {
	if len(field) < 2 || field[0] != k || field[1] != '=' {
		return "", false
	}
	return field[2:], true
}

// parseExtension checks one extension: 1*ALPHA "=" 1*value-char. RFC 5802
// allows a one-letter name; Kafka's extensions (tokenauth=true) use
// longer ones.
func parseExtension(field string) (key, value string, ok bool) {
	k, v, found := strings.Cut(field, "=")
	if !found || k == "" || v == "" {
		return "", "", false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i] | 0x20; c < 'a' || c > 'z' {
			return "", "", false
		}
	}
	return k, v, true
}

// checkText rejects what no SCRAM message contains: NUL and invalid UTF-8.
func checkText(msg string) error {
	if !utf8.ValidString(msg) {
		return malformed("SCRAM message is not UTF-8")
	}
	if strings.IndexByte(msg, 0) >= 0 {
		return malformed("SCRAM message contains NUL")
	}
	return nil
}

// clientFirstMsg is a parsed client-first-message.
type clientFirstMsg struct {
	gs2Header string // "n,," or "n,a=<saslname>,", as sent: c= must echo it
	bare      string // client-first-message-bare, part of AuthMessage
	user      string // decoded
	nonce     string
	tokenAuth bool // Kafka's tokenauth=true extension
}

// parseClientFirst parses gs2-header client-first-message-bare. A client
// asking for channel binding ('p') or claiming support for it ('y') is
// refused as Kafka does: we offer no channel binding, and its SCRAM
// grammar only admits 'n'.
func parseClientFirst(msg string) (clientFirstMsg, error) {
	if err := checkText(msg); err != nil {
		return clientFirstMsg{}, err
	}
	var cf clientFirstMsg
	switch {
	case strings.HasPrefix(msg, "n,"):
	case strings.HasPrefix(msg, "y,"), strings.HasPrefix(msg, "p="):
		return cf, malformed("SCRAM channel binding is not supported")
	default:
		return cf, malformed("SCRAM gs2 header does not start with a channel binding flag")
	}
	rest := msg[2:]
	authzid := ""
	if !strings.HasPrefix(rest, ",") {
		a, after, found := strings.Cut(rest, ",")
		v, ok := attr(a, 'a')
		if !found || !ok {
			return cf, malformed("SCRAM gs2 header has a bad authorization id")
		}
		if authzid, ok = decodeSaslname(v); !ok {
			return cf, malformed("SCRAM authorization id is not a valid saslname")
		}
		rest = "," + after
	}
	cf.gs2Header = msg[:len(msg)-len(rest)+1]
	cf.bare = rest[1:]
	fields := strings.Split(cf.bare, ",")
	if _, ok := attr(fields[0], 'm'); ok {
		return cf, malformed("SCRAM mandatory extension is not supported")
	}
	if len(fields) < 2 {
		return cf, malformed("SCRAM client-first message is truncated")
	}
	v, ok := attr(fields[0], 'n')
	if !ok {
		return cf, malformed("SCRAM client-first message lacks n=")
	}
	if cf.user, ok = decodeSaslname(v); !ok {
		return cf, malformed("SCRAM username is not a valid saslname")
	}
	if cf.nonce, ok = attr(fields[1], 'r'); !ok || !validNonce(cf.nonce) {
		return cf, malformed("SCRAM client-first message lacks a valid r= nonce")
	}
	seen := map[string]bool{}
	for _, f := range fields[2:] {
		k, v, ok := parseExtension(f)
		if !ok {
			return cf, malformed("SCRAM client-first message has a malformed extension")
		}
		if seen[k] {
			return cf, malformed("SCRAM client-first message repeats an extension")
		}
		seen[k] = true
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			cf.tokenAuth = true
		}
	}
	if authzid != "" && authzid != cf.user {
		// Kafka has no proxy authorization: a client may only act as itself.
		return cf, fmt.Errorf("%w: SCRAM authorization id differs from the username", ErrAuthenticationFailed)
	}
	return cf, nil
}

// clientFinalMsg is a parsed client-final-message.
type clientFinalMsg struct {
	channelBinding string // the c= value, base64
	nonce          string
	withoutProof   string // client-final-message-without-proof, part of AuthMessage
	proof          []byte
}

// parseClientFinal parses c=...,r=...[,extensions],p=...; size is the
// mechanism's hash size, the only valid proof length.
func parseClientFinal(msg string, size int) (clientFinalMsg, error) {
	if err := checkText(msg); err != nil {
		return clientFinalMsg{}, err
	}
	var cf clientFinalMsg
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return cf, malformed("SCRAM client-final message is truncated")
	}
	var ok bool
	if cf.channelBinding, ok = attr(fields[0], 'c'); !ok {
		return cf, malformed("SCRAM client-final message lacks c=")
	}
	if cf.nonce, ok = attr(fields[1], 'r'); !ok || !validNonce(cf.nonce) {
		return cf, malformed("SCRAM client-final message lacks a valid r= nonce")
	}
	last := fields[len(fields)-1]
	for _, f := range fields[2 : len(fields)-1] {
		if _, _, ok := parseExtension(f); !ok {
			return cf, malformed("SCRAM client-final message has a malformed extension")
		}
	}
	p, ok := attr(last, 'p')
	if !ok {
		return cf, malformed("SCRAM client-final message does not end with p=")
	}
	// Check the encoded length before decoding, so a long p= is rejected
	// without a buffer sized by it.
	if len(p) != base64.StdEncoding.EncodedLen(size) {
		return cf, malformed("SCRAM proof has the wrong length")
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(p)
	if err != nil || len(proof) != size {
		return cf, malformed("SCRAM proof is not valid base64")
	}
	cf.proof = proof
	cf.withoutProof = msg[:len(msg)-len(last)-1]
	return cf, nil
}

// serverFirstMsg is a parsed server-first-message (client side).
type serverFirstMsg struct {
	nonce      string
	salt       []byte
	iterations int
}

func parseServerFirst(msg string) (serverFirstMsg, error) {
	if err := checkText(msg); err != nil {
		return serverFirstMsg{}, err
	}
	var sf serverFirstMsg
	fields := strings.Split(msg, ",")
	if _, ok := attr(fields[0], 'm'); ok {
		return sf, malformed("SCRAM mandatory extension is not supported")
	}
	if len(fields) < 3 {
		return sf, malformed("SCRAM server-first message is truncated")
	}
	var ok bool
	if sf.nonce, ok = attr(fields[0], 'r'); !ok || !validNonce(sf.nonce) {
		return sf, malformed("SCRAM server-first message lacks a valid r= nonce")
	}
	s, ok := attr(fields[1], 's')
	if !ok {
		return sf, malformed("SCRAM server-first message lacks s=")
	}
	salt, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(salt) == 0 {
		return sf, malformed("SCRAM salt is not valid base64")
	}
	sf.salt = salt
	i, ok := attr(fields[2], 'i')
	if !ok {
		return sf, malformed("SCRAM server-first message lacks i=")
	}
	// Digits only (strconv.Atoi would take a sign), and few enough of them
	// that the value cannot overflow before the range check.
	if i == "" || len(i) > 9 {
		return sf, malformed("SCRAM iteration count is not a small decimal number")
	}
	for j := 0; j < len(i); j++ {
		if i[j] < '0' || i[j] > '9' {
			return sf, malformed("SCRAM iteration count is not a small decimal number")
		}
		sf.iterations = sf.iterations*10 + int(i[j]-'0')
	}
	for _, f := range fields[3:] {
		if _, _, ok := parseExtension(f); !ok {
			return sf, malformed("SCRAM server-first message has a malformed extension")
		}
	}
	return sf, nil
}

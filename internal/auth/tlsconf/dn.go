package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// attribute is one AttributeTypeAndValue with its value kept raw, because
// the RFC 2253 form of a non-string value is the hex of its DER encoding.
type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rdnSET is a RelativeDistinguishedName; encoding/asn1 treats slice types
// whose name ends in SET as SET OF.
type rdnSET []attribute

// rfc2253Keywords are the attribute names Java's X500Principal.getName()
// (RFC 2253 form) emits; all other types appear as dotted OIDs, e.g.
// emailAddress as 1.2.840.113549.1.9.1=#16....
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// DistinguishedName returns the certificate's subject in the RFC 2253 form
// Java's X500Principal.getName() produces, which is what Kafka's principal
// mapping rules match: RDNs most specific first ("CN=alice,OU=eng,O=Example,
// C=US"), multi-valued RDNs joined by '+', the characters ,=+<>#;"\ escaped
// with a backslash (Java escapes = and # everywhere, beyond RFC 2253),
// leading and trailing spaces escaped, NUL as \00, and values that are not
// directory strings, or whose type has no keyword, as #hex of their DER.
// An unparsable subject yields "".
func DistinguishedName(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	var rdns []rdnSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) != 0 {
		return ""
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, a := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, a)
		}
	}
	return b.String()
}

func writeAttribute(b *strings.Builder, a attribute) {
	oid := a.Type.String()
	kw, ok := rfc2253Keywords[oid]
	if !ok {
		kw = oid
	}
	b.WriteString(kw)
	b.WriteByte('=')
	if !ok || !isDirectoryString(a.Value) {
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(a.Value.FullBytes))
		return
	}
	// Java decodes the raw bytes as UTF-8 whatever the string type (so a
	// BMPString comes out mangled); each invalid byte becomes U+FFFD.
	var esc []rune
	for s := a.Value.Bytes; len(s) > 0; {
		r, n := utf8.DecodeRune(s)
		s = s[n:]
		switch {
		case strings.ContainsRune(`,=+<>#;"\`, r):
			esc = append(esc, '\\', r)
		case r == 0:
			esc = append(esc, '\\', '0', '0')
		default:
			esc = append(esc, r)
		}
	}
	// Escape leading and trailing spaces (and CRs, as Java does). The scan
	// runs over the already-escaped text, so an escaped character is never
	// whitespace.
	lead := 0
	for lead < len(esc) && (esc[lead] == ' ' || esc[lead] == '\r') {
		lead++
	}
	trail := len(esc) - 1
	for trail >= 0 && (esc[trail] == ' ' || esc[trail] == '\r') {
		trail--
	}
	for i, r := range esc {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// isDirectoryString mirrors the string types Java renders as text.
func isDirectoryString(v asn1.RawValue) bool {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagGeneralString, asn1.TagBMPString, asn1.TagUTF8String:
		return true
	}
	return false
}

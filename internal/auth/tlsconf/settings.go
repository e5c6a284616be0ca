// Package tlsconf turns Kafka's ssl.* listener settings into crypto/tls
// configurations: PEM keystores and truststores (KIP-651), ssl.client.auth,
// protocol and cipher restrictions, certificate reloading, and the mapping of
// client certificates to principals (ssl.principal.mapping.rules, KIP-371).
//
// Only PEM stores are supported; Go has no JKS reader and PKCS#12 support
// outside the standard library, and operators can convert both with keytool
// and openssl. Only TLS 1.2 and 1.3 are offered.
package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// Settings are one listener's ssl.* settings, as Kafka names them. The zero
// value of each field is Kafka's default where Kafka has one that samsa can
// honour (ssl.keystore.type defaults to PEM here, not JKS).
type Settings struct {
	// KeystoreType is ssl.keystore.type; only "PEM" (or empty) is accepted.
	KeystoreType string
	// KeystoreLocation is ssl.keystore.location: a file holding one private
	// key and the certificate chain, leaf first.
	KeystoreLocation string
	// KeystoreKey and KeystoreCertificateChain are ssl.keystore.key and
	// ssl.keystore.certificate.chain, the inline alternative to
	// KeystoreLocation; both or neither must be set.
	KeystoreKey, KeystoreCertificateChain string
	// KeyPassword is ssl.key.password, needed when the private key is an
	// encrypted PKCS#8 block or a legacy "Proc-Type: 4,ENCRYPTED" PEM.
	KeyPassword string

	// TruststoreType is ssl.truststore.type; only "PEM" (or empty).
	TruststoreType string
	// TruststoreLocation is ssl.truststore.location: a file of CA certificates.
	TruststoreLocation string
	// TruststoreCertificates is ssl.truststore.certificates, the inline form.
	TruststoreCertificates string

	// ClientAuth is ssl.client.auth: none (default), requested or required.
	ClientAuth string
	// EnabledProtocols is ssl.enabled.protocols: TLSv1.2 and/or TLSv1.3
	// (default both).
	EnabledProtocols []string
	// Protocol is ssl.protocol: TLS, TLSv1.2 or TLSv1.3 (default TLSv1.3).
	// As in Java, TLSv1.2 here caps the version at 1.2.
	Protocol string
	// CipherSuites is ssl.cipher.suites, IANA names as tls.CipherSuites()
	// lists them. Empty means Go's defaults.
	CipherSuites []string
	// PrincipalMappingRules is ssl.principal.mapping.rules (default DEFAULT).
	PrincipalMappingRules string
	// ListenerName only decorates error messages, so that they name the key
	// the operator must fix (listener.name.<listener>.ssl.…).
	ListenerName string
}

// key returns the full configuration key for name ("ssl.keystore.location"),
// with the listener prefix Kafka uses for per-listener overrides.
func (s *Settings) key(name string) string {
	if s.ListenerName == "" {
		return name
	}
	return "listener.name." + strings.ToLower(s.ListenerName) + "." + name
}

// errorf returns an error that starts with the configuration key at fault.
func (s *Settings) errorf(name, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.key(name)}, args...)...)
}

// params are the validated, file-independent parts of Settings.
type params struct {
	clientAuth   tls.ClientAuthType
	minVersion   uint16
	maxVersion   uint16
	cipherSuites []uint16 // nil: Go's defaults
	rules        *Rules
}

func (s *Settings) params() (params, error) {
	var p params
	if err := s.checkStoreTypes(); err != nil {
		return p, err
	}
	switch strings.ToLower(strings.TrimSpace(s.ClientAuth)) {
	case "", "none":
		p.clientAuth = tls.NoClientCert
	case "requested":
		// Like Java's wantClientAuth: a certificate is optional, but one
		// that is presented must verify.
		p.clientAuth = tls.VerifyClientCertIfGiven
	case "required":
		p.clientAuth = tls.RequireAndVerifyClientCert
	default:
		return p, s.errorf("ssl.client.auth", "%q is not one of none, requested, required", s.ClientAuth)
	}
	var err error
	if p.minVersion, p.maxVersion, err = s.versions(); err != nil {
		return p, err
	}
	if p.cipherSuites, err = s.ciphers(p.minVersion); err != nil {
		return p, err
	}
	rules := s.PrincipalMappingRules
	if strings.TrimSpace(rules) == "" {
		rules = "DEFAULT"
	}
	if p.rules, err = ParseRules(rules); err != nil {
		return p, s.errorf("ssl.principal.mapping.rules", "%v", err)
	}
	return p, nil
}

func (s *Settings) checkStoreTypes() error {
	for _, st := range []struct{ name, val string }{
		{"ssl.keystore.type", s.KeystoreType},
		{"ssl.truststore.type", s.TruststoreType},
	} {
		switch strings.ToUpper(strings.TrimSpace(st.val)) {
		case "", "PEM":
		case "JKS", "PKCS12":
			return s.errorf(st.name, "%s stores are not supported; convert the store to PEM "+
				"(e.g. keytool -importkeystore -deststoretype PKCS12, then openssl pkcs12 -nodes) and set %s=PEM",
				strings.ToUpper(st.val), s.key(st.name))
		default:
			return s.errorf(st.name, "unknown store type %q; only PEM is supported", st.val)
		}
	}
	return nil
}

// versions returns the TLS version range. Invariant: min <= max and both are
// TLS 1.2 or 1.3.
func (s *Settings) versions() (lo, hi uint16, err error) {
	protos := s.EnabledProtocols
	if len(protos) == 0 {
		protos = []string{"TLSv1.2", "TLSv1.3"}
	}
	for _, name := range protos {
		name = strings.TrimSpace(name)
		var v uint16
		switch strings.ToUpper(name) {
		case "":
			continue
		case "TLSV1.2":
			v = tls.VersionTLS12
		case "TLSV1.3":
			v = tls.VersionTLS13
		case "TLSV1", "TLSV1.0", "TLSV1.1", "SSLV3", "SSLV2", "SSLV2HELLO":
			return 0, 0, s.errorf("ssl.enabled.protocols", "%s is not supported: samsa offers TLS 1.2 and newer only (TLSv1.2, TLSv1.3)", name)
		default:
			return 0, 0, s.errorf("ssl.enabled.protocols", "unknown protocol %q (want TLSv1.2, TLSv1.3)", name)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == 0 {
		return 0, 0, s.errorf("ssl.enabled.protocols", "no protocol enabled")
	}
	switch p := strings.TrimSpace(s.Protocol); strings.ToUpper(p) {
	case "", "TLS", "TLSV1.3":
	case "TLSV1.2":
		// Java's SSLContext for TLSv1.2 supports nothing newer.
		if lo > tls.VersionTLS12 {
			return 0, 0, s.errorf("ssl.protocol", "TLSv1.2 excludes every protocol in %s", s.key("ssl.enabled.protocols"))
		}
		hi = tls.VersionTLS12
	case "TLSV1", "TLSV1.1", "SSL", "SSLV3":
		return 0, 0, s.errorf("ssl.protocol", "%s is not supported: samsa offers TLS 1.2 and newer only", p)
	default:
		return 0, 0, s.errorf("ssl.protocol", "unknown protocol %q (want TLS, TLSv1.2, TLSv1.3)", p)
	}
	return lo, hi, nil
}

// ciphers resolves ssl.cipher.suites. Go cannot restrict TLS 1.3 suites (all
// of them are strong), so TLS 1.3 names are accepted and have no effect; but
// when TLS 1.2 is enabled at least one TLS 1.2 suite must remain, because an
// empty list would silently mean "Go's defaults".
func (s *Settings) ciphers(minVersion uint16) ([]uint16, error) {
	if len(s.CipherSuites) == 0 {
		return nil, nil
	}
	secure := map[string]*tls.CipherSuite{}
	for _, cs := range tls.CipherSuites() {
		secure[cs.Name] = cs
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	var ids []uint16
	named := 0
	for _, name := range s.CipherSuites {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		named++
		cs, ok := secure[name]
		switch {
		case ok:
		case insecure[name]:
			return nil, s.errorf("ssl.cipher.suites", "%s is insecure and not offered", name)
		default:
			return nil, s.errorf("ssl.cipher.suites", "unknown cipher suite %q (use the IANA name, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)", name)
		}
		tls12 := false
		for _, v := range cs.SupportedVersions {
			if v == tls.VersionTLS12 {
				tls12 = true
			}
		}
		if tls12 {
			ids = append(ids, cs.ID)
		}
	}
	if named == 0 {
		return nil, nil
	}
	if minVersion <= tls.VersionTLS12 && len(ids) == 0 {
		return nil, s.errorf("ssl.cipher.suites", "TLSv1.2 is enabled but no TLS 1.2 cipher suite is listed")
	}
	return ids, nil
}

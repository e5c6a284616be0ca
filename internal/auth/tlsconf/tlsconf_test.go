package tlsconf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/auth/tlsconf/tlstest"
)

var hosts = []string{"127.0.0.1", "localhost"}

func writeFiles(t *testing.T) (string, tlstest.Files) {
	t.Helper()
	dir := t.TempDir()
	f, err := tlstest.Write(dir, hosts, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return dir, f
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pair is a completed handshake over loopback TCP (net.Pipe has no
// buffer, so a server's alert after the client finished would block).
type pair struct{ srv, cli *tls.Conn }

// conns returns both ends of a loopback TCP connection.
func conns(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c1, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c1, c2
}

// handshake runs both sides of a handshake. The server's verdict is the
// one returned: under TLS 1.3 a client finishes before the server has
// judged its certificate.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) (pair, error) {
	t.Helper()
	c1, c2 := conns(t)
	deadline := time.Now().Add(10 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	p := pair{tls.Server(c1, srvCfg), tls.Client(c2, cliCfg)}
	cerr := make(chan error, 1)
	go func() { cerr <- p.cli.Handshake() }()
	if err := p.srv.Handshake(); err != nil {
		c1.Close()
		c2.Close()
		<-cerr
		return p, err
	}
	if err := <-cerr; err != nil {
		c1.Close()
		c2.Close()
		return p, err
	}
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return p, nil
}

// roundTrip checks that the established connection still carries data.
func (p pair) roundTrip(t *testing.T) {
	t.Helper()
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(p.srv, buf); err == nil {
			p.srv.Write(buf)
		}
	}()
	if _, err := p.cli.Write([]byte("ping")); err != nil {
		t.Fatalf("write on established connection: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(p.cli, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read on established connection: %q %v", buf, err)
	}
}

func clientConfig(t *testing.T, f tlstest.Files, withCert bool) *tls.Config {
	t.Helper()
	s := Settings{TruststoreLocation: f.CA}
	if withCert {
		s.KeystoreLocation = f.Client
	}
	cfg, err := NewClient(s, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHandshakeClientAuth(t *testing.T) {
	_, f := writeFiles(t)
	for _, tc := range []struct {
		auth      string
		withCert  bool
		wantErr   bool
		principal string
	}{
		{"none", false, false, "ANONYMOUS"},
		{"none", true, false, "ANONYMOUS"}, // not asked for, not sent
		{"", false, false, "ANONYMOUS"},
		{"requested", false, false, "ANONYMOUS"},
		{"requested", true, false, "alice"},
		{"required", false, true, ""},
		{"required", true, false, "alice"},
	} {
		t.Run(tc.auth+"/cert="+map[bool]string{true: "yes", false: "no"}[tc.withCert], func(t *testing.T) {
			srv, err := NewServer(Settings{
				KeystoreLocation:      f.Server,
				TruststoreLocation:    f.CA,
				ClientAuth:            tc.auth,
				PrincipalMappingRules: `RULE:^CN=([^,]*)$/$1/L,DEFAULT`,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := handshake(t, srv.Config(), clientConfig(t, f, tc.withCert))
			if tc.wantErr {
				if err == nil {
					t.Fatal("handshake succeeded without a client certificate")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := srv.Principal(p.srv.ConnectionState())
			if err != nil || got != tc.principal {
				t.Fatalf("principal = %q, %v; want %q", got, err, tc.principal)
			}
			p.roundTrip(t)
		})
	}
}

func TestHandshakeUntrustedClientCert(t *testing.T) {
	_, f := writeFiles(t)
	_, other := writeFiles(t) // a different CA
	for _, auth := range []string{"requested", "required"} {
		srv, err := NewServer(Settings{KeystoreLocation: f.Server, TruststoreLocation: f.CA, ClientAuth: auth}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := NewClient(Settings{TruststoreLocation: f.CA, KeystoreLocation: other.Client}, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := handshake(t, srv.Config(), cli); err == nil {
			t.Fatalf("%s: a client certificate from another CA was accepted", auth)
		}
	}
}

func TestPrincipalNoRuleMatches(t *testing.T) {
	_, f := writeFiles(t)
	srv, err := NewServer(Settings{KeystoreLocation: f.Server, TruststoreLocation: f.CA, ClientAuth: "required",
		PrincipalMappingRules: `RULE:^CN=bob$/bob/`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := handshake(t, srv.Config(), clientConfig(t, f, true))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Principal(p.srv.ConnectionState()); err == nil {
		t.Fatalf("principal %q, want an error", got)
	}
}

func TestProtocols(t *testing.T) {
	_, f := writeFiles(t)
	srv, err := NewServer(Settings{KeystoreLocation: f.Server, EnabledProtocols: []string{"TLSv1.3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cli := clientConfig(t, f, false)
	cli.MaxVersion = tls.VersionTLS12
	if _, err := handshake(t, srv.Config(), cli); err == nil {
		t.Fatal("TLS 1.2 client accepted by a TLSv1.3-only listener")
	}
	// TLS 1.2 only, one cipher suite.
	srv, err = NewServer(Settings{KeystoreLocation: f.Server, EnabledProtocols: []string{"TLSv1.2"},
		CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := handshake(t, srv.Config(), clientConfig(t, f, false))
	if err != nil {
		t.Fatal(err)
	}
	st := p.cli.ConnectionState()
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("version %x suite %x", st.Version, st.CipherSuite)
	}
	if srv.Config().MinVersion < tls.VersionTLS12 {
		t.Fatal("MinVersion below TLS 1.2")
	}
}

func TestNewServerErrors(t *testing.T) {
	dir, f := writeFiles(t)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not pem\n"), 0o600)
	encrypted := filepath.Join(dir, "enc.pem")
	if err := tlstest.WriteEncryptedKeystore(encrypted, f.Server, "pw", tlstest.PBES2{}); err != nil {
		t.Fatal(err)
	}
	base := func(mod func(*Settings)) Settings {
		s := Settings{KeystoreLocation: f.Server, TruststoreLocation: f.CA}
		mod(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		s    Settings
		want []string // substrings of the error
	}{
		{"missing keystore file", base(func(s *Settings) { s.KeystoreLocation = filepath.Join(dir, "nope.pem") }), []string{"ssl.keystore.location", "no such file"}},
		{"listener prefix", base(func(s *Settings) { s.KeystoreLocation = filepath.Join(dir, "nope.pem"); s.ListenerName = "SSL" }), []string{"listener.name.ssl.ssl.keystore.location"}},
		{"JKS", base(func(s *Settings) { s.KeystoreType = "JKS" }), []string{"ssl.keystore.type", "convert", "PEM"}},
		{"PKCS12 truststore", base(func(s *Settings) { s.TruststoreType = "PKCS12" }), []string{"ssl.truststore.type", "PEM"}},
		{"no keystore", base(func(s *Settings) { s.KeystoreLocation = "" }), []string{"ssl.keystore.location", "no keystore"}},
		{"no certificate", base(func(s *Settings) { s.KeystoreLocation = f.ServerKey }), []string{"ssl.keystore.location", "no PEM certificate"}},
		{"no key", base(func(s *Settings) { s.KeystoreLocation = f.ServerCert }), []string{"ssl.keystore.location", "no PEM private key"}},
		{"garbage keystore", base(func(s *Settings) { s.KeystoreLocation = garbage }), []string{"ssl.keystore.location"}},
		{"key/cert mismatch", base(func(s *Settings) {
			s.KeystoreLocation = ""
			s.KeystoreKey = read(t, f.ClientKey)
			s.KeystoreCertificateChain = read(t, f.ServerCert)
		}), []string{"ssl.keystore.key", "does not match"}},
		{"inline key without chain", base(func(s *Settings) { s.KeystoreLocation = ""; s.KeystoreKey = read(t, f.ServerKey) }), []string{"ssl.keystore.certificate.chain"}},
		{"location and inline", base(func(s *Settings) { s.KeystoreKey = read(t, f.ServerKey) }), []string{"ssl.keystore.location", "not both"}},
		{"garbage truststore", base(func(s *Settings) { s.TruststoreLocation = garbage }), []string{"ssl.truststore.location", "no PEM certificate"}},
		{"missing truststore", base(func(s *Settings) { s.TruststoreLocation = filepath.Join(dir, "nope.pem") }), []string{"ssl.truststore.location"}},
		{"required without truststore", base(func(s *Settings) { s.TruststoreLocation = ""; s.ClientAuth = "required" }), []string{"ssl.client.auth", "truststore"}},
		{"requested without truststore", base(func(s *Settings) { s.TruststoreLocation = ""; s.ClientAuth = "requested" }), []string{"ssl.client.auth", "truststore"}},
		{"bad client auth", base(func(s *Settings) { s.ClientAuth = "always" }), []string{"ssl.client.auth"}},
		{"TLSv1.1", base(func(s *Settings) { s.EnabledProtocols = []string{"TLSv1.1", "TLSv1.2"} }), []string{"ssl.enabled.protocols", "TLS 1.2"}},
		{"TLSv1", base(func(s *Settings) { s.EnabledProtocols = []string{"TLSv1"} }), []string{"ssl.enabled.protocols", "TLS 1.2"}},
		{"unknown protocol", base(func(s *Settings) { s.EnabledProtocols = []string{"QUIC"} }), []string{"ssl.enabled.protocols"}},
		{"ssl.protocol SSL", base(func(s *Settings) { s.Protocol = "SSL" }), []string{"ssl.protocol"}},
		{"ssl.protocol 1.2 vs 1.3 only", base(func(s *Settings) { s.Protocol = "TLSv1.2"; s.EnabledProtocols = []string{"TLSv1.3"} }), []string{"ssl.protocol"}},
		{"unknown cipher", base(func(s *Settings) { s.CipherSuites = []string{"TLS_NOPE"} }), []string{"ssl.cipher.suites", "unknown"}},
		{"insecure cipher", base(func(s *Settings) { s.CipherSuites = []string{"TLS_RSA_WITH_RC4_128_SHA"} }), []string{"ssl.cipher.suites", "insecure"}},
		{"only TLS 1.3 ciphers", base(func(s *Settings) { s.CipherSuites = []string{"TLS_AES_128_GCM_SHA256"} }), []string{"ssl.cipher.suites", "TLS 1.2"}},
		{"bad rules", base(func(s *Settings) { s.PrincipalMappingRules = "RULE:(/x/" }), []string{"ssl.principal.mapping.rules"}},
		{"encrypted, no password", base(func(s *Settings) { s.KeystoreLocation = encrypted }), []string{"ssl.key.password", "required"}},
		{"encrypted, wrong password", base(func(s *Settings) { s.KeystoreLocation = encrypted; s.KeyPassword = "wrong" }), []string{"ssl.key.password", "wrong"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.s, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Errors must never carry key material.
			if strings.Contains(err.Error(), "-----BEGIN") {
				t.Errorf("error shows key material: %q", err)
			}
		})
	}
}

func TestInlineStores(t *testing.T) {
	_, f := writeFiles(t)
	srv, err := NewServer(Settings{
		KeystoreKey: read(t, f.ServerKey), KeystoreCertificateChain: read(t, f.ServerCert),
		TruststoreCertificates: read(t, f.CA), ClientAuth: "required",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := NewClient(Settings{KeystoreKey: read(t, f.ClientKey), KeystoreCertificateChain: read(t, f.ClientCert),
		TruststoreCertificates: read(t, f.CA)}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, srv.Config(), cli); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatalf("Reload with inline stores: %v", err)
	}
}

func TestEncryptedKeystores(t *testing.T) {
	dir, f := writeFiles(t)
	type tc struct {
		name, path, password string
	}
	var cases []tc
	for _, o := range []tlstest.PBES2{{}, {SHA256: true}, {AES256: true}, {SHA256: true, AES256: true, Iterations: 10000}} {
		p := filepath.Join(dir, "enc.pem")
		p = strings.TrimSuffix(p, ".pem") + map[bool]string{true: "-sha256", false: "-sha1"}[o.SHA256] + map[bool]string{true: "-aes256", false: "-aes128"}[o.AES256] + ".pem"
		if err := tlstest.WriteEncryptedKeystore(p, f.Server, "pässwörd", o); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{filepath.Base(p), p, "pässwörd"})
	}
	for _, name := range []string{"openssl-pbes2-aes256-sha256.pem", "openssl-pbes2-aes128-sha1.pem", "openssl-legacy-aes256.pem"} {
		cases = append(cases, tc{name, filepath.Join("testdata", name), "s3cret"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewServer(Settings{KeystoreLocation: c.path, KeyPassword: c.password}, nil); err != nil {
				t.Fatalf("right password: %v", err)
			}
			_, err := NewServer(Settings{KeystoreLocation: c.path, KeyPassword: c.password + "x"}, nil)
			if err == nil || !strings.Contains(err.Error(), "ssl.key.password") {
				t.Fatalf("wrong password: %v", err)
			}
			_, err = NewServer(Settings{KeystoreLocation: c.path}, nil)
			if err == nil || !strings.Contains(err.Error(), "ssl.key.password") {
				t.Fatalf("no password: %v", err)
			}
		})
	}
	// A password for an unencrypted key is harmless.
	if _, err := NewServer(Settings{KeystoreLocation: f.Server, KeyPassword: "unused"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDecryptPKCS8WrongPassword(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, err := tlstest.EncryptPKCS8(key, "right", tlstest.PBES2{SHA256: true, AES256: true})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	got, err := DecryptPKCS8(blk.Bytes, []byte("right"))
	if err != nil || !key.Equal(got) {
		t.Fatalf("decrypt: %v", err)
	}
	if _, err := DecryptPKCS8(blk.Bytes, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
}

func serverSerial(t *testing.T, cfg *tls.Config, f tlstest.Files) *big.Int {
	t.Helper()
	p, err := handshake(t, cfg, clientConfig(t, f, true))
	if err != nil {
		t.Fatal(err)
	}
	return p.cli.ConnectionState().PeerCertificates[0].SerialNumber
}

func fileSerial(t *testing.T, path string) *big.Int {
	t.Helper()
	b := []byte(read(t, path))
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			t.Fatal("no certificate in " + path)
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c.SerialNumber
		}
	}
}

func TestReload(t *testing.T) {
	dir, f := writeFiles(t)
	srv, err := NewServer(Settings{KeystoreLocation: f.Server, TruststoreLocation: f.CA, ClientAuth: "required"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config()
	old, err := handshake(t, cfg, clientConfig(t, f, true))
	if err != nil {
		t.Fatal(err)
	}
	oldSerial := old.cli.ConnectionState().PeerCertificates[0].SerialNumber

	if _, err := tlstest.Reissue(dir, hosts); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	newSerial := serverSerial(t, cfg, f)
	if newSerial.Cmp(oldSerial) == 0 || newSerial.Cmp(fileSerial(t, f.Server)) != 0 {
		t.Fatalf("after Reload the server presents serial %v (old %v, file %v)", newSerial, oldSerial, fileSerial(t, f.Server))
	}
	old.roundTrip(t) // established connections are unaffected

	// A broken file: Reload fails, names the key, and the last good
	// material stays.
	os.WriteFile(f.Server, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	err = srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "ssl.keystore.location") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if got := serverSerial(t, cfg, f); got.Cmp(newSerial) != 0 {
		t.Fatalf("after a failed reload the server presents %v, want %v", got, newSerial)
	}
	os.Remove(f.Server)
	if err := srv.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if got := serverSerial(t, cfg, f); got.Cmp(newSerial) != 0 {
		t.Fatalf("after a failed reload the server presents %v, want %v", got, newSerial)
	}
}

type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) logf(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range args {
		if s, ok := a.(error); ok {
			msg += " " + s.Error()
		}
	}
	l.msgs = append(l.msgs, msg)
}

func (l *logSink) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func TestWatch(t *testing.T) {
	dir, f := writeFiles(t)
	var log logSink
	srv, err := NewServer(Settings{KeystoreLocation: f.Server, TruststoreLocation: f.CA}, log.logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	cfg := srv.Config()
	old, err := handshake(t, cfg, clientConfig(t, f, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlstest.Reissue(dir, hosts); err != nil {
		t.Fatal(err)
	}
	want := fileSerial(t, f.Server)
	waitFor(t, func() bool { return log.count("reloaded") == 1 })
	if got := serverSerial(t, cfg, f); got.Cmp(want) != 0 {
		t.Fatalf("after Watch reloaded the server presents %v, want %v", got, want)
	}
	old.roundTrip(t)

	// A broken file is reported once, however many polls see it.
	os.WriteFile(f.Server, []byte("junk"), 0o600)
	waitFor(t, func() bool { return log.count("failed") == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := log.count("failed"); n != 1 {
		t.Fatalf("broken file reported %d times", n)
	}
	if got := serverSerial(t, cfg, f); got.Cmp(want) != 0 {
		t.Fatalf("after a failed reload the server presents %v, want %v", got, want)
	}
	// Fixed again: reloaded.
	if _, err := tlstest.Reissue(dir, hosts); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return log.count("reloaded") == 2 })
	if got := serverSerial(t, cfg, f); got.Cmp(fileSerial(t, f.Server)) != 0 {
		t.Fatalf("server presents %v after the fix", got)
	}
	for _, m := range log.msgs {
		if strings.Contains(m, "-----BEGIN") || strings.Contains(m, "junk") {
			t.Fatalf("log shows file content: %q", m)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewClientSystemRoots(t *testing.T) {
	cfg, err := NewClient(Settings{}, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs != nil || len(cfg.Certificates) != 0 || cfg.ServerName != "example.com" || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("unexpected client config %+v", cfg)
	}
	// A client whose truststore lacks the server's CA fails.
	_, f := writeFiles(t)
	_, other := writeFiles(t)
	srv, err := NewServer(Settings{KeystoreLocation: f.Server}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, srv.Config(), clientConfig(t, other, false)); err == nil {
		t.Fatal("client trusted a server from another CA")
	}
}

func selfSigned(t *testing.T, subject pkix.Name, raw []byte) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject, RawSubject: raw,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDistinguishedName(t *testing.T) {
	oid := func(s ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(s) }
	multi, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oid(2, 5, 4, 6), Value: "US"}},
		{{Type: oid(2, 5, 4, 11), Value: "y"}, {Type: oid(2, 5, 4, 3), Value: "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		subject pkix.Name
		raw     []byte
		want    string
	}{
		{"typical", pkix.Name{Country: []string{"US"}, Organization: []string{"Example"}, OrganizationalUnit: []string{"eng"}, CommonName: "alice"},
			nil, "CN=alice,OU=eng,O=Example,C=US"},
		{"full", pkix.Name{Country: []string{"US"}, Province: []string{"MD"}, Locality: []string{"Fulton"}, Organization: []string{"mycp"}, OrganizationalUnit: []string{"SME"}, CommonName: "Duke", StreetAddress: []string{"1 Main St"}},
			nil, "CN=Duke,OU=SME,O=mycp,STREET=1 Main St,L=Fulton,ST=MD,C=US"},
		{"escapes", pkix.Name{CommonName: `a,b+c=d#e;f<g>h"i\j`}, nil, `CN=a\,b\+c\=d\#e\;f\<g\>h\"i\\j`},
		{"leading and trailing spaces", pkix.Name{CommonName: "  x y "}, nil, `CN=\ \ x y\ `},
		{"leading hash", pkix.Name{CommonName: "#x"}, nil, `CN=\#x`},
		{"NUL", pkix.Name{CommonName: "a\x00b"}, nil, `CN=a\00b`},
		{"unicode", pkix.Name{CommonName: "Jürgen"}, nil, "CN=Jürgen"},
		{"no keyword: emailAddress as hex", pkix.Name{CommonName: "alice", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oid(1, 2, 840, 113549, 1, 9, 1), Value: "alice@example.com"}}},
			nil, "1.2.840.113549.1.9.1=#0c11616c696365406578616d706c652e636f6d,CN=alice"},
		{"DC and UID", pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oid(0, 9, 2342, 19200300, 100, 1, 25), Value: "com"},
			{Type: oid(0, 9, 2342, 19200300, 100, 1, 25), Value: "example"},
			{Type: oid(0, 9, 2342, 19200300, 100, 1, 1), Value: "u1"}}},
			nil, "UID=u1,DC=example,DC=com"},
		{"serialNumber has no RFC 2253 keyword", pkix.Name{SerialNumber: "42", CommonName: "x"}, nil, "2.5.4.5=#13023432,CN=x"},
		{"multi-valued RDN", pkix.Name{}, multi, "CN=x+OU=y,C=US"},
		{"empty", pkix.Name{}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DistinguishedName(selfSigned(t, tc.subject, tc.raw)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if DistinguishedName(nil) != "" || DistinguishedName(&x509.Certificate{RawSubject: []byte{1, 2, 3}}) != "" {
		t.Fatal("bad input should give an empty name")
	}
}

// kafkaDocRules is the example in Kafka's documentation of
// ssl.principal.mapping.rules.
const kafkaDocRules = `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT`

func TestRulesApply(t *testing.T) {
	for _, tc := range []struct {
		rules, dn, want string
		wantErr         bool
	}{
		{kafkaDocRules, "CN=Duke,OU=ServiceUsers,O=Org,C=US", "Duke", false},
		{kafkaDocRules, "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme", false},
		{kafkaDocRules, "cn=duke,OU=JavaSoft,O=Sun Microsystems", "duke", false},
		{kafkaDocRules, "OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US", false},
		{"DEFAULT", "CN=alice", "CN=alice", false},
		{"RULE:^CN=(.*?),OU=(.*?)$/$1@$2/U", "CN=alice,OU=eng", "ALICE@ENG", false},
		{"  RULE:^CN=(.*)$/$1/L ,\n DEFAULT ", "CN=Bob", "bob", false},
		{"RULE:^CN=(.*)$/$1/,,DEFAULT", "CN=Bob", "Bob", false},
		// Escaped slashes in pattern and replacement, commas unescaped.
		{`RULE:^CN=(.*?)\/admin,O=(.*)$/$2\/$1/`, "CN=bob/admin,O=x", "x/bob", false},
		{`RULE:^CN=([^,\/]+)(,.*|$)/$1/`, "CN=Tkac,OU=Infra,O=Example", "Tkac", false},
		// A reference to a group that does not exist stays literal (Kafka's
		// escape); $12 with one group is group 1 and a literal 2 (Java).
		{"RULE:^CN=(.*)$/$1-$2/", "CN=bob", "bob-$2", false},
		{"RULE:^CN=(.*)$/$12/", "CN=bob", "bob2", false},
		{"RULE:^CN=(.*)$/$0!/", "CN=bob", "CN=bob!", false},
		{`RULE:^CN=(.*)$/\$$1/`, "CN=bob", "$bob", false},
		{"RULE:^CN=(?<user>[^,]*).*$/${user}/", "CN=eve,O=x", "eve", false},
		{"RULE:^CN=(?P<user>[^,]*).*$/${user}/", "CN=eve,O=x", "eve", false},
		// Matching is on the whole name; replacement is Java's replaceAll.
		{"RULE:CN=([^,]*),.*/$1/", "CN=a,O=b", "a", false},
		{"RULE:CN=(.*?)/[$1]/", "CN=alice", "[]alice", false},
		{"RULE:CN=alice/x/", "O=o,CN=alice", "", true}, // not whole
		{"RULE:(?i)^cn=(.*)$/$1/", "CN=Ann", "Ann", false},
		{"RULE:^CN=bob$/bob/", "CN=alice", "", true},
		{"RULE:^CN=bob$/bob/,RULE:^CN=(alice)$/a:$1/", "CN=alice", "a:alice", false},
	} {
		r, err := ParseRules(tc.rules)
		if err != nil {
			t.Errorf("ParseRules(%q): %v", tc.rules, err)
			continue
		}
		got, err := r.Apply(tc.dn)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q on %q = %q, want an error", tc.rules, tc.dn, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q on %q = %q, %v; want %q", tc.rules, tc.dn, got, err, tc.want)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, s := range []string{
		"", " , ", "garbage", "DEFAULTX", "DEFAULT junk", "default",
		"RULE:abc", "RULE:a/b", "RULE:a/b/X", "RULE:a/b/l", "RULE:a/b/L junk", "RULE:a/b/LU",
		`RULE:a\`, `RULE:a/b\`,
		"RULE:(a/b/",            // bad regexp
		"RULE:(?=a)a/b/",        // lookahead: not RE2
		`RULE:(a)\1/b/`,         // backreference: not RE2
		"RULE:a/$1/",            // no groups
		"RULE:(a)/${x}/",        // no such group
		"RULE:(a)/x$/",          // dangling $
		"RULE:(a)/$x/",          // $ without number
		"RULE:(a)/${a/",         // unterminated name
		"DEFAULT,RULE:a/b/,bad", // bad entry after good ones
	} {
		if r, err := ParseRules(s); err == nil {
			t.Errorf("ParseRules(%q) = %v, want an error", s, r)
		}
	}
	// An unterminated \Q must not swallow the anchoring.
	r, err := ParseRules(`RULE:CN=\Qa)b/x/`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Apply("CN=a)b"); err != nil || got != "x" {
		t.Fatalf("\\Q rule: %q %v", got, err)
	}
	if got, err := r.Apply("CN=a)bc"); err == nil {
		t.Fatalf("\\Q rule matched a longer name: %q", got)
	}
}

func FuzzParseRules(f *testing.F) {
	for _, s := range []string{kafkaDocRules, "DEFAULT", `RULE:^CN=(.*?)\/admin,O=(.*)$/$2\/$1/L`, "RULE:(a)/$12${x}/U,,", `RULE:\Q/x/`} {
		f.Add(s, "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US")
	}
	f.Fuzz(func(t *testing.T, rules, dn string) {
		if len(rules) > 1000 {
			return // keeps regexp compilation of fuzzed patterns quick
		}
		r, err := ParseRules(rules)
		if err != nil {
			return
		}
		r.Apply(dn)
		_ = r.String()
	})
}

func FuzzDecryptPKCS8(f *testing.F) {
	old := maxPBKDF2Iterations
	maxPBKDF2Iterations = 4096 // mutated iteration counts must not stall the fuzzer
	f.Cleanup(func() { maxPBKDF2Iterations = old })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, o := range []tlstest.PBES2{{}, {SHA256: true, AES256: true}} {
		b, err := tlstest.EncryptPKCS8(key, "pw", o)
		if err != nil {
			f.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		f.Add(blk.Bytes, "pw")
	}
	for _, name := range []string{"openssl-pbes2-aes256-sha256.pem", "openssl-pbes2-aes128-sha1.pem"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		f.Add(blk.Bytes, "s3cret")
	}
	f.Fuzz(func(t *testing.T, der []byte, password string) {
		DecryptPKCS8(der, []byte(password))
	})
}

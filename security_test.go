package samsa_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-io/samsa"
	"github.com/samsa-io/samsa/internal/auth/tlsconf/tlstest"
	"github.com/samsa-io/samsa/internal/wire"
)

const testJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";`

// securedBroker starts a broker with the four listeners (all on
// port 0): PLAINTEXT, SASL_PLAINTEXT (PLAIN), SSL (mTLS required) and
// SASL_SSL (SCRAM), no authorizer.
func securedBroker(t *testing.T, extra map[string]string) (*samsa.Broker, tlstest.Files) {
	t.Helper()
	dir := t.TempDir()
	files, err := tlstest.Write(dir, []string{"127.0.0.1", "localhost"}, "alice-client")
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{
		"listeners":                                           "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"sasl.enabled.mechanisms":                             "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"ssl.keystore.type":                                   "PEM",
		"ssl.keystore.location":                               files.Server,
		"ssl.truststore.type":                                 "PEM",
		"ssl.truststore.location":                             files.CA,
		"listener.name.ssl.ssl.client.auth":                   "required",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": testJAAS,
		"connection.failed.authentication.delay.ms":           "10",
	}
	for k, v := range extra {
		props[k] = v
	}
	return startBroker(t, t.TempDir(), props), files
}

func tlsClientConfig(t *testing.T, files tlstest.Files, withCert bool) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func produceOne(t *testing.T, addr string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RecordRetries(4), kgo.RetryTimeout(5 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "sec", Value: []byte("v")}).FirstErr()
}

// loginErr returns what a client gets when it logs in and sends one
// request (no retries: a refused login fails at once).
func loginErr(t *testing.T, addr string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl)
	return err
}

func TestListenersAuthenticate(t *testing.T) {
	b, files := securedBroker(t, nil)
	saslAddr, sslAddr, saslSSLAddr := b.ListenerAddr("SASL_PLAINTEXT"), b.ListenerAddr("SSL"), b.ListenerAddr("SASL_SSL")
	if saslAddr == "" || sslAddr == "" || saslSSLAddr == "" {
		t.Fatalf("listener addresses: %q %q %q", saslAddr, sslAddr, saslSSLAddr)
	}
	if err := produceOne(t, b.Addr()); err != nil {
		t.Fatalf("PLAINTEXT: %v", err)
	}
	if err := produceOne(t, saslAddr, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())); err != nil {
		t.Fatalf("SASL_PLAINTEXT PLAIN: %v", err)
	}
	err := loginErr(t, saslAddr, kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: err = %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if err := produceOne(t, sslAddr, kgo.DialTLSConfig(tlsClientConfig(t, files, true))); err != nil {
		t.Fatalf("SSL with a client certificate: %v", err)
	}
	if err := loginErr(t, sslAddr, kgo.DialTLSConfig(tlsClientConfig(t, files, false))); err == nil {
		t.Fatal("SSL without a client certificate succeeded; ssl.client.auth=required")
	}

	// SCRAM users are created by an admin and stored salted.
	adm := kadm.NewClient(newClient(t, b))
	res, err := adm.AlterUserSCRAMs(testCtx(t), nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-secret"},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "bob-secret"},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}
	desc, err := adm.DescribeUserSCRAMs(testCtx(t))
	if err != nil || len(desc["bob"].CredInfos) != 2 {
		t.Fatalf("DescribeUserSCRAMs: %v %+v", err, desc)
	}
	// As Kafka: an empty user list describes everyone, and a user named
	// twice gets one DUPLICATE_RESOURCE result.
	for _, tc := range []struct {
		users []string
		want  map[string]int16
	}{
		{users: []string{}, want: map[string]int16{"bob": 0}},
		{users: []string{"bob", "carol", "bob"}, want: map[string]int16{"bob": kerr.DuplicateResource.Code, "carol": kerr.ResourceNotFound.Code}},
	} {
		req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		req.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{}
		for _, u := range tc.users {
			ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
			ru.Name = u
			req.Users = append(req.Users, ru)
		}
		resp, err := req.RequestWith(testCtx(t), newClient(t, b))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int16{}
		for _, r := range resp.Results {
			if _, dup := got[r.User]; dup {
				t.Errorf("users %q: %s answered twice", tc.users, r.User)
			}
			got[r.User] = r.ErrorCode
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("users %q: results %v, want %v", tc.users, got, tc.want)
		}
	}
	tlsCfg := tlsClientConfig(t, files, false)
	for _, m := range []kgo.Opt{
		kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()),
		kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism()),
	} {
		if err := produceOne(t, saslSSLAddr, kgo.DialTLSConfig(tlsCfg), m); err != nil {
			t.Fatalf("SASL_SSL SCRAM: %v", err)
		}
	}
	err = loginErr(t, saslSSLAddr, kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "bob", Pass: "nope"}.AsSha512Mechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("SCRAM wrong password: %v", err)
	}
	err = loginErr(t, saslSSLAddr, kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "nobody", Pass: "x"}.AsSha512Mechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("SCRAM unknown user: %v", err)
	}
	// Deleting the credential stops the logins.
	if res, err := adm.AlterUserSCRAMs(testCtx(t), []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil); err != nil || res.Error() != nil {
		t.Fatalf("delete: %v %v", err, res.Error())
	}
	err = loginErr(t, saslSSLAddr, kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted SCRAM-SHA-512 credential still logs in: %v", err)
	}
}

// Before authentication only ApiVersions and the SASL requests are read,
// and only small frames: anything else closes the connection.
func TestSASLListenerRefusesUnauthenticatedRequests(t *testing.T) {
	b, _ := securedBroker(t, nil)
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	send := func(frame []byte) error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(frame); err != nil {
			return err
		}
		var buf [4]byte
		_, err = c.Read(buf[:])
		return err
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(9)
	if err := send(wire.AppendRequest(nil, 1, nil, meta)); err == nil {
		t.Error("Metadata before authentication was answered")
	}
	// A frame over sasl.server.max.receive.size (512 KiB) is not read.
	big := make([]byte, 4)
	big[1] = 0x10 // 1 MiB
	if err := send(big); err == nil {
		t.Error("a 1 MiB frame before authentication was not refused")
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "t", "1"
	if err := send(wire.AppendRequest(nil, 1, nil, av)); err != nil {
		t.Errorf("ApiVersions before authentication: %v", err)
	}
	// The broker still serves authenticated clients.
	if err := produceOne(t, addr, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsStayOutOfDescribeConfigs(t *testing.T) {
	b, _ := securedBroker(t, map[string]string{"ssl.key.password": "hunter2"})
	adm := kadm.NewClient(newClient(t, b))
	rcs, err := adm.DescribeBrokerConfigs(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Value != nil && (strings.Contains(*c.Value, "secret") || strings.Contains(*c.Value, "hunter2")) {
				t.Errorf("%s shows a secret", c.Key)
			}
			if c.Key == "ssl.key.password" && (c.Value != nil || !c.Sensitive) {
				t.Errorf("ssl.key.password = %v sensitive=%v, want null and sensitive", c.Value, c.Sensitive)
			}
		}
	}
}

func TestConsoleLogin(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: dir, HTTPAddr: "127.0.0.1:0", Logger: quietLogger(),
		Properties: map[string]string{
			"listeners":               "SASL_PLAINTEXT://127.0.0.1:0",
			"sasl.enabled.mechanisms": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": testJAAS,
			"authorizer.class.name":                               "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":                                         "User:admin",
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	admin := newClient(t, b, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "payroll"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + b.HTTPAddr()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := noRedirect.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("GET / without login: %d %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	login := func(user, pw string) (*http.Cookie, int) {
		resp, err := noRedirect.PostForm(base+"/login", url.Values{"user": {user}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "samsa_session" && c.Value != "" {
				return c, resp.StatusCode
			}
		}
		return nil, resp.StatusCode
	}
	if c, code := login("admin", "wrong"); c != nil || code != http.StatusUnauthorized {
		t.Fatalf("wrong password: cookie %v, status %d", c, code)
	}
	page := func(c *http.Cookie, path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(c)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	adminCookie, _ := login("admin", "admin-secret")
	if adminCookie == nil {
		t.Fatal("admin login set no session cookie")
	}
	if code, body := page(adminCookie, "/"); code != 200 || !strings.Contains(body, "payroll") || !strings.Contains(body, "User:admin") {
		t.Errorf("admin overview: %d, payroll listed %v", code, strings.Contains(body, "payroll"))
	}
	aliceCookie, _ := login("alice", "alice-secret")
	if code, body := page(aliceCookie, "/"); code != 200 || strings.Contains(body, "payroll") {
		t.Errorf("alice (no ACL) overview: %d, payroll listed %v", code, strings.Contains(body, "payroll"))
	}
	if code, _ := page(aliceCookie, "/topics/payroll"); code != http.StatusForbidden {
		t.Errorf("alice's topic page: %d, want 403", code)
	}
	// Metrics stay open and count the authentications.
	if code, body := page(&http.Cookie{Name: "x", Value: "y"}, "/metrics"); code != 200 || !strings.Contains(body, `samsa_authentications_total{listener="SASL_PLAINTEXT",mechanism="PLAIN",result="success"}`) {
		t.Errorf("/metrics: %d, authentication counter present: %v", code, strings.Contains(body, "samsa_authentications_total"))
	}
}

// The README's secured example (config/secure.properties) starts, with its
// certificate paths pointed at generated files.
func TestSecureExampleConfig(t *testing.T) {
	f, err := os.ReadFile("config/secure.properties")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := tlstest.Write(dir, []string{"127.0.0.1", "localhost"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(f), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		props[k] = v
	}
	props["ssl.keystore.location"] = files.Server
	props["ssl.truststore.location"] = files.CA
	props["listeners"] = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0"
	delete(props, "advertised.listeners")
	delete(props, "log.dirs")
	b := startBroker(t, t.TempDir(), props)
	cfg := tlsClientConfig(t, files, false)
	if err := produceOne(t, b.ListenerAddr("SASL_SSL"), kgo.DialTLSConfig(cfg), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())); err != nil {
		t.Fatalf("admin over SASL_SSL: %v", err)
	}
	err = loginErr(t, b.ListenerAddr("SASL_PLAINTEXT"), kgo.SASL(plain.Auth{User: "alice", Pass: "nope"}.AsMechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}

// Replacing the certificate files is picked up without a restart: new
// connections get the new certificate, existing ones keep working.
func TestCertificateReload(t *testing.T) {
	b, files := securedBroker(t, nil)
	addr := b.ListenerAddr("SSL")
	serial := func() string {
		cfg := tlsClientConfig(t, files, true)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	old := newClient(t, b) // a PLAINTEXT client stays connected throughout
	if _, err := tlstest.Reissue(filepath.Dir(files.CA), []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatal("the broker still serves the old certificate 15 s after the files changed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := old.ProduceSync(testCtx(t), &kgo.Record{Topic: "reload", Value: []byte("v")}).FirstErr(); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("an existing connection broke: %v", err)
	}
}

package interop

// Every client we support logs in to a real `samsa serve` with the issue's
// four listeners (PLAINTEXT, SASL_PLAINTEXT, SSL with client certificates
// required, SASL_SSL), produces and reads back, and gets its usual error
// for a wrong password. Then re-authentication (KIP-368), connection
// limits and bad input against the secured listeners.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kgoplain "github.com/segmentio/kafka-go/sasl/plain"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-io/samsa/internal/auth/sasl"
	"github.com/samsa-io/samsa/internal/auth/tlsconf/tlstest"
	"github.com/samsa-io/samsa/internal/wire"
)

const secJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";`

// securedProc is a broker with the four listeners.
type securedProc struct {
	p                              *proc
	plain, saslPlain, ssl, saslSSL string
	files                          tlstest.Files
}

func startSecuredProc(t *testing.T, extra ...string) *securedProc {
	t.Helper()
	dir := t.TempDir()
	files, err := tlstest.Write(dir, []string{"127.0.0.1", "localhost"}, "alice-client")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	s := &securedProc{files: files}
	s.plain = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.saslPlain = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.ssl = fmt.Sprintf("127.0.0.1:%d", ports[2])
	s.saslSSL = fmt.Sprintf("127.0.0.1:%d", ports[3])
	ls := fmt.Sprintf("PLAINTEXT://%s,SASL_PLAINTEXT://%s,SSL://%s,SASL_SSL://%s", s.plain, s.saslPlain, s.ssl, s.saslSSL)
	props := strings.Join(append([]string{
		"listeners=" + ls,
		"advertised.listeners=" + ls,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + files.Server,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + files.CA,
		"ssl.client.auth=none",
		"listener.name.ssl.ssl.client.auth=required",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config=" + secJAAS,
		"listener.name.sasl_ssl.plain.sasl.jaas.config=" + secJAAS,
		"connection.failed.authentication.delay.ms=20",
	}, extra...), "\n") + "\n"
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	s.p = startBrokerAt(t, "", filepath.Join(dir, "data"), "--config", cfg, "--http-addr", "off")
	// SCRAM users, through the PLAINTEXT listener (no authorizer here).
	adm := kadm.NewClient(s.p.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"},
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-secret"},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("creating SCRAM users: %v %v", err, res.Error())
	}
	return s
}

func (s *securedProc) tlsConfig(t *testing.T, clientCert bool) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(s.files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if clientCert {
		pair, err := tls.LoadX509KeyPair(s.files.ClientCert, s.files.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// pyClient runs sec_client.py and returns its one result line.
func pyClient(t *testing.T, lib string, args ...string) string {
	t.Helper()
	out := runPy(t, 90*time.Second, "sec_client.py", append([]string{lib}, args...)...)
	return strings.TrimSpace(out)
}

func TestSecurityPythonClients(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	needPython(t, "confluent_kafka")
	s := startSecuredProc(t)
	ca := s.files.CA
	cases := []struct {
		name, lib, addr, proto, mech, user, pass, cert, key string
		wantErr                                             string // "" = must succeed
	}{
		{"kafka-python SCRAM-SHA-256 over SASL_SSL", "kafka-python", s.saslSSL, "SASL_SSL", "SCRAM-SHA-256", "carol", "carol-secret", "", "", ""},
		{"kafka-python PLAIN over SASL_PLAINTEXT", "kafka-python", s.saslPlain, "SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret", "", "", ""},
		{"kafka-python wrong password", "kafka-python", s.saslSSL, "SASL_SSL", "SCRAM-SHA-256", "carol", "nope", "", "", "ERR"},
		{"confluent PLAIN over SASL_PLAINTEXT", "confluent", s.saslPlain, "SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret", "", "", ""},
		{"confluent SCRAM-SHA-512 over SASL_SSL", "confluent", s.saslSSL, "SASL_SSL", "SCRAM-SHA-512", "carol", "carol-secret", "", "", ""},
		{"confluent mTLS over SSL", "confluent", s.ssl, "SSL", "", "", "", s.files.ClientCert, s.files.ClientKey, ""},
		{"confluent wrong PLAIN password", "confluent", s.saslPlain, "SASL_PLAINTEXT", "PLAIN", "alice", "nope", "", "",
			"Authentication failed: Invalid username or password"},
		{"confluent wrong SCRAM password", "confluent", s.saslSSL, "SASL_SSL", "SCRAM-SHA-512", "carol", "nope", "", "",
			"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caFile := ""
			if strings.HasSuffix(tc.proto, "SSL") {
				caFile = ca
			}
			got := pyClient(t, tc.lib, tc.addr, tc.proto, tc.mech, tc.user, tc.pass, caFile, tc.cert, tc.key, fmt.Sprintf("py-sec-%d", i))
			switch {
			case tc.wantErr == "" && !strings.HasPrefix(got, "OK "):
				t.Fatalf("%s", got)
			case tc.wantErr != "" && (!strings.HasPrefix(got, "ERR") || !strings.Contains(got, tc.wantErr)):
				t.Fatalf("got %q, want an error with %q", got, tc.wantErr)
			}
		})
	}
	// The broker logged the failures without the passwords.
	logs := s.p.Logs()
	if !strings.Contains(logs, `msg="authentication failed"`) || !strings.Contains(logs, "mechanism=SCRAM-SHA-256") {
		t.Errorf("no authentication failure logged:\n%s", logs)
	}
	for _, secret := range []string{"carol-secret", "alice-secret", "nope"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a password (%s)", secret)
		}
	}
}

func TestSecurityKcat(t *testing.T) {
	t.Parallel()
	kcat := needKcat(t)
	s := startSecuredProc(t)
	args := []string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512",
		"-X", "sasl.username=carol", "-X", "sasl.password=carol-secret", "-X", "ssl.ca.location=" + s.files.CA, "-t", "kcat-sec"}
	runCmd(t, kcatTimeout, []byte("k1:v1\nk2:v2\n"), kcat, append(args, "-P", "-K:", "-X", "topic.acks=all")...)
	out := runCmd(t, kcatTimeout, nil, kcat, append(args, "-C", "-e", "-q", "-f", `%k=%s\n`)...)
	if out != "k1=v1\nk2=v2\n" {
		t.Fatalf("kcat read %q", out)
	}
}

// scramAdapter drives samsa's SCRAM client for sarama.
type scramAdapter struct {
	mech string
	c    *sasl.ScramClient
	done bool
}

func (a *scramAdapter) Begin(user, pass, _ string) (err error) {
	a.c, err = sasl.NewScramClient(a.mech, user, pass)
	return err
}

func (a *scramAdapter) Step(challenge string) (string, error) {
	if challenge == "" {
		return string(a.c.First()), nil
	}
	out, err := a.c.Step([]byte(challenge))
	if err == nil && out == nil {
		a.done = true
	}
	return string(out), err
}

func (a *scramAdapter) Done() bool { return a.done }

func TestSecurityGoClients(t *testing.T) {
	t.Parallel()
	s := startSecuredProc(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tlsCfg := s.tlsConfig(t, false)

	t.Run("franz-go", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mech kgo.Opt
		}{
			{"PLAIN", kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())},
			{"SCRAM-SHA-256", kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism())},
		} {
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.saslSSL), kgo.DialTLSConfig(tlsCfg), tc.mech, kgo.AllowAutoTopicCreation(),
				kgo.ConsumeTopics("franz-sec"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "franz-sec", Value: []byte(tc.name)}).FirstErr(); err != nil {
				t.Fatalf("%s produce: %v", tc.name, err)
			}
			for got := false; !got; {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("%s consume: %v", tc.name, err)
				}
				fs.EachRecord(func(r *kgo.Record) { got = got || string(r.Value) == tc.name })
			}
			cl.Close()
		}
		cl, _ := kgo.NewClient(kgo.SeedBrokers(s.saslSSL), kgo.DialTLSConfig(tlsCfg), kgo.RequestRetries(0),
			kgo.SASL(scram.Auth{User: "carol", Pass: "nope"}.AsSha256Mechanism()))
		defer cl.Close()
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		cfg := func(mech sarama.SASLMechanism, user, pass string) *sarama.Config {
			c := sarama.NewConfig()
			c.Version = sarama.V3_6_0_0
			c.Net.TLS.Enable, c.Net.TLS.Config = true, tlsCfg
			c.Net.SASL.Enable, c.Net.SASL.Mechanism, c.Net.SASL.User, c.Net.SASL.Password = true, mech, user, pass
			c.Net.SASL.Handshake = true
			if mech != sarama.SASLTypePlaintext {
				m := string(mech)
				c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramAdapter{mech: m} }
			}
			c.Producer.Return.Successes = true
			c.Producer.RequiredAcks = sarama.WaitForAll
			c.Metadata.Retry.Max = 1
			c.Net.DialTimeout = 5 * time.Second
			return c
		}
		for _, tc := range []struct {
			mech       sarama.SASLMechanism
			user, pass string
		}{{sarama.SASLTypeSCRAMSHA512, "carol", "carol-secret"}, {sarama.SASLTypePlaintext, "alice", "alice-secret"}} {
			p, err := sarama.NewSyncProducer([]string{s.saslSSL}, cfg(tc.mech, tc.user, tc.pass))
			if err != nil {
				t.Fatalf("%s: %v", tc.mech, err)
			}
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-sec", Value: sarama.StringEncoder(string(tc.mech))}); err != nil {
				t.Fatalf("%s send: %v", tc.mech, err)
			}
			p.Close()
			c, err := sarama.NewConsumer([]string{s.saslSSL}, cfg(tc.mech, tc.user, tc.pass))
			if err != nil {
				t.Fatal(err)
			}
			pc, err := c.ConsumePartition("sarama-sec", 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			for got := false; !got; {
				select {
				case m := <-pc.Messages():
					got = string(m.Value) == string(tc.mech)
				case <-ctx.Done():
					t.Fatalf("%s: record not read back", tc.mech)
				}
			}
			pc.Close()
			c.Close()
		}
		_, err := sarama.NewSyncProducer([]string{s.saslSSL}, cfg(sarama.SASLTypeSCRAMSHA512, "carol", "nope"))
		if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	})

	t.Run("kafka-go", func(t *testing.T) {
		s512, err := kgoscram.Mechanism(kgoscram.SHA512, "carol", "carol-secret")
		if err != nil {
			t.Fatal(err)
		}
		for _, mech := range []struct {
			name string
			m    kgosasl.Mechanism
		}{{"PLAIN", kgoplain.Mechanism{Username: "alice", Password: "alice-secret"}}, {"SCRAM-SHA-512", s512}} {
			w := &kafkago.Writer{Addr: kafkago.TCP(s.saslSSL), Topic: "kafkago-sec", Transport: &kafkago.Transport{TLS: tlsCfg, SASL: mech.m},
				AllowAutoTopicCreation: true, RequiredAcks: kafkago.RequireAll}
			var werr error
			for range 20 {
				if werr = w.WriteMessages(ctx, kafkago.Message{Value: []byte(mech.name)}); werr == nil || !errors.Is(werr, kafkago.LeaderNotAvailable) && !errors.Is(werr, kafkago.UnknownTopicOrPartition) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			w.Close()
			if werr != nil {
				t.Fatalf("%s write: %v", mech.name, werr)
			}
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{s.saslSSL}, Topic: "kafkago-sec", Partition: 0,
				Dialer: &kafkago.Dialer{TLS: tlsCfg, SASLMechanism: mech.m, Timeout: 5 * time.Second}})
			rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					t.Fatalf("%s read: %v", mech.name, err)
				}
				if string(m.Value) == mech.name {
					break
				}
			}
			rcancel()
			r.Close()
		}
		bad, _ := kgoscram.Mechanism(kgoscram.SHA512, "carol", "nope")
		d := &kafkago.Dialer{TLS: tlsCfg, SASLMechanism: bad, Timeout: 5 * time.Second}
		_, err = d.DialContext(ctx, "tcp", s.saslSSL)
		if !errors.Is(err, kafkago.SASLAuthenticationFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	})
}

func TestSecurityKafkajs(t *testing.T) {
	t.Parallel()
	node := needKafkajs(t)
	s := startSecuredProc(t)
	script, err := filepath.Abs(filepath.Join("js", "kafkajs_sec.js"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(pass string) map[string]string {
		out := runCmd(t, 90*time.Second, nil, node, script, s.saslSSL, s.files.CA, "scram-sha-256", "carol", pass, "kafkajs-sec")
		var m map[string]string
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
			t.Fatalf("kafkajs output %q: %v", out, err)
		}
		return m
	}
	if m := run("carol-secret"); m["op"] != "ok" {
		t.Fatalf("kafkajs SCRAM-SHA-256 over SASL_SSL: %v", m)
	}
	if m := run("nope"); m["op"] != "error" || m["name"] != "KafkaJSSASLAuthenticationError" {
		t.Fatalf("kafkajs wrong password: %v, want KafkaJSSASLAuthenticationError", m)
	}
}

// KIP-368: with connections.max.reauth.ms, franz-go re-authenticates on
// its own and keeps producing; a connection that does not re-authenticate
// is closed at its next request. max.connections.per.ip closes extra
// connections at once while the existing ones are served.
func TestSecurityReauthAndLimits(t *testing.T) {
	t.Parallel()
	s := startSecuredProc(t, "connections.max.reauth.ms=1500", "max.connections.per.ip=50")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.saslPlain), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("reauth"),
		kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end := time.Now().Add(5 * time.Second)
	n := 0
	for time.Now().Before(end) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d across re-authentications: %v", n, err)
		}
		n++
		time.Sleep(50 * time.Millisecond)
	}
	if n < 20 {
		t.Fatalf("only %d records in 5 s", n)
	}

	// A raw connection that authenticates once, then waits past its session.
	c := rawSASLPlain(t, s.saslPlain, "alice", "alice-secret")
	time.Sleep(2 * time.Second)
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(9)
	if _, err := rawRoundTrip(c, 9, meta); err == nil {
		t.Fatal("a connection whose session expired was still served")
	}

	// Per-IP connection limit: the 51st connection is closed at once.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 49 { // the client above holds connections too; fill up to the limit
		c, err := net.DialTimeout("tcp", s.plain, time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	extra, err := net.DialTimeout("tcp", s.plain, time.Second)
	if err == nil {
		_ = extra.SetReadDeadline(time.Now().Add(2 * time.Second))
		var b [1]byte
		_, rerr := extra.Read(b[:])
		extra.Close()
		if rerr == nil || isTimeoutErr(rerr) {
			t.Errorf("a connection over max.connections.per.ip was kept open (%v)", rerr)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitFor(t, 10*time.Second, func() error {
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr()
	})
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawSASLPlain opens a connection and logs in with SaslHandshake v1 and
// SaslAuthenticate v1 (PLAIN).
func rawSASLPlain(t *testing.T, addr, user, pass string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	if _, err := rawRoundTrip(c, 1, hs); err != nil {
		t.Fatal(err)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SetVersion(1)
	au.SASLAuthBytes = sasl.PlainToken(user, pass)
	resp, err := rawRoundTrip(c, 2, au)
	if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != 0 {
		t.Fatalf("login: %v %+v", err, resp)
	}
	return c
}

func rawRoundTrip(c net.Conn, corr int32, req kmsg.Request) (kmsg.Response, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(wire.AppendRequest(nil, corr, nil, req)); err != nil {
		return nil, err
	}
	frame, _, err := wire.ReadFrame(c, 16<<20, nil)
	if err != nil {
		return nil, err
	}
	body := frame[4:]
	if req.IsFlexible() {
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body)
}

// Bad input against the secured listeners: each is answered or closed, and
// the broker keeps serving.
func TestSecurityBadInput(t *testing.T) {
	t.Parallel()
	s := startSecuredProc(t)
	dial := func(addr string) net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	closed := func(c net.Conn) bool {
		var b [64]byte
		for {
			_, err := c.Read(b[:])
			if err != nil {
				return !isTimeoutErr(err)
			}
		}
	}
	t.Run("TLS garbage", func(t *testing.T) {
		c := dial(s.ssl)
		_, _ = c.Write([]byte("\x16\x03\x01\x00\x05garbage-that-is-not-a-client-hello"))
		if !closed(c) {
			t.Error("the SSL listener kept a garbage connection")
		}
	})
	t.Run("SaslAuthenticate before SaslHandshake", func(t *testing.T) {
		c := dial(s.saslPlain)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SetVersion(1)
		au.SASLAuthBytes = []byte("x")
		resp, err := rawRoundTrip(c, 1, au)
		if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("%v %+v, want ILLEGAL_SASL_STATE", err, resp)
		}
		if !closed(c) {
			t.Error("connection not closed after ILLEGAL_SASL_STATE")
		}
	})
	t.Run("malformed SCRAM client-first", func(t *testing.T) {
		c := dial(s.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(1)
		hs.Mechanism = "SCRAM-SHA-256"
		if _, err := rawRoundTrip(c, 1, hs); err != nil {
			t.Fatal(err)
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SetVersion(1)
		au.SASLAuthBytes = []byte("x,,n=a,r=b")
		resp, err := rawRoundTrip(c, 2, au)
		if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("%v %+v, want SASL_AUTHENTICATION_FAILED", err, resp)
		}
	})
	t.Run("oversized frame before authentication", func(t *testing.T) {
		c := dial(s.saslPlain)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 1<<20)
		_, _ = c.Write(hdr[:])
		if !closed(c) {
			t.Error("a 1 MiB frame before authentication was not refused")
		}
	})
	t.Run("thousands of idle connections", func(t *testing.T) {
		rss := func() int {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.p.Pid()))
			if err != nil {
				return 0
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "VmRSS:") {
					var kb int
					fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
					return kb
				}
			}
			return 0
		}
		before := rss()
		var conns []net.Conn
		for i := range 2000 {
			addr := s.saslPlain
			if i%2 == 1 {
				addr = s.saslSSL
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		after := rss()
		for _, c := range conns {
			c.Close()
		}
		if len(conns) < 1500 {
			t.Fatalf("only %d connections opened", len(conns))
		}
		if before > 0 && after-before > 200<<10 {
			t.Errorf("RSS grew by %d MiB for %d idle connections", (after-before)>>10, len(conns))
		}
		t.Logf("%d idle connections: RSS %d -> %d MiB", len(conns), before>>10, after>>10)
	})
	// The broker still serves.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.saslSSL), kgo.DialTLSConfig(s.tlsConfig(t, false)),
		kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "after-bad-input", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("the broker stopped serving: %v", err)
	}
}

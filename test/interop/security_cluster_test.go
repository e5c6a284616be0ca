package interop

// A 3-node cluster whose brokers and controllers talk to each other only
// over SASL_SSL: the inter-broker listener and the controller listener are
// both SASL_SSL (PLAIN, as a super user), ACLs are enforced. Replication,
// controller elections and client traffic must all work, and a node
// without the right credentials must not get in.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/samsa-io/samsa/internal/auth/peer"
	"github.com/samsa-io/samsa/internal/auth/tlsconf/tlstest"
)

const clusterJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

type securedCluster struct {
	nodes []*proc
	addrs []string
	files tlstest.Files
	args  [][]string
	dirs  []string
	ctl   []string // controller listener addresses
}

func (sc *securedCluster) client(t *testing.T, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	ca, err := os.ReadFile(sc.files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(sc.addrs...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()),
		kgo.RequestTimeoutOverhead(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func startSecuredCluster(t *testing.T) *securedCluster {
	t.Helper()
	base := t.TempDir()
	files, err := tlstest.Write(base, []string{"127.0.0.1", "localhost"}, "client")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 6)
	sc := &securedCluster{files: files}
	var voters []string
	for i := range 3 {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[3+i]))
		sc.addrs = append(sc.addrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
		sc.ctl = append(sc.ctl, fmt.Sprintf("127.0.0.1:%d", ports[3+i]))
	}
	for i := range 3 {
		dir := filepath.Join(base, fmt.Sprintf("node%d", i+1))
		set := func(kv string) []string { return []string{"--set", kv} }
		var args []string
		for _, kv := range []string{
			fmt.Sprintf("node.id=%d", i+1),
			"process.roles=broker,controller",
			fmt.Sprintf("listeners=SASL_SSL://%s,CONTROLLER://127.0.0.1:%d", sc.addrs[i], ports[3+i]),
			"advertised.listeners=SASL_SSL://" + sc.addrs[i],
			"listener.security.protocol.map=CONTROLLER:SASL_SSL,SASL_SSL:SASL_SSL",
			"inter.broker.listener.name=SASL_SSL",
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"sasl.enabled.mechanisms=PLAIN",
			"sasl.mechanism.inter.broker.protocol=PLAIN",
			"sasl.mechanism.controller.protocol=PLAIN",
			"listener.name.sasl_ssl.plain.sasl.jaas.config=" + clusterJAAS,
			"listener.name.controller.plain.sasl.jaas.config=" + clusterJAAS,
			"ssl.keystore.type=PEM", "ssl.keystore.location=" + files.Server,
			"ssl.truststore.type=PEM", "ssl.truststore.location=" + files.CA,
			"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users=User:admin",
		} {
			args = append(args, set(kv)...)
		}
		args = append([]string{"--http-addr", "off"}, args...)
		sc.args = append(sc.args, args)
		sc.dirs = append(sc.dirs, dir)
		sc.nodes = append(sc.nodes, launch(t, "", dir, args...))
	}
	waitFor(t, 60*time.Second, func() error {
		for i, p := range sc.nodes {
			if p.exited() {
				t.Fatalf("node %d exited: %v\n%s", i+1, p.waitErr, p.Logs())
			}
			if !readyRE.MatchString(p.Logs()) {
				return fmt.Errorf("node %d not ready", i+1)
			}
		}
		return nil
	})
	adm := kadm.NewClient(sc.client(t, "admin", "admin-secret"))
	waitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 3 {
			return fmt.Errorf("%d brokers", len(m.Brokers))
		}
		return nil
	})
	return sc
}

func TestSecurityClusterSASLSSL(t *testing.T) {
	sc := startSecuredCluster(t)
	admin := sc.client(t, "admin", "admin-secret")
	adm := kadm.NewClient(admin)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "secure"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err, r.ErrMessage)
	}
	// Every replica joins the ISR: followers fetch over SASL_SSL as admin.
	waitFor(t, 30*time.Second, func() error {
		td, err := adm.ListTopics(ctx, "secure")
		if err == nil {
			err = td["secure"].Err
		}
		if err != nil {
			// CreateTopic answers once the broker asked has the topic;
			// the others apply it a moment later.
			return err
		}
		if len(td["secure"].Partitions) != 3 {
			return fmt.Errorf("%d partitions", len(td["secure"].Partitions))
		}
		for _, p := range td["secure"].Partitions {
			if len(p.ISR) != 3 {
				return fmt.Errorf("partition %d ISR %v", p.Partition, p.ISR)
			}
		}
		return nil
	})

	// alice may write only after an ACL allows it.
	alice := sc.client(t, "alice", "alice-secret", kgo.RecordRetries(3), kgo.RequiredAcks(kgo.AllISRAcks()))
	err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("denied")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	acl := kadm.NewACLs().Allow("User:alice").Topics("secure").Operations(kadm.OpWrite, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := adm.CreateACLs(ctx, acl); err != nil || res[0].Err != nil {
		t.Fatalf("CreateACLs: %v %v", err, res)
	}
	// The ACL is metadata: every broker enforces it once it has applied it.
	var mu sync.Mutex
	produced := 0
	waitFor(t, 20*time.Second, func() error {
		for i := range 30 {
			if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secure", Key: []byte{byte(i)}, Value: []byte("ok")}).FirstErr(); err != nil {
				return err
			}
			mu.Lock()
			produced++
			mu.Unlock()
		}
		return nil
	})

	// Kill the leader of partition 0: a new leader is elected by the
	// controllers over their SASL_SSL links, and the acknowledged records
	// are all there.
	td, err := adm.ListTopics(ctx, "secure")
	if err != nil {
		t.Fatal(err)
	}
	leader := td["secure"].Partitions[0].Leader
	if leader < 1 || leader > 3 {
		t.Fatalf("partition 0 of secure: %+v (err %v)", td["secure"], td["secure"].Err)
	}
	sc.nodes[leader-1].Kill9()
	waitFor(t, 30*time.Second, func() error {
		td, err := adm.ListTopics(ctx, "secure")
		if err != nil {
			return err
		}
		if l := td["secure"].Partitions[0].Leader; l == leader || l < 0 {
			return fmt.Errorf("partition 0 still led by %d", l)
		}
		return nil
	})
	consumer := sc.client(t, "admin", "admin-secret", kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < produced {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d acknowledged records", got, produced)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "ok" {
				got++
			}
		})
	}

	// The controller listener takes only super users: alice's valid
	// password does not get her a link, a wrong password neither.
	ca, err := os.ReadFile(sc.files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tcfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	alive := sc.ctl[(leader)%3] // a node that was not killed
	for _, l := range []peer.Login{
		{TLS: tcfg, Mechanism: "PLAIN", User: "alice", Password: "alice-secret"},
		{TLS: tcfg, Mechanism: "PLAIN", User: "admin", Password: "wrong"},
	} {
		if c, err := l.DialLink(alive, 'C', 5*time.Second); !errors.Is(err, peer.ErrAuthentication) {
			if c != nil {
				c.Close()
			}
			t.Errorf("controller link as %s/%s: %v, want refused", l.User, l.Password, err)
		}
	}
	if c, err := (peer.Login{TLS: tcfg, Mechanism: "PLAIN", User: "admin", Password: "admin-secret"}).DialLink(alive, 'C', 5*time.Second); err != nil {
		t.Errorf("controller link as admin: %v", err)
	} else {
		c.Close()
	}
	var logs string
	for _, p := range sc.nodes {
		logs += p.Logs()
	}
	if strings.Contains(logs, "admin-secret") || strings.Contains(logs, "alice-secret") {
		t.Error("a password appears in the logs")
	}
}

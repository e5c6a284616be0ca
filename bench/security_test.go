package bench

// The security report: produce throughput over TLS and over SASL_SSL next
// to plaintext, on one broker with the three listeners, in the same run.
// Each round produces to every listener in turn (its own topic), flat out
// as in the main report; the table gives the median of the rounds and the
// ratio to plaintext.
//
// SAMSA_BENCH=1 go test ./bench -run TestSecurityReport -v -timeout 10m

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-io/samsa"
	"github.com/samsa-io/samsa/internal/auth/tlsconf/tlstest"
)

const securityRounds = 3

func TestSecurityReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("security benchmark report; run with: SAMSA_BENCH=1 go test ./bench -run TestSecurityReport -v -timeout 10m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportLimit)
	defer cancel()
	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "samsa-sec-bench-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	files, err := tlstest.Write(dir, []string{"127.0.0.1"}, "bench")
	if err != nil {
		t.Fatal(err)
	}
	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler), Properties: map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"ssl.keystore.type":       "PEM", "ssl.keystore.location": files.Server,
		"ssl.truststore.type": "PEM", "ssl.truststore.location": files.CA,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	if res, err := kadm.NewClient(admCl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bench", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bench-secret"}}); err != nil || res.Error() != nil {
		t.Fatalf("create SCRAM user: %v %v", err, res.Error())
	}
	ca, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	type listener struct {
		name, addr string
		opts       []kgo.Opt
	}
	listeners := []listener{
		{"PLAINTEXT", b.Addr(), nil},
		{"SSL", b.ListenerAddr("SSL"), []kgo.Opt{kgo.DialTLSConfig(tlsCfg)}},
		{"SASL_SSL (SCRAM-SHA-512)", b.ListenerAddr("SASL_SSL"), []kgo.Opt{kgo.DialTLSConfig(tlsCfg),
			kgo.SASL(scram.Auth{User: "bench", Pass: "bench-secret"}.AsSha512Mechanism())}},
	}
	results := map[string][]float64{}
	for round := range securityRounds {
		for i, l := range listeners {
			r, err := produceFlat(ctx, l.addr, fmt.Sprintf("sec-%d-%d", i, round), producers, flatDuration, 0, l.opts...)
			if err != nil {
				t.Fatalf("%s: %v", l.name, err)
			}
			results[l.name] = append(results[l.name], r.mbPerSec())
		}
	}
	med := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nproduce over TLS vs plaintext — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "machine: %d cores, %s; data dir under %s\n", numCPU(), goVersion(), rootDesc)
	fmt.Fprintf(&sb, "one samsa broker in process (fsync before every ack), listeners PLAINTEXT, SSL and SASL_SSL; "+
		"franz-go, 1 KiB incompressible records, acks=all, %d goroutines flat out for %s; median of %d rounds, listeners interleaved\n\n",
		producers, flatDuration, securityRounds)
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "listener\tMB/s (hi)\tratio to PLAINTEXT\trounds MB/s\t")
	base := med(results["PLAINTEXT"])
	for _, l := range listeners {
		m := med(results[l.name])
		var rounds []string
		for _, v := range results[l.name] {
			rounds = append(rounds, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fx\t%s\t\n", l.name, m, m/base, strings.Join(rounds, " "))
	}
	tw.Flush()
	t.Log(sb.String())
}

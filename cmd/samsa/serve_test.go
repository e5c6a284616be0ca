package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/cli"
	"github.com/samsa-io/samsa/internal/config"
)

// stockKRaft is the body of Kafka's config/kraft/server.properties, the
// file a Kafka operator tries first with "samsa serve --config".
const stockKRaft = `
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=3
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=24
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`

// TestServeWarnings checks that a stock Kafka file starts with a short,
// calm log: the Kafka keys samsa does not use fold into one line that
// names them, while warnings that change behaviour (an ignored listener,
// a typo) keep a line each. It runs config.Apply for real, so a change in
// config's wording that defeats the folding fails here.
func TestServeWarnings(t *testing.T) {
	props, err := config.ParseProperties(strings.NewReader(stockKRaft + "log.retention.hourz=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	bc := config.Default()
	warnings, err := bc.Apply(props)
	if err != nil {
		t.Fatalf("stock Kafka config refused: %v", err)
	}
	var buf bytes.Buffer
	logConfigWarnings(slog.New(slog.NewTextHandler(&buf, nil)), warnings)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")

	var unused []string
	for _, l := range lines {
		if strings.Contains(l, "is a Kafka setting samsa does not use yet") {
			t.Errorf("unfolded unused-key warning: %s", l)
		}
		if strings.Contains(l, "ignoring Kafka settings") {
			unused = append(unused, l)
		}
	}
	if len(unused) != 1 {
		t.Fatalf("want one line for the unused Kafka keys, got %d in:\n%s", len(unused), buf.String())
	}
	for _, k := range []string{"num.io.threads", "socket.send.buffer.bytes"} {
		if !strings.Contains(unused[0], k) {
			t.Errorf("unused-key line does not name %s: %s", k, unused[0])
		}
	}
	// The KRaft keys are samsa's too now: this file is a one-voter cluster.
	for _, k := range []string{"process.roles", "controller.quorum.voters", "controller.listener.names"} {
		if strings.Contains(unused[0], k) {
			t.Errorf("unused-key line names %s, which samsa uses: %s", k, unused[0])
		}
	}
	if !bc.Clustered() || bc.ControllerListener != "0.0.0.0:9093" {
		t.Errorf("stock KRaft file: clustered %v, controller listener %q; want a one-voter cluster on :9093", bc.Clustered(), bc.ControllerListener)
	}
	for _, want := range []string{`log.retention.hourz`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("warning about %s is missing from:\n%s", want, buf.String())
		}
	}
	if len(lines) > 4 {
		t.Errorf("%d warning lines for a stock Kafka file; want at most 4:\n%s", len(lines), buf.String())
	}
}

// TestServeHelpHidesClientFlags: serve's help lists the broker's flags
// only; --brokers and friends belong to the client commands, whose help
// must keep them.
func TestServeHelpHidesClientFlags(t *testing.T) {
	help := func(args ...string) string {
		root := cli.NewRootCommand("test")
		root.AddCommand(newServeCommand())
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	serve := help("serve", "--help")
	for _, flag := range []string{"--data-dir", "--config", "--http-addr"} {
		if !strings.Contains(serve, flag) {
			t.Errorf("serve help lacks %s", flag)
		}
	}
	for _, flag := range []string{"--brokers", "--timeout", "--verbose", "Global Flags"} {
		if strings.Contains(serve, flag) {
			t.Errorf("serve help offers the client flag %s:\n%s", flag, serve)
		}
	}
	if topic := help("topic", "list", "--help"); !strings.Contains(topic, "--brokers") {
		t.Errorf("client help lost --brokers:\n%s", topic)
	}
}

func TestAdvertiseWarning(t *testing.T) {
	tests := []struct {
		listen, advertised string
		warn               bool
	}{
		{"127.0.0.1:9092", "", false},
		{"localhost:9092", "", false},
		{"0.0.0.0:9092", "", true},
		{"[::]:9092", "", true},
		{":9092", "", true},
		{"0.0.0.0:9092", "kafka.example.com:9092", false},
	}
	for _, tt := range tests {
		w := advertiseWarning(tt.listen, tt.advertised)
		if (w != "") != tt.warn {
			t.Errorf("advertiseWarning(%q, %q) = %q, want warning %v", tt.listen, tt.advertised, w, tt.warn)
		}
		if w != "" && (!strings.Contains(w, "--advertise") || !strings.Contains(w, "localhost:9092")) {
			t.Errorf("warning %q does not say what is advertised and how to fix it", w)
		}
	}
}

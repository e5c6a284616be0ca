package bench

// The cluster rows: a three-node cluster of real `samsa serve` processes
// (KRaft combined mode) on this machine, measured in one run:
//
//   - produce 8p MB/s, RF=3 acks=all (min.insync.replicas=2) next to RF=1
//     on the same cluster;
//   - latency p50/p99 at a fixed 5 000 rec/s, RF=3 next to RF=1;
//   - failover: a producer sends one record at a time (acks=all) to a
//     partition; its leader is killed with kill -9; the row is the time
//     from the kill to the first acknowledgement from the new leader.
//
// SAMSA_BENCH=1 go test ./bench -run TestClusterReport -v -timeout 10m

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClusterReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("cluster benchmark report; run with: SAMSA_BENCH=1 go test ./bench -run TestClusterReport -v -timeout 10m")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := buildBinaries(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(root, "samsa-cluster-bench-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	nodes := startBenchCluster(t, ctx, bins, dir)
	seed := nodes[0].addr
	adm := newAdmin(t, nodes)
	for _, tp := range []struct {
		name   string
		rf     int16
		minISR string
	}{{"rf1", 1, "1"}, {"rf3", 3, "2"}} {
		if _, err := adm.CreateTopic(ctx, 8, tp.rf, map[string]*string{"min.insync.replicas": kstr(tp.minISR)}, tp.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kstr("2")}, "failover"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // every replica opened and fetching

	var sb strings.Builder
	fmt.Fprintf(&sb, "cluster of 3 `samsa serve` processes on one machine (%d cores, data on %s)\n", numCPU(), rootDesc)
	fmt.Fprintf(&sb, "%-44s %10s %10s %8s\n", "metric", "RF=1", "RF=3", "RF3/RF1")
	row := func(name string, a, b float64) {
		fmt.Fprintf(&sb, "%-44s %10.2f %10.2f %8.2f\n", name, a, b, b/a)
	}
	var mb [2]float64
	for i, topic := range []string{"rf1", "rf3"} {
		tp, err := produceFlat(ctx, seed, topic, 4, 3*time.Second, 0)
		if err != nil {
			t.Fatalf("produce %s: %v", topic, err)
		}
		mb[i] = tp.mbPerSec()
	}
	row("produce 8p MB/s, acks=all (hi)", mb[0], mb[1])
	var lat [2]latency
	for i, topic := range []string{"rf1", "rf3"} {
		l, err := producePaced(ctx, seed, topic, 5000, 25000)
		if err != nil {
			t.Fatalf("paced %s: %v", topic, err)
		}
		lat[i] = l
	}
	row("latency 8p p50 ms @5k rec/s (lo)", ms(lat[0].p50), ms(lat[1].p50))
	row("latency 8p p99 ms @5k rec/s (lo)", ms(lat[0].p99), ms(lat[1].p99))

	took, err := measureFailover(ctx, t, nodes, adm)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&sb, "%-44s %10s %10.2f\n", "failover s: kill -9 of a leader to next ack (lo)", "-", took.Seconds())
	t.Log("\n" + sb.String())
}

func kstr(s string) *string { return &s }

type benchNode struct {
	id   int
	addr string
	p    *process
}

func startBenchCluster(t *testing.T, ctx context.Context, bins binaries, dir string) []*benchNode {
	var kafka, ctl []string
	for range 3 {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		c, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		kafka, ctl = append(kafka, a), append(ctl, c)
	}
	voters := fmt.Sprintf("1@%s,2@%s,3@%s", ctl[0], ctl[1], ctl[2])
	var nodes []*benchNode
	for i := range 3 {
		args := []string{"serve", "--data-dir", filepath.Join(dir, fmt.Sprint(i+1)), "--http-addr", "off",
			"--set", fmt.Sprintf("node.id=%d", i+1), "--set", "process.roles=broker,controller",
			"--set", fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", kafka[i], ctl[i]),
			"--set", "controller.listener.names=CONTROLLER", "--set", "controller.quorum.voters=" + voters}
		p, err := startProcess(bins.samsa, args)
		if err != nil {
			t.Fatal(err)
		}
		n := &benchNode{id: i + 1, p: p}
		nodes = append(nodes, n)
		t.Cleanup(func() {
			select {
			case <-n.p.exited:
			default:
				n.p.stop()
			}
		})
	}
	for _, n := range nodes {
		select {
		case n.addr = <-n.p.ready:
		case <-n.p.exited:
			t.Fatalf("node %d exited: %s", n.id, n.p.tail())
		case <-time.After(60 * time.Second):
			t.Fatalf("node %d not ready: %s", n.id, n.p.tail())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	return nodes
}

func newAdmin(t *testing.T, nodes []*benchNode) *kadm.Client {
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n.addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// measureFailover produces one record at a time to "failover", kills its
// leader with SIGKILL, and returns the time from the kill to the first
// acknowledged record after it.
func measureFailover(ctx context.Context, t *testing.T, nodes []*benchNode, adm *kadm.Client) (time.Duration, error) {
	m, err := adm.Metadata(ctx, "failover")
	if err != nil {
		return 0, err
	}
	leader := m.Topics["failover"].Partitions[0].Leader
	var seeds []string
	for _, n := range nodes {
		if int32(n.id) != leader {
			seeds = append(seeds, n.addr)
		}
	}
	// Seeds without the victim; short retry backoff so the client's own
	// schedule does not dominate the measurement.
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("failover"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.RequestTimeoutOverhead(time.Second), kgo.ProduceRequestTimeout(time.Second))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			return 0, fmt.Errorf("before the kill: %w", err)
		}
	}
	victim := nodes[leader-1]
	killed := time.Now()
	if err := victim.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, err
	}
	<-victim.p.exited
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		return 0, fmt.Errorf("after the kill: %w", err)
	}
	return time.Since(killed), nil
}

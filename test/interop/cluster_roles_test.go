package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterRoles runs the three kinds of node together: nodes 1 and 2
// are brokers and controllers (combined), node 3 only a controller (a
// voter with no Kafka listener), node 4 only a broker (it follows the
// metadata log without a vote). A topic replicated on 1, 2 and 4 is
// produced to and consumed through the broker-only node.
func TestClusterRoles(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 7) // kafka 1,2,4; controller 1,2,3
	k := map[int]int{1: ports[0], 2: ports[1], 4: ports[2]}
	cp := map[int]int{1: ports[3], 2: ports[4], 3: ports[5]}
	voters := fmt.Sprintf("1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d", cp[1], cp[2], cp[3])
	base := t.TempDir()
	args := func(id int, roles string) []string {
		var ls []string
		if strings.Contains(roles, "broker") {
			ls = append(ls, fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", k[id]))
		}
		if strings.Contains(roles, "controller") {
			ls = append(ls, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", cp[id]))
		}
		a := []string{"--http-addr", "off", "--set", fmt.Sprintf("node.id=%d", id), "--set", "process.roles=" + roles,
			"--set", "listeners=" + strings.Join(ls, ","), "--set", "controller.quorum.voters=" + voters,
			"--set", "min.insync.replicas=2"}
		if strings.Contains(roles, "controller") {
			a = append(a, "--set", "controller.listener.names=CONTROLLER")
		}
		return a
	}
	procs := map[int]*proc{
		1: launch(t, "", filepath.Join(base, "n1"), args(1, "broker,controller")...),
		2: launch(t, "", filepath.Join(base, "n2"), args(2, "broker,controller")...),
		3: launch(t, "", filepath.Join(base, "n3"), args(3, "controller")...),
		4: launch(t, "", filepath.Join(base, "n4"), args(4, "broker")...),
	}
	for id, p := range procs {
		waitFor(t, 60*time.Second, func() error {
			if p.exited() {
				return fmt.Errorf("node %d exited: %v\n%s", id, p.waitErr, p.Logs())
			}
			if m := readyRE.FindStringSubmatch(p.Logs()); m != nil {
				p.Addr = m[1]
				return nil
			}
			return fmt.Errorf("node %d not ready", id)
		})
	}
	seed := fmt.Sprintf("127.0.0.1:%d", k[4])
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, 30*time.Second, func() error {
		m, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(m.Brokers) != 3 {
			return fmt.Errorf("brokers %v, want 1, 2 and 4 (3 is a controller only)", m.Brokers)
		}
		return nil
	})
	res, err := adm.CreateTopic(ctx, 2, 3, nil, "roles")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: "roles", Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce through the broker-only node: %v", err)
	}
	m, err := adm.Metadata(ctx, "roles")
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range m.Topics["roles"].Partitions {
		if len(pd.Replicas) != 3 || strings.Contains(fmt.Sprint(pd.Replicas), "3") {
			t.Errorf("partition %d replicas %v: want brokers 1, 2 and 4", pd.Partition, pd.Replicas)
		}
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics("roles"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := 0
	for got < 100 && ctx.Err() == nil {
		fs := rd.PollFetches(ctx)
		got += fs.NumRecords()
	}
	if got != 100 {
		t.Fatalf("consumed %d of 100", got)
	}
}

package interop

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A cluster of real `samsa serve` processes started with the KRaft
// combined-mode form the README documents. Every address a node is told
// about goes through a TCP proxy: clients and other brokers reach node i
// at Adv (in front of its Kafka port), and node i reaches voter j at
// ctrl[i][j] (in front of j's controller port) — one proxy per ordered
// pair, so a test can cut any link.

type clusterNode struct {
	ID      int32
	Proc    *proc
	DataDir string
	Port    int // real Kafka port
	CPort   int // real controller port
	Adv     *tcpProxy
	args    []string
}

type cluster struct {
	t     *testing.T
	Nodes []*clusterNode
	ctrl  map[[2]int32]*tcpProxy // [from, to] -> proxy to to's controller port
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// startCluster starts n combined-mode nodes (ids 1..n) and waits until a
// client sees all of them. extra is passed to every node (--set ...).
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, ctrl: map[[2]int32]*tcpProxy{}}
	base := t.TempDir()
	// Proxies first, so that the free ports picked for the nodes below
	// cannot be ones a proxy then takes.
	for i := range n {
		nd := &clusterNode{ID: int32(i + 1), DataDir: filepath.Join(base, "node"+strconv.Itoa(i+1))}
		nd.Adv = newProxy(t, "")
		c.Nodes = append(c.Nodes, nd)
	}
	for _, from := range c.Nodes {
		for _, to := range c.Nodes {
			if from != to {
				c.ctrl[[2]int32{from.ID, to.ID}] = newProxy(t, "")
			}
		}
	}
	ports := freePorts(t, 2*n)
	for i, nd := range c.Nodes {
		nd.Port, nd.CPort = ports[2*i], ports[2*i+1]
		nd.Adv.SetTarget(fmt.Sprintf("127.0.0.1:%d", nd.Port))
	}
	for k, p := range c.ctrl {
		p.SetTarget(fmt.Sprintf("127.0.0.1:%d", c.Node(k[1]).CPort))
	}
	for _, nd := range c.Nodes {
		var voters []string
		for _, v := range c.Nodes {
			addr := fmt.Sprintf("127.0.0.1:%d", v.CPort)
			if v != nd {
				addr = c.ctrl[[2]int32{nd.ID, v.ID}].Addr()
			}
			voters = append(voters, fmt.Sprintf("%d@%s", v.ID, addr))
		}
		nd.args = append([]string{"--http-addr", "off",
			"--set", fmt.Sprintf("node.id=%d", nd.ID),
			"--set", "process.roles=broker,controller",
			"--set", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", nd.Port, nd.CPort),
			"--set", "advertised.listeners=PLAINTEXT://" + nd.Adv.Addr(),
			"--set", "controller.listener.names=CONTROLLER",
			"--set", "controller.quorum.voters=" + strings.Join(voters, ","),
		}, extra...)
	}
	c.startAll(c.Nodes...)
	c.waitBrokers(n, 60*time.Second)
	return c
}

// startAll launches the nodes together (each waits for a quorum before it
// is ready) and waits for every ready line.
func (c *cluster) startAll(nodes ...*clusterNode) {
	c.t.Helper()
	for _, nd := range nodes {
		nd.Proc = launch(c.t, "", nd.DataDir, nd.args...)
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(nodes))
	for _, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				if nd.Proc.exited() {
					errs <- fmt.Sprintf("node %d exited: %v\n%s", nd.ID, nd.Proc.waitErr, nd.Proc.Logs())
					return
				}
				if m := readyRE.FindStringSubmatch(nd.Proc.Logs()); m != nil {
					nd.Proc.Addr = m[1]
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			errs <- fmt.Sprintf("node %d not ready in 60s:\n%s", nd.ID, nd.Proc.Logs())
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		c.t.Fatal(e)
	}
}

// Bootstrap returns the advertised addresses.
func (c *cluster) Bootstrap() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.Adv.Addr())
	}
	return out
}

// Node returns node id.
func (c *cluster) Node(id int32) *clusterNode { return c.Nodes[id-1] }

// Client returns a franz-go client of the cluster, closed at cleanup.
func (c *cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	// Short request timeouts: a paused (SIGSTOP) broker accepts
	// connections and never answers, and kgo's defaults wait 20 s on it.
	base := []kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...), kgo.RetryTimeout(60 * time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second), kgo.ProduceRequestTimeout(3 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// waitBrokers waits until every running node lists n live brokers in its
// own Metadata answer (asked directly, not through a client's cached view).
func (c *cluster) waitBrokers(n int, timeout time.Duration) {
	c.t.Helper()
	var ids []int32
	for _, nd := range c.Nodes {
		if nd.Proc != nil && !nd.Proc.exited() {
			ids = append(ids, nd.ID)
		}
	}
	c.waitLiveOn(n, ids, timeout)
}

// Leader returns the leader of topic/partition as Metadata says (-1 none),
// retrying for a while: a seed may be a dead node.
func (c *cluster) Leader(topic string, partition int32) int32 {
	c.t.Helper()
	var m kadm.Metadata
	waitFor(c.t, 20*time.Second, func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m, err = kadm.NewClient(cl).Metadata(ctx, topic)
		return err
	})
	td, ok := m.Topics[topic]
	if !ok {
		return -1
	}
	if pd, ok := td.Partitions[partition]; ok {
		return pd.Leader
	}
	return -1
}

// waitLeader waits until topic/partition has a leader other than not
// (-1: any) and returns it.
func (c *cluster) waitLeader(topic string, partition, not int32, timeout time.Duration) int32 {
	c.t.Helper()
	var leader int32 = -1
	waitFor(c.t, timeout, func() error {
		leader = c.Leader(topic, partition)
		if leader < 0 || leader == not {
			return fmt.Errorf("leader of %s-%d is %d", topic, partition, leader)
		}
		return nil
	})
	return leader
}

// Kill9 kills node id.
func (c *cluster) Kill9(id int32) { c.Node(id).Proc.Kill9() }

// Restart starts node id again on its ports and data directory.
func (c *cluster) Restart(ids ...int32) {
	c.t.Helper()
	var nodes []*clusterNode
	for _, id := range ids {
		nodes = append(nodes, c.Node(id))
	}
	c.startAll(nodes...)
}

// Stop and Cont pause and resume node id (SIGSTOP/SIGCONT): a zombie.
func (c *cluster) Stop(id int32) {
	if err := c.Node(id).Proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = c.Node(id).Proc.cmd.Process.Signal(syscall.SIGCONT) })
}

func (c *cluster) Cont(id int32) {
	if err := c.Node(id).Proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
}

// Isolate cuts every link into and out of node id: its advertised
// address, its links to the other voters and theirs to it.
func (c *cluster) Isolate(id int32) {
	c.Node(id).Adv.Cut()
	for k, p := range c.ctrl {
		if k[0] == id || k[1] == id {
			p.Cut()
		}
	}
}

// HealAll restores every link.
func (c *cluster) HealAll() {
	for _, nd := range c.Nodes {
		nd.Adv.Heal()
	}
	for _, p := range c.ctrl {
		p.Heal()
	}
}

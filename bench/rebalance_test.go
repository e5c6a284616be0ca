package bench

// Rebalance: how long a classic consumer group of franz-go members takes to
// reach a stable assignment, on samsa and on kfake.
//
// A group is stable when every partition of the topic is owned by exactly
// one live member and every live member owns at least one (the topic has
// more partitions than any group here has members). Ownership is what the
// members' OnPartitionsAssigned / OnPartitionsRevoked / OnPartitionsLost
// callbacks say, so the time includes everything a consumer waits for:
// FindCoordinator, JoinGroup (twice: KIP-394's MEMBER_ID_REQUIRED round),
// SyncGroup, the second round of a cooperative rebalance, and the members
// noticing a rebalance through their heartbeats.
//
// Settings: kgo's default balancer (cooperative-sticky, KIP-429), a 100ms
// heartbeat interval so that the heartbeat period (3s by default) does not
// swamp what the broker does, samsa with group.initial.rebalance.delay.ms=0
// (kfake has no initial delay), a 60-partition topic created up front.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa"
)

const (
	rebalanceTopic      = "rebalance"
	rebalancePartitions = 60
	rebalanceHeartbeat  = 100 * time.Millisecond
	rebalanceLimit      = 60 * time.Second // bound on one group reaching stability
	rebalanceRuns       = 11               // runs per report cell; the median is reported
)

var rebalanceGroupSizes = []int{3, 30}

// samsaGroups is samsa in process with the initial rebalance delay off:
// the delay (3s by default, as in Kafka) exists to batch a group's first
// joins and would be all this benchmark measured.
func samsaGroups() peerKind {
	return peerKind{name: "samsa", start: func(ctx context.Context, dir string, partitions int) (*peer, error) {
		b, err := samsa.Start(ctx, samsa.Config{
			Addr:    "127.0.0.1:0",
			DataDir: dir,
			Properties: map[string]string{
				"num.partitions":                   fmt.Sprint(partitions),
				"group.initial.rebalance.delay.ms": "0",
			},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, err
		}
		return &peer{name: "samsa", addr: b.Addr(), close: func() { b.Close() }}, nil
	}}
}

// ownership tracks which member owns which partition, from the members'
// callbacks (which kgo runs on its group goroutines, hence the mutex), and
// signals every change on changed (capacity 1, sends never block).
type ownership struct {
	mu      sync.Mutex
	owned   map[int]map[int32]bool // member index -> partitions
	live    map[int]bool
	changed chan struct{}
}

func newOwnership() *ownership {
	return &ownership{owned: map[int]map[int32]bool{}, live: map[int]bool{}, changed: make(chan struct{}, 1)}
}

func (o *ownership) update(member int, parts []int32, add bool) {
	o.mu.Lock()
	m := o.owned[member]
	if m == nil {
		m = map[int32]bool{}
		o.owned[member] = m
	}
	for _, p := range parts {
		if add {
			m[p] = true
		} else {
			delete(m, p)
		}
	}
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// stableErr returns nil when the live members own every partition exactly
// once and each owns at least one, else what is still off.
func (o *ownership) stableErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := make([]int, rebalancePartitions)
	for i := range o.live {
		if len(o.owned[i]) == 0 {
			return fmt.Errorf("member %d owns nothing", i)
		}
		for p := range o.owned[i] {
			seen[p]++
		}
	}
	for p, n := range seen {
		if n != 1 {
			return fmt.Errorf("partition %d owned by %d members", p, n)
		}
	}
	return nil
}

// waitStable blocks until stableErr is nil, woken by ownership changes.
func (o *ownership) waitStable(ctx context.Context) error {
	for {
		err := o.stableErr()
		if err == nil {
			return nil
		}
		select {
		case <-o.changed:
		case <-ctx.Done():
			return fmt.Errorf("not stable: %w (%w)", err, ctx.Err())
		}
	}
}

// groupRun is one group of members on one broker.
type groupRun struct {
	addr, group string
	own         *ownership
	clients     []*kgo.Client
}

// addMember starts member i; it joins the group at once.
func (g *groupRun) addMember(i int) error {
	own := g.own
	own.mu.Lock()
	own.live[i] = true
	own.mu.Unlock()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(g.addr),
		kgo.ConsumerGroup(g.group),
		kgo.ConsumeTopics(rebalanceTopic),
		kgo.HeartbeatInterval(rebalanceHeartbeat),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			own.update(i, m[rebalanceTopic], true)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			own.update(i, m[rebalanceTopic], false)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			own.update(i, m[rebalanceTopic], false)
		}),
	)
	if err != nil {
		return err
	}
	g.clients = append(g.clients, cl)
	return nil
}

// close closes every member concurrently (each leaves the group).
func (g *groupRun) close() {
	var wg sync.WaitGroup
	for _, cl := range g.clients {
		wg.Go(cl.Close)
	}
	wg.Wait()
}

// rebalanceScenario measures one way of reaching a stable group of n
// members and returns the time from the first member starting (or the
// extra member starting) to stability.
type rebalanceScenario struct {
	name string
	run  func(ctx context.Context, addr, group string, n int) (time.Duration, error)
}

var rebalanceScenarios = []rebalanceScenario{
	{"all join at once", func(ctx context.Context, addr, group string, n int) (time.Duration, error) {
		g := &groupRun{addr: addr, group: group, own: newOwnership()}
		defer g.close()
		start := time.Now()
		for i := range n {
			if err := g.addMember(i); err != nil {
				return 0, err
			}
		}
		if err := g.own.waitStable(ctx); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}},
	{"one more joins", func(ctx context.Context, addr, group string, n int) (time.Duration, error) {
		g := &groupRun{addr: addr, group: group, own: newOwnership()}
		defer g.close()
		for i := range n - 1 {
			if err := g.addMember(i); err != nil {
				return 0, err
			}
		}
		if err := g.own.waitStable(ctx); err != nil {
			return 0, fmt.Errorf("first %d members: %w", n-1, err)
		}
		start := time.Now()
		if err := g.addMember(n - 1); err != nil {
			return 0, err
		}
		if err := g.own.waitStable(ctx); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}},
}

// startRebalancePeer starts kind with the rebalance topic created.
func startRebalancePeer(ctx context.Context, kind peerKind, dir string) (*peer, error) {
	p, err := kind.start(ctx, dir, rebalancePartitions)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		p.close()
		return nil, err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, rebalancePartitions, 1, nil, rebalanceTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		p.close()
		return nil, fmt.Errorf("create %s on %s: %w", rebalanceTopic, kind.name, err)
	}
	return p, nil
}

func rebalanceKinds() []peerKind { return []peerKind{samsaGroups(), kfakeInProcess()} }

// BenchmarkRebalance reports ms/rebalance: the time for a group of 3 or 30
// members to become stable, when all join at once and when one more joins
// a stable group (of 2 or 29). Each iteration uses a new group on the same
// broker. Run with -benchtime=5x: one iteration takes up to seconds.
func BenchmarkRebalance(b *testing.B) {
	for _, kind := range rebalanceKinds() {
		b.Run(kind.name, func(b *testing.B) {
			p, err := startRebalancePeer(context.Background(), kind, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(p.close)
			for _, sc := range rebalanceScenarios {
				for _, n := range rebalanceGroupSizes {
					b.Run(fmt.Sprintf("%s/members=%d", strings.ReplaceAll(sc.name, " ", "-"), n), func(b *testing.B) {
						var total time.Duration
						for i := 0; b.Loop(); i++ {
							ctx, cancel := context.WithTimeout(context.Background(), rebalanceLimit)
							d, err := sc.run(ctx, p.addr, fmt.Sprintf("%s-%d-%d", b.Name(), n, i), n)
							cancel()
							if err != nil {
								b.Fatal(err)
							}
							total += d
						}
						b.ReportMetric(ms(total)/float64(b.N), "ms/rebalance")
					})
				}
			}
		})
	}
}

// TestRebalanceReport prints the rebalance table (median of
// rebalanceRuns per cell) for samsa and kfake. Run it with
//
//	SAMSA_BENCH=1 go test ./bench -run TestRebalanceReport -v -timeout 10m
func TestRebalanceReport(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("benchmark report; run with: SAMSA_BENCH=1 go test ./bench -run TestRebalanceReport -v -timeout 10m")
	}
	root, rootDesc, err := dataRoot()
	if err != nil {
		t.Fatal(err)
	}
	type cellKey struct {
		scenario string
		n        int
	}
	results := map[string]map[cellKey]time.Duration{}
	var names []string
	for _, kind := range rebalanceKinds() {
		names = append(names, kind.name)
		dir, err := os.MkdirTemp(root, "samsa-bench-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		p, err := startRebalancePeer(ctx, kind, dir)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		results[kind.name] = map[cellKey]time.Duration{}
		for _, sc := range rebalanceScenarios {
			for _, n := range rebalanceGroupSizes {
				var ds []time.Duration
				for run := range rebalanceRuns {
					rctx, rcancel := context.WithTimeout(ctx, rebalanceLimit)
					d, err := sc.run(rctx, p.addr, fmt.Sprintf("report-%s-%d-%d", strings.ReplaceAll(sc.name, " ", "-"), n, run), n)
					rcancel()
					if err != nil {
						t.Errorf("%s %s members=%d run %d: %v", kind.name, sc.name, n, run, err)
						continue
					}
					ds = append(ds, d)
				}
				if len(ds) > 0 {
					slices.Sort(ds)
					results[kind.name][cellKey{sc.name, n}] = median(ds)
					t.Logf("%s %s members=%d: %v", kind.name, sc.name, n, ds)
				}
			}
		}
		p.close()
		cancel()
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nconsumer group rebalance, samsa vs kfake — %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&sb, "machine: %d cores, %s; data dirs under %s\n", numCPU(), goVersion(), rootDesc)
	fmt.Fprintf(&sb, "kgo members in process, cooperative-sticky, heartbeat %v; %d-partition topic; "+
		"samsa group.initial.rebalance.delay.ms=0; median of %d runs, ms to a stable assignment (lo)\n\n",
		rebalanceHeartbeat, rebalancePartitions, rebalanceRuns)
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\t")
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t", name)
	}
	fmt.Fprintf(tw, "ratio\t\n")
	for _, sc := range rebalanceScenarios {
		for _, n := range rebalanceGroupSizes {
			k := cellKey{sc.name, n}
			fmt.Fprintf(tw, "%s, %d members\t", sc.name, n)
			vals := map[string]float64{}
			for _, name := range names {
				d, ok := results[name][k]
				if !ok {
					fmt.Fprintf(tw, "-\t")
					continue
				}
				vals[name] = ms(d)
				fmt.Fprintf(tw, "%.0f\t", ms(d))
			}
			fmt.Fprintf(tw, "%s\t\n", ratio(vals, "samsa", "kfake"))
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	fmt.Print(sb.String())
}

// TestRebalanceScenarios runs each scenario once on samsa with a small
// group, so the benchmark code is exercised by `go test` (without
// SAMSA_BENCH) and cannot rot.
func TestRebalanceScenarios(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*rebalanceLimit)
	defer cancel()
	p, err := startRebalancePeer(ctx, samsaGroups(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for _, sc := range rebalanceScenarios {
		d, err := sc.run(ctx, p.addr, "scenario-"+strings.ReplaceAll(sc.name, " ", "-"), 3)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		if d <= 0 {
			t.Errorf("%s: measured %v", sc.name, d)
		}
	}
	// Stability needs every partition owned exactly once.
	own := newOwnership()
	own.live[0], own.live[1] = true, true
	own.update(0, []int32{0}, true)
	if err := own.stableErr(); err == nil || !strings.Contains(err.Error(), "member 1 owns nothing") {
		t.Errorf("stableErr with an idle member: %v", err)
	}
	all := make([]int32, rebalancePartitions)
	for i := range all {
		all[i] = int32(i)
	}
	own.update(1, all[1:], true)
	if err := own.stableErr(); err != nil {
		t.Errorf("stableErr with every partition owned once: %v", err)
	}
	own.update(1, all[:1], true)
	if err := own.stableErr(); err == nil {
		t.Error("stableErr with partition 0 owned twice: nil")
	}
	if !errors.Is(own.waitStable(canceled()), context.Canceled) {
		t.Error("waitStable on an unstable group did not end with its context")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

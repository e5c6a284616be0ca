package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/replica"
)

// A broker in a cluster (process.roles includes broker) learns its topics,
// partitions and their roles from the metadata log (the FSM that its Raft
// member applies) and sends every change to the active controller. Its
// partitions are the replicas the controller assigned to it; each one
// leads or follows as the latest state says (reconcile). Topic entries
// exist for every topic of the cluster; Partitions[i] is nil where this
// broker holds no replica of partition i.

// MetadataSource is the applied metadata log.
type MetadataSource interface {
	State() *metadata.State
	// Current returns the applied state with the Raft index it holds
	// everything up to (read together).
	Current() (*metadata.State, uint64)
	Changed() <-chan struct{}
}

// ClusterDeps is what a clustered broker needs from its node.
type ClusterDeps struct {
	Metadata   MetadataSource
	Controller *controller.Client
	// Host and Port are the advertised inter-broker listener, registered
	// with the controller (followers fetch from it, clients are told it).
	Host string
	Port int32
	// Listeners: the advertised host:port of the further client
	// listeners, by name (Metadata answers each listener with its own).
	Listeners map[string]string
	// Voter: this node also votes in the controller quorum. RaftAddr: where a
	// broker-only node receives the metadata log.
	Voter    bool
	RaftAddr string
	// Quorum describes the metadata quorum as this node sees it.
	Quorum func() controller.QuorumInfo
	// DialPeer connects and logs in to another broker's inter-broker
	// listener (nil: plaintext).
	DialPeer func(addr, clientID string, timeout time.Duration) (net.Conn, error)
}

type cluster struct {
	self     int32
	deps     ClusterDeps
	fetchers *replica.Manager

	epoch atomic.Int64 // registration epoch
	// leaseFrom is the send time of the last heartbeat answered
	// "unfenced", as monotonic nanoseconds since monoBase (0: none).
	leaseFrom  atomic.Int64
	reconciled chan struct{}
	recMu      sync.Mutex
	recDone    *metadata.State // last reconciled state; guarded by recMu
	recIndex   uint64          // the Raft index recDone was read at (a lower bound); guarded by recMu

	isrCh        chan *partition.Partition
	shuttingDown atomic.Bool

	hookMu sync.Mutex
	hooks  []LeadershipHook // guarded by hookMu
}

// LeadershipHook is told when this broker gains or loses the leadership of
// partition i (of n) of topic; p is nil when it holds no replica any more.
type LeadershipHook func(topic string, i, n int32, p *partition.Partition, leading bool)

// OnLeadership registers fn (cluster mode; the group coordinator follows
// __consumer_offsets with it). Hooks run in reconcile, in order of changes.
func (b *Broker) OnLeadership(fn LeadershipHook) {
	if b.clu == nil {
		return
	}
	b.clu.hookMu.Lock()
	b.clu.hooks = append(b.clu.hooks, fn)
	b.clu.hookMu.Unlock()
	// Tell it what we lead already.
	for _, t := range b.Topics() {
		for i, p := range t.Partitions {
			if p != nil && p.IsLeader() {
				fn(t.Name, int32(i), t.Count(), p, true)
			}
		}
	}
}

func (b *Broker) leadershipChanged(topic string, i, n int32, p *partition.Partition, leading bool) {
	b.clu.hookMu.Lock()
	hooks := b.clu.hooks
	b.clu.hookMu.Unlock()
	for _, fn := range hooks {
		fn(topic, i, n, p, leading)
	}
}

// metaPropertiesName is Kafka's per-directory identity file.
const metaPropertiesName = "meta.properties"

// OpenCluster opens a clustered broker: its partitions come from the
// metadata log; it registers with the active controller (waiting up to
// initial registration timeout for a quorum to form) before returning.
func OpenCluster(ctx context.Context, cfg config.Broker, lg *slog.Logger, deps ClusterDeps) (*Broker, error) {
	if lg == nil {
		lg = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "__samsa_metadata", "metadata.json")); err == nil {
		return nil, fmt.Errorf("data directory %s holds a single broker's data (no process.roles); a cluster node needs a data directory of its own: start it on a new --data-dir", cfg.DataDir)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	clusterID, err := checkMetaProperties(cfg.DataDir, cfg.NodeID)
	if err != nil {
		unlockDataDir(lock)
		return nil, err
	}
	clean, err := takeCleanShutdownMarker(cfg.DataDir)
	if err != nil {
		unlockDataDir(lock)
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg: cfg, lg: lg, lock: lock, ctx: bctx, cancel: cancel,
		topics:      make(map[string]*Topic),
		topicsByID:  make(map[metadata.TopicID]*Topic),
		flushQueued: make(map[*partition.Partition]bool),
		flushCh:     make(chan *partition.Partition, 4096),
		fdLimit:     openFileLimit,
		cleanStart:  clean,
	}
	c := &cluster{self: cfg.NodeID, deps: deps, reconciled: make(chan struct{}), isrCh: make(chan *partition.Partition, 4096)}
	c.fetchers = replica.NewManager(replica.Config{Self: cfg.NodeID, Logger: lg.With("component", "replica-fetcher"), Dial: deps.DialPeer,
		Addr: func(id int32) string {
			br, ok := deps.Metadata.State().Brokers[id]
			if !ok {
				return ""
			}
			return net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
		}})
	b.clu = c
	if err := b.register(ctx, clusterID); err != nil {
		c.fetchers.Close()
		cancel()
		unlockDataDir(lock)
		return nil, err
	}
	b.wg.Add(5)
	go b.retentionLoop()
	go b.flushLoop()
	go b.reconcileLoop()
	go b.heartbeatLoop()
	go b.isrLoop()
	// Ready once the controller has unfenced our registration (after our
	// first heartbeat from a caught-up state), as a Kafka broker waits
	// before it serves clients: a fenced broker would list no brokers, or
	// not itself, in its Metadata answers.
	wctx, wcancel := context.WithTimeout(ctx, initialRegistrationTimeout)
	defer wcancel()
	if err := b.waitReconciled(wctx, func(st *metadata.State) bool {
		r, ok := st.Brokers[cfg.NodeID]
		return ok && r.Epoch == c.epoch.Load() && !r.Fenced
	}); err != nil {
		b.Close()
		return nil, fmt.Errorf("waiting for the metadata log to reach this broker's registration: %w", err)
	}
	b.cleanStart = false
	return b, nil
}

// checkMetaProperties reads meta.properties (writing it with node.id on
// first start) and returns the cluster id it names ("" until known). A
// directory of another node is refused.
func checkMetaProperties(dir string, node int32) (string, error) {
	path := filepath.Join(dir, metaPropertiesName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", writeMetaProperties(dir, node, "")
	}
	if err != nil {
		return "", err
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if id := props["node.id"]; id != "" && id != strconv.Itoa(int(node)) {
		return "", fmt.Errorf("data directory %s belongs to node %s (its %s), but node.id is %d: give each node its own data directory", dir, id, metaPropertiesName, node)
	}
	return props["cluster.id"], nil
}

func writeMetaProperties(dir string, node int32, clusterID string) error {
	var sb strings.Builder
	sb.WriteString("# written by samsa: this directory's node and cluster; do not edit\nversion=1\n")
	fmt.Fprintf(&sb, "node.id=%d\n", node)
	if clusterID != "" {
		fmt.Fprintf(&sb, "cluster.id=%s\n", clusterID)
	}
	path := filepath.Join(dir, metaPropertiesName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// initialRegistrationTimeout is Kafka's initial.broker.registration.timeout.ms.
const initialRegistrationTimeout = 60 * time.Second

// register registers this broker (a new epoch), retrying until a quorum
// answers, and records the cluster id in meta.properties.
func (b *Broker) register(ctx context.Context, knownCluster string) error {
	c := b.clu
	ctx, cancel := context.WithTimeout(ctx, initialRegistrationTimeout)
	defer cancel()
	req := controller.RegisterRequest{ID: b.cfg.NodeID, Host: c.deps.Host, Port: c.deps.Port, Rack: b.cfg.BrokerRack,
		Controller: c.deps.Voter, RaftAddr: c.deps.RaftAddr, ClusterID: knownCluster, Listeners: c.deps.Listeners}
	var resp controller.RegisterResponse
	start := time.Now()
	logged := false
	for {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.deps.Controller.Call(cctx, controller.OpRegister, req, &resp)
		ccancel()
		if err == nil && (resp.Epoch <= 0 || resp.ClusterID == "") {
			err = fmt.Errorf("registration answered without an epoch or cluster id (%+v)", resp)
			b.lg.Warn("retrying registration", "err", err)
		}
		if err == nil {
			break
		}
		if controller.IsInconsistentCluster(err) {
			return fmt.Errorf("%w (data directory %s)", err, b.cfg.DataDir)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no active controller answered within %v (is a majority of controller.quorum.voters up and reachable?): %w", initialRegistrationTimeout, err)
		}
		if !logged && time.Since(start) > 2*time.Second {
			b.lg.Info("waiting for the controller quorum to form (a majority of controller.quorum.voters must be up)", "err", err)
			logged = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.epoch.Store(resp.Epoch)
	if knownCluster == "" && resp.ClusterID != "" {
		if err := writeMetaProperties(b.cfg.DataDir, b.cfg.NodeID, resp.ClusterID); err != nil {
			return fmt.Errorf("writing %s: %w", metaPropertiesName, err)
		}
	}
	b.lg.Info("registered with the controller", "node", b.cfg.NodeID, "broker_epoch", resp.Epoch, "cluster_id", resp.ClusterID)
	return nil
}

// Clustered reports whether this broker is part of a cluster.
func (b *Broker) Clustered() bool { return b.clu != nil }

// NodeID returns this broker's id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// ClusterState returns the applied metadata (nil on a single broker).
func (b *Broker) ClusterState() *metadata.State {
	if b.clu == nil {
		return nil
	}
	return b.clu.deps.Metadata.State()
}

// Quorum returns the metadata quorum as this node sees it (ok false on a
// single broker).
func (b *Broker) Quorum() (controller.QuorumInfo, bool) {
	if b.clu == nil || b.clu.deps.Quorum == nil {
		return controller.QuorumInfo{}, false
	}
	return b.clu.deps.Quorum(), true
}

// monoBase anchors lease times to Go's monotonic clock (a wall-clock step
// must not lengthen a lease).
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// leaseDuration is how long an answered heartbeat lets a broker lead:
// three heartbeat intervals, at most the session timeout. The controller
// fences a broker only after a session without a heartbeat (counted from
// when it received the last one, after we sent it), and a new active
// controller only after four heartbeat intervals of grace from its
// takeover, which comes at least Raft's election timeout after the old
// controller lost its quorum; the old one answers heartbeats for at most
// its leader lease (250 ms, one heartbeat interval) after that. So once a
// broker could have been replaced, its lease has run out.
func (b *Broker) leaseDuration() time.Duration {
	return min(b.cfg.BrokerSessionTimeout, 3*b.cfg.BrokerHeartbeatInterval)
}

// LeaseValid reports whether this broker may act as a leader now (see
// leaseDuration): a paused or cut-off old leader acknowledges and serves
// nothing. Always true on a single broker.
func (b *Broker) LeaseValid() bool {
	if b.clu == nil {
		return true
	}
	if b.clu.shuttingDown.Load() {
		return false
	}
	from := b.clu.leaseFrom.Load()
	return from > 0 && monoNow()-from < int64(b.leaseDuration())
}

func (b *Broker) heartbeatLoop() {
	defer b.wg.Done()
	c := b.clu
	t := time.NewTicker(b.cfg.BrokerHeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		epoch := c.epoch.Load()
		r, ok := c.deps.Metadata.State().Brokers[b.cfg.NodeID]
		req := controller.HeartbeatRequest{ID: b.cfg.NodeID, Epoch: epoch, CaughtUp: ok && r.Epoch == epoch && b.reconciledEpoch(epoch),
			ShuttingDown: c.shuttingDown.Load()}
		sent := monoNow()
		ctx, cancel := context.WithTimeout(b.ctx, b.leaseDuration())
		var resp controller.HeartbeatResponse
		err := c.deps.Controller.Call(ctx, controller.OpHeartbeat, req, &resp)
		cancel()
		switch {
		case err == nil:
			// The lease counts only once our metadata is as new as the
			// controller's when it answered: a broker that was paused
			// (SIGSTOP) or cut off must first learn that it was replaced,
			// never serve as leader from its old view.
			if !resp.Fenced && b.waitApplied(resp.MetadataIndex, b.cfg.BrokerHeartbeatInterval) {
				c.leaseFrom.Store(sent)
			}
		case controller.IsStaleBrokerEpoch(err):
			// The controller lost our registration (a restart of the
			// whole quorum from an old snapshot) or we were replaced:
			// register again under a new epoch.
			b.lg.Warn("the controller does not know this broker's epoch; registering again", "epoch", epoch)
			c.leaseFrom.Store(0) // a new registration moves our leaderships away
			if err := b.register(b.ctx, b.ClusterID()); err != nil {
				b.lg.Error("registering again failed", "err", err)
			}
		default:
			if b.ctx.Err() == nil {
				b.lg.Debug("heartbeat failed", "err", err)
			}
		}
	}
}

// waitApplied waits up to d until the metadata log is applied (and
// reconciled) up to index.
func (b *Broker) waitApplied(index uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b.clu.recMu.Lock()
		done, ch := b.clu.recIndex >= index, b.clu.reconciled
		b.clu.recMu.Unlock()
		if done {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		select {
		case <-ch:
		case <-time.After(left):
		case <-b.ctx.Done():
			return false
		}
	}
}

// reconciledEpoch reports whether the last reconciled state holds our
// registration at epoch (so our partitions know their roles).
func (b *Broker) reconciledEpoch(epoch int64) bool {
	b.clu.recMu.Lock()
	defer b.clu.recMu.Unlock()
	st := b.clu.recDone
	if st == nil {
		return false
	}
	r, ok := st.Brokers[b.cfg.NodeID]
	return ok && r.Epoch == epoch
}

func (b *Broker) reconcileLoop() {
	defer b.wg.Done()
	c := b.clu
	for {
		ch := c.deps.Metadata.Changed()
		st, idx := c.deps.Metadata.Current()
		b.reconcile(st, idx)
		select {
		case <-b.ctx.Done():
			return
		case <-ch:
		}
	}
}

// waitReconciled waits until a reconciled state satisfies ok.
func (b *Broker) waitReconciled(ctx context.Context, ok func(*metadata.State) bool) error {
	for {
		b.clu.recMu.Lock()
		st, ch := b.clu.recDone, b.clu.reconciled
		b.clu.recMu.Unlock()
		if st != nil && ok(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.ctx.Done():
			return ErrClosed
		}
	}
}

// reconcile makes the open partitions and their roles what st says.
func (b *Broker) reconcile(st *metadata.State, index uint64) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.ctx.Err() != nil {
		return
	}
	c := b.clu
	self := b.cfg.NodeID
	for _, name := range st.TopicNames() {
		mt := st.Topics[name]
		cur := b.Topic(name)
		if cur != nil && cur.ID != mt.ID {
			b.dropLocalTopic(cur) // deleted and re-created meanwhile
			cur = nil
		}
		if cur != nil && cur.sameMetadata(mt) {
			continue
		}
		nt := &Topic{Name: mt.Name, ID: mt.ID, Internal: mt.Internal, Overrides: maps.Clone(mt.Configs),
			Config: config.ResolveTopic(b.cfg, mt.Configs), Assignments: cloneAssignments(mt.Assignments)}
		nt.Partitions = make([]*partition.Partition, mt.Partitions)
		configsChanged := cur != nil && !maps.Equal(cur.Overrides, mt.Configs)
		for i := range mt.Partitions {
			var a metadata.PartitionState
			if int(i) < len(mt.Assignments) {
				a = mt.Assignments[i]
			}
			var p *partition.Partition
			if cur != nil && int(i) < len(cur.Partitions) {
				p = cur.Partitions[i]
			}
			if !a.HasReplica(self) {
				if p != nil {
					c.fetchers.Unfollow(p)
					b.leadershipChanged(name, i, mt.Partitions, nil, false)
					b.retirePartition(p)
				}
				continue
			}
			if p == nil {
				cfg := b.partitionConfig(nt, i)
				err := b.preparePartitionDir(cfg.Dir, nt.ID)
				if err == nil {
					p, err = partition.Open(cfg)
				}
				if err == nil {
					if err = p.EnableReplication(self); err != nil {
						p.Close()
					}
				}
				if err != nil {
					b.lg.Error("opening an assigned replica failed; it stays offline here", "topic", name, "partition", i, "err", err)
					continue
				}
			} else if configsChanged {
				p.SetConfig(b.partitionConfig(nt, i))
			}
			nt.Partitions[i] = p
			role := partition.Role{Leader: a.Leader, LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch, Replicas: a.Replicas, ISR: a.ISR}
			becameLeader, becameFollower, err := p.SetRole(role)
			if err != nil {
				b.lg.Error("changing replica role", "topic", name, "partition", i, "err", err)
			}
			switch {
			case a.Leader == self:
				if becameLeader {
					c.fetchers.Unfollow(p)
					leaderChanges.Inc()
					b.lg.Debug("leading", "topic", name, "partition", i, "leader_epoch", a.LeaderEpoch)
					b.leadershipChanged(name, i, mt.Partitions, p, true)
				}
			case a.Leader >= 0:
				if becameFollower {
					c.fetchers.Follow(p, a.Leader, a.LeaderEpoch)
					b.leadershipChanged(name, i, mt.Partitions, p, false)
				}
			default:
				c.fetchers.Unfollow(p)
				b.leadershipChanged(name, i, mt.Partitions, p, false)
			}
		}
		b.mu.Lock()
		b.publishLocked(nt)
		b.mu.Unlock()
	}
	for _, t := range b.Topics() {
		if _, ok := st.Topics[t.Name]; !ok {
			b.dropLocalTopic(t)
		}
	}
	if cid := st.ClusterID; cid != "" {
		c.recMu.Lock()
		first := c.recDone == nil || c.recDone.ClusterID == ""
		c.recMu.Unlock()
		if first {
			if known, _ := checkMetaProperties(b.cfg.DataDir, self); known == "" {
				if err := writeMetaProperties(b.cfg.DataDir, self, cid); err != nil {
					b.lg.Warn("writing meta.properties", "err", err)
				}
			}
		}
	}
	c.recMu.Lock()
	c.recDone, c.recIndex = st, max(c.recIndex, index)
	close(c.reconciled)
	c.reconciled = make(chan struct{})
	c.recMu.Unlock()
}

// sameMetadata reports whether t already reflects mt.
func (t *Topic) sameMetadata(mt *metadata.Topic) bool {
	if int(mt.Partitions) != len(t.Partitions) || !maps.Equal(t.Overrides, mt.Configs) || len(t.Assignments) != len(mt.Assignments) {
		return false
	}
	for i := range mt.Assignments {
		a, o := mt.Assignments[i], t.Assignments[i]
		if a.Leader != o.Leader || a.LeaderEpoch != o.LeaderEpoch || a.PartitionEpoch != o.PartitionEpoch {
			return false
		}
	}
	return true
}

func cloneAssignments(a []metadata.PartitionState) []metadata.PartitionState {
	out := make([]metadata.PartitionState, len(a))
	for i := range a {
		out[i] = a[i].Clone()
	}
	return out
}

// dropLocalTopic removes a topic the metadata no longer has (deleted):
// its partitions stop and their directories go. REQUIRES: adminMu.
func (b *Broker) dropLocalTopic(t *Topic) {
	b.mu.Lock()
	if b.topics[t.Name] == t {
		delete(b.topics, t.Name)
	}
	if b.topicsByID[t.ID] == t {
		delete(b.topicsByID, t.ID)
	}
	b.mu.Unlock()
	for i, p := range t.Partitions {
		if p != nil {
			b.clu.fetchers.Unfollow(p)
			b.leadershipChanged(t.Name, int32(i), t.Count(), nil, false)
			b.retirePartition(p)
		}
	}
	b.lg.Info("deleted topic", "topic", t.Name, "topic_id", t.ID)
}

// retirePartition closes a replica this broker no longer holds and
// removes its directory (renamed first, removed in the background).
func (b *Broker) retirePartition(p *partition.Partition) {
	p.Abandon()
	d, err := renameForDelete(p.Dir())
	if err != nil {
		b.lg.Warn("could not rename a removed replica's directory; it is set aside at the next start", "dir", p.Dir(), "err", err)
		return
	}
	_ = syncDir(b.cfg.DataDir)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.removeDeleted([]string{d})
	}()
}

// ProposeISR queues p's pending ISR change (from a follower fetch) for the
// controller.
func (b *Broker) ProposeISR(p *partition.Partition) {
	select {
	case b.clu.isrCh <- p:
	default:
		p.ISRChangeFailed() // proposed again at the next fetch
	}
}

// isrCheckInterval is how often leaders look for followers to drop from
// the ISR (Kafka checks every replica.lag.time.max.ms / 2).
func (b *Broker) isrCheckInterval() time.Duration {
	return min(max(b.cfg.ReplicaLagTimeMax/2, 50*time.Millisecond), 5*time.Second)
}

func (b *Broker) isrLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.isrCheckInterval())
	defer t.Stop()
	hw := time.NewTicker(hwCheckpointInterval)
	defer hw.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case p := <-b.clu.isrCh:
			b.sendISR(p, nil)
		case now := <-t.C:
			for _, tp := range b.Topics() {
				for _, p := range tp.Partitions {
					if p == nil {
						continue
					}
					if isr := p.ShrinkISR(now, b.cfg.ReplicaLagTimeMax); isr != nil {
						b.lg.Info("shrinking the ISR: followers have not caught up within replica.lag.time.max.ms", "topic", p.Topic, "partition", p.Index, "isr", isr)
						b.sendISR(p, isr)
					}
				}
			}
		case <-hw.C:
			b.checkpointHWs()
		}
	}
}

// hwCheckpointInterval is Kafka's replica.high.watermark.checkpoint.interval.ms.
const hwCheckpointInterval = 5 * time.Second

func (b *Broker) checkpointHWs() {
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue
			}
			if err := p.CheckpointHW(); err != nil && !errors.Is(err, partition.ErrClosed) {
				b.lg.Warn("high watermark checkpoint failed", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
}

// sendISR sends p's pending ISR (isr, or the one UpdateFollower proposed)
// to the controller and applies the answer.
func (b *Broker) sendISR(p *partition.Partition, isr []int32) {
	role, leading := p.Role()
	if !leading {
		p.ISRChangeFailed()
		return
	}
	if isr == nil {
		isr = p.PendingISR()
		if isr == nil {
			return
		}
	}
	req := controller.AlterPartitionRequest{Broker: b.cfg.NodeID, BrokerEpoch: b.clu.epoch.Load(), Topic: p.Topic, Partition: p.Index,
		LeaderEpoch: role.LeaderEpoch, PartitionEpoch: role.PartitionEpoch, ISR: isr}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	var resp controller.AlterPartitionResponse
	if err := b.clu.deps.Controller.Call(ctx, controller.OpAlterPartition, req, &resp); err != nil {
		p.ISRChangeFailed()
		b.lg.Debug("ISR change refused", "topic", p.Topic, "partition", p.Index, "isr", isr, "err", err)
		return
	}
	if len(resp.State.ISR) > len(role.ISR) {
		isrExpands.Inc()
	} else {
		isrShrinks.Inc()
	}
	a := resp.State
	if _, _, err := p.SetRole(partition.Role{Leader: a.Leader, LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch, Replicas: a.Replicas, ISR: a.ISR}); err != nil {
		b.lg.Warn("applying ISR change", "topic", p.Topic, "partition", p.Index, "err", err)
	}
}

// PrepareShutdown runs the controlled shutdown of a clustered broker while
// it still serves requests (clients get NOT_LEADER_OR_FOLLOWER and move to
// the new leaders); Close runs it too if nobody did. A no-op on a single
// broker.
func (b *Broker) PrepareShutdown() {
	if b.clu != nil && !b.clu.shuttingDown.Load() && b.ctx.Err() == nil {
		b.controlledShutdown()
	}
}

// controlledShutdown moves leadership away before the broker closes
// (SIGTERM): the controller fences this broker and elects other leaders,
// and we wait (bounded) until our metadata shows we lead nothing.
func (b *Broker) controlledShutdown() {
	c := b.clu
	c.shuttingDown.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var resp controller.ControlledShutdownResponse
	err := c.deps.Controller.Call(ctx, controller.OpControlledShutdown, controller.ControlledShutdownRequest{ID: b.cfg.NodeID, Epoch: c.epoch.Load()}, &resp)
	if err != nil {
		b.lg.Warn("controlled shutdown: the controller did not answer; leadership moves when the session times out", "err", err)
		return
	}
	err = b.waitReconciled(ctx, func(st *metadata.State) bool {
		for _, t := range st.Topics {
			for _, a := range t.Assignments {
				if a.Leader == b.cfg.NodeID {
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		b.lg.Warn("controlled shutdown: leadership did not move away in time", "err", err)
		return
	}
	b.lg.Info("controlled shutdown: this broker leads no partition any more")
}

// clusterCall runs a controller call for an admin request, bounded.
func (b *Broker) clusterCall(op string, req, resp any) error {
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	return b.clu.deps.Controller.Call(ctx, op, req, resp)
}

// waitTopic waits until the reconciled metadata satisfies ok for topic.
func (b *Broker) waitTopic(ok func(*metadata.State) bool) error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return b.waitReconciled(ctx, ok)
}

func (b *Broker) clusterCreateTopic(req CreateTopicRequest) (*Topic, error) {
	creq := controller.CreateTopicRequest{Name: req.Name, Partitions: req.Partitions, ReplicationFactor: req.ReplicationFactor,
		Configs: req.Configs, Internal: req.Internal, ValidateOnly: req.ValidateOnly, Assignments: req.Assignments, ShrinkRF: req.ShrinkRF}
	var resp controller.CreateTopicResponse
	if err := b.clusterCall(controller.OpCreateTopic, creq, &resp); err != nil {
		if controller.IsTopicExists(err) {
			// Created meanwhile (another broker's auto-creation): once
			// this broker has learnt it, callers may use it.
			_ = b.waitTopic(func(st *metadata.State) bool { _, ok := st.Topics[req.Name]; return ok })
			return nil, fmt.Errorf("%w: %q", ErrTopicExists, req.Name)
		}
		return nil, err
	}
	if req.ValidateOnly {
		return nil, nil
	}
	if err := b.waitTopic(func(st *metadata.State) bool { t, ok := st.Topics[req.Name]; return ok && t.ID == resp.ID }); err != nil {
		return nil, fmt.Errorf("topic %q was created, but this broker has not learnt it yet: %w", req.Name, err)
	}
	return b.Topic(req.Name), nil
}

func (b *Broker) clusterDeleteTopic(name string) error {
	t := b.Topic(name)
	if t != nil && t.Internal {
		return fmt.Errorf("%w: %q is an internal topic and cannot be deleted", ErrInvalidTopic, name)
	}
	if err := b.clusterCall(controller.OpDeleteTopic, controller.DeleteTopicRequest{Name: name}, nil); err != nil {
		return err
	}
	return b.waitTopic(func(st *metadata.State) bool { _, ok := st.Topics[name]; return !ok })
}

func (b *Broker) clusterCreatePartitions(name string, count int32, validateOnly bool, assignments [][]int32) error {
	if t := b.Topic(name); t != nil && t.Internal {
		return fmt.Errorf("%w: %q is an internal topic; its partition count is fixed", ErrInvalidPartitions, name)
	}
	if err := b.clusterCall(controller.OpCreatePartitions, controller.CreatePartitionsRequest{Name: name, Count: count, ValidateOnly: validateOnly, Assignments: assignments}, nil); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return b.waitTopic(func(st *metadata.State) bool { t, ok := st.Topics[name]; return ok && t.Partitions >= count })
}

func (b *Broker) clusterSetConfigs(name string, expect, configs map[string]string) error {
	if err := b.clusterCall(controller.OpSetConfigs, controller.SetConfigsRequest{Name: name, Expect: expect, Configs: configs}, nil); err != nil {
		return err
	}
	return b.waitTopic(func(st *metadata.State) bool {
		t, ok := st.Topics[name]
		return ok && (maps.Equal(t.Configs, configs) || len(t.Configs) == 0 && len(configs) == 0)
	})
}

// AllocateProducerIDs reserves n producer ids, unique across the cluster.
func (b *Broker) AllocateProducerIDs(n int64) (int64, error) {
	if b.clu == nil {
		return b.meta.AllocateProducerIDs(n)
	}
	var resp controller.AllocProducerIDsResponse
	if err := b.clusterCall(controller.OpAllocProducerIDs, controller.AllocProducerIDsRequest{Count: n}, &resp); err != nil {
		return 0, err
	}
	return resp.First, nil
}

// ElectLeaders runs preferred (or unclean) elections through the
// controller; the result is a Kafka error code per partition. A cluster
// only (the caller answers for a single broker).
func (b *Broker) ElectLeaders(which map[string][]int32, unclean bool) (map[string]map[int32]int16, error) {
	if b.clu == nil {
		return nil, errors.New("broker: leader elections need a cluster (process.roles and controller.quorum.voters)")
	}
	var resp controller.ElectLeadersResponse
	if err := b.clusterCall(controller.OpElectLeaders, controller.ElectLeadersRequest{Partitions: which, Unclean: unclean}, &resp); err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// Reassign sets a partition's target replicas (nil cancels).
func (b *Broker) Reassign(topic string, part int32, replicas []int32) error {
	if b.clu == nil {
		return errors.New("broker: reassignment needs a cluster (process.roles and controller.quorum.voters)")
	}
	return b.clusterCall(controller.OpReassign, controller.ReassignRequest{Topic: topic, Partition: part, Replicas: replicas}, nil)
}

// Replication counters, for /metrics.
var leaderChanges, isrExpands, isrShrinks counter

type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// ClusterCounters returns how many times this broker took leadership of a
// partition and how many ISR expansions and shrinks it had committed.
func ClusterCounters() (leaderships, expands, shrinks int64) {
	return leaderChanges.n.Load(), isrExpands.n.Load(), isrShrinks.n.Load()
}

// offsetsRF is __consumer_offsets' replication factor: 1 on a single
// broker, offsets.topic.replication.factor in a cluster.
func (b *Broker) offsetsRF() int16 {
	if b.clu == nil {
		return 1
	}
	return b.cfg.OffsetsTopicReplicationFactor
}

// CreatePartitionsAssigned grows a topic with the given replicas for each
// new partition (CreatePartitions' manual assignment; cluster only).
func (b *Broker) CreatePartitionsAssigned(name string, count int32, validateOnly bool, assignments [][]int32) error {
	if b.clu == nil {
		return b.CreatePartitions(name, count, validateOnly)
	}
	return b.clusterCreatePartitions(name, count, validateOnly, assignments)
}

// ApplySecurity commits ACL, SCRAM and quota records: to the snapshot file
// on a single broker, through the controller quorum in a cluster (then it
// waits until this broker's metadata has them, so the admin request's
// answer is true of this broker at once).
func (b *Broker) ApplySecurity(recs ...metadata.Record) error {
	if b.clu == nil {
		_, err := b.meta.Apply(recs...)
		return err
	}
	var resp controller.SecurityResponse
	if err := b.clusterCall(controller.OpSecurity, controller.SecurityRequest{Records: recs}, &resp); err != nil {
		return err
	}
	if !b.waitApplied(resp.Index, 10*time.Second) {
		return fmt.Errorf("the change is committed but this broker has not applied it yet (index %d)", resp.Index)
	}
	return nil
}

// MetadataState returns the current metadata (the snapshot file's on a
// single broker, the applied quorum state in a cluster).
func (b *Broker) MetadataState() *metadata.State {
	if b.clu == nil {
		return b.meta.State()
	}
	return b.ClusterState()
}

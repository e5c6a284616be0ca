package controller

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/samsa-io/samsa/internal/config"
)

// MetadataDirName is the directory of the Raft log and snapshots inside the
// data directory (Kafka's name for the metadata log partition).
const MetadataDirName = "__cluster_metadata-0"

// Raft timing. hashicorp/raft's defaults (1 s heartbeat and election
// timeouts) suit a WAN; on the LAN a cluster runs on, half a second still
// tolerates GC pauses and scheduling hiccups, and halves the time without
// an active controller after one dies.
const (
	raftHeartbeatTimeout = 500 * time.Millisecond
	raftElectionTimeout  = 500 * time.Millisecond
	raftLeaderLease      = 250 * time.Millisecond
	raftDialTimeout      = 2 * time.Second
)

// NodeConfig configures this node's member of the metadata quorum.
type NodeConfig struct {
	ID      int32
	DataDir string
	// Voters is controller.quorum.voters as this node reaches them: the
	// only addresses it ever dials for a voter (the addresses that
	// hashicorp/raft replicates in its configuration are ignored).
	Voters []config.Voter
	// Listener receives Raft traffic (the controller listener's mux, or
	// for a broker-only node its Kafka listener's).
	Listener net.Listener
	// NonVoterAddr returns the Raft address of a non-voting member (a
	// broker-only node), from its registration.
	NonVoterAddr func(id int32) string
	Logger       *slog.Logger
	// Dial connects to another node's Raft side (nil: plaintext); it
	// secures the link as the controller listener requires (peer.Login).
	Dial DialFunc
}

// DialFunc dials a controller listener and sends the protocol byte.
type DialFunc func(addr string, prefix byte, timeout time.Duration) (net.Conn, error)

// Node is this process's member of the Raft metadata quorum: a voter on
// controller nodes, a non-voter that only follows the log on broker-only
// nodes.
type Node struct {
	ID    int32
	Raft  *raft.Raft
	FSM   *FSM
	voter bool
	cfg   NodeConfig

	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// StartNode opens (or creates) the Raft log under DataDir and joins the
// quorum. Voters bootstrap the static configuration on first start, all
// with the same voter set, so the quorum forms as soon as a majority is up
// with no separate format step.
func StartNode(cfg NodeConfig) (*Node, error) {
	dir := filepath.Join(cfg.DataDir, MetadataDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata log directory: %w", err)
	}
	voter := false
	for _, v := range cfg.Voters {
		if v.ID == cfg.ID {
			voter = true
		}
	}
	n := &Node{ID: cfg.ID, FSM: newFSM(), voter: voter, cfg: cfg}
	// raft-boltdb commits (and fsyncs) every StoreLogs call: an entry this
	// node acknowledged to the leader is on its disk.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("metadata log %s: %w", dir, err)
	}
	n.store = store
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: &slogWriter{lg: cfg.Logger}})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("metadata snapshots %s: %w", dir, err)
	}
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: n,
		Stream:                &streamLayer{ln: cfg.Listener, dial: cfg.Dial},
		// One pooled connection per peer: a link that was cut leaves its
		// pooled connections dead, and raft spends a backoff period (up
		// to 10 s) on each before it dials again.
		MaxPool: 1,
		// No pipelining: raft's pipelined replication sends nothing when
		// there is no new entry, so a follower would learn that the last
		// entry is committed only with the next one (a broker's metadata
		// stuck one change behind, e.g. a peer still fenced). The plain
		// path sends the commit index every CommitTimeout.
		MaxRPCsInFlight: 1,
		Timeout:         5 * time.Second,
		Logger:          hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.ID)
	rc.HeartbeatTimeout = raftHeartbeatTimeout
	rc.ElectionTimeout = raftElectionTimeout
	rc.LeaderLeaseTimeout = raftLeaderLease
	rc.CommitTimeout = 10 * time.Millisecond
	rc.SnapshotThreshold = 4096
	rc.SnapshotInterval = 30 * time.Second
	rc.Logger = hlog
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("metadata log: %w", err)
	}
	if !has && voter {
		var c raft.Configuration
		for _, v := range cfg.Voters {
			c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr)})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.transport, c); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("metadata log: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.FSM, store, store, snaps, n.transport)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("metadata quorum: %w", err)
	}
	n.Raft = r
	return n, nil
}

// ServerAddr implements raft.ServerAddressProvider: voters at this node's
// own controller.quorum.voters addresses, non-voters at their registered
// address.
func (n *Node) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	i, err := strconv.Atoi(string(id))
	if err != nil {
		return "", fmt.Errorf("controller: bad server id %q", id)
	}
	for _, v := range n.cfg.Voters {
		if v.ID == int32(i) {
			return raft.ServerAddress(v.Addr), nil
		}
	}
	if n.cfg.NonVoterAddr != nil {
		if a := n.cfg.NonVoterAddr(int32(i)); a != "" {
			return raft.ServerAddress(a), nil
		}
	}
	return "", fmt.Errorf("controller: no address for node %s", id)
}

// IsLeader reports whether this node is the active controller.
func (n *Node) IsLeader() bool { return n.Raft.State() == raft.Leader }

// LeaderID returns the active controller's node id, or -1 when unknown.
func (n *Node) LeaderID() int32 {
	_, id := n.Raft.LeaderWithID()
	if id == "" {
		return -1
	}
	i, err := strconv.Atoi(string(id))
	if err != nil {
		return -1
	}
	return int32(i)
}

// Shutdown stops Raft and closes the log.
func (n *Node) Shutdown() error {
	err := n.Raft.Shutdown().Error()
	n.transport.Close()
	n.closeStores()
	return err
}

func (n *Node) closeStores() {
	if n.store != nil {
		n.store.Close()
	}
}

// streamLayer is raft's transport over the mux: dials send RaftPrefix.
type streamLayer struct {
	ln   net.Listener
	dial DialFunc // nil: dialWithPrefix
}

func (s *streamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }
func (s *streamLayer) Close() error              { return s.ln.Close() }
func (s *streamLayer) Addr() net.Addr            { return s.ln.Addr() }
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > raftDialTimeout {
		timeout = raftDialTimeout
	}
	if s.dial != nil {
		return s.dial(string(addr), RaftPrefix, timeout)
	}
	return dialWithPrefix(string(addr), RaftPrefix, timeout)
}

// slogWriter turns hashicorp/raft's log lines (warnings and errors only)
// into slog records. While a voter is down raft logs every failed
// heartbeat (four a second): a line whose text, without its timestamp,
// repeats within repeatWindow is counted, not logged.
type slogWriter struct {
	lg   *slog.Logger
	mu   sync.Mutex
	seen map[string]time.Time // guarded by mu
}

const repeatWindow = 30 * time.Second

func (w *slogWriter) Write(p []byte) (int, error) {
	if w.lg == nil {
		return len(p), nil
	}
	line := string(bytes.TrimSpace(p))
	// hclog lines start with an RFC 3339 timestamp; the rest is the key.
	key := line
	if i := strings.IndexByte(line, ' '); i > 0 {
		key = line[i+1:]
	}
	if j := strings.Index(key, "backoff time="); j > 0 {
		key = key[:j]
	}
	now := time.Now()
	w.mu.Lock()
	if w.seen == nil {
		w.seen = map[string]time.Time{}
	}
	last, ok := w.seen[key]
	if !ok || now.Sub(last) > repeatWindow {
		w.seen[key] = now
		if len(w.seen) > 1000 {
			w.seen = map[string]time.Time{key: now}
		}
	} else {
		ok = true
		line = ""
	}
	w.mu.Unlock()
	if line != "" {
		w.lg.Warn("metadata quorum: " + strings.TrimSpace(key))
	}
	return len(p), nil
}

// QuorumInfo is the metadata quorum as this node sees it (DescribeQuorum,
// the console, `samsa cluster`).
type QuorumInfo struct {
	LeaderID    int32
	Term        int64
	CommitIndex int64
	LastIndex   int64
	Voters      []int32
	NonVoters   []int32
	State       string // "Leader", "Follower", "Candidate"
}

// Info returns the quorum as this node sees it.
func (n *Node) Info() QuorumInfo {
	st := n.Raft.Stats()
	qi := QuorumInfo{LeaderID: n.LeaderID(), State: n.Raft.State().String()}
	qi.Term, _ = strconv.ParseInt(st["term"], 10, 64)
	qi.CommitIndex, _ = strconv.ParseInt(st["commit_index"], 10, 64)
	qi.LastIndex, _ = strconv.ParseInt(st["last_log_index"], 10, 64)
	if f := n.Raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			id, err := strconv.Atoi(string(s.ID))
			if err != nil {
				continue
			}
			if s.Suffrage == raft.Voter {
				qi.Voters = append(qi.Voters, int32(id))
			} else {
				qi.NonVoters = append(qi.NonVoters, int32(id))
			}
		}
	}
	return qi
}

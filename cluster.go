package samsa

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/api"
	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/metadata"
)

// clusterParts are the pieces of a cluster node that a single broker lacks.
type clusterParts struct {
	ctlLn net.Listener           // the controller listener, nil on a broker-only node
	mux   *controller.Mux        // on the controller listener (or the Kafka one, broker-only)
	node  *controller.Node       // this node's Raft member
	ctl   *controller.Controller // nil on a broker-only node
	cl    *controller.Client
}

func (c *clusterParts) close() {
	if c.cl != nil {
		c.cl.Close()
	}
	if c.ctl != nil {
		c.ctl.Close()
	}
	if c.node != nil {
		if c.node.IsLeader() {
			// Hand the quorum over now rather than after an election
			// timeout: the cluster keeps its controller.
			_ = c.node.Raft.LeadershipTransfer().Error()
		}
		_ = c.node.Shutdown()
	}
	if c.mux != nil {
		c.mux.Close()
	}
}

// startClusterNode starts a node of a cluster (controller.quorum.voters
// set): its Raft member, its controller role if process.roles has it, and
// its broker if process.roles has that.
func startClusterNode(ctx context.Context, bc config.Broker, lg *slog.Logger) (*Broker, error) {
	voters, err := bc.Voters()
	if err != nil {
		return nil, err
	}
	isBroker, isController := bc.HasRole("broker"), bc.HasRole("controller")
	sec, err := newSecurity(bc, lg)
	if err != nil {
		return nil, err
	}
	cp := &clusterParts{}
	ok := false
	defer func() {
		if !ok {
			cp.close()
		}
	}()
	var lc net.ListenConfig
	var kafkaLn net.Listener
	if isBroker {
		kafkaLn, err = lc.Listen(ctx, "tcp", bc.Listener)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", bc.Listener, err)
		}
	}
	advertise := api.AdvertisedFrom(bc.AdvertisedListener, addrOf(kafkaLn))
	ctlLogin, err := sec.controllerLogin()
	if err != nil {
		if kafkaLn != nil {
			kafkaLn.Close()
		}
		return nil, err
	}
	var nodeRef atomic.Pointer[controller.Node]
	link, err := sec.linkServer(func() *metadata.State {
		if n := nodeRef.Load(); n != nil {
			return n.FSM.State()
		}
		return &metadata.State{}
	})
	if err != nil {
		if kafkaLn != nil {
			kafkaLn.Close()
		}
		return nil, err
	}
	if !isController && (ctlLogin.TLS != nil || ctlLogin.Mechanism != "") {
		kafkaLn.Close()
		return nil, fmt.Errorf("controller listener %s is secured, but a broker-only node follows the metadata log over its own Kafka listener, which cannot carry a secured link yet: run this node in combined mode (process.roles=broker,controller) or keep the controller listener PLAINTEXT", bc.ControllerListenerName)
	}
	var raftLn net.Listener
	raftAddr := ""
	if isController {
		cp.ctlLn, err = lc.Listen(ctx, "tcp", bc.ControllerListener)
		if err != nil {
			if kafkaLn != nil {
				kafkaLn.Close()
			}
			return nil, fmt.Errorf("listen for the controller quorum on %s (controller.listener.names): %w", bc.ControllerListener, err)
		}
		if link != nil {
			cp.mux = controller.NewSecureMux(cp.ctlLn, false, func(c net.Conn) (net.Conn, error) {
				sc, _, err := link.Accept(c, 10*time.Second)
				return sc, err
			}, func(remote string, err error) {
				lg.Warn("refused a connection to the controller listener", "client", remote, "listener", bc.ControllerListenerName, "reason", err)
			})
		} else {
			cp.mux = controller.NewMux(cp.ctlLn, false)
		}
		raftLn = cp.mux.Raft()
	} else {
		// A broker-only node follows the metadata log as a non-voter;
		// the leader reaches it on its Kafka listener (mux.go).
		cp.mux = controller.NewMux(kafkaLn, true)
		raftLn = cp.mux.Raft()
		h, p := advertise()
		raftAddr = net.JoinHostPort(h, strconv.Itoa(int(p)))
	}
	var node *controller.Node
	node, err = controller.StartNode(controller.NodeConfig{
		ID: bc.NodeID, DataDir: bc.DataDir, Voters: voters, Listener: raftLn, Logger: lg, Dial: ctlLogin.DialLink,
		NonVoterAddr: func(id int32) string {
			if node == nil {
				return ""
			}
			if r, ok := node.FSM.State().Brokers[id]; ok {
				return r.RaftAddr
			}
			return ""
		},
	})
	if err != nil {
		if kafkaLn != nil && isController {
			kafkaLn.Close()
		}
		return nil, err
	}
	cp.node = node
	nodeRef.Store(node)
	if isController {
		cp.ctl = controller.NewController(node, bc, cp.mux.RPC(), lg.With("component", "controller"))
	}
	cp.cl = controller.NewClient(voters, cp.ctl, ctlLogin.DialLink)
	b := &Broker{cfg: bc, lg: lg, clu: cp, sec: sec}
	if !isBroker {
		b.ln = cp.ctlLn
		// A controller-only node still reloads its controller listener's
		// certificates.
		sctx, stop := context.WithCancel(context.Background())
		b.stopSec = stop
		sec.start(sctx)
		ok = true
		return b, nil
	}
	host, port := advertise()
	lnForKafka := kafkaLn
	if !isController {
		lnForKafka = muxListener{cp.mux}
	}
	if b.extra, err = listenOthers(ctx, bc); err != nil {
		if isController {
			kafkaLn.Close()
		}
		return nil, err
	}
	others := map[string]string{}
	for name, adv := range b.listenerAdvertisers() {
		h, p := adv()
		others[name] = net.JoinHostPort(h, strconv.Itoa(int(p)))
	}
	ibLogin, err := sec.interBrokerLogin()
	if err != nil {
		if isController {
			kafkaLn.Close()
		}
		for _, o := range b.extra {
			o.ln.Close()
		}
		return nil, err
	}
	sec.peerOpts = ibLogin.KgoOpts()
	br, err := broker.OpenCluster(ctx, bc, lg, broker.ClusterDeps{Metadata: node.FSM, Controller: cp.cl,
		Host: host, Port: port, Listeners: others, Voter: isController, RaftAddr: raftAddr, Quorum: node.Info,
		DialPeer: ibLogin.DialKafka})
	if err != nil {
		if isController {
			kafkaLn.Close()
		}
		for _, o := range b.extra {
			o.ln.Close()
		}
		return nil, err
	}
	b.broker, b.ln = br, kafkaLn
	if err := b.serve(ctx, br, lnForKafka, advertise); err != nil {
		br.Close()
		if isController {
			kafkaLn.Close()
		}
		for _, o := range b.extra {
			o.ln.Close()
		}
		return nil, err
	}
	ok = true
	return b, nil
}

// muxListener is the Kafka side of a broker-only node's mux.
type muxListener struct{ m *controller.Mux }

func (l muxListener) Accept() (net.Conn, error) { return l.m.Other().Accept() }
func (l muxListener) Close() error              { return l.m.Close() }
func (l muxListener) Addr() net.Addr            { return l.m.Other().Addr() }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// ControllerAddr returns the controller listener's address ("" when this
// node is no controller).
func (b *Broker) ControllerAddr() string {
	if b.clu == nil || b.clu.ctlLn == nil {
		return ""
	}
	return b.clu.ctlLn.Addr().String()
}

package controller

import (
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
)

// startSingle starts a one-voter quorum with its controller, and a client.
func startSingle(t *testing.T) (*Node, *Controller, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux(ln, false)
	t.Cleanup(func() { mux.Close() })
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	voters := []config.Voter{{ID: 1, Addr: ln.Addr().String()}}
	node, err := StartNode(NodeConfig{ID: 1, DataDir: t.TempDir(), Voters: voters, Listener: mux.Raft(), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown() })
	cfg := config.Default()
	cfg.NodeID = 1
	ctl := NewController(node, cfg, mux.RPC(), lg)
	t.Cleanup(ctl.Close)
	return node, ctl, NewClient(voters, nil, nil) // a remote client: over the network
}

func TestRegisterOverTheNetwork(t *testing.T) {
	_, _, cl := startSingle(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp RegisterResponse
	if err := cl.Call(ctx, OpRegister, RegisterRequest{ID: 1, Host: "h", Port: 1}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Epoch <= 0 || resp.ClusterID == "" {
		t.Fatalf("register answered %+v", resp)
	}
	var hb HeartbeatResponse
	if err := cl.Call(ctx, OpHeartbeat, HeartbeatRequest{ID: 1, Epoch: resp.Epoch, CaughtUp: true}, &hb); err != nil {
		t.Fatal(err)
	}
	if hb.Fenced || hb.MetadataIndex == 0 {
		t.Fatalf("heartbeat answered %+v", hb)
	}
}

// TestCallToADeadControllerFails: a controller that stops answering (its
// connection closes under the call) is an error, never an empty success
// (a heartbeat "answered" that way would grant a lease).
func TestCallToADeadControllerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			_, _ = c.Read(buf) // take the call, then hang up
			c.Close()
		}
	}()
	cl := NewClient([]config.Voter{{ID: 1, Addr: ln.Addr().String()}}, nil, nil)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var hb HeartbeatResponse
	if err := cl.Call(ctx, OpHeartbeat, HeartbeatRequest{ID: 1, Epoch: 1}, &hb); err == nil {
		t.Fatalf("a call whose connection closed unanswered succeeded: %+v", hb)
	}
}

// TestPlacementAndAlterPartition registers three brokers on two racks,
// creates a topic, and checks the active controller's decisions: replicas
// spread over racks, leaders spread over brokers, AlterPartition fenced by
// leader and partition epoch, and fencing moving leadership to the ISR.
func TestPlacementAndAlterPartition(t *testing.T) {
	node, ctl, cl := startSingle(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	racks := map[int32]string{1: "a", 2: "a", 3: "b"}
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		var r RegisterResponse
		if err := cl.Call(ctx, OpRegister, RegisterRequest{ID: id, Host: "h", Port: 9000 + id, Rack: racks[id]}, &r); err != nil {
			t.Fatal(err)
		}
		epochs[id] = r.Epoch
		var hb HeartbeatResponse
		if err := cl.Call(ctx, OpHeartbeat, HeartbeatRequest{ID: id, Epoch: r.Epoch, CaughtUp: true}, &hb); err != nil || hb.Fenced {
			t.Fatalf("heartbeat %d: %v %+v", id, err, hb)
		}
	}
	if err := cl.Call(ctx, OpCreateTopic, CreateTopicRequest{Name: "t", Partitions: 6, ReplicationFactor: 2}, nil); err != nil {
		t.Fatal(err)
	}
	st := node.FSM.State()
	leaders := map[int32]int{}
	for i, a := range st.Topics["t"].Assignments {
		if len(a.Replicas) != 2 || racks[a.Replicas[0]] == racks[a.Replicas[1]] {
			t.Errorf("partition %d replicas %v: want two racks", i, a.Replicas)
		}
		if a.Leader != a.Replicas[0] || len(a.ISR) != 2 {
			t.Errorf("partition %d: leader %d ISR %v", i, a.Leader, a.ISR)
		}
		leaders[a.Leader]++
	}
	if len(leaders) < 3 {
		t.Errorf("leaders %v: want every broker to lead some partition", leaders)
	}
	if err := cl.Call(ctx, OpCreateTopic, CreateTopicRequest{Name: "big", Partitions: 1, ReplicationFactor: 4}, nil); err == nil {
		t.Error("replication factor 4 on 3 brokers was accepted")
	}

	a := st.Topics["t"].Assignments[0]
	shrink := func(broker int32, le, pe int32) error {
		return cl.Call(ctx, OpAlterPartition, AlterPartitionRequest{Broker: broker, BrokerEpoch: epochs[broker], Topic: "t",
			LeaderEpoch: le, PartitionEpoch: pe, ISR: []int32{a.Leader}}, nil)
	}
	follower := a.Replicas[1]
	for _, tc := range []struct {
		name   string
		broker int32
		le, pe int32
	}{
		{"from a follower", follower, a.LeaderEpoch, a.PartitionEpoch},
		{"stale partition epoch", a.Leader, a.LeaderEpoch, a.PartitionEpoch - 1},
		{"stale leader epoch", a.Leader, a.LeaderEpoch - 1, a.PartitionEpoch},
	} {
		if err := shrink(tc.broker, tc.le, tc.pe); err == nil {
			t.Errorf("AlterPartition %s was accepted", tc.name)
		}
	}
	if err := shrink(a.Leader, a.LeaderEpoch, a.PartitionEpoch); err != nil {
		t.Fatalf("AlterPartition from the leader: %v", err)
	}
	n := node.FSM.State().Topics["t"].Assignments[0]
	if len(n.ISR) != 1 || n.PartitionEpoch != a.PartitionEpoch+1 || n.LeaderEpoch != a.LeaderEpoch {
		t.Fatalf("after the shrink: %+v", n)
	}
	// The leader, alone in the ISR, is fenced: the partition goes offline
	// and keeps it in the ISR (no unclean election).
	ctl.mu.Lock()
	err := ctl.fenceLocked(a.Leader, "test")
	ctl.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	n = node.FSM.State().Topics["t"].Assignments[0]
	if n.Leader != -1 || len(n.ISR) != 1 || n.ISR[0] != a.Leader || n.LeaderEpoch != a.LeaderEpoch+1 {
		t.Fatalf("after fencing the only in-sync replica: %+v", n)
	}
	// Partition 1 led by someone else with a full ISR: fencing its leader
	// elects the other in-sync replica.
	for i, p := range node.FSM.State().Topics["t"].Assignments {
		if p.Leader >= 0 && p.Leader != a.Leader && len(p.ISR) == 2 {
			ctl.mu.Lock()
			err := ctl.fenceLocked(p.Leader, "test")
			ctl.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			q := node.FSM.State().Topics["t"].Assignments[i]
			if q.Leader == p.Leader || q.Leader < 0 || !p.InISR(q.Leader) || q.LeaderEpoch != p.LeaderEpoch+1 {
				t.Fatalf("partition %d after fencing its leader %d: %+v", i, p.Leader, q)
			}
			break
		}
	}
}

func TestRackAlternatingPlacementTerminates(t *testing.T) {
	st := &metadata.State{Brokers: map[int32]*metadata.BrokerRegistration{}}
	for id, rack := range map[int32]string{1: "a", 2: "a", 3: "b", 4: "a"} {
		st.Brokers[id] = &metadata.BrokerRegistration{ID: id, Rack: rack}
	}
	c := &Controller{}
	for rf := int16(1); rf <= 4; rf++ {
		as, err := c.placeLocked(st, 8, rf, nil, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range as {
			seen := map[int32]bool{}
			for _, r := range a.Replicas {
				if seen[r] {
					t.Fatalf("rf %d partition %d: replica %d twice in %v", rf, i, r, a.Replicas)
				}
				seen[r] = true
			}
			if len(a.Replicas) != int(rf) {
				t.Fatalf("rf %d partition %d: %v", rf, i, a.Replicas)
			}
			if rf >= 2 && !slices.Contains(a.Replicas, 3) {
				t.Errorf("rf %d partition %d: %v has no replica on rack b", rf, i, a.Replicas)
			}
		}
	}
}

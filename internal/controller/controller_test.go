package controller

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/config"
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
	return node, ctl, NewClient(voters, nil) // a remote client: over the network
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
	cl := NewClient([]config.Voter{{ID: 1, Addr: ln.Addr().String()}}, nil)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var hb HeartbeatResponse
	if err := cl.Call(ctx, OpHeartbeat, HeartbeatRequest{ID: 1, Epoch: 1}, &hb); err == nil {
		t.Fatalf("a call whose connection closed unanswered succeeded: %+v", hb)
	}
}

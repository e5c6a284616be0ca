package controller

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/config"
)

// The broker-to-controller calls (registration, heartbeats, AlterPartition,
// and the admin operations every broker forwards) travel over the
// controller listener after RPCPrefix, as frames of a 4-byte big-endian
// length and a JSON body. They are samsa's own and internal to a cluster:
// clients never see them (Kafka uses its own inter-node APIs here, which
// samsa's brokers would gain nothing from speaking).

// attemptTimeout bounds one call to one controller.
const attemptTimeout = time.Second

// maxRPCFrame bounds a call or reply; a larger length prefix closes the
// connection before anything is allocated.
const maxRPCFrame = 16 << 20

type rpcRequest struct {
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
}

type rpcResponse struct {
	Code    int16           `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Leader  int32           `json:"leader"`
	Body    json.RawMessage `json:"body,omitempty"`
}

// Error is a controller refusal with the Kafka error code the broker passes
// on to its client.
type Error struct {
	Code    int16
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return kerr.ErrorForCode(e.Code).Error()
	}
	return e.Message
}

// Is matches the kerr error of the same code, so callers can test
// errors.Is(err, kerr.NotController).
func (e *Error) Is(target error) bool {
	var ke *kerr.Error
	return errors.As(target, &ke) && ke.Code == e.Code
}

// IsStaleBrokerEpoch reports whether err is the controller refusing a
// broker epoch it no longer knows (the broker must register again).
func IsStaleBrokerEpoch(err error) bool { return errors.Is(err, kerr.StaleBrokerEpoch) }

// IsTopicExists reports whether err is the controller refusing to create
// a topic that exists.
func IsTopicExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }

// IsInconsistentCluster reports whether err is the controller refusing a
// broker of another cluster.
func IsInconsistentCluster(err error) bool { return errors.Is(err, kerr.InconsistentClusterID) }

func errorf(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: code.Code, Message: fmt.Sprintf(format, args...)}
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxRPCFrame {
		return fmt.Errorf("controller rpc: frame of %d bytes is over the %d limit", n, maxRPCFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// serveRPC answers calls on ln until it closes.
func (c *Controller) serveRPC(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer conn.Close()
			done := make(chan struct{})
			defer close(done)
			go func() {
				select {
				case <-c.stop:
					conn.Close()
				case <-done:
				}
			}()
			for {
				var req rpcRequest
				if err := readFrame(conn, &req); err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
						c.lg.Debug("controller rpc connection closed", "remote", conn.RemoteAddr(), "err", err)
					}
					return
				}
				resp := c.dispatch(req)
				_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := writeFrame(conn, resp); err != nil {
					return
				}
			}
		}()
	}
}

func (c *Controller) dispatch(req rpcRequest) rpcResponse {
	out, err := c.Call(req.Op, req.Body)
	resp := rpcResponse{Leader: c.node.LeaderID()}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = &Error{Code: kerr.UnknownServerError.Code, Message: err.Error()}
		}
		resp.Code, resp.Message = ce.Code, ce.Message
		return resp
	}
	resp.Body = out
	return resp
}

// Client calls the active controller from a broker: in process when this
// node is it, else over the network to the voter this node believes leads,
// following NOT_CONTROLLER hints.
type Client struct {
	voters []config.Voter
	local  *Controller // this node's controller, or nil on a broker-only node
	dial   DialFunc    // nil: plaintext

	mu     sync.Mutex
	leader int32                 // last known active controller, -1 unknown; guarded by mu
	idle   map[string][]net.Conn // pooled connections per address; guarded by mu
	next   int                   // round robin over voters when the leader is unknown; guarded by mu
}

// NewClient returns a client of the quorum in voters. local may be nil.
func NewClient(voters []config.Voter, local *Controller, dial DialFunc) *Client {
	return &Client{voters: voters, local: local, dial: dial, leader: -1, idle: map[string][]net.Conn{}}
}

// Call sends op with req to the active controller and decodes its answer
// into resp (may be nil), retrying while the quorum has no leader or the
// target was not it, until ctx ends.
func (cl *Client) Call(ctx context.Context, op string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				if last == nil {
					last = ctx.Err()
				}
				return last
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 200*time.Millisecond)):
			}
		}
		out, err := cl.callOnce(ctx, op, body)
		if err == nil && resp != nil && len(out) == 0 {
			// Every call answers a JSON body; an empty one is not an
			// answer (never trust a zero value as one).
			err = errorf(kerr.NotController, "empty answer to %s", op)
		}
		if err == nil {
			if resp != nil {
				return json.Unmarshal(out, resp)
			}
			return nil
		}
		last = err
		var ce *Error
		if errors.As(err, &ce) && ce.Code != kerr.NotController.Code {
			return err // the controller's answer
		}
	}
}

func (cl *Client) callOnce(ctx context.Context, op string, body []byte) (json.RawMessage, error) {
	if cl.local != nil && cl.local.node.IsLeader() {
		return cl.local.Call(op, body)
	}
	target := cl.target()
	if target < 0 {
		return nil, errorf(kerr.NotController, "no active controller known")
	}
	addr := ""
	for _, v := range cl.voters {
		if v.ID == target {
			addr = v.Addr
		}
	}
	conn, err := cl.conn(addr)
	if err != nil {
		cl.setLeader(-1)
		return nil, errorf(kerr.NotController, "controller %d at %s: %v", target, addr, err)
	}
	// One attempt gets at most attemptTimeout: a controller that stopped
	// (SIGSTOP, a cut link) must not hold a heartbeat past the session
	// while the quorum already has another leader to ask.
	deadline := time.Now().Add(attemptTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	var resp rpcResponse
	err = writeFrame(conn, rpcRequest{Op: op, Body: body})
	if err == nil {
		err = readFrame(conn, &resp)
	}
	if err != nil {
		conn.Close()
		cl.setLeader(-1)
		return nil, errorf(kerr.NotController, "controller %d at %s: %v", target, addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	cl.release(addr, conn)
	if resp.Code != 0 {
		if resp.Code == kerr.NotController.Code {
			cl.setLeader(resp.Leader)
		}
		return nil, &Error{Code: resp.Code, Message: resp.Message}
	}
	cl.setLeader(target)
	return resp.Body, nil
}

func (cl *Client) target() int32 {
	if cl.local != nil {
		if id := cl.local.node.LeaderID(); id >= 0 {
			return id
		}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.leader >= 0 {
		return cl.leader
	}
	if len(cl.voters) == 0 {
		return -1
	}
	v := cl.voters[cl.next%len(cl.voters)]
	cl.next++
	return v.ID
}

func (cl *Client) setLeader(id int32) {
	cl.mu.Lock()
	cl.leader = id
	cl.mu.Unlock()
}

func (cl *Client) conn(addr string) (net.Conn, error) {
	cl.mu.Lock()
	if cs := cl.idle[addr]; len(cs) > 0 {
		c := cs[len(cs)-1]
		cl.idle[addr] = cs[:len(cs)-1]
		cl.mu.Unlock()
		return c, nil
	}
	cl.mu.Unlock()
	if cl.dial != nil {
		return cl.dial(addr, RPCPrefix, 2*time.Second)
	}
	return dialWithPrefix(addr, RPCPrefix, 2*time.Second)
}

func (cl *Client) release(addr string, c net.Conn) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.idle[addr]) >= 4 {
		c.Close()
		return
	}
	cl.idle[addr] = append(cl.idle[addr], c)
}

// Close closes pooled connections.
func (cl *Client) Close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, cs := range cl.idle {
		for _, c := range cs {
			c.Close()
		}
	}
	cl.idle = map[string][]net.Conn{}
}

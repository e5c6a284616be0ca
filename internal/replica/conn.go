package replica

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// maxResponse bounds a response frame a follower reads from a leader
// (fetch responses are bounded by the request's max bytes, 64 MiB here).
const maxResponse = 128 << 20

// conn is one connection to a leader, one request at a time.
type conn struct {
	nc       net.Conn
	clientID string
	corr     int32
	buf      []byte
	// frame is the last response's buffer, reused for the next one: a
	// follower reads a fetch response of up to megabytes per round, and a
	// fresh zeroed buffer each time was a large share of its cost.
	// Invariant: a response decoded by roundTrip aliases frame, so it must
	// not be used after the next roundTrip.
	frame []byte
}

// maxKeptFrame bounds the buffer a conn keeps between rounds.
const maxKeptFrame = 16 << 20

func dial(d func(addr, clientID string, timeout time.Duration) (net.Conn, error), addr, clientID string) (*conn, error) {
	var nc net.Conn
	var err error
	if d != nil {
		nc, err = d(addr, clientID, 3*time.Second)
	} else {
		nc, err = net.DialTimeout("tcp", addr, 3*time.Second)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{nc: nc, clientID: clientID}, nil
}

// roundTrip sends req and decodes its response, within timeout.
func (c *conn) roundTrip(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c.corr++
	c.buf = wire.AppendRequest(c.buf[:0], c.corr, &c.clientID, req)
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, err
	}
	// The frame grows with the bytes that arrive (wire.ReadFrameInto), so
	// a corrupt size from the leader cannot make us allocate 128 MiB.
	frame, _, err := wire.ReadFrameInto(c.nc, maxResponse, nil, func(int) []byte { return c.frame[:0] })
	if err != nil {
		return nil, err
	}
	if cap(frame) <= maxKeptFrame {
		c.frame = frame
	}
	if len(frame) < 4 {
		return nil, fmt.Errorf("response frame of %d bytes", len(frame))
	}
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != c.corr {
		return nil, fmt.Errorf("response for request %d, expected %d", corr, c.corr)
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		// Response header v1: tagged fields (we send none and expect none).
		if len(body) == 0 || body[0] != 0 {
			return nil, fmt.Errorf("unexpected tagged fields in the response header")
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func (c *conn) close() { c.nc.Close() }

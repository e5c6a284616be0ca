package replica

import (
	"encoding/binary"
	"fmt"
	"io"
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
}

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
	var hdr [8]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxResponse {
		return nil, fmt.Errorf("response frame of %d bytes", size)
	}
	if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != c.corr {
		return nil, fmt.Errorf("response for request %d, expected %d", corr, c.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, err
	}
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

package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu                 sync.Mutex
	opened, closed     int
	done               []string
	inBytes, outBytes  int
	protocolErrorsKeys []int16
}

func (r *recorder) ConnOpened() { r.mu.Lock(); r.opened++; r.mu.Unlock() }
func (r *recorder) ConnClosed() { r.mu.Lock(); r.closed++; r.mu.Unlock() }
func (r *recorder) RequestDone(key, version int16, dur time.Duration, in, out int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, fmt.Sprintf("%s v%d", kmsg.NameForKey(key), version))
	r.inBytes += in
	r.outBytes += out
}
func (r *recorder) ProtocolError(key int16) {
	r.mu.Lock()
	r.protocolErrorsKeys = append(r.protocolErrorsKeys, key)
	r.mu.Unlock()
}

func (r *recorder) check(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn()
}

type apiVersionsOnly struct{}

func (apiVersionsOnly) Handle(_ context.Context, _ *Conn, h wire.RequestHeader, _ []byte) (Pending, error) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = h.APIVersion
	return Ready(resp), nil
}

func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

// TestObserver checks that the Observer hears of connections, answered
// requests with their frame sizes, and connections closed for bad input.
func TestObserver(t *testing.T) {
	rec := &recorder{}
	s := New(Config{Observer: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, apiVersionsOnly{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln)
	defer s.Close()

	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// ApiVersions v0, request header v1: key, version, correlation id,
	// client id (nullable string, -1 = null); the v0 body is empty.
	frame := binary.BigEndian.AppendUint32(nil, 10)
	frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.ApiVersions))
	frame = binary.BigEndian.AppendUint16(frame, 0)
	frame = binary.BigEndian.AppendUint32(frame, 7)
	frame = binary.BigEndian.AppendUint16(frame, 0xffff)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
		t.Fatal(err)
	}
	wantOut := 4 + int(binary.BigEndian.Uint32(size[:]))
	waitFor(t, 5*time.Second, func() error {
		return rec.check(func() error {
			if rec.opened != 1 || len(rec.done) != 1 || rec.done[0] != "ApiVersions v0" || rec.inBytes != len(frame) || rec.outBytes != wantOut {
				return fmt.Errorf("opened %d, done %q, in %d (want %d), out %d (want %d)", rec.opened, rec.done, rec.inBytes, len(frame), rec.outBytes, wantOut)
			}
			return nil
		})
	})

	// A negative frame size closes the connection as a protocol error.
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		return rec.check(func() error {
			if len(rec.protocolErrorsKeys) != 1 || rec.protocolErrorsKeys[0] != -1 || rec.closed != 1 {
				return fmt.Errorf("protocol errors %v, closed %d; want [-1], 1", rec.protocolErrorsKeys, rec.closed)
			}
			return nil
		})
	})
	c.Close()
}

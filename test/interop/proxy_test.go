package interop

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards every connection it accepts to a target. Cut closes
// every live connection and refuses new ones until Heal: a network
// partition of the link the proxy stands for.
type tcpProxy struct {
	addr string // where clients connect; the same across Down and Up

	mu     sync.Mutex
	ln     net.Listener // replaced by Up
	target string
	cut    bool
	down   bool                  // listener closed by Down
	conns  map[net.Conn]struct{} // both ends of every live pair; guarded by mu
	closed bool
	wg     sync.WaitGroup
}

// newProxy starts a proxy to target on a free loopback port, closed at
// cleanup.
func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *tcpProxy) Addr() string { return p.addr }

// SetTarget changes where new connections go.
func (p *tcpProxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// Cut closes every live connection and refuses new ones.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// Heal lets connections through again.
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Down closes every live connection and the listener itself, so that a
// new connection is refused, as at the port of a process that died. A cut
// (or a proxy whose target is dead) accepts a connection and closes it at
// once instead, which a client takes for a broker that is up but hangs up
// on it: kgo does not retry an EOF on a connection's first read (it
// suspects TLS or SASL misconfiguration), and keeps a cached coordinator
// that it would forget after a refused dial.
func (p *tcpProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.closed {
		return
	}
	p.down = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

// Up listens on the same address again after Down.
func (p *tcpProxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down || p.closed {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.ln, p.down = ln, false
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// Close stops the proxy and every connection through it, and waits for
// its goroutines.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.ln.Close()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *tcpProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, target, closed := p.cut, p.target, p.closed
		p.mu.Unlock()
		if cut || closed {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.pipe(c, target)
	}
}

func (p *tcpProxy) pipe(c net.Conn, target string) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-closes do not matter to Kafka or Raft: close both.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func TestProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p := newProxy(t, echo.Addr().String())
	roundTrip := func() error {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping" {
			return errors.New("echo mismatch: " + string(buf))
		}
		return nil
	}
	if err := roundTrip(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	// A live connection dies on Cut.
	live, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	_, _ = live.Write([]byte("x"))
	buf := make([]byte, 1)
	_ = live.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(live, buf); err != nil {
		t.Fatalf("before cut: %v", err)
	}
	p.Cut()
	_ = live.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := live.Read(buf); err == nil {
		t.Fatal("a live connection survived Cut")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a live connection was not closed by Cut (read timed out)")
	}
	if err := roundTrip(); err == nil {
		t.Fatal("a new connection got through a cut proxy")
	}
	p.Heal()
	if err := roundTrip(); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	// Down refuses connections, Up takes them again on the same address.
	p.Down()
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a dial to a proxy that is down succeeded")
	}
	if err := p.Up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	if err := roundTrip(); err != nil {
		t.Fatalf("after up: %v", err)
	}
	p.Close()
	if err := roundTrip(); err == nil {
		t.Fatal("a closed proxy still forwards")
	}
}

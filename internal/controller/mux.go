package controller

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// The controller listener carries two protocols, told apart by the first
// byte a dialer sends: RaftPrefix for hashicorp/raft's transport (votes,
// log replication) and RPCPrefix for the broker-to-controller calls
// (rpc.go). A Kafka request can never start with either: its first byte is
// the top byte of a frame size, and 'R' or 'C' there would claim a frame of
// over a gigabyte, which no listener accepts. So the same mux can also sit
// in front of a broker's Kafka listener (a broker-only node follows the
// metadata log there), handing everything else to the Kafka server.
const (
	RaftPrefix byte = 'R'
	RPCPrefix  byte = 'C'
)

// sniffTimeout bounds how long an accepted connection may stay silent
// before the mux gives up on it (it would otherwise hold a goroutine).
const sniffTimeout = 10 * time.Second

// Mux splits one listener by the first byte of each connection.
type Mux struct {
	// secure, when set, secures every accepted connection (TLS, login)
	// before its protocol byte is read; a refused one is closed and
	// reported to refused.
	secure  func(net.Conn) (net.Conn, error)
	refused func(remote string, err error)

	ln     net.Listener
	raft   *chanListener
	rpc    *chanListener
	other  *chanListener // nil: connections with another first byte are closed
	closed chan struct{}
	once   sync.Once
}

// NewMux starts accepting on ln. withOther makes Other() available for
// connections that start with neither prefix (a Kafka listener); such a
// mux has no RPC side (a broker-only node answers no controller calls),
// and connections that ask for it are closed.
func NewMux(ln net.Listener, withOther bool) *Mux { return NewSecureMux(ln, withOther, nil, nil) }

// NewSecureMux is NewMux with every connection first passed to secure
// (peer.LinkServer.Accept: TLS and login); refused hears of those it
// refuses.
func NewSecureMux(ln net.Listener, withOther bool, secure func(net.Conn) (net.Conn, error), refused func(remote string, err error)) *Mux {
	m := &Mux{ln: ln, closed: make(chan struct{}), secure: secure, refused: refused}
	m.raft = newChanListener(ln.Addr(), m.closed)
	if withOther {
		m.other = newChanListener(ln.Addr(), m.closed)
	} else {
		m.rpc = newChanListener(ln.Addr(), m.closed)
	}
	go m.accept()
	return m
}

// Raft, RPC and Other are the listeners for each protocol. Closing one of
// them closes the whole mux.
func (m *Mux) Raft() net.Listener { return m.raft }
func (m *Mux) RPC() net.Listener {
	if m.rpc == nil {
		return nil
	}
	return m.rpc
}
func (m *Mux) Other() net.Listener { return m.other }

// Close stops accepting; live connections are their owners' to close.
func (m *Mux) Close() error {
	var err error
	m.once.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

func (m *Mux) accept() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.Close()
			return
		}
		go m.route(c)
	}
}

func (m *Mux) route(c net.Conn) {
	if m.secure != nil {
		sc, err := m.secure(c)
		if err != nil {
			if m.refused != nil {
				m.refused(c.RemoteAddr().String(), err)
			}
			c.Close()
			return
		}
		c = sc
	}
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 512)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var to *chanListener
	switch first[0] {
	case RaftPrefix:
		br.Discard(1)
		to = m.raft
	case RPCPrefix:
		br.Discard(1)
		if m.rpc == nil {
			c.Close()
			return
		}
		to = m.rpc
	default:
		to = m.other
	}
	if to == nil {
		c.Close()
		return
	}
	if !to.deliver(&bufferedConn{Conn: c, r: br}) {
		c.Close()
	}
}

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// chanListener is one protocol's side of the mux. Closing it stops its
// Accept (raft's transport closes its listener on shutdown); the socket
// itself is the Mux's.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{} // the mux's
	done   chan struct{} // this listener's
	once   sync.Once
}

func newChanListener(addr net.Addr, closed chan struct{}) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: closed, done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}
func (l *chanListener) Addr() net.Addr { return l.addr }

// dialWithPrefix dials addr and sends the protocol byte.
func dialWithPrefix(addr string, prefix byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{prefix}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// Package server owns the listener and the connections: framing, the
// request header, per-connection ordering and the broker-wide budget of
// in-flight request bytes. It knows nothing of what requests mean; a Handler
// (internal/api) does.
//
// Each connection has two goroutines:
//
//	reader: read frame -> parse header -> Handler.Handle (phase one, in order)
//	        -> queue the pending reply
//	writer: take pending replies in request order -> wait (phase two)
//	        -> encode -> write
//
// Phase one runs in request order on the reader goroutine, so a produce's
// append happens in the order the client pipelined it; phase two (waiting
// for fsync, for a fetch's min_bytes, ...) runs on the writer, so the next
// request's phase one proceeds while an earlier one waits, and several
// in-flight produces share one fsync. Replies are written strictly in
// request order, as Kafka clients require.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/semaphore"

	"github.com/samsa-io/samsa/internal/wire"
)

// Pending yields the response to one request. It is called exactly once, on
// the connection's writer goroutine, in request order. A nil response means
// "send nothing" (Produce with acks=0).
type Pending func() kmsg.Response

// Ready wraps an already-built response as a Pending.
func Ready(resp kmsg.Response) Pending { return func() kmsg.Response { return resp } }

// ErrCloseConnection, returned by a Handler, closes the connection after the
// replies already queued are written. Wrap it with the reason to log.
var ErrCloseConnection = errors.New("server: close connection")

// Handler answers requests. Handle runs phase one on the reader goroutine;
// it must not block for long (no long polls, no fsync waits: return those as
// the Pending).
type Handler interface {
	Handle(ctx context.Context, c *Conn, h wire.RequestHeader, body []byte) (Pending, error)
}

// Config for a Server.
type Config struct {
	// MaxFrameBytes is socket.request.max.bytes: larger frames close the
	// connection before anything is allocated for them.
	MaxFrameBytes int32
	// QueuedMaxBytes bounds the bytes of requests read but not yet answered,
	// across all connections. A connection whose next frame does not fit
	// waits (stops reading its socket) until earlier replies go out.
	QueuedMaxBytes int64
	// MaxInFlight bounds the replies queued per connection.
	MaxInFlight int
	Logger      *slog.Logger
	// Observer receives request and connection events for metrics
	// (internal/web). Nil observes nothing. If it also implements
	// SecurityObserver, it hears of authentications, refused connections
	// and throttling.
	Observer Observer

	// Security (auth.go). PreAuthMaxBytes is sasl.server.max.receive.size:
	// the largest frame a connection may send before it authenticated
	// (default 512 KiB). FailedAuthDelay delays the answer to a failed
	// authentication (connection.failed.authentication.delay.ms).
	// ReauthAfter is connections.max.reauth.ms (0: sessions never expire).
	PreAuthMaxBytes int32
	FailedAuthDelay time.Duration
	ReauthAfter     time.Duration
	// Connection limits (limits.go): max.connections,
	// max.connections.per.ip (+ overrides); 0 means no limit.
	// ConnectionAllowed, when set, is asked for every new connection (the
	// creation-rate quotas, KIP-612): false closes it, wait > 0 delays the
	// next accept on that listener.
	MaxConnections      int
	MaxConnectionsPerIP int
	PerIPOverrides      map[string]int
	ConnectionAllowed   func(ip string) (ok bool, wait time.Duration)
}

// Observer is told about every request and connection. Its methods run on
// the connection goroutines, on the hot path: they must not block and
// should not allocate (internal/web resolves a counter per API key once,
// at startup, instead of looking labels up per request).
type Observer interface {
	// ConnOpened and ConnClosed bracket every accepted connection.
	ConnOpened()
	ConnClosed()
	// RequestDone reports one answered request: dur runs from the end of
	// reading its frame to the end of writing its reply (for acks=0
	// produces, which get no reply, to the end of phase two). inBytes and
	// outBytes are whole frames, size prefix included; outBytes is 0 when
	// nothing was sent.
	RequestDone(key, version int16, dur time.Duration, inBytes, outBytes int)
	// ProtocolError reports a connection closed because of what its
	// client sent: a bad frame size (key -1), an undecodable header (key
	// -1) or a request the handler refused to answer.
	ProtocolError(key int16)
}

type nopObserver struct{}

func (nopObserver) ConnOpened()                                       {}
func (nopObserver) ConnClosed()                                       {}
func (nopObserver) RequestDone(int16, int16, time.Duration, int, int) {}
func (nopObserver) ProtocolError(int16)                               {}

// Server accepts connections and serves them until Close.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	budget  *semaphore.Weighted

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and every connection goroutine

	mu    sync.Mutex
	lns   []net.Listener
	conns map[*Conn]struct{}
	perIP map[string]int // open connections per client IP; guarded by mu

	lastRefusedLog atomic.Int64 // unix nanos of the last refused-connection log line
}

// New returns a server that will dispatch to h.
func New(cfg Config, h Handler) *Server {
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = 100 << 20
	}
	if cfg.QueuedMaxBytes <= 0 {
		cfg.QueuedMaxBytes = 256 << 20
	}
	if int64(cfg.MaxFrameBytes) > cfg.QueuedMaxBytes {
		cfg.QueuedMaxBytes = int64(cfg.MaxFrameBytes)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 128
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.PreAuthMaxBytes <= 0 {
		cfg.PreAuthMaxBytes = 512 << 10
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, handler: h, log: cfg.Logger,
		budget: semaphore.NewWeighted(cfg.QueuedMaxBytes),
		ctx:    ctx, cancel: cancel,
		conns: make(map[*Conn]struct{}),
		perIP: make(map[string]int),
	}
}

// Serve accepts on ln until Close, as a PLAINTEXT listener named
// PLAINTEXT. It returns at once; the accept loop runs in its own goroutine.
func (s *Server) Serve(ln net.Listener) { s.ServeListener(ln, &Listener{Name: "PLAINTEXT"}) }

// ServeListener accepts on ln until Close; l says how its connections are
// secured. It returns at once.
func (s *Server) ServeListener(ln net.Listener, l *Listener) {
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var delay time.Duration
		for {
			nc, err := ln.Accept()
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Temporary (EMFILE...): back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-s.ctx.Done():
					return
				}
			}
			delay = 0
			if wait := s.startConn(nc, l); wait > 0 {
				select {
				case <-time.After(wait):
				case <-s.ctx.Done():
					return
				}
			}
		}
	}()
}

// startConn admits nc (limits.go) and starts its goroutines. It returns
// how long the accept loop should pause (connection creation rate).
func (s *Server) startConn(nc net.Conn, l *Listener) time.Duration {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	ip := hostOf(nc.RemoteAddr())
	admitted, wait := s.admit(ip, l)
	if !admitted {
		nc.Close()
		return wait
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &Conn{
		ctx:      ctx,
		cancel:   cancel,
		srv:      s,
		nc:       nc,
		Remote:   nc.RemoteAddr().String(),
		IP:       ip,
		Listener: l,
		pending:  make(chan queued, s.cfg.MaxInFlight),
		done:     make(chan struct{}),
	}
	c.auth.authenticated = !l.SASL
	if l.TLS != nil {
		c.tls = tls.Server(nc, l.TLS())
		c.nc = c.tls
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.release(ip)
		s.mu.Unlock()
		nc.Close()
		return 0
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.cfg.Observer.ConnOpened()

	s.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return wait
}

// Close stops accepting, closes every connection and waits for all
// connection goroutines to exit. Replies already being waited for are
// abandoned: call it after the layers below have been told to stop.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	var err error
	for _, ln := range s.lns {
		if e := ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Drain stops reading new requests on every connection, lets the replies
// already queued be written (bounded by ctx), then closes. Used for a clean
// SIGTERM shutdown: in-flight requests are answered. It returns ctx's error
// if some connection had not finished by then.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		// Unblock the reader; the writer finishes the queue, then closes.
		_ = c.nc.SetReadDeadline(time.Now())
	}
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("requests still in flight when the shutdown grace period ended: %w", ctx.Err())
		}
	}
	return nil
}

func (s *Server) removeConn(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.release(c.IP)
	s.mu.Unlock()
	s.cfg.Observer.ConnClosed()
}

// Conn is one client connection. Handlers may read its exported fields.
type Conn struct {
	// ctx is cancelled when the connection stops reading (client gone,
	// bad input, shutdown): waits in phase two (fetch long polls) end
	// early, so nobody waits for a client that will never read the answer.
	ctx    context.Context
	cancel context.CancelFunc
	srv    *Server
	nc     net.Conn // the TLS conn on a TLS listener
	tls    *tls.Conn
	Remote string // client address, for logs
	// IP is the client's address without the port (ACL hosts, quotas).
	IP string
	// Listener is the listener the connection came in on.
	Listener *Listener

	auth authState // SASL and principal (auth.go)
	// mutedUntil (unix nanos) pauses reading: a throttled client's next
	// request is not read before it (quotas, KIP-219).
	mutedUntil atomic.Int64

	// gather collects a spliced reply's small parts between sendfiles
	// (splice.go); the writer goroutine's alone.
	gather []byte

	pending chan queued   // reader -> writer, in request order; bounded by MaxInFlight
	done    chan struct{} // closed when the writer has exited

	closeOnce sync.Once
}

type queued struct {
	h     wire.RequestHeader
	reply Pending
	// raw, when set instead of reply, is a SASL token written without a
	// response header (after SaslHandshake v0; auth.go). closeAfter closes
	// the connection once this reply is written (failed authentication).
	raw        func() []byte
	closeAfter bool
	charged    int64     // bytes charged against the server budget, released after the write
	read       time.Time // when the frame had been read, for the Observer
	inBytes    int       // frame size including the size prefix
	// recycle is a Produce request's frame, returned to the frame pool
	// once its reply is written (framepool.go).
	recycle []byte
}

func (c *Conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

func (c *Conn) readLoop() {
	defer c.srv.wg.Done()
	defer close(c.pending) // the writer drains what is queued and exits
	defer c.cancel()
	s := c.srv
	if c.tls != nil && !c.handshake() {
		return
	}
	for {
		if until := c.mutedUntil.Load(); until != 0 {
			if d := time.Until(time.Unix(0, until)); d > 0 {
				select {
				case <-time.After(d):
				case <-c.ctx.Done():
					return
				}
			}
		}
		frame, charged, err := c.readFrame()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), s.ctx.Err() != nil, isTimeout(err):
			case errors.Is(err, wire.ErrFrameTooLarge) && !c.auth.authenticated:
				s.cfg.Observer.ProtocolError(-1)
				s.log.Warn("closing connection: frame too large before authentication (sasl.server.max.receive.size)",
					"client", c.Remote, "listener", c.Listener.Name, "err", err)
			case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrBadFrameSize):
				s.cfg.Observer.ProtocolError(-1)
				s.log.Warn("closing connection: bad frame size (raise socket.request.max.bytes if the client is legitimate)",
					"client", c.Remote, "err", err)
			default:
				s.log.Info("closing connection: read failed", "client", c.Remote, "err", err)
			}
			return
		}
		read := time.Now()
		if c.auth.rawNext {
			// After SaslHandshake v0 the next frame is a bare SASL token.
			q, err := c.rawToken(frame)
			q.charged, q.read, q.inBytes = charged, read, 4+len(frame)
			if err != nil {
				s.budget.Release(charged)
				s.log.Info("closing connection", "client", c.Remote, "listener", c.Listener.Name, "reason", err)
				return
			}
			select {
			case c.pending <- q:
			case <-c.done:
				s.budget.Release(charged)
				return
			}
			if q.closeAfter {
				return
			}
			continue
		}
		h, body, err := wire.ParseRequestHeader(frame)
		if err != nil {
			s.budget.Release(charged)
			s.cfg.Observer.ProtocolError(-1)
			s.log.Warn("closing connection: undecodable request header", "client", c.Remote, "err", err)
			return
		}
		var q queued
		if reason := c.checkAuthState(h.APIKey); reason != "" {
			err = fmt.Errorf("%w: %s", ErrCloseConnection, reason)
		} else if h.APIKey == int16(kmsg.SASLHandshake) || h.APIKey == int16(kmsg.SASLAuthenticate) {
			q, err = c.handleSASL(h, body)
		} else {
			q.reply, err = c.handle(h, body)
		}
		if err != nil {
			s.budget.Release(charged)
			s.cfg.Observer.ProtocolError(h.APIKey)
			s.log.Warn("closing connection", "client", c.Remote, "api_key", h.APIKey,
				"api_version", h.APIVersion, "client_id", h.ClientID, "reason", err)
			return
		}
		q.h, q.charged, q.read, q.inBytes = h, charged, read, 4+len(frame)
		if h.APIKey == int16(kmsg.Produce) {
			q.recycle = frame
		}
		select {
		case c.pending <- q:
		case <-c.done: // writer died (write error); stop reading
			s.budget.Release(charged)
			return
		}
		if q.closeAfter {
			return // the writer answers, then closes
		}
	}
}

// handle runs phase one, converting a handler panic into a closed connection
// rather than a dead broker: a panic here is a bug, but one client's request
// must not take everyone else down.
func (c *Conn) handle(h wire.RequestHeader, body []byte) (p Pending, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("BUG: handler panicked", "client", c.Remote, "api_key", h.APIKey, "api_version", h.APIVersion, "panic", r)
			p, err = nil, fmt.Errorf("%w: internal error", ErrCloseConnection)
		}
	}()
	return c.srv.handler.Handle(c.ctx, c, h, body)
}

// readFrame reads one frame (wire.ReadFrame: memory follows the bytes that
// arrive, each growth charged to the broker-wide budget first) into a fresh
// buffer, not reused: decoded requests alias it until the reply is written.
// On error nothing stays charged.
func (c *Conn) readFrame() ([]byte, int64, error) {
	limit := c.srv.cfg.MaxFrameBytes
	if !c.auth.authenticated {
		// Before authentication only small frames are read (Kafka's
		// sasl.server.max.receive.size; CVE-2022-34917).
		limit = min(limit, c.srv.cfg.PreAuthMaxBytes)
	}
	buf, charged, err := wire.ReadFrameInto(c.nc, limit, func(n int64) error {
		return c.srv.budget.Acquire(c.ctx, n)
	}, frames.get)
	if err != nil {
		c.srv.budget.Release(charged)
		return nil, 0, err
	}
	return buf, charged, nil
}

func (c *Conn) writeLoop() {
	defer c.srv.wg.Done()
	defer c.srv.removeConn(c)
	defer close(c.done)
	defer c.close()
	var buf []byte
	var broken bool
	for q := range c.pending {
		if broken {
			c.srv.budget.Release(q.charged)
			continue
		}
		if q.raw != nil {
			if !c.writeRaw(q) {
				broken = true
				c.close()
			}
			c.srv.budget.Release(q.charged)
			continue
		}
		resp, ok := c.complete(q)
		if !ok {
			broken = true
			c.close()
			c.srv.budget.Release(q.charged)
			continue
		}
		outBytes := 0
		if resp != nil {
			// ApiVersions always answers with a v0 response header, even
			// at a flexible version: the client does not know our versions
			// yet, so it cannot expect tagged fields in the header.
			flexHeader := q.h.Flexible && q.h.APIKey != int16(kmsg.ApiVersions)
			if sr, ok := resp.(*Spliced); ok {
				var err error
				buf, outBytes, err = c.writeSpliced(buf, q.h.CorrelationID, flexHeader, sr)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						c.srv.log.Info("closing connection: write failed", "client", c.Remote, "err", err)
					}
					broken = true
					c.close()
				}
				if cap(buf) > 1<<20 {
					buf = nil
				}
			} else {
				buf, outBytes = c.writeResponse(buf, q, flexHeader, resp, &broken)
			}
		}
		c.srv.cfg.Observer.RequestDone(q.h.APIKey, q.h.APIVersion, time.Since(q.read), q.inBytes, outBytes)
		c.srv.budget.Release(q.charged)
		if q.recycle != nil {
			frames.put(q.recycle)
		}
		if q.closeAfter {
			broken = true
			c.close()
		}
	}
}

// writeResponse encodes resp and writes it; a failed write sets *broken
// and closes the connection. It returns the scratch buffer to keep and the
// bytes written.
func (c *Conn) writeResponse(buf []byte, q queued, flexHeader bool, resp kmsg.Response, broken *bool) ([]byte, int) {
	var big *[]byte
	if hint := wire.SizeHint(resp); hint > cap(buf) {
		big = getBigBuf(hint)
		buf = *big
	}
	buf = wire.AppendResponse(buf[:0], q.h.CorrelationID, flexHeader, resp)
	outBytes := len(buf)
	if _, err := c.nc.Write(buf); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			c.srv.log.Info("closing connection: write failed", "client", c.Remote, "err", err)
		}
		*broken = true
		c.close()
	}
	if big != nil {
		*big = buf[:0]
		putBigBuf(big)
		buf = nil
	} else if cap(buf) > 1<<20 {
		buf = nil // don't pin a large response's buffer to one connection
	}
	return buf, outBytes
}

// complete runs phase two of a request. A panic there is a bug; it closes
// this connection (ok=false) instead of taking the broker down.
func (c *Conn) complete(q queued) (resp kmsg.Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("BUG: request completion panicked", "client", c.Remote, "api_key", q.h.APIKey, "api_version", q.h.APIVersion, "panic", r)
			resp, ok = nil, false
		}
	}()
	return q.reply(), true
}

// bigBufs recycles the buffers of large responses (fetches of megabytes)
// across connections: allocating, zeroing and collecting a fresh one per
// fetch is a measurable share of a consumer's cost. Buffers above 64 MiB
// are not kept, so the pool cannot pin much memory.
var bigBufs sync.Pool

func getBigBuf(n int) *[]byte {
	if p, ok := bigBufs.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return p
		}
		bigBufs.Put(p)
	}
	b := make([]byte, 0, n+n/4)
	return &b
}

func putBigBuf(p *[]byte) {
	if cap(*p) <= 64<<20 {
		bigBufs.Put(p)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

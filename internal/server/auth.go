package server

// Connection security: TLS on TLS listeners, and SASL authentication
// (SaslHandshake + SaslAuthenticate, KIP-43/KIP-152; re-authentication,
// KIP-368) on SASL listeners. The server owns this state because it shapes
// framing: before authentication only three APIs and small frames are read
// (CVE-2022-34917), and after SaslHandshake v0 the next frame is a bare
// SASL token with no request header.
//
// All authState fields are owned by the connection's reader goroutine
// (phase one), except principal, which handlers may read anywhere.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// AnonymousPrincipal is the principal of a connection that has not
// authenticated (PLAINTEXT, or SSL without a client certificate).
const AnonymousPrincipal = "User:ANONYMOUS"

// tlsHandshakeTimeout bounds a TLS handshake: a client that connects and
// sends nothing, or garbage, does not hold a connection for long.
const tlsHandshakeTimeout = 10 * time.Second

// Listener describes how one listener's connections are secured.
type Listener struct {
	Name string // the listener name, for logs and Metadata endpoints
	// TLS returns the server TLS config for a new connection (it may
	// change when certificates are reloaded); nil for a plaintext listener.
	TLS func() *tls.Config
	// PrincipalFromCert maps a verified client certificate to a principal
	// ("User:..."); nil leaves TLS connections ANONYMOUS.
	PrincipalFromCert func(*x509.Certificate) (string, error)
	// SASL listeners require authentication with one of Mechanisms before
	// any other request; NewSession starts one exchange.
	SASL       bool
	Mechanisms []string
	NewSession func(mechanism string) (SASLSession, error)
}

// SASLSession is one server-side SASL exchange (internal/auth/sasl).
type SASLSession interface {
	// Step takes the client's token and returns the reply; done with a
	// nil error means authenticated.
	Step(token []byte) (reply []byte, done bool, err error)
	Username() string
}

// SecurityObserver, implemented by an Observer, hears of authentications,
// connections refused by the limits, and throttled requests.
type SecurityObserver interface {
	Authenticated(listener, mechanism string, ok bool)
	ConnectionRefused(reason string)
	Throttled(key int16)
}

type authState struct {
	authenticated bool
	principal     atomic.Pointer[string]
	mechanism     string      // of the current or last exchange
	session       SASLSession // the exchange in progress, nil when none
	rawNext       bool        // the next frame is a bare token (SaslHandshake v0)
	expires       time.Time   // zero: the session never expires
}

// Principal returns the connection's principal, e.g. "User:alice".
func (c *Conn) Principal() string {
	if p := c.auth.principal.Load(); p != nil {
		return *p
	}
	return AnonymousPrincipal
}

func (c *Conn) setPrincipal(p string) { c.auth.principal.Store(&p) }

// Throttle mutes the connection for d: its next request is read only
// after d (KIP-219: the response carries the throttle time, and the
// broker stops reading the client for that long).
func (c *Conn) Throttle(key int16, d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	if until > c.mutedUntil.Load() {
		c.mutedUntil.Store(until)
	}
	if so, ok := c.srv.cfg.Observer.(SecurityObserver); ok {
		so.Throttled(key)
	}
}

// handshake completes the TLS handshake and takes the principal from the
// client certificate. false closes the connection.
func (c *Conn) handshake() bool {
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := c.tls.HandshakeContext(ctx); err != nil {
		c.srv.log.Info("closing connection: TLS handshake failed", "client", c.Remote, "listener", c.Listener.Name, "err", err)
		c.observeAuth("TLS", false)
		return false
	}
	certs := c.tls.ConnectionState().PeerCertificates
	if len(certs) > 0 && c.Listener.PrincipalFromCert != nil {
		p, err := c.Listener.PrincipalFromCert(certs[0])
		if err != nil {
			c.srv.log.Warn("closing connection: no principal for the client certificate (check ssl.principal.mapping.rules)",
				"client", c.Remote, "listener", c.Listener.Name, "subject", certs[0].Subject.String(), "err", err)
			c.observeAuth("TLS", false)
			return false
		}
		if !c.Listener.SASL {
			c.setPrincipal(p)
		}
	}
	return true
}

func (c *Conn) observeAuth(mechanism string, ok bool) {
	if so, is := c.srv.cfg.Observer.(SecurityObserver); is {
		so.Authenticated(c.Listener.Name, mechanism, ok)
	}
}

// checkAuthState returns why a request with key may not be read now, or "".
func (c *Conn) checkAuthState(key int16) string {
	a := &c.auth
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return ""
	}
	if !a.authenticated {
		return fmt.Sprintf("%s before SASL authentication (only ApiVersions, SaslHandshake and SaslAuthenticate are allowed until the client has authenticated)", kmsg.NameForKey(key))
	}
	if a.session != nil {
		return fmt.Sprintf("%s during SASL re-authentication", kmsg.NameForKey(key))
	}
	if !a.expires.IsZero() && time.Now().After(a.expires) {
		return "SASL session expired (connections.max.reauth.ms) and the client did not re-authenticate"
	}
	return ""
}

// handleSASL answers SaslHandshake and SaslAuthenticate.
func (c *Conn) handleSASL(h wire.RequestHeader, body []byte) (queued, error) {
	req := kmsg.RequestForKey(h.APIKey)
	if h.APIVersion < 0 || h.APIVersion > req.MaxVersion() || (h.APIKey == int16(kmsg.SASLHandshake) && h.APIVersion > 1) || (h.APIKey == int16(kmsg.SASLAuthenticate) && h.APIVersion > 2) {
		return queued{}, fmt.Errorf("%w: %s v%d is not supported", ErrCloseConnection, kmsg.NameForKey(h.APIKey), h.APIVersion)
	}
	req.SetVersion(h.APIVersion)
	if err := req.ReadFrom(body); err != nil {
		return queued{}, fmt.Errorf("%w: malformed %s v%d body: %v", ErrCloseConnection, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		return c.saslHandshake(r), nil
	case *kmsg.SASLAuthenticateRequest:
		return c.saslAuthenticate(r), nil
	}
	return queued{}, fmt.Errorf("%w: unexpected SASL request", ErrCloseConnection)
}

func (c *Conn) saslHandshake(r *kmsg.SASLHandshakeRequest) queued {
	a, l := &c.auth, c.Listener
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = slices.Clone(l.Mechanisms)
	if resp.SupportedMechanisms == nil {
		resp.SupportedMechanisms = []string{}
	}
	fail := func(code *kerr.Error, why string) queued {
		resp.ErrorCode = code.Code
		c.srv.log.Info("closing connection: SASL handshake refused", "client", c.Remote, "listener", l.Name, "mechanism", r.Mechanism, "reason", why)
		return queued{reply: Ready(resp), closeAfter: true}
	}
	switch {
	case !l.SASL:
		return fail(kerr.IllegalSaslState, "the listener does not use SASL")
	case a.session != nil:
		return fail(kerr.IllegalSaslState, "a handshake is already in progress")
	case !slices.Contains(l.Mechanisms, r.Mechanism):
		return fail(kerr.UnsupportedSaslMechanism, "mechanism not enabled on this listener (sasl.enabled.mechanisms)")
	case a.authenticated && r.Version == 0:
		return fail(kerr.IllegalSaslState, "re-authentication needs SaslHandshake v1")
	case a.authenticated && r.Mechanism != a.mechanism:
		return fail(kerr.IllegalSaslState, "re-authentication must use the mechanism of the first authentication ("+a.mechanism+")")
	}
	s, err := l.NewSession(r.Mechanism)
	if err != nil {
		return fail(kerr.UnsupportedSaslMechanism, err.Error())
	}
	a.session, a.mechanism = s, r.Mechanism
	a.rawNext = r.Version == 0
	return queued{reply: Ready(resp)}
}

// authFailedMessage is what Kafka tells a client whose credentials were
// refused; clients show it, so it is Kafka's wording.
func authFailedMessage(mechanism string) string {
	if mechanism == "PLAIN" {
		return "Authentication failed: Invalid username or password"
	}
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism
}

func (c *Conn) saslAuthenticate(r *kmsg.SASLAuthenticateRequest) queued {
	a := &c.auth
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if a.session == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake first")
		c.srv.log.Info("closing connection: SaslAuthenticate before SaslHandshake", "client", c.Remote, "listener", c.Listener.Name)
		return queued{reply: Ready(resp), closeAfter: true}
	}
	reply, done, err := c.step(r.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(authFailedMessage(a.mechanism))
		delay := c.srv.cfg.FailedAuthDelay
		return queued{reply: func() kmsg.Response {
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-c.ctx.Done():
					t.Stop()
				}
			}
			return resp
		}, closeAfter: true}
	}
	resp.SASLAuthBytes = reply
	if done && c.srv.cfg.ReauthAfter > 0 {
		resp.SessionLifetimeMillis = c.srv.cfg.ReauthAfter.Milliseconds()
	}
	return queued{reply: Ready(resp)}
}

// errPrincipalChanged: a re-authentication named another user.
var errPrincipalChanged = errors.New("re-authentication as a different principal")

// step feeds one token to the exchange; on completion the connection is
// authenticated. Errors are logged here (without the token: it may hold a
// password) and end the exchange.
func (c *Conn) step(token []byte) ([]byte, bool, error) {
	a := &c.auth
	reply, done, err := a.session.Step(token)
	if err == nil && done {
		p := "User:" + a.session.Username()
		if a.authenticated && p != c.Principal() {
			err = errPrincipalChanged
		} else {
			a.session, a.rawNext = nil, false
			a.authenticated = true
			c.setPrincipal(p)
			if d := c.srv.cfg.ReauthAfter; d > 0 {
				a.expires = time.Now().Add(d)
			}
			c.observeAuth(a.mechanism, true)
			c.srv.log.Debug("authenticated", "client", c.Remote, "listener", c.Listener.Name, "mechanism", a.mechanism, "principal", p)
			return reply, true, nil
		}
	}
	if err != nil {
		a.session = nil
		c.observeAuth(a.mechanism, false)
		c.srv.log.Info("authentication failed", "client", c.Remote, "listener", c.Listener.Name, "mechanism", a.mechanism,
			"reason", strings.TrimPrefix(err.Error(), "sasl: "))
		return nil, false, err
	}
	return reply, false, nil
}

// rawToken handles a bare token after SaslHandshake v0. Kafka has no way to
// report a failure in this framing: the connection is closed (after the
// failed-authentication delay).
func (c *Conn) rawToken(frame []byte) (queued, error) {
	reply, _, err := c.step(frame)
	if err != nil {
		if d := c.srv.cfg.FailedAuthDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
			}
		}
		return queued{}, fmt.Errorf("SASL authentication failed (%s)", c.auth.mechanism)
	}
	token := reply
	return queued{raw: func() []byte { return token }}, nil
}

// writeRaw writes a bare SASL token frame.
func (c *Conn) writeRaw(q queued) bool {
	tok := q.raw()
	buf := make([]byte, 4+len(tok))
	binary.BigEndian.PutUint32(buf, uint32(len(tok)))
	copy(buf[4:], tok)
	if _, err := c.nc.Write(buf); err != nil {
		return false
	}
	c.srv.cfg.Observer.RequestDone(int16(kmsg.SASLAuthenticate), 0, time.Since(q.read), q.inBytes, len(buf))
	return true
}

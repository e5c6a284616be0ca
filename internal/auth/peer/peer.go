// Package peer is how a node connects and authenticates to the other nodes
// of its cluster: Kafka connections to another broker's inter-broker
// listener (replica fetchers, transaction markers) and links to the
// controllers' listener (Raft and the broker-to-controller calls).
//
// On a TLS listener the dialer verifies the peer with the listener's
// truststore and presents the listener's keystore as its client
// certificate. On a SASL listener it logs in with the mechanism Kafka names
// for that purpose (sasl.mechanism.inter.broker.protocol,
// sasl.mechanism.controller.protocol) and the username and password of
// the listener's JAAS entry for it, as Kafka brokers do.
//
// The controller listener does not speak Kafka, so SASL there uses a small
// framing of its own (see Link): mechanism name, then tokens, each
// length-prefixed, before the protocol byte the mux routes on.
package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-io/samsa/internal/auth/sasl"
	"github.com/samsa-io/samsa/internal/wire"
)

// Login is how this node authenticates to one kind of peer listener.
// The zero Login is plaintext without authentication.
type Login struct {
	TLS       *tls.Config // nil: plaintext
	Mechanism string      // "": no SASL
	User      string
	Password  string // a secret: never log it
}

// maxToken bounds a SASL token on a link, both ways.
const maxToken = 64 << 10

// ErrAuthentication: the peer refused the login.
var ErrAuthentication = errors.New("peer: authentication refused")

func (l Login) dialTCP(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if l.TLS == nil {
		return nc, nil
	}
	cfg := l.TLS.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// client returns the SASL client exchange for l: the first token and a
// step function for the server's replies (nil reply and done at the end).
func (l Login) client() (first []byte, step func([]byte) ([]byte, error), err error) {
	switch l.Mechanism {
	case sasl.Plain:
		return sasl.PlainToken(l.User, l.Password), func([]byte) ([]byte, error) { return nil, nil }, nil
	case sasl.ScramSHA256, sasl.ScramSHA512:
		c, err := sasl.NewScramClient(l.Mechanism, l.User, l.Password)
		if err != nil {
			return nil, nil, err
		}
		return c.First(), c.Step, nil
	}
	return nil, nil, fmt.Errorf("SASL mechanism %q is not supported", l.Mechanism)
}

// DialKafka connects to a Kafka listener and logs in (SaslHandshake v1 and
// SaslAuthenticate v1) when l has a mechanism.
func (l Login) DialKafka(addr, clientID string, timeout time.Duration) (net.Conn, error) {
	nc, err := l.dialTCP(addr, timeout)
	if err != nil || l.Mechanism == "" {
		return nc, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if err := l.kafkaLogin(nc, clientID); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

func (l Login) kafkaLogin(nc net.Conn, clientID string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = l.Mechanism
	resp, err := roundTrip(nc, 1, clientID, hs)
	if err != nil {
		return err
	}
	if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("%w: SaslHandshake for %s: %v", ErrAuthentication, l.Mechanism, kerr.ErrorForCode(code))
	}
	tok, step, err := l.client()
	if err != nil {
		return err
	}
	for corr := int32(2); tok != nil; corr++ {
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SetVersion(1)
		au.SASLAuthBytes = tok
		resp, err := roundTrip(nc, corr, clientID, au)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 {
			msg := ""
			if r.ErrorMessage != nil {
				msg = *r.ErrorMessage
			}
			return fmt.Errorf("%w: %v: %s (check the username and password of this listener's JAAS entry for %s)", ErrAuthentication, kerr.ErrorForCode(r.ErrorCode), msg, l.Mechanism)
		}
		if tok, err = step(r.SASLAuthBytes); err != nil {
			return fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
	}
	return nil
}

// roundTrip sends one request and reads its response (non-flexible
// versions only: SaslHandshake v1 and SaslAuthenticate v1).
func roundTrip(nc net.Conn, corr int32, clientID string, req kmsg.Request) (kmsg.Response, error) {
	if _, err := nc.Write(wire.AppendRequest(nil, corr, &clientID, req)); err != nil {
		return nil, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxToken+1024 {
		return nil, fmt.Errorf("response frame of %d bytes", size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return nil, fmt.Errorf("response for request %d, expected %d", got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(nc, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// KgoOpts returns franz-go options that connect and log in as l.
func (l Login) KgoOpts() []kgo.Opt {
	var opts []kgo.Opt
	if l.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(l.TLS.Clone()))
	}
	switch l.Mechanism {
	case sasl.Plain:
		opts = append(opts, kgo.SASL(plain.Auth{User: l.User, Pass: l.Password}.AsMechanism()))
	case sasl.ScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: l.User, Pass: l.Password}.AsSha256Mechanism()))
	case sasl.ScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: l.User, Pass: l.Password}.AsSha512Mechanism()))
	}
	return opts
}

// Link statuses in the server's replies.
const (
	linkContinue byte = 0
	linkDone     byte = 1
	linkFailed   byte = 2
)

// DialLink connects to a controller listener: TLS when configured, the
// SASL exchange when l has a mechanism, then the protocol byte.
//
// The exchange: the dialer sends the mechanism (u16 length + name) and its
// first token (u32 length + bytes); the server answers each token with a
// status byte (continue, done, failed) and a token; the dialer sends its
// next token after a continue.
func (l Login) DialLink(addr string, prefix byte, timeout time.Duration) (net.Conn, error) {
	nc, err := l.dialTCP(addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if l.Mechanism != "" {
		if err := l.linkLogin(nc); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if _, err := nc.Write([]byte{prefix}); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

func (l Login) linkLogin(nc net.Conn) error {
	tok, step, err := l.client()
	if err != nil {
		return err
	}
	msg := binary.BigEndian.AppendUint16(nil, uint16(len(l.Mechanism)))
	msg = append(msg, l.Mechanism...)
	r := bufio.NewReader(nc)
	for {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(tok)))
		msg = append(msg, tok...)
		if _, err := nc.Write(msg); err != nil {
			return err
		}
		msg = msg[:0]
		status, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: the controller closed the link during login (check the credentials of the controller listener's JAAS entry)", ErrAuthentication)
		}
		reply, err := readToken(r)
		if err != nil {
			return err
		}
		switch status {
		case linkFailed:
			return fmt.Errorf("%w: the controller refused %s login of %q", ErrAuthentication, l.Mechanism, l.User)
		case linkDone:
			if _, err := step(reply); err != nil {
				return fmt.Errorf("%w: %v", ErrAuthentication, err)
			}
			if r.Buffered() > 0 {
				return errors.New("peer: unexpected bytes after the link login")
			}
			return nil
		}
		if tok, err = step(reply); err != nil {
			return fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
	}
}

func readToken(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxToken {
		return nil, fmt.Errorf("peer: SASL token of %d bytes (at most %d)", size, maxToken)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// LinkServer is the accepting side of a controller listener's security.
type LinkServer struct {
	TLS func() *tls.Config // nil: plaintext
	// SASL: when NewSession is set, a link must log in first.
	Mechanisms []string
	NewSession func(mechanism string) (sasl.Session, error)
	// PrincipalFromTLS maps a verified client certificate chain to a
	// principal ("User:..."), for SSL links; nil: ANONYMOUS.
	PrincipalFromTLS func(tls.ConnectionState) (string, error)
	// Allowed decides whether a principal may use the link (controllers
	// and brokers log in as super users).
	Allowed func(principal string) bool
}

// Accept secures an accepted connection: TLS handshake, then the SASL
// exchange. It returns the connection to read the protocol byte from.
func (s *LinkServer) Accept(nc net.Conn, timeout time.Duration) (net.Conn, string, error) {
	_ = nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	principal := "User:ANONYMOUS"
	if s.TLS != nil {
		tc := tls.Server(nc, s.TLS())
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return nil, "", fmt.Errorf("TLS handshake: %w", err)
		}
		if s.PrincipalFromTLS != nil {
			p, err := s.PrincipalFromTLS(tc.ConnectionState())
			if err != nil {
				return nil, "", err
			}
			principal = p
		}
		nc = tc
	}
	if s.NewSession == nil {
		if s.Allowed != nil && !s.Allowed(principal) {
			return nil, principal, fmt.Errorf("principal %s may not use the controller listener (make it a super user)", principal)
		}
		return nc, principal, nil
	}
	br := bufio.NewReaderSize(nc, 4096)
	var ml [2]byte
	if _, err := io.ReadFull(br, ml[:]); err != nil {
		return nil, "", err
	}
	n := binary.BigEndian.Uint16(ml[:])
	if n == 0 || n > 64 {
		return nil, "", fmt.Errorf("link login: bad mechanism length %d", n)
	}
	mech := make([]byte, n)
	if _, err := io.ReadFull(br, mech); err != nil {
		return nil, "", err
	}
	fail := func(err error) (net.Conn, string, error) {
		_, _ = nc.Write([]byte{linkFailed, 0, 0, 0, 0})
		return nil, "", err
	}
	ok := false
	for _, m := range s.Mechanisms {
		ok = ok || m == string(mech)
	}
	if !ok {
		return fail(fmt.Errorf("link login: mechanism %q is not enabled on the controller listener", mech))
	}
	sess, err := s.NewSession(string(mech))
	if err != nil {
		return fail(err)
	}
	for {
		tok, err := readToken(br)
		if err != nil {
			return nil, "", err
		}
		reply, done, err := sess.Step(tok)
		if err != nil {
			return fail(fmt.Errorf("link login failed: %w", err))
		}
		status := linkContinue
		if done {
			principal = "User:" + sess.Username()
			if s.Allowed != nil && !s.Allowed(principal) {
				return fail(fmt.Errorf("principal %s may not use the controller listener (make it a super user)", principal))
			}
			status = linkDone
		}
		out := append([]byte{status}, binary.BigEndian.AppendUint32(nil, uint32(len(reply)))...)
		if _, err := nc.Write(append(out, reply...)); err != nil {
			return nil, "", err
		}
		if done {
			return &bufConn{Conn: nc, r: br}, principal, nil
		}
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

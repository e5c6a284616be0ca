package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// twoStep is a fake mechanism: the first token must be "hello", the second
// "user:<name>"; anything else fails.
type twoStep struct {
	step int
	user string
}

func (s *twoStep) Step(tok []byte) ([]byte, bool, error) {
	s.step++
	switch {
	case s.step == 1 && string(tok) == "hello":
		return []byte("who"), false, nil
	case s.step == 2 && len(tok) > 5 && string(tok[:5]) == "user:":
		s.user = string(tok[5:])
		return []byte("ok"), true, nil
	}
	return nil, false, errors.New("bad token")
}
func (s *twoStep) Username() string { return s.user }

// principalEcho answers Metadata with the connection's principal as the
// cluster id, and everything else as ApiVersions.
type principalEcho struct{}

func (principalEcho) Handle(_ context.Context, c *Conn, h wire.RequestHeader, _ []byte) (Pending, error) {
	if h.APIKey == int16(kmsg.Metadata) {
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = h.APIVersion
		p := c.Principal()
		resp.ClusterID = &p
		return Ready(resp), nil
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = h.APIVersion
	return Ready(resp), nil
}

func startSASLServer(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg, principalEcho{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ServeListener(ln, &Listener{Name: "SASL_PLAINTEXT", SASL: true, Mechanisms: []string{"TWO"},
		NewSession: func(string) (SASLSession, error) { return &twoStep{}, nil }})
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

type testConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialTest(t *testing.T, addr string) *testConn {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &testConn{t: t, c: c}
}

func (tc *testConn) request(req kmsg.Request) (kmsg.Response, error) {
	tc.corr++
	if _, err := tc.c.Write(wire.AppendRequest(nil, tc.corr, nil, req)); err != nil {
		return nil, err
	}
	frame, _, err := wire.ReadFrame(tc.c, 1<<20, nil)
	if err != nil {
		return nil, err
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body)
}

func (tc *testConn) raw(tok []byte) ([]byte, error) {
	if _, err := tc.c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok)))); err != nil {
		return nil, err
	}
	if _, err := tc.c.Write(tok); err != nil {
		return nil, err
	}
	frame, _, err := wire.ReadFrame(tc.c, 1<<20, nil)
	return frame, err
}

func handshake(tc *testConn, version int16, mech string) *kmsg.SASLHandshakeResponse {
	tc.t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.SetVersion(version)
	req.Mechanism = mech
	resp, err := tc.request(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	return resp.(*kmsg.SASLHandshakeResponse)
}

func authenticate(tc *testConn, tok string) (*kmsg.SASLAuthenticateResponse, error) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SetVersion(1)
	req.SASLAuthBytes = []byte(tok)
	resp, err := tc.request(req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.SASLAuthenticateResponse), nil
}

func metadataPrincipal(tc *testConn) (string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(2) // the first version with a cluster id
	resp, err := tc.request(req)
	if err != nil {
		return "", err
	}
	return *resp.(*kmsg.MetadataResponse).ClusterID, nil
}

func TestSASLFlows(t *testing.T) {
	addr := startSASLServer(t, Config{ReauthAfter: 300 * time.Millisecond})

	t.Run("v1 handshake and authenticate", func(t *testing.T) {
		tc := dialTest(t, addr)
		if r := handshake(tc, 1, "TWO"); r.ErrorCode != 0 || r.SupportedMechanisms[0] != "TWO" {
			t.Fatalf("handshake: %+v", r)
		}
		if r, err := authenticate(tc, "hello"); err != nil || string(r.SASLAuthBytes) != "who" {
			t.Fatalf("first step: %+v %v", r, err)
		}
		r, err := authenticate(tc, "user:alice")
		if err != nil || r.ErrorCode != 0 || r.SessionLifetimeMillis != 300 {
			t.Fatalf("second step: %+v %v", r, err)
		}
		if p, err := metadataPrincipal(tc); err != nil || p != "User:alice" {
			t.Fatalf("principal %q %v", p, err)
		}
		// Re-authentication as the same user works; after the session
		// lifetime without it, the next request closes the connection.
		handshake(tc, 1, "TWO")
		authenticate(tc, "hello")
		if r, err := authenticate(tc, "user:alice"); err != nil || r.ErrorCode != 0 {
			t.Fatalf("re-authentication: %+v %v", r, err)
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := metadataPrincipal(tc); err == nil {
			t.Fatal("a request after the session expired was answered")
		}
	})
	t.Run("re-authentication as another user fails", func(t *testing.T) {
		tc := dialTest(t, addr)
		handshake(tc, 1, "TWO")
		authenticate(tc, "hello")
		authenticate(tc, "user:alice")
		handshake(tc, 1, "TWO")
		authenticate(tc, "hello")
		r, err := authenticate(tc, "user:mallory")
		if err != nil || r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("%+v %v, want SASL_AUTHENTICATION_FAILED", r, err)
		}
		if _, err := metadataPrincipal(tc); err == nil {
			t.Fatal("connection still open after a failed re-authentication")
		}
	})
	t.Run("v0 handshake then bare tokens", func(t *testing.T) {
		tc := dialTest(t, addr)
		handshake(tc, 0, "TWO")
		if got, err := tc.raw([]byte("hello")); err != nil || string(got) != "who" {
			t.Fatalf("raw step 1: %q %v", got, err)
		}
		if got, err := tc.raw([]byte("user:bob")); err != nil || string(got) != "ok" {
			t.Fatalf("raw step 2: %q %v", got, err)
		}
		if p, err := metadataPrincipal(tc); err != nil || p != "User:bob" {
			t.Fatalf("principal %q %v", p, err)
		}
	})
	t.Run("v0 wrong token closes", func(t *testing.T) {
		tc := dialTest(t, addr)
		handshake(tc, 0, "TWO")
		if _, err := tc.raw([]byte("nope")); err == nil {
			t.Fatal("a wrong bare token was answered")
		}
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		tc := dialTest(t, addr)
		if r := handshake(tc, 1, "GSSAPI"); r.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		tc := dialTest(t, addr)
		r, err := authenticate(tc, "hello")
		if err != nil || r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("%+v %v, want ILLEGAL_SASL_STATE", r, err)
		}
	})
	t.Run("other requests before authentication close", func(t *testing.T) {
		tc := dialTest(t, addr)
		if _, err := metadataPrincipal(tc); err == nil {
			t.Fatal("Metadata before authentication was answered")
		}
	})
}

func TestConnectionsPerIPLimit(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxConnectionsPerIP: 2}, principalEcho{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln)
	defer s.Close()
	var conns []*testConn
	for range 2 {
		tc := dialTest(t, ln.Addr().String())
		if p, err := metadataPrincipal(tc); err != nil || p != AnonymousPrincipal {
			t.Fatalf("connection within the limit: %q %v", p, err)
		}
		conns = append(conns, tc)
	}
	if _, err := metadataPrincipal(dialTest(t, ln.Addr().String())); err == nil {
		t.Fatal("a third connection from one IP was served (max.connections.per.ip=2)")
	}
	for _, tc := range conns {
		if _, err := metadataPrincipal(tc); err != nil {
			t.Fatalf("an existing connection stopped being served: %v", err)
		}
	}
	conns[0].c.Close()
	waitFor(t, 2*time.Second, func() error {
		_, err := metadataPrincipal(dialTest(t, ln.Addr().String()))
		return err
	})
}

package peer

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/auth/sasl"
)

// serveLinks accepts links on a loopback listener with s and echoes one
// byte after the protocol byte, so a dialer can see it got through.
func serveLinks(t *testing.T, s *LinkServer) (addr string, principals chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	principals = make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc, p, err := s.Accept(c, 5*time.Second)
				if err != nil {
					principals <- "refused"
					return
				}
				principals <- p
				var b [1]byte
				if _, err := io.ReadFull(sc, b[:]); err == nil {
					_, _ = sc.Write(b[:])
				}
			}()
		}
	}()
	return ln.Addr().String(), principals
}

func TestLinkLogin(t *testing.T) {
	cred, err := sasl.NewCredential(sasl.ScramSHA512, []byte("scram-pw"), sasl.NewSalt(), sasl.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	s := &LinkServer{
		Mechanisms: []string{sasl.Plain, sasl.ScramSHA512},
		NewSession: func(m string) (sasl.Session, error) {
			if m == sasl.Plain {
				return sasl.NewPlain(sasl.PlainUsers{"admin": "admin-pw", "alice": "alice-pw"}), nil
			}
			return sasl.NewScram(m, func(_, user string) (sasl.Credential, bool) { return cred, user == "ctl" })
		},
		Allowed: func(p string) bool { return p == "User:admin" || p == "User:ctl" },
	}
	addr, principals := serveLinks(t, s)
	tests := []struct {
		name  string
		login Login
		want  string // principal, or "refused"
	}{
		{"plain", Login{Mechanism: sasl.Plain, User: "admin", Password: "admin-pw"}, "User:admin"},
		{"scram", Login{Mechanism: sasl.ScramSHA512, User: "ctl", Password: "scram-pw"}, "User:ctl"},
		{"wrong password", Login{Mechanism: sasl.Plain, User: "admin", Password: "nope"}, "refused"},
		{"not a super user", Login{Mechanism: sasl.Plain, User: "alice", Password: "alice-pw"}, "refused"},
		{"mechanism not enabled", Login{Mechanism: sasl.ScramSHA256, User: "ctl", Password: "scram-pw"}, "refused"},
		{"no login at all", Login{}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.login.DialLink(addr, 'R', 3*time.Second)
			if tt.want == "refused" {
				if err == nil {
					// Without a login the server waits for a mechanism it
					// never gets; the echo must not come back.
					_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					var b [1]byte
					if _, rerr := c.Read(b[:]); rerr == nil {
						t.Fatal("a refused link was served")
					}
					c.Close()
					return
				}
				if !errors.Is(err, ErrAuthentication) && tt.login.Mechanism != "" {
					t.Errorf("err = %v, want ErrAuthentication", err)
				}
				if got := <-principals; got != "refused" {
					t.Errorf("server saw %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := <-principals; got != tt.want {
				t.Errorf("principal = %q, want %q", got, tt.want)
			}
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'R' {
				t.Errorf("echo = %q, %v", b, err)
			}
		})
	}
}

// FuzzLinkAccept feeds arbitrary bytes to the accepting side of a
// controller link: it must refuse or accept without panicking, and never
// wait for more than the timeout.
func FuzzLinkAccept(f *testing.F) {
	f.Add([]byte("\x00\x05PLAIN\x00\x00\x00\x0c\x00admin\x00admin"))
	f.Add([]byte("\x00\x0dSCRAM-SHA-512\x00\x00\x00\x10n,,n=ctl,r=abcdef"))
	f.Add([]byte("\xff\xff"))
	f.Add([]byte("\x00\x05PLAIN\xff\xff\xff\xff"))
	s := &LinkServer{
		Mechanisms: []string{sasl.Plain, sasl.ScramSHA512},
		NewSession: func(m string) (sasl.Session, error) {
			if m == sasl.Plain {
				return sasl.NewPlain(sasl.PlainUsers{"admin": "admin"}), nil
			}
			return sasl.NewScram(m, func(string, string) (sasl.Credential, bool) { return sasl.Credential{}, false })
		},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			// Write the input, then hang up: reads past it see EOF.
			_, _ = b.Write(in)
			b.Close()
		}()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, _, err := s.Accept(a, 200*time.Millisecond)
			if err == nil && c == nil {
				t.Error("accepted without a connection")
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Accept did not return within its timeout")
		}
	})
}

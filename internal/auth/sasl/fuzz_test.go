package sasl

import (
	"errors"
	"testing"
)

// fuzzLookup knows alice with a fixed credential (derived once: PBKDF2
// per fuzz input would be slow).
func fuzzLookup(tb testing.TB) CredentialLookup {
	salt := []byte("0123456789abcdef0123456789abcdef")
	cred, err := NewCredential(ScramSHA256, []byte("alice-secret"), salt, MinIterations)
	if err != nil {
		tb.Fatal(err)
	}
	return func(mech, user string) (Credential, bool) { return cred, mech == ScramSHA256 && user == "alice" }
}

// checkStep checks what must hold for any Step result of a server session.
func checkStep(t *testing.T, s Session, reply []byte, done bool, err error) {
	if err != nil {
		if done || reply != nil || s.Username() != "" {
			t.Fatalf("failed Step returned done=%v reply=%q user=%q", done, reply, s.Username())
		}
		if !errors.Is(err, ErrAuthenticationFailed) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error class: %v", err)
		}
		if _, _, err := s.Step(nil); !errors.Is(err, ErrIllegalState) {
			t.Fatalf("Step after failure: %v", err)
		}
	}
}

// FuzzScramClientFirst drives a fresh server session with arbitrary
// client-first bytes.
func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=alice,r=cn", "n,a=alice,n=alice,r=cn", "n,,n=a=2Cb=3D,r=cn,ext=1",
		"y,,n=alice,r=cn", "p=tls-unique,,n=alice,r=cn", "n,,m=x,n=alice,r=cn",
		"n,,n=alice,r=cn,tokenauth=true", "n,,n=mallory,r=x",
	} {
		f.Add([]byte(s))
	}
	lookup := fuzzLookup(f)
	f.Fuzz(func(t *testing.T, token []byte) {
		s, _ := NewScram(ScramSHA256, lookup)
		reply, done, err := s.Step(token)
		checkStep(t, s, reply, done, err)
		if err == nil && (done || len(reply) == 0) {
			t.Fatalf("client-first answered done=%v reply=%q", done, reply)
		}
	})
}

// FuzzScramClientFinal drives a server session that has accepted a valid
// client-first with arbitrary client-final bytes. The seed includes the
// valid final, so mutations explore near a successful exchange.
func FuzzScramClientFinal(f *testing.F) {
	lookup := fuzzLookup(f)
	newSession := func() Session {
		s, _ := NewScram(ScramSHA256, lookup)
		s.(*scramServer).serverNonce = "SN" // fixed, so a seed final stays valid
		if _, _, err := s.Step([]byte("n,,n=alice,r=cn")); err != nil {
			f.Fatal(err)
		}
		return s
	}
	c, _ := NewScramClient(ScramSHA256, "alice", "alice-secret")
	c.nonce = "cn"
	c.First()
	s := newSession()
	sfirst := s.(*scramServer).serverFirst
	final, err := c.Step([]byte(sfirst))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(final)
	f.Add([]byte("c=biws,r=cnSN,p=AAAA"))
	f.Add([]byte("c=biws,r=cnSN,x=1,p=" + string(final[len(final)-44:])))
	f.Add([]byte("c=eSws,r=cnSN,p=" + string(final[len(final)-44:])))
	f.Fuzz(func(t *testing.T, token []byte) {
		s := newSession()
		reply, done, err := s.Step(token)
		checkStep(t, s, reply, done, err)
		if err == nil && (!done || s.Username() != "alice" || len(reply) == 0) {
			t.Fatalf("client-final answered done=%v reply=%q user=%q", done, reply, s.Username())
		}
	})
}

// FuzzScramClient feeds a client arbitrary server-first and server-final
// messages: samsa's inter-broker logins must survive a hostile peer.
func FuzzScramClient(f *testing.F) {
	f.Add([]byte("r=cnSN,s=QSXCR+Q6sek8bf92,i=4096"), []byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
	f.Add([]byte("r=cnSN,s=QSXCR+Q6sek8bf92,i=4096,x=y"), []byte("e=invalid-proof"))
	f.Add([]byte("m=1,r=cnSN,s=,i=0"), []byte(""))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		c, _ := NewScramClient(ScramSHA256, "alice", "alice-secret")
		c.nonce = "cn"
		c.First()
		reply, err := c.Step(first)
		if err != nil {
			if reply != nil {
				t.Fatalf("failed Step returned %q", reply)
			}
			return
		}
		if len(reply) == 0 {
			t.Fatal("no client-final")
		}
		// A server that knows no password cannot produce our signature,
		// but must not crash us either.
		if _, err := c.Step(final); err == nil {
			t.Fatalf("forged server-final %q accepted", final)
		}
	})
}

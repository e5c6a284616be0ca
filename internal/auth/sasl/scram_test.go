package sasl

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// testStore maps "mechanism/user" to a credential derived once per test.
type testStore map[string]Credential

func newStore(t testing.TB, iterations int, users map[string]string) testStore {
	st := testStore{}
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		for u, pw := range users {
			c, err := NewCredential(mech, []byte(pw), NewSalt(), iterations)
			if err != nil {
				t.Fatal(err)
			}
			st[mech+"/"+u] = c
		}
	}
	return st
}

func (st testStore) lookup(mech, user string) (Credential, bool) {
	c, ok := st[mech+"/"+user]
	return c, ok
}

var scramUsers = map[string]string{"alice": "alice-secret", "a,b=c": "odd-secret", "zoë": "pässwörd"}

// exchange runs client against server and returns the first error.
func exchange(t *testing.T, s Session, c *ScramClient) error {
	t.Helper()
	reply, done, err := s.Step(c.First())
	if err != nil {
		return err
	}
	if done {
		t.Fatal("done after client-first")
	}
	final, err := c.Step(reply)
	if err != nil {
		return err
	}
	reply, done, err = s.Step(final)
	if err != nil {
		if done || reply != nil || s.Username() != "" {
			t.Fatalf("failed final Step: done=%v reply=%q user=%q", done, reply, s.Username())
		}
		return err
	}
	if !done {
		t.Fatal("not done after client-final")
	}
	if r, err := c.Step(reply); err != nil || r != nil {
		t.Fatalf("client verifying server-final: %q, %v", r, err)
	}
	return nil
}

func TestScramExchange(t *testing.T) {
	st := newStore(t, MinIterations, scramUsers)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		for user, pw := range scramUsers {
			t.Run(mech+"/"+user, func(t *testing.T) {
				s, err := NewScram(mech, st.lookup)
				if err != nil {
					t.Fatal(err)
				}
				c, err := NewScramClient(mech, user, pw)
				if err != nil {
					t.Fatal(err)
				}
				if err := exchange(t, s, c); err != nil {
					t.Fatal(err)
				}
				if s.Username() != user {
					t.Fatalf("Username = %q", s.Username())
				}
				if _, _, err := s.Step([]byte("c=biws")); !errors.Is(err, ErrIllegalState) {
					t.Fatalf("Step after done: %v", err)
				}
				if _, err := c.Step([]byte("v=x")); !errors.Is(err, ErrIllegalState) {
					t.Fatalf("client Step after done: %v", err)
				}
			})
		}
	}
}

func TestScramAuthFailures(t *testing.T) {
	st := newStore(t, MinIterations, scramUsers)
	for _, tt := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "odd-secret"},
		{"unknown user", "mallory", "alice-secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := NewScram(ScramSHA256, st.lookup)
			c, _ := NewScramClient(ScramSHA256, tt.user, tt.pw)
			err := exchange(t, s, c)
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("exchange: %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks: %v", err)
			}
			if _, _, err := s.Step(nil); !errors.Is(err, ErrIllegalState) {
				t.Fatalf("Step after failure: %v", err)
			}
		})
	}
}

// serverFirstFor runs client-first and returns the server-first fields.
func serverFirstFor(t *testing.T, lookup CredentialLookup, user string) (salt string, iters string) {
	t.Helper()
	s, _ := NewScram(ScramSHA256, lookup)
	reply, _, err := s.Step([]byte("n,,n=" + encodeSaslname(user) + ",r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(string(reply), ",")
	if len(f) != 3 || !strings.HasPrefix(f[0], "r=abc") || len(f[0]) <= len("r=abc") {
		t.Fatalf("server-first %q", reply)
	}
	return f[1], f[2]
}

// An unknown user's server-first looks like a real one's and is stable,
// so neither its shape nor a second attempt tells the user is unknown.
func TestScramUnknownUserLooksReal(t *testing.T) {
	st := newStore(t, DefaultIterations, scramUsers)
	realSalt, realIters := serverFirstFor(t, st.lookup, "alice")
	fakeSalt, fakeIters := serverFirstFor(t, st.lookup, "mallory")
	if len(realSalt) != len(fakeSalt) || realIters != fakeIters {
		t.Fatalf("real %s %s vs fake %s %s", realSalt, realIters, fakeSalt, fakeIters)
	}
	if again, _ := serverFirstFor(t, st.lookup, "mallory"); again != fakeSalt {
		t.Fatal("fake salt changes between attempts")
	}
	if other, _ := serverFirstFor(t, st.lookup, "trudy"); other == fakeSalt {
		t.Fatal("fake salt does not depend on the user")
	}
}

// A stored credential that cannot be used (here: for the other
// mechanism) fails like an unknown user, at the proof.
func TestScramUnusableCredential(t *testing.T) {
	c512, err := NewCredential(ScramSHA512, []byte("pw"), NewSalt(), MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string, string) (Credential, bool) { return c512, true }
	s, _ := NewScram(ScramSHA256, lookup)
	c, _ := NewScramClient(ScramSHA256, "u", "pw")
	if err := exchange(t, s, c); !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("exchange: %v", err)
	}
}

// finalFor computes a client-final message independently of ScramClient,
// for any gs2 header and nonce.
func finalFor(t *testing.T, mech, password, gs2, firstBare, serverFirst, nonce string) string {
	t.Helper()
	m, _ := lookupMech(mech)
	f := strings.Split(serverFirst, ",")
	salt, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(f[1], "s="))
	var iters int
	for _, d := range strings.TrimPrefix(f[2], "i=") {
		iters = iters*10 + int(d-'0')
	}
	salted, err := saltedPassword(m, []byte(password), salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSum(m, salted, []byte("Client Key"))
	without := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2)) + ",r=" + nonce
	sig := hmacSum(m, hashSum(m, clientKey), []byte(firstBare+","+serverFirst+","+without))
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(sig)
}

func TestScramMessages(t *testing.T) {
	st := newStore(t, MinIterations, map[string]string{"alice": "alice-secret"})
	const pw = "alice-secret"
	type step struct {
		first string // client-first; the client-final is built from it unless final is set
		// final, if set, is a function of the server-first message.
		final func(t *testing.T, serverFirst, nonce string) string
	}
	ok := func(gs2 string) func(t *testing.T, sf, nonce string) string {
		return func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, gs2, "n=alice,r=cn", sf, nonce)
		}
	}
	tests := []struct {
		name      string
		step      step
		wantFirst error // error of the first Step
		wantFinal error // error of the second Step; nil = success
		wantMsg   string
	}{
		{"ok", step{"n,,n=alice,r=cn", ok("n,,")}, nil, nil, ""},
		{"ok authzid", step{"n,a=alice,n=alice,r=cn", ok("n,a=alice,")}, nil, nil, ""},
		{"ok extension", step{"n,,n=alice,r=cn,ext=1", func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn,ext=1", sf, nonce)
		}}, nil, nil, ""},
		{"authzid differs", step{first: "n,a=bob,n=alice,r=cn"}, ErrAuthenticationFailed, nil, "authorization id"},
		{"channel binding y", step{first: "y,,n=alice,r=cn"}, ErrMalformed, nil, "channel binding"},
		{"channel binding p", step{first: "p=tls-unique,,n=alice,r=cn"}, ErrMalformed, nil, "channel binding"},
		{"no gs2 header", step{first: "n=alice,r=cn"}, ErrMalformed, nil, "gs2"},
		{"bad authzid", step{first: "n,b=x,n=alice,r=cn"}, ErrMalformed, nil, "authorization id"},
		{"mandatory ext", step{first: "n,,m=x,n=alice,r=cn"}, ErrMalformed, nil, "mandatory"},
		{"no nonce", step{first: "n,,n=alice"}, ErrMalformed, nil, "truncated"},
		{"empty nonce", step{first: "n,,n=alice,r="}, ErrMalformed, nil, "nonce"},
		{"nonce with space", step{first: "n,,n=alice,r=a b"}, ErrMalformed, nil, "nonce"},
		{"bad saslname", step{first: "n,,n=a=2Xb,r=cn"}, ErrMalformed, nil, "saslname"},
		{"empty user", step{first: "n,,n=,r=cn"}, ErrMalformed, nil, "saslname"},
		{"bad extension", step{first: "n,,n=alice,r=cn,1=x"}, ErrMalformed, nil, "extension"},
		{"repeated extension", step{first: "n,,n=alice,r=cn,a=1,a=2"}, ErrMalformed, nil, "repeats"},
		{"token auth", step{first: "n,,n=alice,r=cn,tokenauth=true"}, ErrAuthenticationFailed, nil, "delegation"},
		{"NUL", step{first: "n,,n=al\x00ice,r=cn"}, ErrMalformed, nil, "NUL"},
		{"not utf-8", step{first: "n,,n=al\xffice,r=cn"}, ErrMalformed, nil, "UTF-8"},
		{"altered nonce", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn", sf, nonce+"x")
		}}, nil, ErrAuthenticationFailed, "nonce"},
		{"client nonce only", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn", sf, "cn")
		}}, nil, ErrAuthenticationFailed, "nonce"},
		{"channel binding mismatch", step{"n,,n=alice,r=cn", ok("y,,")}, nil, ErrMalformed, "channel binding"},
		{"authzid dropped from c=", step{"n,a=alice,n=alice,r=cn", ok("n,,")}, nil, ErrMalformed, "channel binding"},
		{"tampered proof", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			f := finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn", sf, nonce)
			i := strings.LastIndex(f, "p=") + 2
			b := []byte(f)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}}, nil, ErrAuthenticationFailed, "wrong password"},
		{"altered first bare", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cnX", sf, nonce)
		}}, nil, ErrAuthenticationFailed, "wrong password"},
		{"proof not last", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn", sf, nonce) + ",x=1"
		}}, nil, ErrMalformed, "p="},
		{"short proof", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return "c=biws,r=" + nonce + ",p=AAAA"
		}}, nil, ErrMalformed, "length"},
		{"proof not base64", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return "c=biws,r=" + nonce + ",p=" + strings.Repeat("!", 44)
		}}, nil, ErrMalformed, "base64"},
		{"final truncated", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return "c=biws,r=" + nonce
		}}, nil, ErrMalformed, "truncated"},
		{"final bad extension", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			f := finalFor(t, ScramSHA256, pw, "n,,", "n=alice,r=cn", sf, nonce)
			i := strings.LastIndex(f, ",p=")
			return f[:i] + ",=x" + f[i:]
		}}, nil, ErrMalformed, "extension"},
		{"final oversized", step{"n,,n=alice,r=cn", func(t *testing.T, sf, nonce string) string {
			return strings.Repeat("x", MaxTokenSize+1)
		}}, nil, ErrMalformed, "exceeds"},
		{"first oversized", step{first: "n,,n=alice,r=" + strings.Repeat("x", MaxTokenSize)}, ErrMalformed, nil, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := NewScram(ScramSHA256, st.lookup)
			s.(*scramServer).serverNonce = "SN"
			reply, done, err := s.Step([]byte(tt.step.first))
			if tt.wantFirst != nil {
				if !errors.Is(err, tt.wantFirst) || !strings.Contains(err.Error(), tt.wantMsg) || done || reply != nil {
					t.Fatalf("first Step = %q, %v, %v; want %v containing %q", reply, done, err, tt.wantFirst, tt.wantMsg)
				}
				return
			}
			if err != nil || done {
				t.Fatalf("first Step: %v", err)
			}
			nonce := strings.TrimPrefix(strings.Split(string(reply), ",")[0], "r=")
			reply, done, err = s.Step([]byte(tt.step.final(t, string(reply), nonce)))
			if tt.wantFinal == nil {
				if err != nil || !done || !strings.HasPrefix(string(reply), "v=") || s.Username() != "alice" {
					t.Fatalf("final Step = %q, %v, %v", reply, done, err)
				}
				return
			}
			if !errors.Is(err, tt.wantFinal) || !strings.Contains(err.Error(), tt.wantMsg) || done || reply != nil || s.Username() != "" {
				t.Fatalf("final Step = %q, %v, %v; want %v containing %q", reply, done, err, tt.wantFinal, tt.wantMsg)
			}
		})
	}
}

// Every proper prefix of a valid message is refused without a panic.
func TestScramTruncated(t *testing.T) {
	st := newStore(t, MinIterations, map[string]string{"alice": "alice-secret"})
	first := "n,,n=alice,r=cn"
	// Prefixes ending inside the nonce are valid messages with a shorter nonce.
	for i := 0; i < len(first)-len("cn")+1; i++ {
		s, _ := NewScram(ScramSHA256, st.lookup)
		if _, _, err := s.Step([]byte(first[:i])); !errors.Is(err, ErrMalformed) {
			t.Fatalf("client-first prefix %q: %v", first[:i], err)
		}
	}
	s, _ := NewScram(ScramSHA256, st.lookup)
	s.(*scramServer).serverNonce = "SN"
	sf, _, err := s.Step([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	final := finalFor(t, ScramSHA256, "alice-secret", "n,,", "n=alice,r=cn", string(sf), "cnSN")
	for i := 0; i < len(final); i++ {
		s, _ := NewScram(ScramSHA256, st.lookup)
		s.(*scramServer).serverNonce = "SN"
		if _, _, err := s.Step([]byte(first)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Step([]byte(final[:i])); err == nil {
			t.Fatalf("client-final prefix %q accepted", final[:i])
		}
	}
}

func TestSaslname(t *testing.T) {
	for _, name := range []string{"a", "a,b", "a=b", "=2C", ",=,=", "zoë"} {
		enc := encodeSaslname(name)
		if strings.ContainsRune(enc, ',') {
			t.Fatalf("encode(%q) = %q", name, enc)
		}
		if dec, ok := decodeSaslname(enc); !ok || dec != name {
			t.Fatalf("decode(encode(%q)) = %q, %v", name, dec, ok)
		}
	}
	for _, bad := range []string{"", "=", "a=", "a=2", "a=2c", "a=3d", "a=41"} {
		if _, ok := decodeSaslname(bad); ok {
			t.Fatalf("decode(%q) accepted", bad)
		}
	}
}

// rfcVector runs a published SCRAM example through our server and our
// client, checking every message byte for byte.
func rfcVector(t *testing.T, mech, password, cnonce, snonce, salt, clientFirst, serverFirst, clientFinal, serverFinal string) {
	saltBytes, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewCredential(mech, []byte(password), saltBytes, 4096)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(m, u string) (Credential, bool) { return cred, m == mech && u == "user" }

	s, err := NewScram(mech, lookup)
	if err != nil {
		t.Fatal(err)
	}
	s.(*scramServer).serverNonce = snonce
	if reply, _, err := s.Step([]byte(clientFirst)); err != nil || string(reply) != serverFirst {
		t.Fatalf("server-first = %q, %v", reply, err)
	}
	if reply, done, err := s.Step([]byte(clientFinal)); err != nil || !done || string(reply) != serverFinal {
		t.Fatalf("server-final = %q, %v, %v", reply, done, err)
	}

	c, err := NewScramClient(mech, "user", password)
	if err != nil {
		t.Fatal(err)
	}
	c.nonce = cnonce
	if got := string(c.First()); got != clientFirst {
		t.Fatalf("client-first = %q", got)
	}
	if got, err := c.Step([]byte(serverFirst)); err != nil || string(got) != clientFinal {
		t.Fatalf("client-final = %q, %v", got, err)
	}
	if got, err := c.Step([]byte(serverFinal)); err != nil || got != nil {
		t.Fatalf("verifying server-final: %q, %v", got, err)
	}
}

// RFC 7677 section 3.
func TestScramRFC7677(t *testing.T) {
	rfcVector(t, ScramSHA256, "pencil", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "W22ZaJ0SNY7soEsUEjb6gQ==",
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
}

// RFC 5802 section 5, with SCRAM-SHA-1 registered for this test only (the
// broker never offers SHA-1).
func TestScramRFC5802(t *testing.T) {
	scramMechs["SCRAM-SHA-1"] = &scramMech{"SCRAM-SHA-1", sha1.New}
	defer delete(scramMechs, "SCRAM-SHA-1")
	rfcVector(t, "SCRAM-SHA-1", "pencil", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j", "QSXCR+Q6sek8bf92",
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
}

func TestScramClientRejects(t *testing.T) {
	const sfOK = "r=cnSN,s=QSXCR+Q6sek8bf92,i=4096"
	tests := []struct {
		name        string
		serverFirst string
		serverFinal string // checked only if serverFirst is accepted
		want        error
	}{
		{"nonce not extended", "r=cn,s=QSXCR+Q6sek8bf92,i=4096", "", ErrAuthenticationFailed},
		{"nonce replaced", "r=xxSN,s=QSXCR+Q6sek8bf92,i=4096", "", ErrAuthenticationFailed},
		{"too few iterations", "r=cnSN,s=QSXCR+Q6sek8bf92,i=4095", "", ErrAuthenticationFailed},
		{"too many iterations", "r=cnSN,s=QSXCR+Q6sek8bf92,i=999999999", "", ErrAuthenticationFailed},
		{"signed iterations", "r=cnSN,s=QSXCR+Q6sek8bf92,i=+4096", "", ErrMalformed},
		{"bad salt", "r=cnSN,s=!!,i=4096", "", ErrMalformed},
		{"empty salt", "r=cnSN,s=,i=4096", "", ErrMalformed},
		{"mandatory ext", "m=x,r=cnSN,s=QSXCR+Q6sek8bf92,i=4096", "", ErrMalformed},
		{"truncated", "r=cnSN,s=QSXCR+Q6sek8bf92", "", ErrMalformed},
		{"server error", sfOK, "e=invalid-proof", ErrAuthenticationFailed},
		{"bad signature", sfOK, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", ErrAuthenticationFailed},
		{"short signature", sfOK, "v=AAAA", ErrAuthenticationFailed},
		{"no v=", sfOK, "x=1", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := NewScramClient(ScramSHA256, "user", "pencil")
			c.nonce = "cn"
			c.First()
			_, err := c.Step([]byte(tt.serverFirst))
			if tt.serverFinal != "" {
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Step([]byte(tt.serverFinal))
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := c.Step([]byte(sfOK)); !errors.Is(err, ErrIllegalState) {
				t.Fatalf("Step after failure: %v", err)
			}
		})
	}
	c, _ := NewScramClient(ScramSHA256, "user", "pencil")
	if _, err := c.Step([]byte(sfOK)); !errors.Is(err, ErrIllegalState) {
		t.Fatalf("Step before First: %v", err)
	}
	if !bytes.Equal(c.First(), c.First()) {
		t.Fatal("First is not idempotent")
	}
}

func TestConstructors(t *testing.T) {
	if _, err := NewScram("SCRAM-SHA-1", func(string, string) (Credential, bool) { return Credential{}, false }); err == nil {
		t.Fatal("NewScram accepted SCRAM-SHA-1")
	}
	if _, err := NewScram(ScramSHA256, nil); err == nil {
		t.Fatal("NewScram accepted a nil lookup")
	}
	for _, tt := range []struct{ mech, user, pw string }{{"PLAIN", "u", "p"}, {ScramSHA256, "", "p"}, {ScramSHA256, "u", ""}, {ScramSHA256, "u\x00", "p"}} {
		if _, err := NewScramClient(tt.mech, tt.user, tt.pw); err == nil {
			t.Fatalf("NewScramClient%q accepted", tt)
		}
	}
	salt := NewSalt()
	for _, tt := range []struct {
		mech  string
		pw    string
		salt  []byte
		iters int
	}{
		{"PLAIN", "p", salt, 4096}, {ScramSHA256, "", salt, 4096}, {ScramSHA256, "p", nil, 4096},
		{ScramSHA256, "p", salt, MinIterations - 1}, {ScramSHA512, "p", salt, MaxIterations + 1},
	} {
		if _, err := NewCredential(tt.mech, []byte(tt.pw), tt.salt, tt.iters); err == nil {
			t.Fatalf("NewCredential(%q, %d) accepted", tt.mech, tt.iters)
		}
	}
	// CredentialFromSaltedPassword agrees with NewCredential.
	c1, err := NewCredential(ScramSHA512, []byte("pw"), salt, MaxIterations)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := lookupMech(ScramSHA512)
	salted, _ := saltedPassword(m, []byte("pw"), salt, MaxIterations)
	c2, err := CredentialFromSaltedPassword(ScramSHA512, salt, MaxIterations, salted)
	if err != nil || !bytes.Equal(c1.StoredKey, c2.StoredKey) || !bytes.Equal(c1.ServerKey, c2.ServerKey) || c2.Mechanism != ScramSHA512 {
		t.Fatalf("CredentialFromSaltedPassword = %+v, %v", c2, err)
	}
	salt[0] ^= 1
	if bytes.Equal(c1.Salt, salt) {
		t.Fatal("credential aliases the caller's salt")
	}
	if _, err := CredentialFromSaltedPassword(ScramSHA512, salt, MaxIterations, salted[:10]); err == nil {
		t.Fatal("short salted password accepted")
	}
}

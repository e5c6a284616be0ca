package sasl

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"unicode/utf8"
)

// PlainUsers checks PLAIN passwords: user name -> password, as given by
// the listener's JAAS user_<name>="password" options. Sessions read the
// map without locking, so it must not be modified while any session made
// from it may still Step; replace the whole map instead.
type PlainUsers map[string]string

// NewPlain returns a PLAIN (RFC 4616) server session checking against
// users. The exchange is one client token and an empty reply.
func NewPlain(users PlainUsers) Session {
	return &plainServer{users: users}
}

type plainServer struct {
	users PlainUsers
	st    state
	user  string // set only on success
}

func (s *plainServer) Username() string { return s.user }

func (s *plainServer) Step(token []byte) ([]byte, bool, error) {
	if s.st != stateStart {
		return nil, false, ErrIllegalState
	}
	s.st = stateFailed // until proven otherwise: any return below ends the exchange
	user, err := s.check(token)
	if err != nil {
		return nil, false, err
	}
	s.st = stateDone
	s.user = user
	return []byte{}, true, nil
}

// check parses message = [authzid] NUL authcid NUL passwd and verifies
// the password; it returns the authenticated user.
func (s *plainServer) check(token []byte) (string, error) {
	if len(token) > MaxTokenSize {
		return "", fmt.Errorf("%w: PLAIN token of %d bytes exceeds %d", ErrMalformed, len(token), MaxTokenSize)
	}
	i := bytes.IndexByte(token, 0)
	if i < 0 {
		return "", fmt.Errorf("%w: PLAIN token has no NUL separator", ErrMalformed)
	}
	j := bytes.IndexByte(token[i+1:], 0)
	if j < 0 {
		return "", fmt.Errorf("%w: PLAIN token has one NUL separator, want two", ErrMalformed)
	}
	j += i + 1
	authzid, authcid, passwd := token[:i], token[i+1:j], token[j+1:]
	if bytes.IndexByte(passwd, 0) >= 0 {
		return "", fmt.Errorf("%w: PLAIN token has more than two NUL separators", ErrMalformed)
	}
	if len(authcid) == 0 {
		return "", fmt.Errorf("%w: PLAIN username is empty", ErrMalformed)
	}
	if len(passwd) == 0 {
		return "", fmt.Errorf("%w: PLAIN password is empty", ErrMalformed)
	}
	if !utf8.Valid(token) {
		return "", fmt.Errorf("%w: PLAIN token is not UTF-8", ErrMalformed)
	}
	// Kafka has no proxy authorization: a client may only act as itself.
	if len(authzid) != 0 && !bytes.Equal(authzid, authcid) {
		return "", fmt.Errorf("%w: PLAIN authorization id differs from the username", ErrAuthenticationFailed)
	}
	user := string(authcid)
	if !plainPasswordOK(s.users, user, passwd) {
		return "", fmt.Errorf("%w: invalid PLAIN username or password", ErrAuthenticationFailed)
	}
	return user, nil
}

// plainPasswordOK compares in time independent of the password's content
// and length and of whether user exists: both sides are hashed to a fixed
// size first (subtle.ConstantTimeCompare returns early on a length
// mismatch), and an unknown user is compared against a dummy.
func plainPasswordOK(users PlainUsers, user string, passwd []byte) bool {
	want, known := users[user]
	if !known {
		want = "\x00unknown user" // unreachable by a client password: it has no NUL
	}
	a := sha256.Sum256([]byte(want))
	b := sha256.Sum256(passwd)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && known
}

// PlainToken builds the PLAIN client message for user and password, with
// an empty authorization id. It does not validate its arguments; a user
// or password containing NUL yields a token the server rejects.
func PlainToken(user, password string) []byte {
	b := make([]byte, 0, 2+len(user)+len(password))
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	b = append(b, password...)
	return b
}

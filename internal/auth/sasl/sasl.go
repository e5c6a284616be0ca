package sasl

import (
	"errors"
)

// Mechanism names, as sent in SaslHandshake and sasl.enabled.mechanisms.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// MaxTokenSize bounds one client token. Real tokens are well under a
// kilobyte; the bound keeps a hostile client from making the server scan
// or copy large buffers. The connection handler should bound its reads
// too; this is the mechanism's own limit.
const MaxTokenSize = 1 << 20

var (
	// ErrAuthenticationFailed means the client is not who it claims, or
	// asks for something this server refuses: answer
	// SASL_AUTHENTICATION_FAILED.
	ErrAuthenticationFailed = errors.New("sasl: authentication failed")
	// ErrMalformed means a token breaks the mechanism's grammar (or is
	// too large). The client also gets SASL_AUTHENTICATION_FAILED, but a
	// malformed token points at a broken or hostile client rather than a
	// wrong password, so it is worth logging differently.
	ErrMalformed = errors.New("sasl: malformed token")
	// ErrIllegalState means Step was called after the exchange had ended
	// (succeeded or failed): answer ILLEGAL_SASL_STATE.
	ErrIllegalState = errors.New("sasl: step after the exchange ended")
)

// Session is one authentication exchange on one connection. It is not
// safe for concurrent use; a connection runs its exchange sequentially.
type Session interface {
	// Step consumes the client's next token and returns the server's
	// reply token (possibly empty, never framed). done=true with
	// err==nil: authenticated; Username() is then valid. Any error ends
	// the exchange, and every later Step returns ErrIllegalState.
	Step(token []byte) (reply []byte, done bool, err error)
	// Username is the authenticated user name, "" until Step has
	// returned done=true with a nil error.
	Username() string
}

// Mechanisms returns the mechanism names this package implements, in the
// order a broker would list them. The slice is the caller's.
func Mechanisms() []string {
	return []string{Plain, ScramSHA256, ScramSHA512}
}

// ClientMessage is the error text to send to the client (SaslAuthenticate's
// error_message) for an error returned by Step: fixed strings, so that the
// reply never says whether a user exists or why exactly a login failed.
func ClientMessage(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrIllegalState):
		return "Unexpected SASL request after the authentication exchange ended"
	case errors.Is(err, ErrMalformed):
		return "Authentication failed: malformed SASL token"
	default:
		return "Authentication failed: invalid username or password"
	}
}

// state is where a server session is in its exchange.
type state uint8

const (
	stateStart  state = iota // expecting the first client token
	stateFinal               // SCRAM: server-first sent, expecting client-final
	stateDone                // authenticated
	stateFailed              // an error ended the exchange
)

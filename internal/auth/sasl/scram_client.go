package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ScramClient is the client side of one SCRAM exchange, without channel
// binding or authorization id. Use: send First(); pass each server token
// to Step and send its reply while the reply is non-nil. Step on the
// server-final message verifies the server signature and returns a nil
// reply and nil error: then, and only then, the server is authenticated
// too. Not safe for concurrent use.
type ScramClient struct {
	mech     *scramMech
	user     string
	password string
	nonce    string // client nonce; tests may set it before First
	st       clientState

	firstBare string
	serverSig []byte
}

type clientState uint8

const (
	clientNew    clientState = iota // First not yet called
	clientFirst                     // client-first sent, expecting server-first
	clientFinal                     // client-final sent, expecting server-final
	clientDone                      // server verified
	clientFailed                    // an error ended the exchange
)

// NewScramClient returns a client for mechanism (ScramSHA256 or
// ScramSHA512). user must be non-empty UTF-8 without NUL; password
// non-empty.
func NewScramClient(mechanism, user, password string) (*ScramClient, error) {
	m, err := lookupMech(mechanism)
	if err != nil {
		return nil, err
	}
	if user == "" || !utf8.ValidString(user) || strings.IndexByte(user, 0) >= 0 {
		return nil, fmt.Errorf("sasl: SCRAM user name must be non-empty UTF-8 without NUL")
	}
	if password == "" {
		return nil, fmt.Errorf("sasl: empty SCRAM password")
	}
	return &ScramClient{mech: m, user: user, password: password, nonce: rand.Text()}, nil
}

// First returns the client-first message. Calling it again returns the
// same message without restarting the exchange.
func (c *ScramClient) First() []byte {
	if c.st == clientNew {
		c.firstBare = "n=" + encodeSaslname(c.user) + ",r=" + c.nonce
		c.st = clientFirst
	}
	return []byte("n,," + c.firstBare)
}

// Step consumes the server's next message and returns the client's reply:
// client-final for server-first, nil for a verified server-final. Any
// error ends the exchange; it wraps ErrAuthenticationFailed if the server
// refused us or failed to prove itself, ErrMalformed for a bad message,
// ErrIllegalState if the exchange is not expecting a server message.
func (c *ScramClient) Step(serverMsg []byte) ([]byte, error) {
	var (
		reply []byte
		err   error
	)
	switch c.st {
	case clientFirst:
		reply, err = c.final(serverMsg)
		if err == nil {
			c.st = clientFinal
			return reply, nil
		}
	case clientFinal:
		err = c.verify(serverMsg)
		if err == nil {
			c.st = clientDone
			return nil, nil
		}
	default:
		return nil, ErrIllegalState
	}
	c.st = clientFailed
	return nil, err
}

// final handles server-first and builds client-final.
func (c *ScramClient) final(msg []byte) ([]byte, error) {
	if len(msg) > MaxTokenSize {
		return nil, malformed("SCRAM token of %d bytes exceeds %d", len(msg), MaxTokenSize)
	}
	sf, err := parseServerFirst(string(msg))
	if err != nil {
		return nil, err
	}
	// The server must extend our nonce, not replace or merely echo it.
	if len(sf.nonce) <= len(c.nonce) || !strings.HasPrefix(sf.nonce, c.nonce) {
		return nil, fmt.Errorf("%w: SCRAM server nonce does not extend the client nonce", ErrAuthenticationFailed)
	}
	if sf.iterations < MinIterations || sf.iterations > MaxIterations {
		return nil, fmt.Errorf("%w: SCRAM server asks for %d iterations, outside [%d, %d]", ErrAuthenticationFailed, sf.iterations, MinIterations, MaxIterations)
	}
	salted, err := saltedPassword(c.mech, []byte(c.password), sf.salt, sf.iterations)
	if err != nil {
		return nil, fmt.Errorf("sasl: SCRAM key derivation: %w", err)
	}
	clientKey := hmacSum(c.mech, salted, []byte("Client Key"))
	storedKey := hashSum(c.mech, clientKey)
	withoutProof := "c=biws,r=" + sf.nonce // biws = base64("n,,")
	authMessage := []byte(c.firstBare + "," + string(msg) + "," + withoutProof)
	proof := hmacSum(c.mech, storedKey, authMessage)
	subtle.XORBytes(proof, proof, clientKey)
	serverKey := hmacSum(c.mech, salted, []byte("Server Key"))
	c.serverSig = hmacSum(c.mech, serverKey, authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify handles server-final: v=signature, or e=error.
func (c *ScramClient) verify(msg []byte) error {
	if len(msg) > MaxTokenSize {
		return malformed("SCRAM token of %d bytes exceeds %d", len(msg), MaxTokenSize)
	}
	s := string(msg)
	if err := checkText(s); err != nil {
		return err
	}
	field, _, _ := strings.Cut(s, ",") // extensions after v= are ignored
	if e, ok := attr(field, 'e'); ok {
		// The server's error names are fixed tokens (RFC 5802 section 7);
		// quoted, so a hostile server cannot forge log lines.
		if len(e) > 64 {
			e = e[:64]
		}
		return fmt.Errorf("%w: SCRAM server error %q", ErrAuthenticationFailed, e)
	}
	v, ok := attr(field, 'v')
	if !ok {
		return malformed("SCRAM server-final message lacks v=")
	}
	if len(v) != base64.StdEncoding.EncodedLen(len(c.serverSig)) {
		return fmt.Errorf("%w: SCRAM server signature has the wrong length", ErrAuthenticationFailed)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return malformed("SCRAM server signature is not valid base64")
	}
	if !hmac.Equal(sig, c.serverSig) {
		return fmt.Errorf("%w: SCRAM server signature does not verify", ErrAuthenticationFailed)
	}
	return nil
}

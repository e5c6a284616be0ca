package sasl

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// CredentialLookup finds the stored credential of user for mechanism;
// ok=false for an unknown user. It is called once per exchange, from
// Step, with the decoded user name (not SASLprep'd).
type CredentialLookup func(mechanism, user string) (Credential, bool)

// NewScram returns a SCRAM server session for mechanism (ScramSHA256 or
// ScramSHA512). The exchange is two client tokens: client-first, answered
// by server-first; client-final, answered by server-final and done.
func NewScram(mechanism string, lookup CredentialLookup) (Session, error) {
	m, err := lookupMech(mechanism)
	if err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, fmt.Errorf("sasl: nil CredentialLookup")
	}
	return &scramServer{mech: m, lookup: lookup}, nil
}

type scramServer struct {
	mech   *scramMech
	lookup CredentialLookup
	st     state

	// serverNonce, when set before the first Step, replaces the random
	// server nonce part; only tests set it (the RFC 7677 vector fixes it).
	serverNonce string

	// Set by the client-first step, used by the client-final step.
	cred        Credential
	credProblem string // why cred is fake; "" for a real user's credential
	user        string
	gs2Header   string
	firstBare   string // client-first-message-bare
	serverFirst string
	nonce       string // client nonce + server nonce

	authenticated string // Username(); set only on success
}

func (s *scramServer) Username() string { return s.authenticated }

func (s *scramServer) Step(token []byte) ([]byte, bool, error) {
	var (
		reply []byte
		err   error
	)
	switch s.st {
	case stateStart:
		reply, err = s.first(token)
		if err == nil {
			s.st = stateFinal
			return reply, false, nil
		}
	case stateFinal:
		reply, err = s.final(token)
		if err == nil {
			s.st = stateDone
			s.authenticated = s.user
			return reply, true, nil
		}
	default:
		return nil, false, ErrIllegalState
	}
	s.st = stateFailed
	return nil, false, err
}

// first handles client-first and returns server-first.
func (s *scramServer) first(token []byte) ([]byte, error) {
	if len(token) > MaxTokenSize {
		return nil, malformed("SCRAM token of %d bytes exceeds %d", len(token), MaxTokenSize)
	}
	cf, err := parseClientFirst(string(token))
	if err != nil {
		return nil, err
	}
	if cf.tokenAuth {
		// Delegation tokens (KIP-48) authenticate through SCRAM with this
		// extension; samsa has none, so no token can be valid.
		return nil, fmt.Errorf("%w: SCRAM delegation token authentication is not supported", ErrAuthenticationFailed)
	}
	cred, ok := s.lookup(s.mech.name, cf.user)
	switch {
	case !ok:
		s.credProblem = "unknown user"
	case !s.mech.valid(cred):
		s.credProblem = "the stored credential is unusable (wrong mechanism, key sizes or iterations)"
	}
	if s.credProblem != "" {
		// Carry on with a fake credential: refusing here would tell the
		// client the user does not exist.
		cred = fakeCredential(s.mech, cf.user)
	}
	snonce := s.serverNonce
	if snonce == "" {
		snonce = rand.Text() // base32: printable, no ','
	}
	s.cred = cred
	s.user = cf.user
	s.gs2Header = cf.gs2Header
	s.firstBare = cf.bare
	s.nonce = cf.nonce + snonce
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + fmt.Sprintf(",i=%d", cred.Iterations)
	return []byte(s.serverFirst), nil
}

// final handles client-final, verifies the proof and returns server-final.
func (s *scramServer) final(token []byte) ([]byte, error) {
	if len(token) > MaxTokenSize {
		return nil, malformed("SCRAM token of %d bytes exceeds %d", len(token), MaxTokenSize)
	}
	size := s.mech.size()
	cf, err := parseClientFinal(string(token), size)
	if err != nil {
		return nil, err
	}
	// With flag 'n' the c= value is the base64 of the gs2 header alone;
	// comparing encoded forms also rejects non-canonical base64.
	if cf.channelBinding != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return nil, malformed("SCRAM channel binding does not match the gs2 header")
	}
	// Kafka accepts a final nonce that ends with the combined nonce
	// (ScramSaslServer checks endsWith), and librdkafka relies on it: it
	// sends its own nonce again in front of the combined one. The proof
	// covers the whole client-final message, so this admits nothing a
	// stricter check would refuse for an honest client.
	if !strings.HasSuffix(cf.nonce, s.nonce) {
		return nil, fmt.Errorf("%w: SCRAM nonce does not match", ErrAuthenticationFailed)
	}
	authMessage := []byte(s.firstBare + "," + s.serverFirst + "," + cf.withoutProof)
	clientSig := hmacSum(s.mech, s.cred.StoredKey, authMessage)
	// ClientKey = ClientProof XOR ClientSignature; both are size bytes
	// (the parser checked the proof, valid/fakeCredential the keys).
	clientKey := make([]byte, size)
	subtle.XORBytes(clientKey, cf.proof, clientSig)
	if subtle.ConstantTimeCompare(hashSum(s.mech, clientKey), s.cred.StoredKey) != 1 || s.credProblem != "" {
		if s.credProblem != "" {
			return nil, fmt.Errorf("%w: SCRAM proof rejected: %s", ErrAuthenticationFailed, s.credProblem)
		}
		return nil, fmt.Errorf("%w: SCRAM proof rejected: wrong password", ErrAuthenticationFailed)
	}
	serverSig := hmacSum(s.mech, s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

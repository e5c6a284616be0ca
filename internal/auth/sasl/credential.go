package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// Iteration bounds Kafka enforces on SCRAM credentials: a
// AlterUserScramCredentials upsertion outside them is answered
// UNACCEPTABLE_CREDENTIAL, and our client refuses a server asking for
// fewer (too weak) or more (a cheap way to make the client burn CPU).
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = 4096
)

// SaltSize is the length of the salts NewSalt makes, and of the fake
// credentials' salts for unknown users.
const SaltSize = 32

// scramMech describes one SCRAM mechanism.
type scramMech struct {
	name string
	hash func() hash.Hash
}

func (m *scramMech) size() int { return m.hash().Size() }

// scramMechs holds the supported SCRAM mechanisms. Tests add SCRAM-SHA-1
// to check the RFC 5802 example; the broker never offers it.
var scramMechs = map[string]*scramMech{
	ScramSHA256: {ScramSHA256, sha256.New},
	ScramSHA512: {ScramSHA512, sha512.New},
}

func lookupMech(name string) (*scramMech, error) {
	m, ok := scramMechs[name]
	if !ok {
		return nil, fmt.Errorf("sasl: unknown SCRAM mechanism %q", name)
	}
	return m, nil
}

// Credential is what the broker stores for one SCRAM user and mechanism:
// enough to verify a client's proof and to prove the server's identity,
// but not enough to log in as the user (RFC 5802 section 3). It never
// contains the password.
type Credential struct {
	Mechanism  string // ScramSHA256 or ScramSHA512
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// NewSalt returns SaltSize random bytes.
func NewSalt() []byte {
	b := make([]byte, SaltSize)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return b
}

// NewCredential derives a credential from a password: SaltedPassword =
// Hi(password, salt, iterations) (PBKDF2 with HMAC-H and one block),
// ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
// ServerKey = HMAC(SaltedPassword, "Server Key"). The password is used as
// its UTF-8 bytes without SASLprep, as Kafka does.
func NewCredential(mechanism string, password []byte, salt []byte, iterations int) (Credential, error) {
	m, err := lookupMech(mechanism)
	if err != nil {
		return Credential{}, err
	}
	if len(password) == 0 {
		return Credential{}, fmt.Errorf("sasl: empty SCRAM password")
	}
	if err := checkSaltIterations(salt, iterations); err != nil {
		return Credential{}, err
	}
	salted, err := saltedPassword(m, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return credentialFromSalted(m, salt, iterations, salted), nil
}

// CredentialFromSaltedPassword builds a credential from a salted password,
// which is what an AlterUserScramCredentials upsertion carries (the
// client runs Hi itself, so the broker never sees the password).
func CredentialFromSaltedPassword(mechanism string, salt []byte, iterations int, salted []byte) (Credential, error) {
	m, err := lookupMech(mechanism)
	if err != nil {
		return Credential{}, err
	}
	if err := checkSaltIterations(salt, iterations); err != nil {
		return Credential{}, err
	}
	if len(salted) != m.size() {
		return Credential{}, fmt.Errorf("sasl: %s salted password is %d bytes, want %d", m.name, len(salted), m.size())
	}
	return credentialFromSalted(m, salt, iterations, salted), nil
}

func checkSaltIterations(salt []byte, iterations int) error {
	if len(salt) == 0 {
		return fmt.Errorf("sasl: empty SCRAM salt")
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return fmt.Errorf("sasl: SCRAM iterations %d outside [%d, %d]", iterations, MinIterations, MaxIterations)
	}
	return nil
}

func saltedPassword(m *scramMech, password []byte, salt []byte, iterations int) ([]byte, error) {
	// Hi is PBKDF2 asked for exactly one block (RFC 5802 section 2.2).
	return pbkdf2.Key(m.hash, string(password), salt, iterations, m.size())
}

func credentialFromSalted(m *scramMech, salt []byte, iterations int, salted []byte) Credential {
	clientKey := hmacSum(m, salted, []byte("Client Key"))
	return Credential{
		Mechanism:  m.name,
		Salt:       append([]byte(nil), salt...), // not aliasing the caller's slice
		Iterations: iterations,
		StoredKey:  hashSum(m, clientKey),
		ServerKey:  hmacSum(m, salted, []byte("Server Key")),
	}
}

// valid reports whether c can be used for m: a stored credential that is
// not (corrupt, or for another mechanism) is treated like an unknown user.
func (m *scramMech) valid(c Credential) bool {
	return c.Mechanism == m.name && len(c.Salt) > 0 &&
		c.Iterations >= MinIterations && c.Iterations <= MaxIterations &&
		len(c.StoredKey) == m.size() && len(c.ServerKey) == m.size()
}

func hmacSum(m *scramMech, key []byte, parts ...[]byte) []byte {
	h := hmac.New(m.hash, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func hashSum(m *scramMech, b []byte) []byte {
	h := m.hash()
	h.Write(b)
	return h.Sum(nil)
}

// fakeKey keys the fake credentials of unknown users. It is random per
// process, so a client cannot compute fake salts offline; within a
// process the same name always gets the same salt, so asking twice does
// not reveal that a user is fake.
var fakeKey = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

// fakeCredential is the credential the server pretends an unknown user
// has: deterministic per (mechanism, user), shaped like a real one, and
// with keys no password derives (they are not derived from any).
func fakeCredential(m *scramMech, user string) Credential {
	derive := func(label string) []byte {
		return hmacSum(m, fakeKey, []byte(label), []byte{0}, []byte(m.name), []byte{0}, []byte(user))
	}
	salt := derive("salt")
	for len(salt) < SaltSize {
		salt = append(salt, derive("salt more")...)
	}
	return Credential{
		Mechanism:  m.name,
		Salt:       salt[:SaltSize],
		Iterations: DefaultIterations,
		StoredKey:  derive("stored key"),
		ServerKey:  derive("server key"),
	}
}

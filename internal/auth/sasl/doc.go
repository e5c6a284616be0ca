// Package sasl implements the server side of the SASL mechanisms a Kafka
// broker offers — PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512
// (RFC 5802, RFC 7677, Kafka's KIP-84 and KIP-554) — and a small SCRAM and
// PLAIN client for tests and for the broker's own inter-broker logins.
//
// The pieces:
//
//   - Session is one exchange on one connection. The connection handler
//     feeds it each client token (the auth_bytes of a SaslAuthenticate
//     request, or one length-prefixed frame in the pre-KIP-152 raw
//     framing) and sends back the reply; tokens and replies are raw
//     mechanism bytes, framing is the caller's. Step returns done=true
//     and a nil error once the client is authenticated; any error ends the
//     exchange.
//   - NewPlain checks PLAIN logins against PlainUsers, the user_<name>
//     options of the listener's JAAS configuration (see internal/auth/jaas).
//   - NewScram runs a SCRAM exchange against stored Credentials, found by a
//     CredentialLookup. A Credential holds the salt, iteration count,
//     StoredKey and ServerKey, never the password: NewCredential derives
//     one from a password and CredentialFromSaltedPassword from the
//     salted password that AlterUserScramCredentials carries.
//   - ScramClient and PlainToken produce the client side.
//
// Errors: every failure wraps one of ErrAuthenticationFailed (wrong or
// unknown credentials, or a request we refuse such as a foreign
// authorization id), ErrMalformed (a token outside the mechanism's
// grammar) or ErrIllegalState (a Step after the exchange ended). The first
// two are SASL_AUTHENTICATION_FAILED on the wire, the last
// ILLEGAL_SASL_STATE. Error strings are for the broker's log: they never
// contain a password, a proof or a client-supplied string, but they may
// say more than a client should learn (such as a stored credential being
// unusable), so send the client ClientMessage(err) instead.
//
// An unknown SCRAM user is not refused at the first message: the server
// answers with a fake credential derived from the user name under a
// per-process key, so that the exchange looks the same as for a real
// user until the proof fails.
package sasl

package cli

// Connecting to a secured cluster: TLS and SASL, from a Kafka client
// properties file (--command-config, as kafka-*.sh take) and flags that
// override it.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/samsa-io/samsa/internal/config"
)

// Environment variables for the security settings.
const (
	envCommandConfig = "SAMSA_COMMAND_CONFIG"
	envPassword      = "SAMSA_PASSWORD"
)

// securityOptions are the connection security flags.
type securityOptions struct {
	commandConfig string
	protocol      string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	mechanism     string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	user          string
	password      string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	insecure      bool
}

func (s *securityOptions) addFlags(pf *pflag.FlagSet) {
	pf.StringVar(&s.commandConfig, "command-config", os.Getenv(envCommandConfig),
		"a Kafka client properties file (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...); env "+envCommandConfig)
	pf.StringVar(&s.protocol, "security-protocol", "", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: from --command-config, else PLAINTEXT, or SASL_PLAINTEXT when --user is given)")
	pf.StringVar(&s.mechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default PLAIN)")
	pf.StringVar(&s.user, "user", "", "SASL user name")
	pf.StringVar(&s.password, "password", "", "SASL password (better: env "+envPassword+", which ps does not show)")
	pf.StringVar(&s.tlsCA, "tls-ca", "", "PEM file of the CA(s) that signed the brokers' certificates (turns TLS on)")
	pf.StringVar(&s.tlsCert, "tls-cert", "", "PEM client certificate, for brokers that require one (with --tls-key)")
	pf.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	pf.BoolVar(&s.insecure, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
}

var jaasOption = regexp.MustCompile(`(?s)\b(username|password)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\S+?))\s*(?:;|\s|$)`)

// jaasCredentials takes username and password out of a client's
// sasl.jaas.config (PlainLoginModule or ScramLoginModule line).
func jaasCredentials(v string) (user, pass string) {
	for _, m := range jaasOption.FindAllStringSubmatch(v, -1) {
		val := m[2]
		if m[3] != "" {
			val = m[3]
		}
		val = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(val)
		if m[1] == "username" {
			user = val
		} else {
			pass = val
		}
	}
	return user, pass
}

// resolved are the effective settings: the file's, then the flags'.
type resolved struct {
	protocol, mechanism, user, password string
	ca, cert, key                       string
	insecure, hostnameCheck             bool
}

func (s *securityOptions) resolve() (resolved, error) {
	r := resolved{hostnameCheck: true}
	if s.commandConfig != "" {
		f, err := os.Open(s.commandConfig)
		if err != nil {
			return r, usageErrorf("--command-config: %v", err)
		}
		props, err := config.ParseProperties(f)
		f.Close()
		if err != nil {
			return r, usageErrorf("--command-config %s: %v", s.commandConfig, err)
		}
		r.protocol = props["security.protocol"]
		r.mechanism = props["sasl.mechanism"]
		if v, ok := props["sasl.jaas.config"]; ok {
			r.user, r.password = jaasCredentials(v)
		}
		if v := props["sasl.username"]; v != "" {
			r.user = v
		}
		if v := props["sasl.password"]; v != "" {
			r.password = v
		}
		r.ca = firstOf(props["ssl.truststore.location"], props["ssl.ca.location"])
		if t := props["ssl.truststore.type"]; t != "" && !strings.EqualFold(t, "PEM") {
			return r, usageErrorf("--command-config: ssl.truststore.type=%s is not supported; give a PEM file", t)
		}
		r.cert = firstOf(props["ssl.certificate.location"], props["ssl.keystore.location"])
		r.key = firstOf(props["ssl.key.location"], props["ssl.keystore.location"])
		if v, ok := props["ssl.endpoint.identification.algorithm"]; ok && strings.TrimSpace(v) == "" {
			r.hostnameCheck = false
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&r.protocol, s.protocol)
	set(&r.mechanism, s.mechanism)
	set(&r.user, s.user)
	set(&r.password, os.Getenv(envPassword))
	set(&r.password, s.password)
	set(&r.ca, s.tlsCA)
	set(&r.cert, s.tlsCert)
	set(&r.key, s.tlsKey)
	r.insecure = r.insecure || s.insecure
	r.protocol = strings.ToUpper(strings.TrimSpace(r.protocol))
	if r.protocol == "" {
		switch {
		case r.user != "" && (r.ca != "" || r.insecure):
			r.protocol = "SASL_SSL"
		case r.user != "":
			r.protocol = "SASL_PLAINTEXT"
		case r.ca != "" || r.insecure:
			r.protocol = "SSL"
		default:
			r.protocol = "PLAINTEXT"
		}
	}
	r.mechanism = strings.ToUpper(strings.TrimSpace(r.mechanism))
	if r.mechanism == "" {
		r.mechanism = "PLAIN"
	}
	switch r.protocol {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return r, usageErrorf("--security-protocol %s is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", r.protocol)
	}
	switch r.mechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return r, usageErrorf("--sasl-mechanism %s is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", r.mechanism)
	}
	if strings.HasPrefix(r.protocol, "SASL_") && r.user == "" {
		return r, usageErrorf("%s needs a user: give --user (and --password or %s), or sasl.jaas.config in --command-config", r.protocol, envPassword)
	}
	return r, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// kgoOpts turns the settings into franz-go options.
func (s *securityOptions) kgoOpts() ([]kgo.Opt, error) {
	r, err := s.resolve()
	if err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if r.protocol == "SSL" || r.protocol == "SASL_SSL" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.insecure} //nolint:gosec // an explicit testing flag
		if r.ca != "" {
			pem, err := os.ReadFile(r.ca)
			if err != nil {
				return nil, usageErrorf("CA file (--tls-ca / ssl.truststore.location): %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usageErrorf("CA file %s holds no PEM certificate", r.ca)
			}
			cfg.RootCAs = pool
		}
		if r.cert != "" || r.key != "" {
			if r.cert == "" || r.key == "" {
				return nil, usageErrorf("a client certificate needs both --tls-cert and --tls-key")
			}
			pair, err := tls.LoadX509KeyPair(r.cert, r.key)
			if err != nil {
				return nil, usageErrorf("client certificate: %v", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		if !r.hostnameCheck && !r.insecure {
			// ssl.endpoint.identification.algorithm= (empty): verify the
			// chain but not the host name, as Kafka clients do.
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				opts := x509.VerifyOptions{Roots: cfg.RootCAs, Intermediates: x509.NewCertPool()}
				for _, c := range cs.PeerCertificates[1:] {
					opts.Intermediates.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(opts)
				return err
			}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(r.protocol, "SASL_") {
		switch r.mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: r.user, Pass: r.password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: r.user, Pass: r.password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: r.user, Pass: r.password}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// securityError explains authentication and authorization failures; nil
// when err is neither.
func (s *securityOptions) securityError(err error) error {
	user := s.user
	if r, rerr := s.resolve(); rerr == nil {
		user = r.user
	}
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("authentication failed for user %q (SASL_AUTHENTICATION_FAILED): check --user/--password or sasl.jaas.config%w", user, silentWrap{err})
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Errorf("the broker does not enable this SASL mechanism (UNSUPPORTED_SASL_MECHANISM): choose another with --sasl-mechanism%w", silentWrap{err})
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return fmt.Errorf("user %q is not authorized for this cluster operation (CLUSTER_AUTHORIZATION_FAILED): ask an admin for an ACL (samsa acl add)%w", user, silentWrap{err})
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return fmt.Errorf("user %q is not authorized for the group (GROUP_AUTHORIZATION_FAILED): ask an admin for an ACL (samsa acl add --group)%w", user, silentWrap{err})
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("user %q is not authorized for the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)%w", user, silentWrap{err})
	}
	return nil
}

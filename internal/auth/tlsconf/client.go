package tlsconf

import "crypto/tls"

// NewClient returns the TLS configuration for samsa's own connections to a
// broker (inter-broker, CLI): the truststore as RootCAs (the system roots
// when none is set), the keystore, if set, as the client certificate, and
// serverName checked against the broker's certificate (Kafka's default
// ssl.endpoint.identification.algorithm=https). The material is read once.
func NewClient(s Settings, serverName string) (*tls.Config, error) {
	p, err := s.params()
	if err != nil {
		return nil, err
	}
	m, err := s.load(false)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		ServerName:   serverName,
		RootCAs:      m.pool,
		MinVersion:   p.minVersion,
		MaxVersion:   p.maxVersion,
		CipherSuites: p.cipherSuites,
	}
	if m.cert != nil {
		cfg.Certificates = []tls.Certificate{*m.cert}
	}
	return cfg, nil
}

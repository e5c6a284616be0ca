package tlsconf

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"
)

// Server builds and keeps the server TLS configuration of one listener. Its
// key, certificate chain and truststore can be replaced at run time (Reload,
// Watch); everything else is fixed at NewServer.
type Server struct {
	settings Settings
	params   params
	logf     func(msg string, args ...any)
	base     *tls.Config

	reloadMu sync.Mutex                 // serialises Reload
	cur      atomic.Pointer[generation] // never nil after NewServer
}

// generation is one loaded material and the handshake config built from it.
// Invariant: cfg is never modified after it is stored in Server.cur, so
// handshakes may share it without locks.
type generation struct {
	m   *material
	cfg *tls.Config
}

// NewServer validates s completely — store types, files, key/certificate
// match, truststore, ssl.client.auth, protocols, cipher suites and mapping
// rules — and returns a Server serving the loaded material. logf (may be nil)
// receives Watch's reports.
func NewServer(s Settings, logf func(msg string, args ...any)) (*Server, error) {
	p, err := s.params()
	if err != nil {
		return nil, err
	}
	if p.clientAuth != tls.NoClientCert && s.TruststoreLocation == "" && s.TruststoreCertificates == "" {
		// Go would fall back to the system roots, which would let any
		// publicly issued certificate name a principal; Kafka's fallback is
		// the JVM's cacerts, as surprising. Require an explicit truststore.
		return nil, s.errorf("ssl.client.auth", "%s needs a truststore to verify client certificates: set %s or %s",
			s.ClientAuth, s.key("ssl.truststore.location"), s.key("ssl.truststore.certificates"))
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	srv := &Server{settings: s, params: p, logf: logf}
	m, err := s.load(true)
	if err != nil {
		return nil, err
	}
	g, err := srv.generation(m)
	if err != nil {
		return nil, err
	}
	srv.cur.Store(g)
	srv.base = &tls.Config{
		MinVersion: p.minVersion,
		MaxVersion: p.maxVersion,
		// Each handshake takes the generation current when it starts, so a
		// Reload affects new connections only; established ones keep their
		// keys.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return srv.cur.Load().cfg, nil
		},
	}
	return srv, nil
}

func (srv *Server) generation(m *material) (*generation, error) {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{*m.cert},
		ClientCAs:    m.pool,
		ClientAuth:   srv.params.clientAuth,
		MinVersion:   srv.params.minVersion,
		MaxVersion:   srv.params.maxVersion,
		CipherSuites: srv.params.cipherSuites,
	}
	// A session ticket carries the client's verified chain; resuming it
	// skips verification. Fresh ticket keys per generation make sessions
	// from before a reload (perhaps before a CA was removed from the
	// truststore) unresumable.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	cfg.SetSessionTicketKeys([][32]byte{key})
	return &generation{m: m, cfg: cfg}, nil
}

// Config returns the listener's TLS configuration. It stays valid across
// reloads: every handshake uses the material current when it starts.
// Callers must not modify it.
func (srv *Server) Config() *tls.Config { return srv.base }

// Reload re-reads the keystore and truststore now. On error the previous
// material stays in use and the error (naming the key at fault) is returned
// for the caller to log.
func (srv *Server) Reload() error {
	_, err := srv.reload(false)
	return err
}

// reload loads the stores; with ifChanged it does nothing when the files'
// digest equals the current one. It reports whether new material went live.
func (srv *Server) reload(ifChanged bool) (bool, error) {
	srv.reloadMu.Lock()
	defer srv.reloadMu.Unlock()
	m, err := srv.settings.load(true)
	if err != nil {
		return false, err
	}
	if ifChanged && m.digest == srv.cur.Load().m.digest {
		return false, nil
	}
	g, err := srv.generation(m)
	if err != nil {
		return false, err
	}
	srv.cur.Store(g)
	return true, nil
}

// Watch polls the store files every interval until ctx ends and reloads
// when their content changes (a content digest, so an atomic rename, a
// Kubernetes secret's symlink swap and an in-place rewrite are all seen).
// A failed load is logged once per distinct file content and retried when
// the files change again. Logs never include key material.
func (srv *Server) Watch(ctx context.Context, every time.Duration) {
	if len(srv.settings.files()) == 0 || every <= 0 {
		return // inline stores cannot change
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// failedState identifies the file content (or read error) of the last
	// failed attempt, so that a broken file is reported once, not per tick.
	var failedState [sha256.Size]byte
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, state, err := srv.settings.readFiles()
		if err != nil {
			state = sha256.Sum256([]byte(err.Error()))
		} else if state == srv.cur.Load().m.digest {
			failed = false
			continue
		}
		if failed && state == failedState {
			continue
		}
		changed, err := srv.reload(true)
		switch {
		case err != nil:
			failedState, failed = state, true
			srv.logf("tls: reloading certificates failed; keeping the previous ones",
				"listener", srv.settings.ListenerName, "err", err)
		case changed:
			failed = false
			g := srv.cur.Load()
			leaf := g.m.cert.Leaf
			srv.logf("tls: reloaded certificates",
				"listener", srv.settings.ListenerName,
				"subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
				"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// Principal returns the Kafka principal name (without "User:") of a
// connection's verified client certificate, mapped by
// ssl.principal.mapping.rules. A connection without a verified client
// certificate is ANONYMOUS, as in Kafka. An error means no rule matched;
// Kafka refuses such a connection.
func (srv *Server) Principal(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return "ANONYMOUS", nil
	}
	return srv.params.rules.Apply(DistinguishedName(cs.PeerCertificates[0]))
}

// Rules returns the listener's parsed principal mapping rules.
func (srv *Server) Rules() *Rules { return srv.params.rules }

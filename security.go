package samsa

// The broker's security, built from its settings when it starts: a TLS
// server config per TLS listener (reloaded when the files change), the SASL
// mechanisms of each SASL listener (PLAIN users from its JAAS entry, SCRAM
// credentials from the metadata), the authorizer settings and the quota
// manager. Every configuration error names the key to fix.

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/api"
	"github.com/samsa-io/samsa/internal/auth/jaas"
	"github.com/samsa-io/samsa/internal/auth/peer"
	"github.com/samsa-io/samsa/internal/auth/sasl"
	"github.com/samsa-io/samsa/internal/auth/tlsconf"
	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/quota"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/web"
)

// tlsReloadEvery is how often TLS listeners look for changed key,
// certificate and truststore files.
const tlsReloadEvery = 5 * time.Second

const plainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

type security struct {
	bc     config.Broker
	lg     *slog.Logger
	tls    map[string]*tlsconf.Server // by listener name
	plain  map[string]sasl.PlainUsers // by listener name, for PLAIN
	mechs  map[string][]string        // enabled mechanisms, by SASL listener name
	quotas *quota.Manager
	// peerOpts log in to other brokers (set by a cluster node's start).
	peerOpts []kgo.Opt
}

// newSecurity checks and loads everything the listeners need.
func newSecurity(bc config.Broker, lg *slog.Logger) (*security, error) {
	s := &security{bc: bc, lg: lg, tls: map[string]*tlsconf.Server{}, plain: map[string]sasl.PlainUsers{}, mechs: map[string][]string{}}
	s.quotas = quota.NewManager(quota.Config{Windows: bc.QuotaWindowNum, Window: bc.QuotaWindowSize})
	if bc.MaxConnectionCreationRate > 0 && bc.MaxConnectionCreationRate < 1<<31-1 {
		s.quotas.SetBrokerConnectionRate(float64(bc.MaxConnectionCreationRate))
	}
	for _, l := range bc.ClientListeners() {
		if err := s.load(l); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *security) load(l config.Listener) error {
	if l.TLS() {
		srv, err := tlsconf.NewServer(s.tlsSettings(l.Name), func(msg string, args ...any) {
			s.lg.Info(msg, append([]any{"listener", l.Name}, args...)...)
		})
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		s.tls[l.Name] = srv
	}
	if !l.SASL() {
		return nil
	}
	mechs := s.bc.EnabledMechanisms(l.Name)
	s.mechs[l.Name] = mechs
	if slices.Contains(mechs, sasl.Plain) {
		users, err := s.plainUsers(l.Name)
		if err != nil {
			return err
		}
		s.plain[l.Name] = users
	}
	return nil
}

// plainUsers reads the PLAIN users (user_<name>="password") of a listener:
// listener.name.<l>.plain.sasl.jaas.config, else sasl.jaas.config, else
// (samsa's convenience, with a warning) another listener's PLAIN entry.
func (s *security) plainUsers(listener string) (sasl.PlainUsers, error) {
	v, key, ok := s.bc.JAASConfig(listener, sasl.Plain)
	if !ok {
		for _, k := range s.bc.JAASConfigs() {
			if strings.HasSuffix(k, ".plain.sasl.jaas.config") {
				v, _ = s.bc.SecurityValue("", k)
				key = k
				ok = true
				s.lg.Warn("listener has PLAIN enabled but no JAAS entry of its own; using another listener's PLAIN users",
					"listener", listener, "from", k, "set", "listener.name."+strings.ToLower(listener)+".plain.sasl.jaas.config")
				break
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("listener %s enables PLAIN but has no users: set listener.name.%s.plain.sasl.jaas.config to %s required user_<name>=\"<password>\";",
			listener, strings.ToLower(listener), plainLoginModule)
	}
	mods, err := jaas.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	users := sasl.PlainUsers{}
	for _, m := range mods {
		if m.Class != plainLoginModule {
			continue
		}
		for k, pw := range m.Options {
			if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
				users[name] = pw
			}
		}
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no %s entry with user_<name>=\"<password>\" options", key, plainLoginModule)
	}
	return users, nil
}

// tlsSettings gathers a listener's ssl.* settings with Kafka's precedence.
func (s *security) tlsSettings(listener string) tlsconf.Settings {
	get := func(k string) string { v, _ := s.bc.SecurityValue(listener, k); return v }
	list := func(k string) []string {
		var out []string
		for _, p := range strings.Split(get(k), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	return tlsconf.Settings{
		KeystoreType: get("ssl.keystore.type"), KeystoreLocation: get("ssl.keystore.location"),
		KeystoreKey: get("ssl.keystore.key"), KeystoreCertificateChain: get("ssl.keystore.certificate.chain"),
		KeyPassword:    get("ssl.key.password"),
		TruststoreType: get("ssl.truststore.type"), TruststoreLocation: get("ssl.truststore.location"),
		TruststoreCertificates: get("ssl.truststore.certificates"),
		ClientAuth:             get("ssl.client.auth"), EnabledProtocols: list("ssl.enabled.protocols"),
		Protocol: get("ssl.protocol"), CipherSuites: list("ssl.cipher.suites"),
		PrincipalMappingRules: get("ssl.principal.mapping.rules"), ListenerName: listener,
	}
}

// listener builds the server side of one client listener.
func (s *security) listener(l config.Listener, br *broker.Broker) (*server.Listener, error) {
	sl := &server.Listener{Name: l.Name}
	if srv, ok := s.tls[l.Name]; ok {
		sl.TLS = srv.Config
		rules := srv.Rules()
		sl.PrincipalFromCert = func(c *x509.Certificate) (string, error) {
			name, err := rules.Apply(tlsconf.DistinguishedName(c))
			if err != nil {
				return "", err
			}
			return "User:" + name, nil
		}
	}
	if l.SASL() {
		sl.SASL = true
		sl.Mechanisms = s.mechs[l.Name]
		users := s.plain[l.Name]
		lookup := func(mechanism, user string) (sasl.Credential, bool) {
			c, ok := br.MetadataState().ScramCredentialOf(mechanism, user)
			if !ok {
				return sasl.Credential{}, false
			}
			return sasl.Credential{Mechanism: c.Mechanism, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
		}
		sl.NewSession = func(mechanism string) (server.SASLSession, error) {
			if mechanism == sasl.Plain {
				return sasl.NewPlain(users), nil
			}
			return sasl.NewScram(mechanism, lookup)
		}
	}
	return sl, nil
}

// serverConfig adds the security settings to a server config.
func (s *security) serverConfig(c server.Config) server.Config {
	bc := s.bc
	c.PreAuthMaxBytes = bc.SASLServerMaxReceiveSize
	c.FailedAuthDelay = bc.FailedAuthenticationDelay
	c.ReauthAfter = bc.ConnectionsMaxReauth
	c.MaxConnections = bc.MaxConnections
	c.MaxConnectionsPerIP = bc.MaxConnectionsPerIP
	c.PerIPOverrides = bc.MaxConnectionsPerIPOverrides
	c.ConnectionAllowed = s.quotas.ConnectionAllowed
	return c
}

// api returns the handlers' authorization and quota settings.
func (s *security) api() api.SecurityOptions {
	return api.SecurityOptions{
		Authorizer: s.bc.AuthorizerEnabled(), SuperUsers: s.bc.SuperUsers,
		AllowEveryoneIfNoACLFound: s.bc.AllowEveryoneIfNoACLFound, Quotas: s.quotas, PeerOpts: s.peerOpts,
	}
}

// start runs the TLS reloaders and the quota sensor expiry until ctx ends.
func (s *security) start(ctx context.Context) {
	for _, srv := range s.tls {
		go srv.Watch(ctx, tlsReloadEvery)
	}
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.quotas.Expire(now)
			}
		}
	}()
}

// login returns how this node connects to another node's listener called
// name, logging in with mechanism (when the listener uses SASL) as the
// username and password of the listener's JAAS entry for it.
func (s *security) login(name, mechanism, mechanismKey string) (peer.Login, error) {
	proto, ok := s.bc.ListenerProtocol(name)
	if !ok {
		return peer.Login{}, fmt.Errorf("listener %s has no security protocol; map it in listener.security.protocol.map", name)
	}
	l := config.Listener{Name: name, Protocol: proto}
	var out peer.Login
	if l.TLS() {
		cfg, err := tlsconf.NewClient(s.tlsSettings(name), "")
		if err != nil {
			return peer.Login{}, fmt.Errorf("listener %s (as a client of other nodes): %w", name, err)
		}
		out.TLS = cfg
	}
	if !l.SASL() {
		return out, nil
	}
	v, key, ok := s.bc.JAASConfig(name, mechanism)
	if !ok {
		return peer.Login{}, fmt.Errorf("%s is %s, but listener %s has no JAAS entry for it with this node's username and password: set listener.name.%s.%s.sasl.jaas.config",
			mechanismKey, mechanism, name, strings.ToLower(name), strings.ToLower(mechanism))
	}
	mods, err := jaas.Parse(v)
	if err != nil {
		return peer.Login{}, fmt.Errorf("%s: %w", key, err)
	}
	for _, m := range mods {
		if u, p := m.Options["username"], m.Options["password"]; u != "" && p != "" {
			out.Mechanism, out.User, out.Password = mechanism, u, p
			return out, nil
		}
	}
	return peer.Login{}, fmt.Errorf("%s: no username=\"...\" password=\"...\" options for this node to log in to other nodes with %s", key, mechanism)
}

// interBrokerLogin is how this broker reaches other brokers' inter-broker
// (primary) listener: replica fetches, transaction markers.
func (s *security) interBrokerLogin() (peer.Login, error) {
	return s.login(s.bc.ClientListeners()[0].Name, s.bc.SASLMechanismInterBroker, "sasl.mechanism.inter.broker.protocol")
}

// controllerListener returns the controller listener's description.
func (s *security) controllerListener() config.Listener {
	name := s.bc.ControllerListenerName
	proto, _ := s.bc.ListenerProtocol(name)
	return config.Listener{Name: name, Protocol: proto}
}

// controllerLogin is how this node reaches the controllers' listener. A
// broker-only node that names no controller.listener.names reaches the
// controllers in plain text, as before listeners could be secured.
func (s *security) controllerLogin() (peer.Login, error) {
	if s.bc.ControllerListenerName == "" {
		return peer.Login{}, nil
	}
	return s.login(s.bc.ControllerListenerName, s.bc.SASLMechanismController, "sasl.mechanism.controller.protocol")
}

// linkServer secures the controller listener of this node. SCRAM
// credentials come from the metadata the quorum itself replicates, so the
// controllers' own logins should use PLAIN (Kafka has the same
// bootstrapping problem and solves it with kafka-storage format --add-scram).
func (s *security) linkServer(state func() *metadata.State) (*peer.LinkServer, error) {
	l := s.controllerListener()
	if l.Protocol == config.ProtocolPlaintext || l.Name == "" {
		return nil, nil
	}
	ls := &peer.LinkServer{}
	if l.TLS() {
		srv, err := tlsconf.NewServer(s.tlsSettings(l.Name), func(msg string, args ...any) {
			s.lg.Info(msg, append([]any{"listener", l.Name}, args...)...)
		})
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		s.tls[l.Name] = srv
		ls.TLS = srv.Config
		ls.PrincipalFromTLS = func(cs tls.ConnectionState) (string, error) {
			p, err := srv.Principal(cs)
			return "User:" + p, err
		}
	}
	if l.SASL() {
		ls.Mechanisms = s.bc.EnabledMechanisms(l.Name)
		var users sasl.PlainUsers
		if slices.Contains(ls.Mechanisms, sasl.Plain) {
			u, err := s.plainUsers(l.Name)
			if err != nil {
				return nil, err
			}
			users = u
		}
		ls.NewSession = func(mechanism string) (sasl.Session, error) {
			if mechanism == sasl.Plain {
				return sasl.NewPlain(users), nil
			}
			return sasl.NewScram(mechanism, func(mech, user string) (sasl.Credential, bool) {
				c, ok := state().ScramCredentialOf(mech, user)
				if !ok {
					return sasl.Credential{}, false
				}
				return sasl.Credential{Mechanism: c.Mechanism, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
			})
		}
	}
	if s.bc.AuthorizerEnabled() {
		supers := s.bc.SuperUsers
		ls.Allowed = func(p string) bool { return slices.Contains(supers, p) }
	}
	return ls, nil
}

// consoleAuth puts the web console behind a login when the broker requires
// authentication (an authorizer or a SASL listener): users are the PLAIN
// users of the listeners and the SCRAM users of the metadata.
func (s *security) consoleAuth(h *api.API, br *broker.Broker) *web.Auth {
	required := s.bc.AuthorizerEnabled() || len(s.mechs) > 0
	if !required {
		return nil
	}
	plainUsers := map[string]string{}
	for _, users := range s.plain {
		for u, p := range users {
			if _, dup := plainUsers[u]; !dup {
				plainUsers[u] = p
			}
		}
	}
	return &web.Auth{
		Required:    true,
		FailedDelay: max(s.bc.FailedAuthenticationDelay, 500*time.Millisecond),
		Check: func(user, password string) (string, bool) {
			if user == "" {
				return "", false
			}
			if pw, ok := plainUsers[user]; ok {
				if subtle.ConstantTimeCompare([]byte(pw), []byte(password)) == 1 {
					return "User:" + user, true
				}
				return "", false
			}
			st := br.MetadataState()
			for _, mech := range []string{sasl.ScramSHA512, sasl.ScramSHA256} {
				c, ok := st.ScramCredentialOf(mech, user)
				if !ok {
					continue
				}
				got, err := sasl.NewCredential(mech, []byte(password), c.Salt, c.Iterations)
				if err == nil && subtle.ConstantTimeCompare(got.StoredKey, c.StoredKey) == 1 {
					return "User:" + user, true
				}
				return "", false
			}
			return "", false
		},
		Authorize: func(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
			az := h.Authorizer()
			if az == nil {
				return true
			}
			return az.Authorize(principal, host, op, rt, name)
		},
	}
}

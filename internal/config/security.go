package config

// Listeners and security settings, read with Kafka's keys and precedence.
//
//	listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094
//	advertised.listeners=...                  same names, the addresses clients are told
//	listener.security.protocol.map=INTERNAL:SASL_SSL,...
//	listener.name.<name>.ssl.*                per-listener TLS settings (over ssl.*)
//	listener.name.<name>.<mechanism>.sasl.jaas.config
//	listener.name.<name>.sasl.enabled.mechanisms (over sasl.enabled.mechanisms)
//
// This file only finds the raw values; internal/auth parses JAAS
// entries and loads certificates when the broker starts, so that every
// error names the key it came from. Secret values (passwords, keys, JAAS
// entries) are kept only in Broker.security and never reported by
// DescribeConfigs (TypePassword) or the console.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Security protocols (Kafka's SecurityProtocol names).
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Listener is one entry of listeners=NAME://host:port.
type Listener struct {
	Name       string // upper case, as Kafka normalises listener names
	Protocol   string // one of the Protocol* constants
	Addr       string // Go listen address (an empty host became 0.0.0.0)
	Advertised string // host:port from advertised.listeners, "" = the bound address
}

// TLS reports whether connections on l are TLS.
func (l Listener) TLS() bool { return l.Protocol == ProtocolSSL || l.Protocol == ProtocolSASLSSL }

// SASL reports whether connections on l must authenticate with SASL.
func (l Listener) SASL() bool {
	return l.Protocol == ProtocolSASLPlaintext || l.Protocol == ProtocolSASLSSL
}

// SASL mechanisms samsa serves.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// StandardAuthorizer is the authorizer.class.name samsa implements (Kafka's
// KRaft authorizer); the ZooKeeper-era AclAuthorizer name is accepted as
// the same thing, since its semantics are the same.
const (
	StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	legacyAuthorizer   = "kafka.security.authorizer.AclAuthorizer"
)

// ClientListeners returns every listener that serves Kafka clients (not a
// controller-only one), the primary (Listener/AdvertisedListener, the
// inter-broker listener) first. Its Addr follows b.Listener, so code or
// flags that move the primary listener (--addr) are honoured.
func (b Broker) ClientListeners() []Listener {
	primary := Listener{Name: b.ListenerName, Addr: b.Listener, Advertised: b.AdvertisedListener}
	if primary.Name == "" {
		primary.Name = ProtocolPlaintext
	}
	primary.Protocol = b.protocolOf(primary.Name)
	out := []Listener{primary}
	return append(out, b.OtherListeners...)
}

// protocolOf maps a listener name to its security protocol
// (listener.security.protocol.map, else the name itself when it is a
// protocol name).
func (b Broker) protocolOf(name string) string {
	if p, ok := b.ListenerProtocols[name]; ok {
		return p
	}
	return name
}

// ListenerProtocol returns the protocol of the listener called name, and
// whether name is a known protocol or mapped listener name.
func (b Broker) ListenerProtocol(name string) (string, bool) {
	p := b.protocolOf(strings.ToUpper(name))
	return p, slices.Contains([]string{ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL}, p)
}

// SecurityValue returns the raw value of a security key for a listener,
// with Kafka's precedence: listener.name.<listener>.<key> over <key>.
// The value may be a secret: never log it.
func (b Broker) SecurityValue(listener, key string) (string, bool) {
	if listener != "" {
		if v, ok := b.security["listener.name."+strings.ToLower(listener)+"."+key]; ok {
			return v, true
		}
	}
	v, ok := b.security[key]
	return v, ok
}

// SecurityKeyName is the key SecurityValue(listener, key) read its value
// from, for error messages.
func (b Broker) SecurityKeyName(listener, key string) string {
	if listener != "" {
		k := "listener.name." + strings.ToLower(listener) + "." + key
		if _, ok := b.security[k]; ok {
			return k
		}
	}
	return key
}

// JAASConfig returns the sasl.jaas.config for mechanism on listener and
// the key it came from: listener.name.<l>.<mechanism>.sasl.jaas.config,
// then (samsa's convenience; Kafka requires the prefixed form on brokers)
// the broker-wide sasl.jaas.config.
func (b Broker) JAASConfig(listener, mechanism string) (value, key string, ok bool) {
	k := "listener.name." + strings.ToLower(listener) + "." + strings.ToLower(mechanism) + ".sasl.jaas.config"
	if v, ok := b.security[k]; ok {
		return v, k, true
	}
	if v, ok := b.security["sasl.jaas.config"]; ok {
		return v, "sasl.jaas.config", true
	}
	return "", "", false
}

// JAASConfigs lists every listener-and-mechanism JAAS key set, sorted.
func (b Broker) JAASConfigs() []string {
	var keys []string
	for k := range b.security {
		if strings.HasPrefix(k, "listener.name.") && strings.HasSuffix(k, ".sasl.jaas.config") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// EnabledMechanisms returns the SASL mechanisms enabled on listener
// (listener.name.<l>.sasl.enabled.mechanisms over sasl.enabled.mechanisms).
func (b Broker) EnabledMechanisms(listener string) []string {
	v, ok := b.SecurityValue(listener, "sasl.enabled.mechanisms")
	if !ok {
		return b.SASLEnabledMechanisms
	}
	m, _ := parseMechanisms(v)
	return m
}

// AuthorizerEnabled reports whether ACLs are enforced.
func (b Broker) AuthorizerEnabled() bool { return b.AuthorizerClassName != "" }

// isSecurityKey: keys kept raw in Broker.security (looked up per listener).
func isSecurityKey(k string) bool {
	return strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "listener.name.")
}

// securityKeyKnown reports whether a security key is one samsa reads; the
// others get the "not used yet" warning.
func securityKeyKnown(k string) bool {
	if strings.HasPrefix(k, "listener.name.") {
		rest := strings.TrimPrefix(k, "listener.name.")
		_, sub, ok := strings.Cut(rest, ".")
		if !ok {
			return false
		}
		if strings.HasSuffix(sub, ".sasl.jaas.config") {
			mech := strings.ToUpper(strings.TrimSuffix(sub, ".sasl.jaas.config"))
			return slices.Contains(saslMechanisms, mech)
		}
		return perListenerKeys[sub]
	}
	return perListenerKeys[k] || k == "sasl.jaas.config" ||
		k == "sasl.mechanism.inter.broker.protocol" || k == "sasl.mechanism.controller.protocol" ||
		k == "sasl.server.max.receive.size"
}

// perListenerKeys may be set broker-wide or per listener.
var perListenerKeys = map[string]bool{
	"ssl.keystore.type": true, "ssl.keystore.location": true, "ssl.keystore.key": true,
	"ssl.keystore.certificate.chain": true, "ssl.key.password": true, "ssl.keystore.password": true,
	"ssl.truststore.type": true, "ssl.truststore.location": true, "ssl.truststore.certificates": true,
	"ssl.truststore.password": true, "ssl.client.auth": true, "ssl.enabled.protocols": true,
	"ssl.protocol": true, "ssl.cipher.suites": true, "ssl.principal.mapping.rules": true,
	"ssl.endpoint.identification.algorithm": true, "sasl.enabled.mechanisms": true,
}

// sensitiveSecurityKey: values DescribeConfigs reports as null.
func sensitiveSecurityKey(k string) bool {
	return strings.HasSuffix(k, "password") || strings.HasSuffix(k, "sasl.jaas.config") ||
		strings.HasSuffix(k, "ssl.keystore.key")
}

func parseMechanisms(v string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(v, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		if !slices.Contains(saslMechanisms, m) {
			return nil, fmt.Errorf("mechanism %q is not supported (samsa serves %s)", m, strings.Join(saslMechanisms, ", "))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

func parseSuperUsers(name, v string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(v, ";") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if typ, n, ok := strings.Cut(u, ":"); !ok || typ == "" || n == "" {
			return nil, invalid(name, v, "has %q; each entry is a principal such as User:admin, separated by ;", u)
		}
		out = append(out, u)
	}
	return out, nil
}

func parseAuthorizer(name, v string) (string, error) {
	switch v = strings.TrimSpace(v); v {
	case "":
		return "", nil
	case StandardAuthorizer, legacyAuthorizer:
		return StandardAuthorizer, nil
	}
	return "", invalid(name, v, "is not an authorizer samsa has; use %s", StandardAuthorizer)
}

// parseIPOverrides reads max.connections.per.ip.overrides: host:count,...
func parseIPOverrides(name, v string) (map[string]int, error) {
	out := map[string]int{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			return nil, invalid(name, v, "has %q; entries are host:count", e)
		}
		n, err := parseInteger(name, e[i+1:], 32, 0, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		out[e[:i]] = int(n)
	}
	return out, nil
}

// securityKeys are the broker-wide security settings reported by
// DescribeConfigs. Per-listener values stay in Broker.security.
var securityKeys = []brokerKey{
	{
		name: "sasl.enabled.mechanisms", typ: TypeList,
		doc: "The SASL mechanisms SASL listeners accept: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (listener.name.<l>.sasl.enabled.mechanisms overrides it per listener).",
		set: func(b *Broker, v string) error {
			m, err := parseMechanisms(v)
			if err != nil {
				return invalid("sasl.enabled.mechanisms", v, "%v", err)
			}
			b.SASLEnabledMechanisms = m
			return nil
		},
		get: func(b *Broker) (string, bool) { return strings.Join(b.SASLEnabledMechanisms, ","), true },
	},
	stringKey("sasl.mechanism.inter.broker.protocol", TypeString, enumParser(saslMechanisms), func(b *Broker) *string { return &b.SASLMechanismInterBroker },
		"The SASL mechanism brokers use to log in to each other on a SASL inter-broker listener."),
	stringKey("sasl.mechanism.controller.protocol", TypeString, enumParser(saslMechanisms), func(b *Broker) *string { return &b.SASLMechanismController },
		"The SASL mechanism nodes use to log in to controllers on a SASL controller listener."),
	stringKey("authorizer.class.name", TypeString, parseAuthorizer, func(b *Broker) *string { return &b.AuthorizerClassName },
		"The authorizer: "+StandardAuthorizer+" enforces ACLs; empty allows everything."),
	{
		name: "super.users", typ: TypeString,
		doc: "Principals allowed everything, separated by ; (User:admin;User:ops).",
		set: func(b *Broker, v string) error {
			u, err := parseSuperUsers("super.users", v)
			if err == nil {
				b.SuperUsers = u
			}
			return err
		},
		get: func(b *Broker) (string, bool) { return strings.Join(b.SuperUsers, ";"), len(b.SuperUsers) > 0 },
	},
	boolKey("allow.everyone.if.no.acl.found", func(b *Broker) *bool { return &b.AllowEveryoneIfNoACLFound },
		"Allow an operation on a resource that no ACL names (default false: deny)."),
	msKey("connections.max.reauth.ms", TypeLong, 0, func(b *Broker) *time.Duration { return &b.ConnectionsMaxReauth },
		"The longest a SASL session lasts before the client must re-authenticate (KIP-368); 0 = forever."),
	intKey("sasl.server.max.receive.size", TypeInt, 1, math.MaxInt32, func(b *Broker) *int32 { return &b.SASLServerMaxReceiveSize },
		"The largest request a connection may send before it has authenticated."),
	msKey("connection.failed.authentication.delay.ms", TypeInt, 0, func(b *Broker) *time.Duration { return &b.FailedAuthenticationDelay },
		"How long the answer to a failed authentication is delayed before the connection closes."),
	intKey("max.connections", TypeInt, 0, math.MaxInt32, func(b *Broker) *int { return &b.MaxConnections },
		"The most connections the broker accepts at once, over all listeners."),
	intKey("max.connections.per.ip", TypeInt, 0, math.MaxInt32, func(b *Broker) *int { return &b.MaxConnectionsPerIP },
		"The most connections one IP address may hold."),
	{
		name: "max.connections.per.ip.overrides", typ: TypeString,
		doc: "Per-host exceptions to max.connections.per.ip: host:count,...",
		set: func(b *Broker, v string) error {
			m, err := parseIPOverrides("max.connections.per.ip.overrides", v)
			if err == nil {
				b.MaxConnectionsPerIPOverrides = m
			}
			return err
		},
		get: func(b *Broker) (string, bool) {
			var parts []string
			for h, n := range b.MaxConnectionsPerIPOverrides {
				parts = append(parts, fmt.Sprintf("%s:%d", h, n))
			}
			slices.Sort(parts)
			return strings.Join(parts, ","), true
		},
	},
	intKey("max.connection.creation.rate", TypeInt, 0, math.MaxInt32, func(b *Broker) *int { return &b.MaxConnectionCreationRate },
		"The most new connections per second the broker accepts."),
	intKey("quota.window.num", TypeInt, 1, math.MaxInt32, func(b *Broker) *int { return &b.QuotaWindowNum },
		"How many samples client quotas are measured over."),
	durationKey("quota.window.size.seconds", TypeInt, 1, time.Second, func(b *Broker) *time.Duration { return &b.QuotaWindowSize },
		"The length of one client quota sample."),
	rawSecurityKey("ssl.keystore.type", TypeString), rawSecurityKey("ssl.keystore.location", TypeString),
	rawSecurityKey("ssl.keystore.key", TypePassword), rawSecurityKey("ssl.keystore.certificate.chain", TypePassword),
	rawSecurityKey("ssl.key.password", TypePassword), rawSecurityKey("ssl.keystore.password", TypePassword),
	rawSecurityKey("ssl.truststore.type", TypeString), rawSecurityKey("ssl.truststore.location", TypeString),
	rawSecurityKey("ssl.truststore.certificates", TypePassword), rawSecurityKey("ssl.truststore.password", TypePassword),
	rawSecurityKey("ssl.client.auth", TypeString), rawSecurityKey("ssl.enabled.protocols", TypeList),
	rawSecurityKey("ssl.protocol", TypeString), rawSecurityKey("ssl.cipher.suites", TypeList),
	rawSecurityKey("ssl.principal.mapping.rules", TypeString), rawSecurityKey("ssl.endpoint.identification.algorithm", TypeString),
	rawSecurityKey("sasl.jaas.config", TypePassword),
}

// rawSecurityKey reports a broker-wide TLS or JAAS setting as it was set;
// internal/auth validates it when the listeners start.
func rawSecurityKey(name string, typ ConfigType) brokerKey {
	return brokerKey{
		name: name, typ: typ,
		doc: "TLS/SASL setting, as in Kafka; listener.name.<listener>." + name + " overrides it for one listener.",
		set: func(b *Broker, v string) error {
			if name == "ssl.client.auth" {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "none", "requested", "required":
				default:
					return invalid(name, v, "must be none, requested or required")
				}
			}
			return nil // kept raw in b.security by Apply
		},
		get: func(b *Broker) (string, bool) {
			v, ok := b.security[name]
			return v, ok
		},
	}
}

// validateSecurity checks the listeners and security settings as a whole
// (part of Validate). File contents (certificates, JAAS entries) are
// checked when the listeners start.
func (b Broker) validateSecurity() []error {
	var errs []error
	ports := map[string]string{}
	for i, l := range b.ClientListeners() {
		if _, ok := b.ListenerProtocol(l.Name); !ok {
			errs = append(errs, invalid("listeners", l.Name, "listener %s has no security protocol; map it in listener.security.protocol.map", l.Name))
		}
		if _, err := listenerAddr(l.Addr); err != nil {
			if i > 0 { // Validate reports the primary's address itself
				errs = append(errs, invalid("listeners", l.Addr, "listener %s: %v", l.Name, err))
			}
		} else if !strings.HasSuffix(l.Addr, ":0") {
			if other, dup := ports[l.Addr]; dup {
				errs = append(errs, invalid("listeners", l.Addr, "listeners %s and %s both use %s", other, l.Name, l.Addr))
			}
			ports[l.Addr] = l.Name
		}
		if l.SASL() && len(b.EnabledMechanisms(l.Name)) == 0 {
			errs = append(errs, invalid(b.SecurityKeyName(l.Name, "sasl.enabled.mechanisms"), "",
				"must list the SASL mechanisms of listener %s (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; Kafka's default GSSAPI is not served)", l.Name))
		}
		if i > 0 && b.HTTPAddr != "" && b.HTTPAddr == l.Addr && !strings.HasSuffix(l.Addr, ":0") {
			errs = append(errs, invalid("samsa.http.listener", b.HTTPAddr, "must differ from listener %s", l.Name))
		}
	}
	if b.SASLServerMaxReceiveSize < 1 {
		errs = append(errs, invalid("sasl.server.max.receive.size", formatInt(int64(b.SASLServerMaxReceiveSize)), "must be at least 1"))
	}
	if b.QuotaWindowNum < 1 {
		errs = append(errs, invalid("quota.window.num", formatInt(int64(b.QuotaWindowNum)), "must be at least 1"))
	}
	if b.QuotaWindowSize < time.Second {
		errs = append(errs, invalid("quota.window.size.seconds", formatInt(int64(b.QuotaWindowSize/time.Second)), "must be at least 1"))
	}
	return errs
}

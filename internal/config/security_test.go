package config

import (
	"strings"
	"testing"
)

// The configuration form: four listeners, one per protocol,
// per-listener JAAS, an authorizer and super users.
func TestSecuredListeners(t *testing.T) {
	b := Default()
	props := map[string]string{
		"listeners":                         "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,SSL://127.0.0.1:9094,SASL_SSL://127.0.0.1:9095",
		"advertised.listeners":              "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,SSL://127.0.0.1:9094,SASL_SSL://127.0.0.1:9095",
		"sasl.enabled.mechanisms":           "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"ssl.keystore.type":                 "PEM",
		"ssl.keystore.location":             "server.pem",
		"ssl.client.auth":                   "none",
		"listener.name.ssl.ssl.client.auth": "required",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`,
		"listener.name.sasl_ssl.sasl.enabled.mechanisms":      "SCRAM-SHA-512",
		"authorizer.class.name":                               StandardAuthorizer,
		"super.users":                                         "User:admin",
		"allow.everyone.if.no.acl.found":                      "false",
		"ssl.key.password":                                    "hunter2",
	}
	warnings, err := b.Apply(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	ls := b.ClientListeners()
	want := []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:9092", Advertised: "127.0.0.1:9092"},
		{Name: "SASL_PLAINTEXT", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:9093", Advertised: "127.0.0.1:9093"},
		{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:9094", Advertised: "127.0.0.1:9094"},
		{Name: "SASL_SSL", Protocol: ProtocolSASLSSL, Addr: "127.0.0.1:9095", Advertised: "127.0.0.1:9095"},
	}
	if len(ls) != len(want) {
		t.Fatalf("listeners = %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d = %+v, want %+v", i, ls[i], want[i])
		}
	}
	if v, _ := b.SecurityValue("SSL", "ssl.client.auth"); v != "required" {
		t.Errorf("SSL listener's ssl.client.auth = %q, want the listener.name.ssl override", v)
	}
	if v, _ := b.SecurityValue("SASL_SSL", "ssl.client.auth"); v != "none" {
		t.Errorf("SASL_SSL listener's ssl.client.auth = %q, want the broker-wide none", v)
	}
	if k := b.SecurityKeyName("SSL", "ssl.client.auth"); k != "listener.name.ssl.ssl.client.auth" {
		t.Errorf("key name = %q", k)
	}
	if m := b.EnabledMechanisms("SASL_SSL"); len(m) != 1 || m[0] != "SCRAM-SHA-512" {
		t.Errorf("SASL_SSL mechanisms = %q", m)
	}
	if m := b.EnabledMechanisms("SASL_PLAINTEXT"); len(m) != 3 {
		t.Errorf("SASL_PLAINTEXT mechanisms = %q", m)
	}
	if _, key, ok := b.JAASConfig("SASL_PLAINTEXT", "PLAIN"); !ok || key != "listener.name.sasl_plaintext.plain.sasl.jaas.config" {
		t.Errorf("JAAS key = %q %v", key, ok)
	}
	if _, _, ok := b.JAASConfig("SASL_SSL", "PLAIN"); ok {
		t.Error("SASL_SSL has no PLAIN JAAS entry, yet one was found")
	}
	// Secrets never reach DescribeConfigs.
	for _, e := range DescribeBroker(b) {
		if strings.Contains(e.Value, "secret") || strings.Contains(e.Value, "hunter2") {
			t.Errorf("DescribeBroker shows a secret in %s", e.Name)
		}
		if e.Name == "ssl.key.password" && (!e.Sensitive || !e.ValueNull) {
			t.Errorf("ssl.key.password: %+v, want sensitive and null", e)
		}
	}
}

func TestSecurityValidation(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"sasl listener without mechanisms", map[string]string{"listeners": "SASL_SSL://127.0.0.1:9095"},
			"sasl.enabled.mechanisms: \"\" must list the SASL mechanisms of listener SASL_SSL"},
		{"two listeners on one port", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9092"},
			"listeners PLAINTEXT and SSL both use 127.0.0.1:9092"},
		{"unknown protocol in the map", map[string]string{"listeners": "A://:1", "listener.security.protocol.map": "A:TLS"},
			`maps A to "TLS"`},
		{"bad per-listener client auth", map[string]string{"listener.name.ssl.ssl.client.auth": "sometimes"},
			`listener.name.ssl.ssl.client.auth: "sometimes" must be none, requested or required`},
		{"inter-broker listener missing", map[string]string{"listeners": "PLAINTEXT://:9092", "inter.broker.listener.name": "INTERNAL"},
			"inter.broker.listener.name: \"INTERNAL\" names no listener in listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Default()
			_, err := b.Apply(tt.props)
			if err == nil {
				err = b.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCustomListenerNames(t *testing.T) {
	b := Default()
	_, err := b.Apply(map[string]string{
		"listeners":                      "EXTERNAL://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
		"listener.security.protocol.map": "EXTERNAL:SASL_SSL,INTERNAL:SSL",
		"inter.broker.listener.name":     "INTERNAL",
		"sasl.enabled.mechanisms":        "PLAIN",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	ls := b.ClientListeners()
	if ls[0].Name != "INTERNAL" || ls[0].Protocol != ProtocolSSL || ls[1].Name != "EXTERNAL" || ls[1].Protocol != ProtocolSASLSSL {
		t.Errorf("listeners = %+v, want INTERNAL (SSL) primary, then EXTERNAL (SASL_SSL)", ls)
	}
}

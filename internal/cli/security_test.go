package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";`

func startSecuredBroker(t *testing.T) string {
	t.Helper()
	return startBroker(t, map[string]string{
		"listeners":               "SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": cliJAAS,
		"authorizer.class.name":                               "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                                         "User:admin",
	})
}

func TestSecurityFlagsResolve(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "client.properties")
	if err := os.WriteFile(props, []byte(`security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="app" password="p w;x";
ssl.truststore.location=/ca.pem
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    securityOptions
		want    resolved
		wantErr string
	}{
		{"nothing is plaintext", securityOptions{}, resolved{protocol: "PLAINTEXT", mechanism: "PLAIN", hostnameCheck: true}, ""},
		{"a user means SASL_PLAINTEXT", securityOptions{user: "u", password: "p"},
			resolved{protocol: "SASL_PLAINTEXT", mechanism: "PLAIN", user: "u", password: "p", hostnameCheck: true}, ""},
		{"a user and a CA mean SASL_SSL", securityOptions{user: "u", tlsCA: "/ca"},
			resolved{protocol: "SASL_SSL", mechanism: "PLAIN", user: "u", ca: "/ca", hostnameCheck: true}, ""},
		{"the file", securityOptions{commandConfig: props},
			resolved{protocol: "SASL_SSL", mechanism: "SCRAM-SHA-512", user: "app", password: "p w;x", ca: "/ca.pem", hostnameCheck: true}, ""},
		{"flags override the file", securityOptions{commandConfig: props, user: "other", mechanism: "scram-sha-256"},
			resolved{protocol: "SASL_SSL", mechanism: "SCRAM-SHA-256", user: "other", password: "p w;x", ca: "/ca.pem", hostnameCheck: true}, ""},
		{"bad mechanism", securityOptions{user: "u", mechanism: "GSSAPI"}, resolved{}, "--sasl-mechanism GSSAPI is not supported"},
		{"bad protocol", securityOptions{protocol: "TLS"}, resolved{}, "--security-protocol TLS is not one of"},
		{"SASL without a user", securityOptions{protocol: "SASL_SSL"}, resolved{}, "SASL_SSL needs a user"},
		{"missing file", securityOptions{commandConfig: filepath.Join(dir, "nope")}, resolved{}, "--command-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envPassword, "")
			got, err := tt.opts.resolve()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := (&securityOptions{tlsCA: filepath.Join(dir, "missing.pem")}).kgoOpts(); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("a missing CA file: %v", err)
	}
}

func TestACLExpansion(t *testing.T) {
	a := &aclArgs{allow: []string{"User:bob"}, consumer: true, topics: []string{"orders"}, groups: []string{"reports"}, pattern: "literal"}
	bs, err := a.bindings()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, b.ResourceType.String()+":"+b.ResourceName+":"+b.Operation.String())
	}
	want := "TOPIC:orders:READ TOPIC:orders:DESCRIBE GROUP:reports:READ"
	if strings.Join(got, " ") != want {
		t.Errorf("--consumer = %q, want %q", strings.Join(got, " "), want)
	}
	a = &aclArgs{allow: []string{"User:app"}, producer: true, idempotent: true, topics: []string{"logs-"}, txnIDs: []string{"tx"}, pattern: "prefixed"}
	bs, err = a.bindings()
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, b := range bs {
		got = append(got, b.ResourceType.String()+":"+b.ResourceName+":"+b.PatternType.String()+":"+b.Operation.String())
	}
	want = "TOPIC:logs-:PREFIXED:WRITE TOPIC:logs-:PREFIXED:DESCRIBE TOPIC:logs-:PREFIXED:CREATE TRANSACTIONAL_ID:tx:PREFIXED:WRITE TRANSACTIONAL_ID:tx:PREFIXED:DESCRIBE CLUSTER:kafka-cluster:LITERAL:IDEMPOTENT_WRITE"
	if strings.Join(got, " ") != want {
		t.Errorf("--producer = %q\nwant %q", strings.Join(got, " "), want)
	}
	for _, bad := range []*aclArgs{
		{operations: []string{"Read"}, topics: []string{"t"}, pattern: "literal"},                           // no principal
		{allow: []string{"alice"}, operations: []string{"Read"}, topics: []string{"t"}, pattern: "literal"}, // not Type:name
		{allow: []string{"User:a"}, topics: []string{"t"}, pattern: "literal"},                              // no operation
		{allow: []string{"User:a"}, operations: []string{"Fly"}, topics: []string{"t"}, pattern: "literal"}, // unknown operation
		{allow: []string{"User:a"}, operations: []string{"Read"}, pattern: "literal"},                       // no resource
		{allow: []string{"User:a"}, consumer: true, topics: []string{"t"}, pattern: "literal"},              // --consumer without --group
		{allow: []string{"User:a"}, operations: []string{"Read"}, topics: []string{"t"}, pattern: "match"},  // add takes literal/prefixed only
	} {
		if _, err := bad.bindings(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestUserAndACLCommands(t *testing.T) {
	addr := startSecuredBroker(t)
	admin := []string{"--user", "admin", "--password", "admin-secret"}
	run := func(args ...string) string {
		t.Helper()
		out, _ := cli(t, addr, "", append(admin, args...)...)
		return out
	}
	// Users.
	out := run("user", "create", "carol", "--new-password", "carol-secret", "--mechanism", "SCRAM-SHA-256,SCRAM-SHA-512")
	if !strings.Contains(out, `user "carol"`) {
		t.Errorf("create: %q", out)
	}
	out, _ = cli(t, addr, "from-stdin\n", append(admin, "user", "create", "dave")...)
	if !strings.Contains(out, "SCRAM-SHA-512") {
		t.Errorf("create from stdin: %q", out)
	}
	if out := run("user", "list"); strings.Count(out, "carol") != 2 || strings.Count(out, "dave") != 1 || !strings.Contains(out, "SCRAM-SHA-256") {
		t.Errorf("user list: %q", out)
	}
	// carol logs in with SCRAM; with a wrong password the error says so.
	cli(t, addr, "", "--user", "carol", "--password", "carol-secret", "--sasl-mechanism", "SCRAM-SHA-256", "cluster")
	if e := cliFail(t, addr, "--user", "carol", "--password", "nope", "--sasl-mechanism", "SCRAM-SHA-512", "cluster"); !strings.Contains(e, `authentication failed for user "carol"`) {
		t.Errorf("wrong password: %q", e)
	}
	run("user", "delete", "dave")
	if e := cliFail(t, addr, append(admin, "user", "list", "dave")...); !strings.Contains(e, `user "dave" does not exist`) {
		t.Errorf("deleted user: %q", e)
	}
	// ACLs.
	run("topic", "create", "orders")
	if e := cliFail(t, addr, "--user", "alice", "--password", "alice-secret", "consume", "orders", "-e", "-g", "billing"); !strings.Contains(e, "TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("alice before any ACL: %q", e)
	}
	out = run("acl", "add", "--allow-principal", "User:alice", "--consumer", "--topic", "orders", "--group", "billing")
	if strings.Count(out, "added ") != 3 {
		t.Errorf("acl add --consumer: %q", out)
	}
	if out := run("acl", "list", "--topic", "orders"); strings.Count(out, "User:alice") != 2 || strings.Contains(out, "billing") {
		t.Errorf("acl list --topic orders: %q", out)
	}
	cli(t, addr, "", "--user", "alice", "--password", "alice-secret", "consume", "orders", "-e", "-g", "billing")
	if e := cliFail(t, addr, "--user", "alice", "--password", "alice-secret", "acl", "list"); !strings.Contains(e, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("alice listing ACLs: %q", e)
	}
	if e := cliFail(t, addr, append(admin, "acl", "remove", "--allow-principal", "User:alice")...); !strings.Contains(e, "--force") {
		t.Errorf("remove without a resource: %q", e)
	}
	out = run("acl", "remove", "--allow-principal", "User:alice", "--force")
	if strings.Count(out, "removed ") != 3 {
		t.Errorf("acl remove: %q", out)
	}
	if out := run("acl", "list"); strings.Contains(out, "alice") {
		t.Errorf("ACLs left: %q", out)
	}
}

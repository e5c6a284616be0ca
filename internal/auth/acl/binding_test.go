package acl

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic    = kmsg.ACLResourceTypeTopic
	group    = kmsg.ACLResourceTypeGroup
	cluster  = kmsg.ACLResourceTypeCluster
	txnID    = kmsg.ACLResourceTypeTransactionalId
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	match    = kmsg.ACLResourcePatternTypeMatch
	anyPat   = kmsg.ACLResourcePatternTypeAny
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny

	opAll       = kmsg.ACLOperationAll
	opRead      = kmsg.ACLOperationRead
	opWrite     = kmsg.ACLOperationWrite
	opCreate    = kmsg.ACLOperationCreate
	opDelete    = kmsg.ACLOperationDelete
	opAlter     = kmsg.ACLOperationAlter
	opDescribe  = kmsg.ACLOperationDescribe
	opClAction  = kmsg.ACLOperationClusterAction
	opDescCfg   = kmsg.ACLOperationDescribeConfigs
	opAlterCfg  = kmsg.ACLOperationAlterConfigs
	opIdempWr   = kmsg.ACLOperationIdempotentWrite
	opAnyFilter = kmsg.ACLOperationAny
)

// bind is shorthand for a binding from any host.
func bind(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func ptr(s string) *string { return &s }

func TestBindingValidate(t *testing.T) {
	good := bind(topic, "t", literal, "User:alice", opRead, allow)
	mod := func(f func(*Binding)) Binding { b := good; f(&b); return b }
	tests := []struct {
		name    string
		b       Binding
		wantErr string // substring; "" means valid
	}{
		{"valid literal", good, ""},
		{"valid prefixed", mod(func(b *Binding) { b.PatternType = prefixed }), ""},
		{"valid wildcard resource", mod(func(b *Binding) { b.ResourceName = "*" }), ""},
		{"valid wildcard principal", mod(func(b *Binding) { b.Principal = "User:*" }), ""},
		{"valid principal with colon in name", mod(func(b *Binding) { b.Principal = "User:CN=a:b" }), ""},
		{"valid non-User principal type", mod(func(b *Binding) { b.Principal = "Group:devs" }), ""},
		{"valid ip host", mod(func(b *Binding) { b.Host = "10.0.0.1" }), ""},
		{"valid ALL", mod(func(b *Binding) { b.Operation = opAll }), ""},
		{"valid DENY", mod(func(b *Binding) { b.Permission = deny }), ""},
		{"valid cluster", bind(cluster, "kafka-cluster", literal, "User:a", opAlter, allow), ""},
		{"valid user resource", bind(kmsg.ACLResourceTypeUser, "bob", literal, "User:a", kmsg.ACLOperationCreateTokens, allow), ""},
		{"resource type ANY", mod(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }), "invalid resource type ANY"},
		{"resource type UNKNOWN", mod(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUnknown }), "invalid resource type UNKNOWN"},
		{"resource type out of range", mod(func(b *Binding) { b.ResourceType = 42 }), "invalid resource type UNKNOWN (42)"},
		{"pattern MATCH", mod(func(b *Binding) { b.PatternType = match }), "invalid pattern type MATCH"},
		{"pattern ANY", mod(func(b *Binding) { b.PatternType = anyPat }), "invalid pattern type ANY"},
		{"pattern UNKNOWN", mod(func(b *Binding) { b.PatternType = 0 }), "invalid pattern type UNKNOWN"},
		{"operation ANY", mod(func(b *Binding) { b.Operation = opAnyFilter }), "invalid operation ANY"},
		{"operation UNKNOWN", mod(func(b *Binding) { b.Operation = 0 }), "invalid operation UNKNOWN"},
		{"operation out of range", mod(func(b *Binding) { b.Operation = 15 }), "invalid operation UNKNOWN (15)"},
		{"permission ANY", mod(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }), "invalid permission type ANY"},
		{"permission UNKNOWN", mod(func(b *Binding) { b.Permission = 0 }), "invalid permission type UNKNOWN"},
		{"empty resource name", mod(func(b *Binding) { b.ResourceName = "" }), "invalid empty resource name"},
		{"cluster wrong name", bind(cluster, "my-cluster", literal, "User:a", opAlter, allow), "only valid name for the CLUSTER resource is kafka-cluster"},
		{"cluster wildcard name", bind(cluster, "*", literal, "User:a", opAlter, allow), "only valid name for the CLUSTER resource"},
		{"principal without colon", mod(func(b *Binding) { b.Principal = "alice" }), "no colon"},
		{"principal empty", mod(func(b *Binding) { b.Principal = "" }), "no colon"},
		{"principal empty type", mod(func(b *Binding) { b.Principal = ":alice" }), "must both be non-empty"},
		{"principal empty name", mod(func(b *Binding) { b.Principal = "User:" }), "must both be non-empty"},
		{"empty host", mod(func(b *Binding) { b.Host = "" }), "invalid empty host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestBindingString(t *testing.T) {
	b := bind(topic, "t", literal, "User:alice", opRead, allow)
	want := "ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL): (principal=User:alice, host=*, operation=READ, permissionType=ALLOW)"
	if got := b.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	b = Binding{ResourceType: txnID, ResourceName: "tx-", PatternType: prefixed, Principal: "User:*", Host: "10.1.2.3", Operation: opDescCfg, Permission: deny}
	want = "ResourcePattern(resourceType=TRANSACTIONAL_ID, name=tx-, patternType=PREFIXED): (principal=User:*, host=10.1.2.3, operation=DESCRIBE_CONFIGS, permissionType=DENY)"
	if got := b.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestFilterValidate(t *testing.T) {
	mod := func(f func(*Filter)) Filter { x := AllFilter; f(&x); return x }
	tests := []struct {
		name    string
		f       Filter
		wantErr string
	}{
		{"all", AllFilter, ""},
		{"match with name", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("t") }), ""},
		{"concrete everything", Filter{ResourceType: topic, ResourceName: ptr("t"), PatternType: prefixed, Principal: ptr("User:a"), Host: ptr("*"), Operation: opAll, Permission: deny}, ""},
		{"zero value", Filter{}, "invalid filter resource type UNKNOWN"},
		{"unknown resource type", mod(func(f *Filter) { f.ResourceType = 0 }), "invalid filter resource type"},
		{"resource type out of range", mod(func(f *Filter) { f.ResourceType = 9 }), "invalid filter resource type UNKNOWN (9)"},
		{"unknown pattern", mod(func(f *Filter) { f.PatternType = 0 }), "invalid filter pattern type"},
		{"pattern out of range", mod(func(f *Filter) { f.PatternType = 5 }), "invalid filter pattern type"},
		{"unknown operation", mod(func(f *Filter) { f.Operation = 0 }), "invalid filter operation"},
		{"unknown permission", mod(func(f *Filter) { f.Permission = 0 }), "invalid filter permission type"},
		{"permission out of range", mod(func(f *Filter) { f.Permission = 4 }), "invalid filter permission type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	lit := bind(topic, "foo", literal, "User:alice", opRead, allow)
	litWild := bind(topic, "*", literal, "User:alice", opRead, allow)
	pre := bind(topic, "fo", prefixed, "User:alice", opRead, allow)
	preOther := bind(topic, "bar", prefixed, "User:alice", opRead, allow)
	hostB := Binding{ResourceType: group, ResourceName: "g", PatternType: literal, Principal: "User:*", Host: "10.0.0.1", Operation: opAll, Permission: deny}

	mod := func(f func(*Filter)) Filter { x := AllFilter; f(&x); return x }
	tests := []struct {
		name string
		f    Filter
		b    Binding
		want bool
	}{
		{"all matches literal", AllFilter, lit, true},
		{"all matches prefixed", AllFilter, pre, true},
		{"zero filter matches nothing", Filter{}, lit, false},
		{"type match", mod(func(f *Filter) { f.ResourceType = topic }), lit, true},
		{"type mismatch", mod(func(f *Filter) { f.ResourceType = group }), lit, false},
		{"unknown type matches nothing", mod(func(f *Filter) { f.ResourceType = 0 }), lit, false},
		{"literal filter literal binding", mod(func(f *Filter) { f.PatternType = literal }), lit, true},
		{"literal filter prefixed binding", mod(func(f *Filter) { f.PatternType = literal }), pre, false},
		{"prefixed filter prefixed binding", mod(func(f *Filter) { f.PatternType = prefixed }), pre, true},
		{"prefixed filter literal binding", mod(func(f *Filter) { f.PatternType = prefixed }), lit, false},
		{"unknown pattern matches nothing", mod(func(f *Filter) { f.PatternType = 0 }), lit, false},
		{"literal name exact", mod(func(f *Filter) { f.PatternType = literal; f.ResourceName = ptr("foo") }), lit, true},
		{"literal name differs", mod(func(f *Filter) { f.PatternType = literal; f.ResourceName = ptr("foo2") }), lit, false},
		{"literal filter does not expand wildcard", mod(func(f *Filter) { f.PatternType = literal; f.ResourceName = ptr("foo") }), litWild, false},
		{"literal filter named * matches wildcard binding", mod(func(f *Filter) { f.PatternType = literal; f.ResourceName = ptr("*") }), litWild, true},
		{"prefixed name exact", mod(func(f *Filter) { f.PatternType = prefixed; f.ResourceName = ptr("fo") }), pre, true},
		{"prefixed filter does not prefix-match", mod(func(f *Filter) { f.PatternType = prefixed; f.ResourceName = ptr("foo") }), pre, false},
		{"any pattern exact name literal", mod(func(f *Filter) { f.ResourceName = ptr("foo") }), lit, true},
		{"any pattern exact name prefixed", mod(func(f *Filter) { f.ResourceName = ptr("fo") }), pre, true},
		{"any pattern does not expand wildcard", mod(func(f *Filter) { f.ResourceName = ptr("foo") }), litWild, false},
		{"any pattern does not prefix-match", mod(func(f *Filter) { f.ResourceName = ptr("foo") }), pre, false},
		{"match literal exact", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("foo") }), lit, true},
		{"match literal other", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("food") }), lit, false},
		{"match literal wildcard", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("anything") }), litWild, true},
		{"match prefixed", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("foo") }), pre, true},
		{"match prefixed equal", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("fo") }), pre, true},
		{"match prefixed longer than name", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("f") }), pre, false},
		{"match prefixed other", mod(func(f *Filter) { f.PatternType = match; f.ResourceName = ptr("foo") }), preOther, false},
		{"match without name", mod(func(f *Filter) { f.PatternType = match }), preOther, true},
		{"match respects type", mod(func(f *Filter) { f.PatternType = match; f.ResourceType = group; f.ResourceName = ptr("foo") }), litWild, false},
		{"principal exact", mod(func(f *Filter) { f.Principal = ptr("User:alice") }), lit, true},
		{"principal differs", mod(func(f *Filter) { f.Principal = ptr("User:bob") }), lit, false},
		{"principal filter does not expand User:*", mod(func(f *Filter) { f.Principal = ptr("User:alice") }), hostB, false},
		{"principal filter User:* matches wildcard binding", mod(func(f *Filter) { f.Principal = ptr("User:*") }), hostB, true},
		{"host exact", mod(func(f *Filter) { f.Host = ptr("10.0.0.1") }), hostB, true},
		{"host differs", mod(func(f *Filter) { f.Host = ptr("10.0.0.2") }), hostB, false},
		{"host filter does not expand *", mod(func(f *Filter) { f.Host = ptr("10.0.0.1") }), lit, false},
		{"operation exact", mod(func(f *Filter) { f.Operation = opRead }), lit, true},
		{"operation differs", mod(func(f *Filter) { f.Operation = opWrite }), lit, false},
		{"operation filter ALL only matches ALL", mod(func(f *Filter) { f.Operation = opAll }), lit, false},
		{"operation filter ALL matches ALL binding", mod(func(f *Filter) { f.Operation = opAll }), hostB, true},
		{"operation filter READ does not match ALL binding", mod(func(f *Filter) { f.Operation = opRead }), hostB, false},
		{"permission exact", mod(func(f *Filter) { f.Permission = allow }), lit, true},
		{"permission differs", mod(func(f *Filter) { f.Permission = deny }), lit, false},
		{"unknown permission matches nothing", mod(func(f *Filter) { f.Permission = 0 }), lit, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Matches(tc.b); got != tc.want {
				t.Fatalf("Matches(%v) = %v, want %v", tc.b, got, tc.want)
			}
		})
	}
}

func TestParsers(t *testing.T) {
	ops := []struct {
		in   string
		want kmsg.ACLOperation
	}{
		{"Read", opRead}, {"WRITE", opWrite}, {"create", opCreate}, {"Delete", opDelete},
		{"Alter", opAlter}, {"Describe", opDescribe}, {"ClusterAction", opClAction},
		{"CLUSTER_ACTION", opClAction}, {"cluster-action", opClAction},
		{"DescribeConfigs", opDescCfg}, {"AlterConfigs", opAlterCfg}, {"IdempotentWrite", opIdempWr},
		{"CreateTokens", kmsg.ACLOperationCreateTokens}, {"DescribeTokens", kmsg.ACLOperationDescribeTokens},
		{"All", opAll}, {"any", opAnyFilter},
	}
	for _, tc := range ops {
		if got, err := ParseOperation(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseOperation(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	rts := []struct {
		in   string
		want kmsg.ACLResourceType
	}{
		{"Topic", topic}, {"GROUP", group}, {"cluster", cluster}, {"TransactionalId", txnID},
		{"transactional_id", txnID}, {"DelegationToken", kmsg.ACLResourceTypeDelegationToken},
		{"User", kmsg.ACLResourceTypeUser}, {"Any", kmsg.ACLResourceTypeAny},
	}
	for _, tc := range rts {
		if got, err := ParseResourceType(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseResourceType(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	pts := []struct {
		in   string
		want kmsg.ACLResourcePatternType
	}{
		{"Literal", literal}, {"PREFIXED", prefixed}, {"match", match}, {"Any", anyPat},
	}
	for _, tc := range pts {
		if got, err := ParsePatternType(tc.in); err != nil || got != tc.want {
			t.Errorf("ParsePatternType(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	perms := []struct {
		in   string
		want kmsg.ACLPermissionType
	}{
		{"Allow", allow}, {"DENY", deny}, {"any", kmsg.ACLPermissionTypeAny},
	}
	for _, tc := range perms {
		if got, err := ParsePermission(tc.in); err != nil || got != tc.want {
			t.Errorf("ParsePermission(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}

	bad := []struct {
		name string
		fn   func(string) error
		in   string
	}{
		{"op empty", func(s string) error { _, err := ParseOperation(s); return err }, ""},
		{"op unknown", func(s string) error { _, err := ParseOperation(s); return err }, "Unknown"},
		{"op typo", func(s string) error { _, err := ParseOperation(s); return err }, "Reed"},
		{"rt unknown", func(s string) error { _, err := ParseResourceType(s); return err }, "Unknown"},
		{"rt typo", func(s string) error { _, err := ParseResourceType(s); return err }, "Topics"},
		{"pt unknown", func(s string) error { _, err := ParsePatternType(s); return err }, "Unknown"},
		{"pt typo", func(s string) error { _, err := ParsePatternType(s); return err }, "prefix"},
		{"perm unknown", func(s string) error { _, err := ParsePermission(s); return err }, "Unknown"},
		{"perm typo", func(s string) error { _, err := ParsePermission(s); return err }, "allowed"},
	}
	for _, tc := range bad {
		err := tc.fn(tc.in)
		if err == nil || !strings.Contains(err.Error(), "unknown ACL") {
			t.Errorf("%s: parse(%q) error = %v, want an 'unknown ACL ...' error", tc.name, tc.in, err)
		}
	}
}

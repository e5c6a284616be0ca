package acl

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	alice = "User:alice"
	bob   = "User:bob"
	ip1   = "10.0.0.1"
	ip2   = "10.0.0.2"
)

func withHost(b Binding, host string) Binding { b.Host = host; return b }

func TestAuthorize(t *testing.T) {
	type query struct {
		principal, host string
		op              kmsg.ACLOperation
		rt              kmsg.ACLResourceType
		name            string
		want            bool
	}
	tests := []struct {
		name     string
		cfg      Config
		bindings []Binding
		queries  []query
	}{
		{
			name:     "super user is allowed everything despite DENY and no ALLOW",
			cfg:      Config{SuperUsers: []string{"User:admin"}},
			bindings: []Binding{bind(topic, "*", literal, "User:*", opAll, deny)},
			queries: []query{
				{"User:admin", ip1, opWrite, topic, "t", true},
				{"User:admin", ip1, opAlter, cluster, ClusterName, true},
				{alice, ip1, opWrite, topic, "t", false},
				// Super-user matching is exact: no type folding, no wildcard.
				{"user:admin", ip1, opWrite, topic, "t", false},
			},
		},
		{
			name:     "User:* in super.users is not a wildcard",
			cfg:      Config{SuperUsers: []string{"User:*"}},
			bindings: []Binding{bind(topic, "t", literal, bob, opRead, allow)},
			queries:  []query{{alice, ip1, opRead, topic, "t", false}},
		},
		{
			name:     "no bindings at all: default deny",
			bindings: nil,
			queries:  []query{{alice, ip1, opRead, topic, "t", false}},
		},
		{
			name:     "no bindings at all: allow.everyone",
			cfg:      Config{AllowEveryoneIfNoACLFound: true},
			bindings: nil,
			queries:  []query{{alice, ip1, opRead, topic, "t", true}},
		},
		{
			name: "allow.everyone applies only to resources without any binding",
			cfg:  Config{AllowEveryoneIfNoACLFound: true},
			bindings: []Binding{
				bind(topic, "owned", literal, bob, opRead, allow),
				bind(topic, "pre-", prefixed, bob, opRead, allow),
				bind(group, "*", literal, bob, opRead, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "free", true},
				{alice, ip1, opRead, topic, "owned", false},    // bob's literal binding exists
				{alice, ip1, opRead, topic, "pre-x", false},    // bob's prefixed binding exists
				{alice, ip1, opRead, group, "anything", false}, // bob's wildcard binding exists
				{alice, ip1, opWrite, topic, "owned", false},   // any op's binding counts
				{bob, ip1, opRead, topic, "owned", true},
				{alice, ip1, opRead, txnID, "x", true}, // no binding of that type
			},
		},
		{
			name: "literal exact, literal wildcard, prefixed",
			bindings: []Binding{
				bind(topic, "exact", literal, alice, opRead, allow),
				bind(topic, "*", literal, alice, opWrite, allow),
				bind(topic, "pay", prefixed, alice, opCreate, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "exact", true},
				{alice, ip1, opRead, topic, "exactly", false}, // literal is not a prefix
				{alice, ip1, opRead, topic, "exac", false},
				{alice, ip1, opWrite, topic, "whatever", true},
				{alice, ip1, opWrite, topic, "*", true},
				{alice, ip1, opCreate, topic, "payments", true},
				{alice, ip1, opCreate, topic, "pay", true}, // prefix equal to name
				{alice, ip1, opCreate, topic, "pa", false},
				{alice, ip1, opCreate, topic, "xpay", false},
				{alice, ip1, opRead, group, "exact", false}, // other resource type
			},
		},
		{
			name: "literal * is a wildcard, prefixed * is a plain prefix",
			bindings: []Binding{
				bind(group, "*", prefixed, alice, opRead, allow),
				bind(topic, "x", literal, bob, opRead, allow),
			},
			queries: []query{
				{alice, ip1, opRead, group, "g", false},
				{alice, ip1, opRead, group, "*g", true},
			},
		},
		{
			name: "principal exact or User:*",
			bindings: []Binding{
				bind(topic, "t", literal, alice, opRead, allow),
				bind(topic, "u", literal, "User:*", opRead, allow),
				bind(topic, "v", literal, "Group:*", opRead, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "t", true},
				{bob, ip1, opRead, topic, "t", false},
				{"Group:alice", ip1, opRead, topic, "t", false}, // type is part of the principal
				{bob, ip1, opRead, topic, "u", true},
				// Kafka's wildcard principal is User:* and it matches principals of any type.
				{"Group:devs", ip1, opRead, topic, "u", true},
				// Group:* is not a wildcard: only the literal principal "Group:*" matches it.
				{"Group:devs", ip1, opRead, topic, "v", false},
				{"Group:*", ip1, opRead, topic, "v", true},
			},
		},
		{
			name: "host exact or *",
			bindings: []Binding{
				withHost(bind(topic, "t", literal, alice, opRead, allow), ip1),
				bind(topic, "u", literal, alice, opRead, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "t", true},
				{alice, ip2, opRead, topic, "t", false},
				{alice, ip2, opRead, topic, "u", true},
			},
		},
		{
			name: "DENY beats ALLOW wherever it comes from",
			bindings: []Binding{
				bind(topic, "t", literal, alice, opRead, allow),
				bind(topic, "t", literal, alice, opRead, deny),
				bind(topic, "u", literal, alice, opAll, allow),
				bind(topic, "u", prefixed, "User:*", opWrite, deny),
				bind(topic, "v", literal, alice, opRead, allow),
				withHost(bind(topic, "*", literal, alice, opAll, deny), ip2),
				bind(group, "g", literal, alice, opRead, allow),
				withHost(bind(group, "g", literal, alice, opRead, deny), ip2),
				bind(txnID, "x", literal, alice, opWrite, allow),
				bind(txnID, "x", literal, alice, opAll, deny),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "t", false},
				{alice, ip1, opWrite, topic, "u", false}, // prefixed wildcard-principal DENY
				{alice, ip1, opRead, topic, "v", true},   // wildcard ALL DENY is only for ip2
				{alice, ip2, opRead, topic, "v", false},  //
				{alice, ip2, opRead, topic, "unbound", false},
				{alice, ip1, opRead, group, "g", true},      // DENY only from ip2
				{alice, ip2, opRead, group, "g", false},     //
				{alice, ip1, opWrite, txnID, "x", false},    // DENY ALL denies WRITE
				{alice, ip1, opDescribe, txnID, "x", false}, // and DESCRIBE
			},
		},
		{
			name: "ALLOW implications",
			bindings: []Binding{
				bind(topic, "r", literal, alice, opRead, allow),
				bind(topic, "w", literal, alice, opWrite, allow),
				bind(topic, "d", literal, alice, opDelete, allow),
				bind(topic, "a", literal, alice, opAlter, allow),
				bind(topic, "c", literal, alice, opCreate, allow),
				bind(topic, "ac", literal, alice, opAlterCfg, allow),
				bind(topic, "dc", literal, alice, opDescCfg, allow),
				bind(topic, "all", literal, alice, opAll, allow),
				bind(topic, "desc", literal, alice, opDescribe, allow),
			},
			queries: []query{
				{alice, ip1, opDescribe, topic, "r", true},
				{alice, ip1, opDescribe, topic, "w", true},
				{alice, ip1, opDescribe, topic, "d", true},
				{alice, ip1, opDescribe, topic, "a", true},
				{alice, ip1, opDescribe, topic, "c", false}, // CREATE does not imply DESCRIBE
				{alice, ip1, opDescribe, topic, "ac", false},
				{alice, ip1, opDescCfg, topic, "ac", true},
				{alice, ip1, opDescCfg, topic, "a", false}, // ALTER does not imply DESCRIBE_CONFIGS
				{alice, ip1, opAlterCfg, topic, "dc", false},
				{alice, ip1, opRead, topic, "desc", false}, // implications only go towards DESCRIBE
				{alice, ip1, opWrite, topic, "r", false},
				{alice, ip1, opClAction, topic, "all", true},
				{alice, ip1, opDescribe, topic, "all", true},
			},
		},
		{
			name: "DENY does not imply",
			bindings: []Binding{
				bind(topic, "t", literal, alice, opAll, allow),
				bind(topic, "t", literal, alice, opDescribe, deny),
				bind(topic, "u", literal, alice, opAll, allow),
				bind(topic, "u", literal, alice, opRead, deny),
				bind(topic, "v", literal, alice, opAll, allow),
				bind(topic, "v", literal, alice, opAlterCfg, deny),
			},
			queries: []query{
				{alice, ip1, opDescribe, topic, "t", false},
				{alice, ip1, opRead, topic, "t", true}, // DENY DESCRIBE does not deny READ
				{alice, ip1, opRead, topic, "u", false},
				{alice, ip1, opDescribe, topic, "u", true}, // DENY READ does not deny DESCRIBE
				{alice, ip1, opDescCfg, topic, "v", true},  // DENY ALTER_CONFIGS does not deny DESCRIBE_CONFIGS
				{alice, ip1, opAlterCfg, topic, "v", false},
			},
		},
		{
			name: "bindings of others make the default deny",
			bindings: []Binding{
				bind(topic, "t", literal, bob, opRead, allow),
				bind(topic, "t", literal, alice, opWrite, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, "t", false},
				{alice, ip1, opWrite, topic, "t", true},
			},
		},
		{
			name: "cluster resource",
			bindings: []Binding{
				bind(cluster, ClusterName, literal, alice, opIdempWr, allow),
				bind(cluster, ClusterName, literal, alice, opAlterCfg, allow),
			},
			queries: []query{
				{alice, ip1, opIdempWr, cluster, ClusterName, true},
				{alice, ip1, opDescCfg, cluster, ClusterName, true},
				{alice, ip1, opClAction, cluster, ClusterName, false},
			},
		},
		{
			name:     "invalid queries are denied even for super users",
			cfg:      Config{SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACLFound: true},
			bindings: []Binding{bind(topic, "t", literal, "User:*", opAll, allow)},
			queries: []query{
				{"User:admin", ip1, opAnyFilter, topic, "t", false},
				{"User:admin", ip1, 0, topic, "t", false},
				{"User:admin", ip1, opRead, kmsg.ACLResourceTypeAny, "t", false},
				{alice, ip1, opRead, 0, "t", false},
				{alice, ip1, opRead, 99, "t", false},
				{alice, ip1, 99, topic, "t", false},
			},
		},
		{
			name: "invalid bindings are ignored",
			cfg:  Config{AllowEveryoneIfNoACLFound: true},
			bindings: []Binding{
				bind(topic, "t", match, alice, opRead, allow),
				bind(topic, "t", literal, "alice", opRead, allow),
				bind(topic, "", prefixed, alice, opRead, deny),
			},
			queries: []query{
				{bob, ip1, opRead, topic, "t", true}, // resource still has no (valid) binding
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(tc.cfg, tc.bindings)
			for _, q := range tc.queries {
				if got := a.Authorize(q.principal, q.host, q.op, q.rt, q.name); got != q.want {
					t.Errorf("Authorize(%s, %s, %s, %s, %q) = %v, want %v", q.principal, q.host, q.op, q.rt, q.name, got, q.want)
				}
			}
		})
	}
}

func TestAuthorizeByResourceType(t *testing.T) {
	type query struct {
		principal, host string
		op              kmsg.ACLOperation
		rt              kmsg.ACLResourceType
		want            bool
	}
	tests := []struct {
		name     string
		cfg      Config
		bindings []Binding
		queries  []query
	}{
		{
			name:     "super user",
			cfg:      Config{SuperUsers: []string{"User:admin"}},
			bindings: []Binding{bind(topic, "*", literal, "User:*", opAll, deny)},
			queries:  []query{{"User:admin", ip1, opWrite, topic, true}, {alice, ip1, opWrite, topic, false}},
		},
		{
			name:    "no bindings: default decides",
			queries: []query{{alice, ip1, opWrite, topic, false}},
		},
		{
			name:    "no bindings: allow.everyone",
			cfg:     Config{AllowEveryoneIfNoACLFound: true},
			queries: []query{{alice, ip1, opWrite, topic, true}},
		},
		{
			name: "allow.everyone: some resource without bindings exists unless a literal * binding exists",
			cfg:  Config{AllowEveryoneIfNoACLFound: true},
			bindings: []Binding{
				bind(topic, "t", literal, alice, opWrite, deny),
				bind(topic, "p", prefixed, alice, opWrite, deny),
				bind(group, "*", literal, bob, opRead, allow),
			},
			queries: []query{
				{alice, ip1, opWrite, topic, true},
				{alice, ip1, opRead, group, false}, // every group has bob's binding
				{bob, ip1, opRead, group, true},
			},
		},
		{
			name: "wildcard DENY denies regardless of other ALLOWs",
			cfg:  Config{AllowEveryoneIfNoACLFound: true},
			bindings: []Binding{
				bind(topic, "*", literal, "User:*", opWrite, deny),
				bind(topic, "t", literal, alice, opWrite, allow),
				bind(topic, "p", prefixed, alice, opWrite, allow),
				bind(topic, "*", literal, alice, opAll, allow),
			},
			queries: []query{
				{alice, ip1, opWrite, topic, false},
				{alice, ip1, opRead, topic, true}, // the DENY is for WRITE only
			},
		},
		{
			name: "wildcard ALLOW, including implied operations",
			bindings: []Binding{
				bind(topic, "*", literal, alice, opRead, allow),
				bind(topic, "p", prefixed, alice, opRead, deny),
			},
			queries: []query{
				{alice, ip1, opRead, topic, true},
				{alice, ip1, opDescribe, topic, true}, // READ on * implies DESCRIBE on a fresh topic
				{alice, ip1, opWrite, topic, false},
				{bob, ip1, opRead, topic, false},
			},
		},
		{
			name: "literal ALLOW not covered by DENY",
			bindings: []Binding{
				bind(topic, "a", literal, alice, opWrite, allow),
				bind(topic, "b", literal, alice, opAll, allow),
			},
			queries: []query{
				{alice, ip1, opWrite, topic, true},
				{alice, ip1, opCreate, topic, true}, // via ALL on b
				{alice, ip1, opDescribe, topic, true},
				{bob, ip1, opWrite, topic, false},
			},
		},
		{
			name: "literal ALLOW dominated by literal DENY of the same name",
			bindings: []Binding{
				bind(topic, "a", literal, alice, opWrite, allow),
				bind(topic, "a", literal, "User:*", opWrite, deny),
			},
			queries: []query{{alice, ip1, opWrite, topic, false}},
		},
		{
			name: "literal ALLOW dominated by a prefixed DENY",
			bindings: []Binding{
				bind(topic, "abc", literal, alice, opWrite, allow),
				bind(topic, "ab", prefixed, alice, opAll, deny),
			},
			queries: []query{{alice, ip1, opWrite, topic, false}},
		},
		{
			name: "literal ALLOW with a DENY on another literal name",
			bindings: []Binding{
				bind(topic, "abc", literal, alice, opWrite, allow),
				bind(topic, "abd", literal, alice, opWrite, deny),
				bind(topic, "abcd", prefixed, alice, opWrite, deny), // longer prefix does not cover "abc"
			},
			queries: []query{{alice, ip1, opWrite, topic, true}},
		},
		{
			name: "prefixed ALLOW dominated by same or shorter prefixed DENY",
			bindings: []Binding{
				bind(topic, "abc", prefixed, alice, opWrite, allow),
				bind(topic, "xy", prefixed, alice, opWrite, allow),
				bind(topic, "ab", prefixed, alice, opWrite, deny),
				bind(topic, "xy", prefixed, alice, opWrite, deny),
			},
			queries: []query{{alice, ip1, opWrite, topic, false}},
		},
		{
			name: "prefixed ALLOW not dominated by a literal DENY or a longer prefixed DENY",
			bindings: []Binding{
				bind(topic, "abc", prefixed, alice, opWrite, allow),
				bind(topic, "abc", literal, alice, opWrite, deny),
				bind(topic, "abcd", prefixed, alice, opWrite, deny),
			},
			queries: []query{{alice, ip1, opWrite, topic, true}},
		},
		{
			name: "only the principal's own, host-matching bindings count",
			bindings: []Binding{
				bind(topic, "a", literal, alice, opWrite, allow),
				bind(topic, "a", prefixed, bob, opWrite, deny),
				withHost(bind(topic, "", prefixed, alice, opWrite, deny), ip2), // invalid: ignored
				withHost(bind(topic, "a", prefixed, alice, opWrite, deny), ip2),
				withHost(bind(group, "g", literal, alice, opRead, allow), ip2),
			},
			queries: []query{
				{alice, ip1, opWrite, topic, true},
				{alice, ip2, opWrite, topic, false},
				{alice, ip1, opRead, group, false},
				{alice, ip2, opRead, group, true},
			},
		},
		{
			name: "no implications outside the wildcard probe",
			bindings: []Binding{
				bind(topic, "a", literal, alice, opRead, allow),
				bind(topic, "p", prefixed, alice, opAlterCfg, allow),
			},
			queries: []query{
				{alice, ip1, opRead, topic, true},
				{alice, ip1, opDescribe, topic, false},
				{alice, ip1, opDescCfg, topic, false},
			},
		},
		{
			name:     "User:* bindings apply",
			bindings: []Binding{bind(txnID, "tx", prefixed, "User:*", opWrite, allow)},
			queries:  []query{{alice, ip1, opWrite, txnID, true}},
		},
		{
			name:     "invalid query",
			cfg:      Config{SuperUsers: []string{alice}, AllowEveryoneIfNoACLFound: true},
			queries:  []query{{alice, ip1, opAnyFilter, topic, false}, {alice, ip1, opRead, kmsg.ACLResourceTypeAny, false}},
			bindings: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(tc.cfg, tc.bindings)
			for _, q := range tc.queries {
				if got := a.AuthorizeByResourceType(q.principal, q.host, q.op, q.rt); got != q.want {
					t.Errorf("AuthorizeByResourceType(%s, %s, %s, %s) = %v, want %v", q.principal, q.host, q.op, q.rt, got, q.want)
				}
			}
		})
	}
}

func bits(ops ...kmsg.ACLOperation) int32 {
	var b int32
	for _, op := range ops {
		b |= 1 << uint(op)
	}
	return b
}

func TestAuthorizedOperations(t *testing.T) {
	allTopic := bits(opRead, opWrite, opCreate, opDelete, opAlter, opDescribe, opDescCfg, opAlterCfg)
	tests := []struct {
		name      string
		cfg       Config
		bindings  []Binding
		principal string
		rt        kmsg.ACLResourceType
		res       string
		want      int32
	}{
		{"super user topic", Config{SuperUsers: []string{alice}}, nil, alice, topic, "t", allTopic},
		{"super user group", Config{SuperUsers: []string{alice}}, nil, alice, group, "g", bits(opRead, opDescribe, opDelete)},
		{"super user cluster", Config{SuperUsers: []string{alice}}, nil, alice, cluster, ClusterName,
			bits(opCreate, opClAction, opDescCfg, opAlterCfg, opIdempWr, opAlter, opDescribe)},
		{"super user txn id", Config{SuperUsers: []string{alice}}, nil, alice, txnID, "x", bits(opDescribe, opWrite)},
		{"allow.everyone without bindings", Config{AllowEveryoneIfNoACLFound: true}, nil, alice, topic, "t", allTopic},
		{"nothing", Config{}, nil, alice, topic, "t", 0},
		{"ALL allow", Config{}, []Binding{bind(topic, "t", literal, alice, opAll, allow)}, alice, topic, "t", allTopic},
		{"READ implies DESCRIBE", Config{}, []Binding{bind(topic, "t", literal, alice, opRead, allow)}, alice, topic, "t",
			bits(opRead, opDescribe)},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", Config{}, []Binding{bind(topic, "t", prefixed, alice, opAlterCfg, allow)}, alice, topic, "tt",
			bits(opAlterCfg, opDescCfg)},
		{"ALL allow minus DENY WRITE", Config{}, []Binding{
			bind(topic, "*", literal, alice, opAll, allow),
			bind(topic, "t", literal, alice, opWrite, deny),
		}, alice, topic, "t", allTopic &^ bits(opWrite)},
		{"group READ", Config{}, []Binding{bind(group, "g", literal, "User:*", opRead, allow)}, alice, group, "g",
			bits(opRead, opDescribe)},
		{"txn WRITE", Config{}, []Binding{bind(txnID, "x", literal, alice, opWrite, allow)}, alice, txnID, "x",
			bits(opWrite, opDescribe)},
		{"cluster IDEMPOTENT_WRITE only", Config{}, []Binding{bind(cluster, ClusterName, literal, alice, opIdempWr, allow)}, alice, cluster, ClusterName,
			bits(opIdempWr)},
		{"ops not supported by the type are not reported", Config{}, []Binding{
			bind(group, "g", literal, alice, opWrite, allow), // WRITE is not a group operation
		}, alice, group, "g", bits(opDescribe)},
		{"invalid resource type", Config{SuperUsers: []string{alice}}, nil, alice, kmsg.ACLResourceTypeAny, "x", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(tc.cfg, tc.bindings)
			if got := a.AuthorizedOperations(tc.principal, ip1, tc.rt, tc.res); got != tc.want {
				t.Fatalf("AuthorizedOperations = %#x, want %#x", got, tc.want)
			}
		})
	}
	// The bit positions are the wire codes Kafka clients decode.
	if got := bits(opRead, opDescribe); got != 1<<3|1<<8 {
		t.Fatalf("bit layout = %#x", got)
	}
}

func TestSupportedOperations(t *testing.T) {
	got := SupportedOperations(group)
	if !slices.Equal(got, []kmsg.ACLOperation{opRead, opDescribe, opDelete}) {
		t.Fatalf("SupportedOperations(GROUP) = %v", got)
	}
	got[0] = opAll // must be a copy
	if SupportedOperations(group)[0] != opRead {
		t.Fatal("SupportedOperations returned shared storage")
	}
	if SupportedOperations(kmsg.ACLResourceTypeAny) != nil {
		t.Fatal("SupportedOperations(ANY) != nil")
	}
}

func TestBindingsSortedDeduplicatedValid(t *testing.T) {
	in := []Binding{
		bind(group, "g", literal, alice, opRead, allow),
		bind(topic, "b", prefixed, alice, opRead, allow),
		bind(topic, "b", literal, bob, opRead, allow),
		bind(topic, "b", literal, alice, opWrite, allow),
		bind(topic, "b", literal, alice, opRead, deny),
		bind(topic, "a", literal, alice, opRead, allow),
		bind(topic, "a", literal, alice, opRead, allow), // duplicate
		bind(topic, "a", match, alice, opRead, allow),   // invalid
	}
	want := []Binding{
		bind(topic, "a", literal, alice, opRead, allow),
		bind(topic, "b", literal, alice, opRead, deny),
		bind(topic, "b", literal, alice, opWrite, allow),
		bind(topic, "b", literal, bob, opRead, allow),
		bind(topic, "b", prefixed, alice, opRead, allow),
		bind(group, "g", literal, alice, opRead, allow),
	}
	a := New(Config{}, in)
	got := a.Bindings()
	if !slices.Equal(got, want) {
		t.Fatalf("Bindings() =\n%v\nwant\n%v", got, want)
	}
	got[0].ResourceName = "mutated"
	if a.Bindings()[0].ResourceName != "a" {
		t.Fatal("Bindings returned shared storage")
	}
	// The input slice is not reordered.
	if in[0].ResourceType != group {
		t.Fatal("New modified its input")
	}
}

// TestIndexAgreesWithLinearScan cross-checks the indexed Authorize against a
// straightforward scan over all bindings using Binding.appliesTo.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	names := []string{"a", "ab", "abc", "abd", "b", "*", "ba"}
	principals := []string{alice, bob, "User:*"}
	hosts := []string{"*", ip1}
	ops := []kmsg.ACLOperation{opAll, opRead, opWrite, opDescribe, opAlterCfg, opDescCfg}
	var all []Binding
	// A deterministic pseudo-random subset of the cross product.
	seed := uint32(1)
	next := func() uint32 { seed = seed*1664525 + 1013904223; return seed >> 8 }
	for range 60 {
		all = append(all, Binding{
			ResourceType: topic,
			ResourceName: names[next()%uint32(len(names))],
			PatternType:  []kmsg.ACLResourcePatternType{literal, prefixed}[next()%2],
			Principal:    principals[next()%uint32(len(principals))],
			Host:         hosts[next()%uint32(len(hosts))],
			Operation:    ops[next()%uint32(len(ops))],
			Permission:   []kmsg.ACLPermissionType{allow, deny}[next()%2],
		})
	}
	for n := 0; n <= len(all); n += 3 {
		bs := all[:n]
		for _, everyone := range []bool{false, true} {
			a := New(Config{AllowEveryoneIfNoACLFound: everyone}, bs)
			for _, name := range append(names, "abcd", "c", "") {
				for _, p := range []string{alice, bob} {
					for _, h := range []string{ip1, ip2} {
						for _, op := range ops[1:] {
							want := linearAuthorize(bs, everyone, p, h, op, topic, name)
							if got := a.Authorize(p, h, op, topic, name); got != want {
								t.Fatalf("n=%d everyone=%v Authorize(%s,%s,%s,%q) = %v, linear scan says %v", n, everyone, p, h, op, name, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// linearAuthorize is the reference semantics, written independently of the
// index: scan everything.
func linearAuthorize(bs []Binding, everyone bool, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	found, allowed := false, false
	for _, b := range bs {
		if !b.appliesTo(rt, name) {
			continue
		}
		found = true
		if b.Principal != principal && b.Principal != "User:*" {
			continue
		}
		if b.Host != host && b.Host != "*" {
			continue
		}
		if b.Permission == deny && (b.Operation == op || b.Operation == opAll) {
			return false
		}
		if b.Permission == allow && opMatches(b.Operation, allow, op) {
			allowed = true
		}
	}
	return allowed || (!found && everyone)
}

func TestConcurrentUse(t *testing.T) {
	a := New(Config{}, []Binding{bind(topic, "p", prefixed, alice, opRead, allow)})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 1000 {
				name := fmt.Sprintf("p%d-%d", i, j)
				if !a.Authorize(alice, ip1, opRead, topic, name) || a.Authorize(bob, ip1, opRead, topic, name) {
					t.Error("wrong answer under concurrency")
					return
				}
				_ = a.AuthorizeByResourceType(alice, ip1, opRead, topic)
				_ = a.AuthorizedOperations(alice, ip1, topic, name)
			}
		}()
	}
	wg.Wait()
}

// FuzzFilterMatches checks that a MATCH filter selects exactly the bindings
// the authorizer applies to the named resource, and that a filter built from
// a binding's own fields selects it.
func FuzzFilterMatches(f *testing.F) {
	f.Add("foo", true, "fo", int8(3))
	f.Add("*", false, "x", int8(4))
	f.Add("ab", true, "ab", int8(3))
	f.Fuzz(func(t *testing.T, bname string, prefix bool, query string, op int8) {
		pt := literal
		if prefix {
			pt = prefixed
		}
		b := bind(topic, bname, pt, "User:*", opAll, allow)
		if b.Validate() != nil {
			return
		}
		a := New(Config{}, []Binding{b})
		mf := Filter{ResourceType: topic, ResourceName: &query, PatternType: match,
			Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
		if got, want := mf.Matches(b), a.Authorize(alice, ip1, opRead, topic, query); got != want {
			t.Fatalf("MATCH filter %q on %v = %v, but Authorize = %v", query, b, got, want)
		}
		self := Filter{ResourceType: b.ResourceType, ResourceName: &b.ResourceName, PatternType: b.PatternType,
			Principal: &b.Principal, Host: &b.Host, Operation: b.Operation, Permission: b.Permission}
		if !self.Matches(b) || !AllFilter.Matches(b) {
			t.Fatalf("self/all filter does not match %v", b)
		}
		if fo := kmsg.ACLOperation(op); isConcreteOperation(fo) {
			of := AllFilter
			of.Operation = fo
			if of.Matches(b) != (fo == b.Operation) {
				t.Fatalf("operation filter %s on %v", fo, b)
			}
		}
	})
}

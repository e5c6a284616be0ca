// Package acl implements Kafka-compatible ACL bindings, binding filters and
// an authorizer with the semantics of Kafka's StandardAuthorizer (KRaft):
//
//   - super users are allowed everything;
//   - a binding applies to a resource when it is LITERAL with the same name,
//     LITERAL with the wildcard name "*", or PREFIXED with a name the
//     resource's name starts with (KIP-290);
//   - a binding applies to a principal when its principal is identical or is
//     the wildcard "User:*", and to a host when identical or "*";
//   - any applicable DENY wins over every ALLOW;
//   - ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE and ALLOW of
//     ALTER_CONFIGS implies DESCRIBE_CONFIGS; DENY never implies anything
//     (a DENY READ does not deny DESCRIBE, a DENY DESCRIBE does not deny READ);
//   - a resource with no binding at all (of any principal, host or
//     operation) is decided by allow.everyone.if.no.acl.found; otherwise
//     the default is deny.
//
// The enums are franz-go's kmsg ones so the API layer can pass request
// fields straight through.
package acl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// WildcardResource is the LITERAL resource name that matches every
	// resource of the binding's type.
	WildcardResource = "*"
	// WildcardPrincipal matches every principal. Kafka only has a wildcard
	// for the User type, and (like Kafka) it matches principals of any type.
	WildcardPrincipal = "User:*"
	// WildcardHost matches every client host.
	WildcardHost = "*"
	// ClusterName is the only valid name of the CLUSTER resource.
	ClusterName = "kafka-cluster"
)

// Binding is one ACL (Kafka's AclBinding): a resource pattern plus an access
// control entry. A stored binding always satisfies Validate.
type Binding struct {
	ResourceType kmsg.ACLResourceType        // TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, USER
	ResourceName string                      // "*" is the wildcard for LITERAL; the cluster resource is named "kafka-cluster"
	PatternType  kmsg.ACLResourcePatternType // LITERAL or PREFIXED only in a stored binding
	Principal    string                      // "User:alice", "User:*" wildcard
	Host         string                      // "*" or an IP
	Operation    kmsg.ACLOperation           // never ANY/UNKNOWN in a stored binding
	Permission   kmsg.ACLPermissionType      // ALLOW or DENY
}

// isConcreteResourceType reports whether rt names a real resource type, i.e.
// one a binding can be stored for and an authorization question asked about.
func isConcreteResourceType(rt kmsg.ACLResourceType) bool {
	return rt >= kmsg.ACLResourceTypeTopic && rt <= kmsg.ACLResourceTypeUser
}

// isConcreteOperation reports whether op is ALL or a real operation; ANY and
// UNKNOWN (and codes kmsg does not know) are only meaningful, if at all, in
// filters.
func isConcreteOperation(op kmsg.ACLOperation) bool {
	return op >= kmsg.ACLOperationAll && op <= kmsg.ACLOperationDescribeTokens
}

// Validate reports why CreateAcls must refuse b (Kafka answers
// INVALID_REQUEST with the error's text as the message), or nil. It mirrors
// the broker-side checks of Kafka (AclControlManager and the CreateAcls
// handler) and additionally requires a non-empty principal type and name
// and a non-empty host, which could never match anything anyway.
//
// Like Kafka it does not check that the operation is meaningful for the
// resource type (READ on CLUSTER is accepted and simply never consulted);
// kafka-acls.sh does that check on the client side.
func (b Binding) Validate() error {
	if !isConcreteResourceType(b.ResourceType) {
		return fmt.Errorf("invalid resource type %s (%d): a binding needs TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN or USER",
			b.ResourceType, int8(b.ResourceType))
	}
	if b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("invalid pattern type %s (%d): a binding must be LITERAL or PREFIXED",
			b.PatternType, int8(b.PatternType))
	}
	if !isConcreteOperation(b.Operation) {
		return fmt.Errorf("invalid operation %s (%d): a binding needs ALL or a specific operation",
			b.Operation, int8(b.Operation))
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("invalid permission type %s (%d): a binding must be ALLOW or DENY",
			b.Permission, int8(b.Permission))
	}
	if b.ResourceName == "" {
		return errors.New("invalid empty resource name")
	}
	if b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName {
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s, got %q", ClusterName, b.ResourceName)
	}
	if err := validatePrincipal(b.Principal); err != nil {
		return err
	}
	if b.Host == "" {
		return errors.New(`invalid empty host: use "*" for any host`)
	}
	return nil
}

// validatePrincipal checks the "Type:name" form. The type ends at the first
// colon (as in Kafka's SecurityUtils.parseKafkaPrincipal), so names may
// contain colons, e.g. "User:CN=a:b".
func validatePrincipal(p string) error {
	i := strings.IndexByte(p, ':')
	if i < 0 {
		return fmt.Errorf("could not parse principal %q: no colon separates the principal type from the principal name (want Type:name, e.g. User:alice)", p)
	}
	if i == 0 || i == len(p)-1 {
		return fmt.Errorf("could not parse principal %q: principal type and name must both be non-empty (want Type:name, e.g. User:alice)", p)
	}
	return nil
}

// String renders b on one line in the style of kafka-acls.sh --list, e.g.
//
//	ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL): (principal=User:alice, host=*, operation=READ, permissionType=ALLOW)
func (b Binding) String() string {
	return fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s): (principal=%s, host=%s, operation=%s, permissionType=%s)",
		b.ResourceType, b.ResourceName, b.PatternType, b.Principal, b.Host, b.Operation, b.Permission)
}

// appliesTo reports whether the (valid) binding's resource pattern covers the
// resource (rt, name): LITERAL same name, LITERAL "*", or PREFIXED prefix.
func (b Binding) appliesTo(rt kmsg.ACLResourceType, name string) bool {
	if b.ResourceType != rt {
		return false
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return b.ResourceName == name || b.ResourceName == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

// Filter is a DescribeAcls/DeleteAcls filter (Kafka's AclBindingFilter).
// nil pointers and ANY enums match anything. PatternType ANY matches LITERAL
// and PREFIXED bindings whose name equals ResourceName exactly; MATCH matches
// the bindings that would apply to the resource named ResourceName (LITERAL
// exact, LITERAL "*", PREFIXED whose name ResourceName starts with).
// Principal and Host compare exactly: a filter for "User:alice" does not
// match a "User:*" binding, as in Kafka.
//
// The zero value is not match-all: its enums are UNKNOWN, which Validate
// refuses and Matches never matches. Use AllFilter or set ANY explicitly.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// AllFilter matches every binding.
var AllFilter = Filter{
	ResourceType: kmsg.ACLResourceTypeAny,
	PatternType:  kmsg.ACLResourcePatternTypeAny,
	Operation:    kmsg.ACLOperationAny,
	Permission:   kmsg.ACLPermissionTypeAny,
}

// Validate reports why a DescribeAcls/DeleteAcls filter must be refused
// (INVALID_REQUEST in Kafka), or nil: every enum must be ANY or a known
// value. Request-version restrictions (v0 filters must be LITERAL) belong to
// the API layer.
func (f Filter) Validate() error {
	if f.ResourceType != kmsg.ACLResourceTypeAny && !isConcreteResourceType(f.ResourceType) {
		return fmt.Errorf("invalid filter resource type %s (%d)", f.ResourceType, int8(f.ResourceType))
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny, kmsg.ACLResourcePatternTypeMatch,
		kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("invalid filter pattern type %s (%d)", f.PatternType, int8(f.PatternType))
	}
	if f.Operation != kmsg.ACLOperationAny && !isConcreteOperation(f.Operation) {
		return fmt.Errorf("invalid filter operation %s (%d)", f.Operation, int8(f.Operation))
	}
	switch f.Permission {
	case kmsg.ACLPermissionTypeAny, kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return fmt.Errorf("invalid filter permission type %s (%d)", f.Permission, int8(f.Permission))
	}
	return nil
}

// Matches reports whether the filter selects b, with Kafka's
// AclBindingFilter.matches semantics.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !b.appliesTo(b.ResourceType, *f.ResourceName) {
			return false
		}
	default:
		// LITERAL or PREFIXED select that pattern type with the exact name;
		// UNKNOWN (or garbage) never equals a stored pattern type.
		if f.PatternType != b.PatternType {
			return false
		}
		if f.ResourceName != nil && *f.ResourceName != b.ResourceName {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission
}

// normalize folds a CLI spelling for lookup: case-insensitive, and "_", "-"
// and spaces ignored, so "ClusterAction", "CLUSTER_ACTION" and
// "cluster-action" are the same word.
func normalize(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == ' ':
		case 'A' <= c && c <= 'Z':
			sb.WriteByte(c + 'a' - 'A')
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

var operationNames = map[string]kmsg.ACLOperation{
	"any":             kmsg.ACLOperationAny,
	"all":             kmsg.ACLOperationAll,
	"read":            kmsg.ACLOperationRead,
	"write":           kmsg.ACLOperationWrite,
	"create":          kmsg.ACLOperationCreate,
	"delete":          kmsg.ACLOperationDelete,
	"alter":           kmsg.ACLOperationAlter,
	"describe":        kmsg.ACLOperationDescribe,
	"clusteraction":   kmsg.ACLOperationClusterAction,
	"describeconfigs": kmsg.ACLOperationDescribeConfigs,
	"alterconfigs":    kmsg.ACLOperationAlterConfigs,
	"idempotentwrite": kmsg.ACLOperationIdempotentWrite,
	"createtokens":    kmsg.ACLOperationCreateTokens,
	"describetokens":  kmsg.ACLOperationDescribeTokens,
}

var resourceTypeNames = map[string]kmsg.ACLResourceType{
	"any":             kmsg.ACLResourceTypeAny,
	"topic":           kmsg.ACLResourceTypeTopic,
	"group":           kmsg.ACLResourceTypeGroup,
	"cluster":         kmsg.ACLResourceTypeCluster,
	"transactionalid": kmsg.ACLResourceTypeTransactionalId,
	"delegationtoken": kmsg.ACLResourceTypeDelegationToken,
	"user":            kmsg.ACLResourceTypeUser,
}

var patternTypeNames = map[string]kmsg.ACLResourcePatternType{
	"any":      kmsg.ACLResourcePatternTypeAny,
	"match":    kmsg.ACLResourcePatternTypeMatch,
	"literal":  kmsg.ACLResourcePatternTypeLiteral,
	"prefixed": kmsg.ACLResourcePatternTypePrefixed,
}

var permissionNames = map[string]kmsg.ACLPermissionType{
	"any":   kmsg.ACLPermissionTypeAny,
	"allow": kmsg.ACLPermissionTypeAllow,
	"deny":  kmsg.ACLPermissionTypeDeny,
}

// ParseOperation parses a kafka-acls.sh operation name (Read, Write, Create,
// Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs,
// IdempotentWrite, CreateTokens, DescribeTokens, All, Any) case-insensitively;
// the wire spelling (CLUSTER_ACTION) is accepted too. Any is returned for
// filters; Binding.Validate refuses it.
func ParseOperation(s string) (kmsg.ACLOperation, error) {
	if v, ok := operationNames[normalize(s)]; ok {
		return v, nil
	}
	return kmsg.ACLOperationUnknown, fmt.Errorf("unknown ACL operation %q (want Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All or Any)", s)
}

// ParseResourceType parses a resource type name (Topic, Group, Cluster,
// TransactionalId, DelegationToken, User, Any) case-insensitively.
func ParseResourceType(s string) (kmsg.ACLResourceType, error) {
	if v, ok := resourceTypeNames[normalize(s)]; ok {
		return v, nil
	}
	return kmsg.ACLResourceTypeUnknown, fmt.Errorf("unknown ACL resource type %q (want Topic, Group, Cluster, TransactionalId, DelegationToken, User or Any)", s)
}

// ParsePatternType parses a resource pattern type (Literal, Prefixed, Match,
// Any) case-insensitively.
func ParsePatternType(s string) (kmsg.ACLResourcePatternType, error) {
	if v, ok := patternTypeNames[normalize(s)]; ok {
		return v, nil
	}
	return kmsg.ACLResourcePatternTypeUnknown, fmt.Errorf("unknown ACL resource pattern type %q (want Literal, Prefixed, Match or Any)", s)
}

// ParsePermission parses a permission type (Allow, Deny, Any)
// case-insensitively.
func ParsePermission(s string) (kmsg.ACLPermissionType, error) {
	if v, ok := permissionNames[normalize(s)]; ok {
		return v, nil
	}
	return kmsg.ACLPermissionTypeUnknown, fmt.Errorf("unknown ACL permission type %q (want Allow, Deny or Any)", s)
}

package acl

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config is the authorizer's static configuration.
type Config struct {
	// SuperUsers are principals ("User:admin") allowed everything,
	// regardless of DENY bindings. Matching is exact string equality, as in
	// Kafka; "User:*" here is not a wildcard.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found: a
	// resource no binding applies to is allowed rather than denied.
	AllowEveryoneIfNoACLFound bool
}

// entry is the access-control half of a binding; the resource half is the
// key it is indexed under.
type entry struct {
	principal string
	host      string
	op        kmsg.ACLOperation
	perm      kmsg.ACLPermissionType
}

// patEntry is a non-wildcard binding of one resource type, indexed by
// principal for AuthorizeByResourceType.
type patEntry struct {
	name     string
	prefixed bool
	host     string
	op       kmsg.ACLOperation
	perm     kmsg.ACLPermissionType
}

// typeIndex holds the bindings of one resource type.
//
// Invariants: literal never has the key "*" (those entries are in wildcard);
// prefixLens is the ascending list of the distinct key lengths of prefixed,
// so the prefixed bindings applying to a name are found with one map lookup
// per distinct length not longer than the name, without scanning bindings.
// byPrincipal holds the same literal (non-"*") and prefixed bindings again,
// keyed by principal.
type typeIndex struct {
	literal     map[string][]entry
	wildcard    []entry
	prefixed    map[string][]entry
	prefixLens  []int
	byPrincipal map[string][]patEntry
}

// Authorizer answers authorization questions over an immutable snapshot of
// bindings. It is never modified after New, so it is safe for concurrent
// use; to change ACLs build a new one and swap the pointer.
type Authorizer struct {
	superUsers    map[string]struct{}
	allowEveryone bool
	// byType is indexed by resource type code; nil where no binding exists.
	byType   [kmsg.ACLResourceTypeUser + 1]*typeIndex
	bindings []Binding // valid, deduplicated, sorted by compareBindings
}

// New builds an Authorizer over bindings. Invalid bindings (see
// Binding.Validate) are dropped: CreateAcls can never have stored them, and
// none of them could grant or deny anything except by making a resource look
// as if it had ACLs. Duplicates are collapsed, as Kafka stores a set.
func New(cfg Config, bindings []Binding) *Authorizer {
	a := &Authorizer{
		superUsers:    make(map[string]struct{}, len(cfg.SuperUsers)),
		allowEveryone: cfg.AllowEveryoneIfNoACLFound,
	}
	for _, su := range cfg.SuperUsers {
		a.superUsers[su] = struct{}{}
	}
	for _, b := range bindings {
		if b.Validate() == nil {
			a.bindings = append(a.bindings, b)
		}
	}
	slices.SortFunc(a.bindings, compareBindings)
	a.bindings = slices.Compact(a.bindings)

	for _, b := range a.bindings {
		idx := a.byType[b.ResourceType]
		if idx == nil {
			idx = &typeIndex{literal: map[string][]entry{}, prefixed: map[string][]entry{}, byPrincipal: map[string][]patEntry{}}
			a.byType[b.ResourceType] = idx
		}
		e := entry{principal: b.Principal, host: b.Host, op: b.Operation, perm: b.Permission}
		isPrefixed := b.PatternType == kmsg.ACLResourcePatternTypePrefixed
		if isPrefixed || b.ResourceName != WildcardResource {
			idx.byPrincipal[b.Principal] = append(idx.byPrincipal[b.Principal], patEntry{
				name: b.ResourceName, prefixed: isPrefixed, host: b.Host, op: b.Operation, perm: b.Permission,
			})
		}
		switch {
		case isPrefixed:
			if _, ok := idx.prefixed[b.ResourceName]; !ok {
				idx.prefixLens = append(idx.prefixLens, len(b.ResourceName))
			}
			idx.prefixed[b.ResourceName] = append(idx.prefixed[b.ResourceName], e)
		case b.ResourceName == WildcardResource:
			idx.wildcard = append(idx.wildcard, e)
		default:
			idx.literal[b.ResourceName] = append(idx.literal[b.ResourceName], e)
		}
	}
	for _, idx := range a.byType {
		if idx != nil {
			slices.Sort(idx.prefixLens)
			idx.prefixLens = slices.Compact(idx.prefixLens)
		}
	}
	return a
}

// compareBindings orders bindings by resource (type, pattern type, name),
// then principal, host, operation, permission: kafka-acls.sh groups its
// listing by resource, and a total order makes Bindings deterministic.
func compareBindings(x, y Binding) int {
	return cmp.Or(
		cmp.Compare(x.ResourceType, y.ResourceType),
		cmp.Compare(x.PatternType, y.PatternType),
		strings.Compare(x.ResourceName, y.ResourceName),
		strings.Compare(x.Principal, y.Principal),
		strings.Compare(x.Host, y.Host),
		cmp.Compare(x.Operation, y.Operation),
		cmp.Compare(x.Permission, y.Permission),
	)
}

// Bindings returns a copy of the (valid, deduplicated) bindings, sorted by
// resource type, pattern type, resource name, principal, host, operation,
// permission.
func (a *Authorizer) Bindings() []Binding {
	return slices.Clone(a.bindings)
}

// isSuperUser reports whether principal is configured in super.users.
func (a *Authorizer) isSuperUser(principal string) bool {
	_, ok := a.superUsers[principal]
	return ok
}

// matchesWho reports whether e applies to principal at host.
func (e *entry) matchesWho(principal, host string) bool {
	return (e.principal == principal || e.principal == WildcardPrincipal) &&
		(e.host == host || e.host == WildcardHost)
}

// opMatches reports whether an entry with operation aclOp and permission perm
// speaks about op. ALL speaks about everything. Only ALLOW entries imply:
// READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
// DESCRIBE_CONFIGS. A DENY only denies its own operation (or everything, for
// ALL), as in Kafka's StandardAuthorizer.
func opMatches(aclOp kmsg.ACLOperation, perm kmsg.ACLPermissionType, op kmsg.ACLOperation) bool {
	if aclOp == op || aclOp == kmsg.ACLOperationAll {
		return true
	}
	if perm != kmsg.ACLPermissionTypeAllow {
		return false
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch aclOp {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return aclOp == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// verdict accumulates the entries applying to one resource.
type verdict struct {
	found bool // some entry (of anyone) exists for the resource
	allow bool // some entry allows the request
	deny  bool // some entry denies the request
}

// scan folds entries es into v for the request (principal, host, op).
func (v *verdict) scan(es []entry, principal, host string, op kmsg.ACLOperation) {
	if len(es) == 0 {
		return
	}
	v.found = true
	for i := range es {
		e := &es[i]
		if !e.matchesWho(principal, host) || !opMatches(e.op, e.perm, op) {
			continue
		}
		if e.perm == kmsg.ACLPermissionTypeDeny {
			v.deny = true
			return
		}
		v.allow = true
	}
}

// decide turns a verdict into the answer: DENY wins, then ALLOW, then the
// allow.everyone.if.no.acl.found default when no binding exists at all.
func (a *Authorizer) decide(v verdict) bool {
	switch {
	case v.deny:
		return false
	case v.allow:
		return true
	default:
		return !v.found && a.allowEveryone
	}
}

// validQuery reports whether op and rt are something a request can be
// authorized for. ANY, UNKNOWN and unknown codes are programming errors in
// the caller and are denied, even for super users, so such bugs fail closed
// and visibly.
func validQuery(op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	return isConcreteOperation(op) && isConcreteResourceType(rt)
}

// Authorize reports whether principal ("User:alice") connecting from host
// (the client's IP as a string, compared textually with binding hosts) may
// perform op on the resource (rt, name). The cluster resource is named
// "kafka-cluster". It does not allocate.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if !validQuery(op, rt) {
		return false
	}
	if a.isSuperUser(principal) {
		return true
	}
	return a.authorize(principal, host, op, rt, name)
}

// authorize is Authorize after the argument and super-user checks.
func (a *Authorizer) authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	idx := a.byType[rt]
	if idx == nil {
		return a.allowEveryone
	}
	var v verdict
	if name != WildcardResource {
		v.scan(idx.literal[name], principal, host, op)
	}
	v.scan(idx.wildcard, principal, host, op)
	for _, n := range idx.prefixLens {
		if v.deny || n > len(name) {
			break
		}
		v.scan(idx.prefixed[name[:n]], principal, host, op)
	}
	return a.decide(v)
}

// AuthorizeByResourceType reports whether principal at host may perform op on
// at least one resource of type rt (KIP-679; used e.g. for idempotent
// producers and for "may this principal create any topic"). It follows the
// default Authorizer.authorizeByResourceType that StandardAuthorizer uses:
//
//  1. super users are allowed;
//  2. Kafka first authorizes op on a resource only the literal "*" bindings
//     apply to (it probes a hard-coded name); here that probe is done on
//     exactly the wildcard bindings, with full Authorize semantics: a
//     matching DENY on "*" denies, a matching ALLOW on "*" (including
//     implied operations) allows, and with no "*" binding at all
//     allow.everyone.if.no.acl.found allows;
//  3. otherwise, considering only the principal's bindings whose operation
//     is op itself or ALL (no implications, as in Kafka): some LITERAL
//     ALLOW whose name has neither a LITERAL DENY of the same name nor a
//     PREFIXED DENY that is a prefix of it, or some PREFIXED ALLOW with no
//     PREFIXED DENY that is a prefix of (or equal to) it, allows;
//  4. else denied.
//
// Step 2 differs from Kafka only when a prefixed binding happens to cover
// Kafka's probe name "hardcode": this uses an arbitrary name no pattern
// covers instead.
//
// Cost is proportional to the bindings of this principal and of User:* for
// rt (not to all bindings); it may allocate, which is fine for its callers
// (InitProducerId, CreateTopics-style checks), not per-record paths.
func (a *Authorizer) AuthorizeByResourceType(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if !validQuery(op, rt) {
		return false
	}
	if a.isSuperUser(principal) {
		return true
	}
	idx := a.byType[rt]
	if idx == nil {
		return a.allowEveryone
	}
	var v verdict
	v.scan(idx.wildcard, principal, host, op)
	if v.deny {
		return false
	}
	if a.decide(v) {
		return true
	}

	// Step 3 only looks at the principal's own and User:* bindings, found
	// through byPrincipal rather than by scanning the type's bindings.
	var denyLiteral, denyPrefix map[string]bool
	var allows []patEntry
	for _, p := range [2]string{principal, WildcardPrincipal} {
		for _, pe := range idx.byPrincipal[p] {
			if (pe.host != host && pe.host != WildcardHost) || (pe.op != op && pe.op != kmsg.ACLOperationAll) {
				continue
			}
			switch {
			case pe.perm == kmsg.ACLPermissionTypeAllow:
				allows = append(allows, pe)
			case pe.prefixed:
				if denyPrefix == nil {
					denyPrefix = map[string]bool{}
				}
				denyPrefix[pe.name] = true
			default:
				if denyLiteral == nil {
					denyLiteral = map[string]bool{}
				}
				denyLiteral[pe.name] = true
			}
		}
		if principal == WildcardPrincipal {
			break
		}
	}
	// dominated reports whether a PREFIXED DENY is a prefix of s (s itself
	// included), i.e. denies every resource pattern s could stand for.
	dominated := func(s string) bool {
		for n := 1; n <= len(s) && len(denyPrefix) > 0; n++ {
			if denyPrefix[s[:n]] {
				return true
			}
		}
		return false
	}
	for _, pe := range allows {
		if !pe.prefixed && denyLiteral[pe.name] {
			continue
		}
		if !dominated(pe.name) {
			return true
		}
	}
	return false
}

// operationsByType lists, per resource type, the operations Kafka reports in
// authorized_operations fields (AclEntry.supportedOperations).
var operationsByType = [kmsg.ACLResourceTypeUser + 1][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {
		kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeGroup: {
		kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
	},
	kmsg.ACLResourceTypeCluster: {
		kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeTransactionalId: {
		kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite,
	},
	kmsg.ACLResourceTypeDelegationToken: {
		kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeUser: {
		kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens,
	},
}

// SupportedOperations returns the operations reported in
// authorized_operations for resource type rt (nil for ANY/UNKNOWN).
func SupportedOperations(rt kmsg.ACLResourceType) []kmsg.ACLOperation {
	if !isConcreteResourceType(rt) {
		return nil
	}
	return slices.Clone(operationsByType[rt])
}

// AuthorizedOperations returns the authorized_operations bitfield Kafka puts
// in Metadata, DescribeGroups and DescribeCluster responses: bit i is set when
// the operation with code i is among rt's supported operations and
// Authorize allows it on (rt, name). ALL is never set. An invalid rt gives 0.
// The "not requested" sentinel (math.MinInt32) is the API layer's business.
func (a *Authorizer) AuthorizedOperations(principal, host string, rt kmsg.ACLResourceType, name string) int32 {
	if !isConcreteResourceType(rt) {
		return 0
	}
	super := a.isSuperUser(principal)
	var bits int32
	for _, op := range operationsByType[rt] {
		if super || a.authorize(principal, host, op, rt, name) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

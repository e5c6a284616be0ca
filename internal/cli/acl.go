package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/auth/acl"
)

// aclArgs are kafka-acls.sh's selectors.
type aclArgs struct {
	allow, deny            []string // principals
	allowHosts, denyHosts  []string
	operations             []string
	topics, groups, txnIDs []string
	cluster                bool
	pattern                string
	producer, consumer     bool
	idempotent             bool
	force                  bool
}

func (a *aclArgs) addResourceFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&a.topics, "topic", nil, "a topic (repeatable; * for every topic)")
	f.StringArrayVar(&a.groups, "group", nil, "a consumer group (repeatable; * for every group)")
	f.StringArrayVar(&a.txnIDs, "transactional-id", nil, "a transactional id (repeatable)")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
}

func (a *aclArgs) addPrincipalFlags(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&a.allow, "allow-principal", nil, "principal to allow, e.g. User:alice (repeatable; User:* for everyone)")
	f.StringArrayVar(&a.deny, "deny-principal", nil, "principal to deny (repeatable)")
	f.StringArrayVar(&a.operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable)")
}

type resource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (a *aclArgs) resources() []resource {
	var out []resource
	for _, t := range a.topics {
		out = append(out, resource{kmsg.ACLResourceTypeTopic, t})
	}
	for _, g := range a.groups {
		out = append(out, resource{kmsg.ACLResourceTypeGroup, g})
	}
	for _, x := range a.txnIDs {
		out = append(out, resource{kmsg.ACLResourceTypeTransactionalId, x})
	}
	if a.cluster {
		out = append(out, resource{kmsg.ACLResourceTypeCluster, acl.ClusterName})
	}
	return out
}

func parseOps(in []string) ([]kmsg.ACLOperation, error) {
	var out []kmsg.ACLOperation
	for _, v := range in {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			op, err := acl.ParseOperation(s)
			if err != nil {
				return nil, usageErrorf("--operation %s: %v", s, err)
			}
			out = append(out, op)
		}
	}
	return out, nil
}

// bindings expands add's flags into bindings, as kafka-acls.sh does:
// every resource × principal × host × operation, plus the --producer and
// --consumer conveniences.
func (a *aclArgs) bindings() ([]acl.Binding, error) {
	pattern, err := acl.ParsePatternType(a.pattern)
	if err != nil || (pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed) {
		return nil, usageErrorf("--resource-pattern-type %s: use literal or prefixed", a.pattern)
	}
	ops, err := parseOps(a.operations)
	if err != nil {
		return nil, err
	}
	if len(a.allow) == 0 && len(a.deny) == 0 {
		return nil, usageErrorf("give --allow-principal or --deny-principal (e.g. --allow-principal User:alice)")
	}
	type want struct {
		res resource
		op  kmsg.ACLOperation
	}
	var wants []want
	add := func(r resource, ops ...kmsg.ACLOperation) {
		for _, op := range ops {
			wants = append(wants, want{r, op})
		}
	}
	switch {
	case a.producer || a.consumer:
		if len(a.topics) == 0 {
			return nil, usageErrorf("--producer and --consumer need --topic")
		}
		for _, t := range a.topics {
			r := resource{kmsg.ACLResourceTypeTopic, t}
			if a.producer {
				add(r, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate)
			}
			if a.consumer {
				add(r, kmsg.ACLOperationRead, kmsg.ACLOperationDescribe)
			}
		}
		if a.consumer {
			if len(a.groups) == 0 {
				return nil, usageErrorf("--consumer needs --group")
			}
			for _, g := range a.groups {
				add(resource{kmsg.ACLResourceTypeGroup, g}, kmsg.ACLOperationRead)
			}
		}
		if a.producer {
			for _, x := range a.txnIDs {
				add(resource{kmsg.ACLResourceTypeTransactionalId, x}, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe)
			}
			if a.idempotent {
				add(resource{kmsg.ACLResourceTypeCluster, acl.ClusterName}, kmsg.ACLOperationIdempotentWrite)
			}
		}
		for _, r := range a.resources() { // explicit operations on top
			add(r, ops...)
		}
	default:
		if len(ops) == 0 {
			return nil, usageErrorf("give --operation (or --producer / --consumer)")
		}
		if len(a.resources()) == 0 {
			return nil, usageErrorf("give a resource: --topic, --group, --transactional-id or --cluster")
		}
		for _, r := range a.resources() {
			add(r, ops...)
		}
	}
	hosts := func(hs []string) []string {
		if len(hs) == 0 {
			return []string{"*"}
		}
		return hs
	}
	var out []acl.Binding
	emit := func(principals, hs []string, perm kmsg.ACLPermissionType) error {
		for _, p := range principals {
			for _, h := range hosts(hs) {
				for _, w := range wants {
					pt := pattern
					if w.res.typ == kmsg.ACLResourceTypeCluster {
						pt = kmsg.ACLResourcePatternTypeLiteral
					}
					b := acl.Binding{ResourceType: w.res.typ, ResourceName: w.res.name, PatternType: pt,
						Principal: p, Host: h, Operation: w.op, Permission: perm}
					if err := b.Validate(); err != nil {
						return usageErrorf("%v", err)
					}
					if !slices.Contains(out, b) {
						out = append(out, b)
					}
				}
			}
		}
		return nil
	}
	if err := emit(a.allow, a.allowHosts, kmsg.ACLPermissionTypeAllow); err != nil {
		return nil, err
	}
	if err := emit(a.deny, a.denyHosts, kmsg.ACLPermissionTypeDeny); err != nil {
		return nil, err
	}
	return out, nil
}

// filters builds list/remove filters from the selectors: one per resource
// (or one for every resource) × principal (or any) × operation (or any).
func (a *aclArgs) filters() ([]acl.Filter, error) {
	pattern := kmsg.ACLResourcePatternTypeAny
	if a.pattern != "" {
		p, err := acl.ParsePatternType(a.pattern)
		if err != nil {
			return nil, usageErrorf("--resource-pattern-type %s: use literal, prefixed, match or any", a.pattern)
		}
		pattern = p
	}
	ops, err := parseOps(a.operations)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		ops = []kmsg.ACLOperation{kmsg.ACLOperationAny}
	}
	type pp struct {
		p    *string
		perm kmsg.ACLPermissionType
	}
	var principals []pp
	for _, p := range a.allow {
		principals = append(principals, pp{kmsg.StringPtr(p), kmsg.ACLPermissionTypeAllow})
	}
	for _, p := range a.deny {
		principals = append(principals, pp{kmsg.StringPtr(p), kmsg.ACLPermissionTypeDeny})
	}
	if len(principals) == 0 {
		principals = []pp{{nil, kmsg.ACLPermissionTypeAny}}
	}
	res := a.resources()
	var out []acl.Filter
	for _, p := range principals {
		for _, op := range ops {
			if len(res) == 0 {
				out = append(out, acl.Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
					Principal: p.p, Operation: op, Permission: p.perm})
				continue
			}
			for _, r := range res {
				out = append(out, acl.Filter{ResourceType: r.typ, ResourceName: kmsg.StringPtr(r.name), PatternType: pattern,
					Principal: p.p, Operation: op, Permission: p.perm})
			}
		}
	}
	return out, nil
}

func newACLCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "acl",
		Aliases: []string{"acls"},
		Short:   "Add, list and remove ACLs",
		Long: `Manage access control lists, as kafka-acls.sh does, on a broker with
authorizer.class.name set (Kafka's StandardAuthorizer semantics: DENY wins
over ALLOW; READ, WRITE, DELETE and ALTER imply DESCRIBE; super.users may do
everything). These are Kafka's CreateAcls, DescribeAcls and DeleteAcls
requests: adding and removing needs ALTER on the cluster, listing DESCRIBE.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(newACLAddCommand(g), newACLListCommand(g), newACLRemoveCommand(g))
	return c
}

func newACLAddCommand(g *globalOptions) *cobra.Command {
	a := &aclArgs{}
	c := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs",
		Long: `Add an ACL for every combination of the principals, hosts, resources and
operations given. --producer grants WRITE, DESCRIBE and CREATE on the
topics (and WRITE, DESCRIBE on --transactional-id; IDEMPOTENT_WRITE on the
cluster with --idempotent); --consumer grants READ and DESCRIBE on the
topics and READ on the --group.`,
		Example: `  samsa acl add --allow-principal User:alice --operation Read --topic orders --group billing
  samsa acl add --allow-principal User:app --producer --topic logs- --resource-pattern-type prefixed
  samsa acl add --allow-principal User:bob --consumer --topic orders --group reports
  samsa acl add --deny-principal User:mallory --operation All --topic '*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := a.bindings()
			if err != nil {
				return err
			}
			cl, err := g.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			req := kmsg.NewPtrCreateACLsRequest()
			for _, b := range bs {
				cr := kmsg.NewCreateACLsRequestCreation()
				cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
				cr.Principal, cr.Host, cr.Operation, cr.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
				req.Creations = append(req.Creations, cr)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return requestError("add ACLs", err)
			}
			var errs []error
			for i, r := range resp.Results {
				if err := aclError(r.ErrorCode, r.ErrorMessage); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", bs[i], err))
					continue
				}
				fmt.Fprintf(stdout(cmd), "added %s\n", bs[i])
			}
			return errors.Join(errs...)
		},
	}
	a.addPrincipalFlags(c)
	a.addResourceFlags(c)
	f := c.Flags()
	f.StringArrayVar(&a.allowHosts, "allow-host", nil, "host the allow applies to (default *)")
	f.StringArrayVar(&a.denyHosts, "deny-host", nil, "host the deny applies to (default *)")
	f.StringVar(&a.pattern, "resource-pattern-type", "literal", "literal, or prefixed (the name is a prefix)")
	f.BoolVar(&a.producer, "producer", false, "the ACLs a producer needs")
	f.BoolVar(&a.consumer, "consumer", false, "the ACLs a consumer needs (with --group)")
	f.BoolVar(&a.idempotent, "idempotent", false, "with --producer: IDEMPOTENT_WRITE on the cluster too")
	return c
}

func aclError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	err := kerr.ErrorForCode(code)
	switch {
	case errors.Is(err, kerr.SecurityDisabled):
		return fmt.Errorf("the broker has no authorizer (SECURITY_DISABLED): set authorizer.class.name=%s%w", "org.apache.kafka.metadata.authorizer.StandardAuthorizer", silentWrap{err})
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return fmt.Errorf("not authorized (CLUSTER_AUTHORIZATION_FAILED): managing ACLs needs ALTER on the cluster, listing DESCRIBE; log in as a super user%w", silentWrap{err})
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%s (%v)%w", *msg, err, silentWrap{err})
	}
	return err
}

func printBindings(cmd *cobra.Command, bs []acl.Binding) error {
	t := newTable(stdout(cmd), "RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
	for _, b := range bs {
		t.row(b.ResourceType, b.ResourceName, b.PatternType, b.Principal, b.Host, b.Operation, b.Permission)
	}
	return t.flush()
}

func newACLListCommand(g *globalOptions) *cobra.Command {
	a := &aclArgs{}
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "describe"},
		Short:   "List ACLs, all or those matching the selectors",
		Example: `  samsa acl list
  samsa acl list --topic orders
  samsa acl list --topic orders --resource-pattern-type match   # everything that applies to orders
  samsa acl list --allow-principal User:alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs, err := a.filters()
			if err != nil {
				return err
			}
			cl, err := g.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			bs, err := describeACLs(cmd, g, cl, fs)
			if err != nil {
				return err
			}
			return printBindings(cmd, bs)
		},
	}
	a.addPrincipalFlags(c)
	a.addResourceFlags(c)
	c.Flags().StringVar(&a.pattern, "resource-pattern-type", "", "literal, prefixed, match (ACLs that apply to the name) or any (default)")
	return c
}

func describeACLs(cmd *cobra.Command, g *globalOptions, cl *kgo.Client, fs []acl.Filter) ([]acl.Binding, error) {
	ctx, cancel := withTimeout(cmd.Context(), g)
	defer cancel()
	var out []acl.Binding
	for _, f := range fs {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourceName, req.ResourcePatternType = f.ResourceType, f.ResourceName, f.PatternType
		req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, f.Operation, f.Permission
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, requestError("list ACLs", err)
		}
		if err := aclError(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return nil, err
		}
		for _, r := range resp.Resources {
			for _, d := range r.ACLs {
				b := acl.Binding{ResourceType: r.ResourceType, ResourceName: r.ResourceName, PatternType: r.ResourcePatternType,
					Principal: d.Principal, Host: d.Host, Operation: d.Operation, Permission: d.PermissionType}
				if !slices.Contains(out, b) {
					out = append(out, b)
				}
			}
		}
	}
	return out, nil
}

func newACLRemoveCommand(g *globalOptions) *cobra.Command {
	a := &aclArgs{}
	c := &cobra.Command{
		Use:     "remove",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove the ACLs matching the selectors",
		Long: `Remove every ACL that matches the selectors (resources, principals,
operations). Removing ACLs of every resource needs --force.`,
		Example: `  samsa acl remove --allow-principal User:alice --topic orders
  samsa acl remove --topic logs- --resource-pattern-type prefixed
  samsa acl remove --allow-principal User:old-app --force      # on every resource`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(a.resources()) == 0 && !a.force {
				return usageErrorf("give a resource (--topic, --group, --transactional-id, --cluster), or --force to remove on every resource")
			}
			fs, err := a.filters()
			if err != nil {
				return err
			}
			cl, err := g.newClient(cmd.Context())
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			req := kmsg.NewPtrDeleteACLsRequest()
			for _, f := range fs {
				df := kmsg.NewDeleteACLsRequestFilter()
				df.ResourceType, df.ResourceName, df.ResourcePatternType = f.ResourceType, f.ResourceName, f.PatternType
				df.Principal, df.Host, df.Operation, df.PermissionType = f.Principal, f.Host, f.Operation, f.Permission
				req.Filters = append(req.Filters, df)
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return requestError("remove ACLs", err)
			}
			var removed []acl.Binding
			var errs []error
			for _, r := range resp.Results {
				if err := aclError(r.ErrorCode, r.ErrorMessage); err != nil {
					errs = append(errs, err)
					continue
				}
				for _, m := range r.MatchingACLs {
					b := acl.Binding{ResourceType: m.ResourceType, ResourceName: m.ResourceName, PatternType: m.ResourcePatternType,
						Principal: m.Principal, Host: m.Host, Operation: m.Operation, Permission: m.PermissionType}
					if !slices.Contains(removed, b) {
						removed = append(removed, b)
					}
				}
			}
			for _, b := range removed {
				fmt.Fprintf(stdout(cmd), "removed %s\n", b)
			}
			if len(removed) == 0 && len(errs) == 0 {
				fmt.Fprintln(stderr(cmd), "no ACL matched")
			}
			return errors.Join(errs...)
		},
	}
	a.addPrincipalFlags(c)
	a.addResourceFlags(c)
	c.Flags().StringVar(&a.pattern, "resource-pattern-type", "", "literal, prefixed, match or any (default)")
	c.Flags().BoolVar(&a.force, "force", false, "allow removing on every resource")
	return c
}

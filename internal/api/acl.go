package api

// DescribeAcls, CreateAcls, DeleteAcls (KIP-140, KIP-290 prefixed ACLs).
//
// Without authorizer.class.name they answer SECURITY_DISABLED, as Kafka
// does. With it, the bindings are metadata records: replicated by the
// quorum in a cluster, in the snapshot file on a single broker. Describing
// needs DESCRIBE on the cluster, changing needs ALTER.
//
// Serving these matters beyond admin tools: kafka-python 2.0.2 infers the
// broker's release from ApiVersions, and only concludes 2.5+ (its newest)
// when DescribeAcls v2 is listed.

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/auth/acl"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/server"
)

const securityDisabledMessage = "no authorizer is configured on this broker (set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer)"

func (a *API) aclEntries() []entry {
	return []entry{
		{key: kmsg.DescribeACLs, fn: a.handleDescribeACLs},
		{key: kmsg.CreateACLs, fn: a.handleCreateACLs},
		{key: kmsg.DeleteACLs, fn: a.handleDeleteACLs},
		{key: kmsg.DescribeClientQuotas, fn: a.handleDescribeClientQuotas},
		{key: kmsg.AlterClientQuotas, fn: a.handleAlterClientQuotas},
		{key: kmsg.DescribeUserSCRAMCredentials, fn: a.handleDescribeUserSCRAMCredentials},
		{key: kmsg.AlterUserSCRAMCredentials, fn: a.handleAlterUserSCRAMCredentials},
		{key: kmsg.SASLHandshake, fn: a.handleSASLInServer},
		{key: kmsg.SASLAuthenticate, fn: a.handleSASLInServer},
	}
}

// handleSASLInServer is never reached: the server answers SaslHandshake
// and SaslAuthenticate itself (internal/server/auth.go). The entries exist
// so that ApiVersions lists them.
func (a *API) handleSASLInServer(context.Context, *server.Conn, kmsg.Request) (server.Pending, error) {
	return nil, server.ErrCloseConnection
}

// currentACLs returns the stored bindings.
func (a *API) currentACLs() []acl.Binding {
	st := a.b.MetadataState().Security.ACLs
	out := make([]acl.Binding, 0, len(st))
	for _, m := range st {
		out = append(out, bindingOf(m))
	}
	return out
}

func (a *API) handleDescribeACLs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	switch {
	case !a.sec.opts.Authorizer:
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = kmsg.StringPtr(securityDisabledMessage)
		return server.Ready(resp), nil
	case !a.authorizedCluster(c, kmsg.ACLOperationDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("describing ACLs needs DESCRIBE on the cluster")
		return server.Ready(resp), nil
	}
	f := acl.Filter{
		ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType,
	}
	if req.Version == 0 {
		f.PatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return server.Ready(resp), nil
	}
	type resKey struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	groups := map[resKey][]acl.Binding{}
	for _, b := range a.currentACLs() {
		if f.Matches(b) {
			k := resKey{b.ResourceType, b.ResourceName, b.PatternType}
			groups[k] = append(groups[k], b)
		}
	}
	keys := make([]resKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y resKey) int {
		return cmp.Or(cmp.Compare(x.rt, y.rt), cmp.Compare(x.name, y.name), cmp.Compare(x.pt, y.pt))
	})
	for _, k := range keys {
		r := kmsg.NewDescribeACLsResponseResource()
		r.ResourceType, r.ResourceName, r.ResourcePatternType = k.rt, k.name, k.pt
		for _, b := range groups[k] {
			d := kmsg.NewDescribeACLsResponseResourceACL()
			d.Principal, d.Host, d.Operation, d.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			r.ACLs = append(r.ACLs, d)
		}
		resp.Resources = append(resp.Resources, r)
	}
	return server.Ready(resp), nil
}

func (a *API) handleCreateACLs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	fail := func(code *kerr.Error, msg string) (server.Pending, error) {
		resp.Results = resp.Results[:0]
		for range req.Creations {
			r := kmsg.NewCreateACLsResponseResult()
			r.ErrorCode, r.ErrorMessage = code.Code, kmsg.StringPtr(msg)
			resp.Results = append(resp.Results, r)
		}
		return server.Ready(resp), nil
	}
	if !a.sec.opts.Authorizer {
		return fail(kerr.SecurityDisabled, securityDisabledMessage)
	}
	if !a.authorizedCluster(c, kmsg.ACLOperationAlter) {
		return fail(kerr.ClusterAuthorizationFailed, "creating ACLs needs ALTER on the cluster")
	}
	var recs []metadata.ACL
	var ok []int
	for i, cr := range req.Creations {
		b := acl.Binding{
			ResourceType: cr.ResourceType, ResourceName: cr.ResourceName, PatternType: cr.ResourcePatternType,
			Principal: cr.Principal, Host: cr.Host, Operation: cr.Operation, Permission: cr.PermissionType,
		}
		if req.Version == 0 {
			b.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		r := kmsg.NewCreateACLsResponseResult()
		if err := b.Validate(); err != nil {
			r.ErrorCode, r.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		} else {
			recs = append(recs, aclOf(b))
			ok = append(ok, i)
		}
		resp.Results = append(resp.Results, r)
	}
	if len(recs) > 0 {
		if err := a.b.ApplySecurity(metadata.Record{Type: metadata.RecordCreateACLs, ACLs: recs}); err != nil {
			code, msg := securityWriteError(err)
			for _, i := range ok {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(msg)
			}
		} else {
			a.lg.Info("ACLs created", "principal", c.Principal(), "count", len(recs))
		}
	}
	return server.Ready(resp), nil
}

func (a *API) handleDeleteACLs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	fail := func(code *kerr.Error, msg string) (server.Pending, error) {
		resp.Results = resp.Results[:0]
		for range req.Filters {
			r := kmsg.NewDeleteACLsResponseResult()
			r.ErrorCode, r.ErrorMessage = code.Code, kmsg.StringPtr(msg)
			resp.Results = append(resp.Results, r)
		}
		return server.Ready(resp), nil
	}
	if !a.sec.opts.Authorizer {
		return fail(kerr.SecurityDisabled, securityDisabledMessage)
	}
	if !a.authorizedCluster(c, kmsg.ACLOperationAlter) {
		return fail(kerr.ClusterAuthorizationFailed, "deleting ACLs needs ALTER on the cluster")
	}
	current := a.currentACLs()
	var del []metadata.ACL
	seen := map[metadata.ACL]bool{}
	for _, fr := range req.Filters {
		f := acl.Filter{
			ResourceType: fr.ResourceType, ResourceName: fr.ResourceName, PatternType: fr.ResourcePatternType,
			Principal: fr.Principal, Host: fr.Host, Operation: fr.Operation, Permission: fr.PermissionType,
		}
		if req.Version == 0 {
			f.PatternType = kmsg.ACLResourcePatternTypeLiteral
		}
		r := kmsg.NewDeleteACLsResponseResult()
		if err := f.Validate(); err != nil {
			r.ErrorCode, r.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			resp.Results = append(resp.Results, r)
			continue
		}
		for _, b := range current {
			if !f.Matches(b) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			r.MatchingACLs = append(r.MatchingACLs, m)
			if k := aclOf(b); !seen[k] {
				seen[k] = true
				del = append(del, k)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	if len(del) > 0 {
		if err := a.b.ApplySecurity(metadata.Record{Type: metadata.RecordDeleteACLs, ACLs: del}); err != nil {
			code, msg := securityWriteError(err)
			for i := range resp.Results {
				if resp.Results[i].ErrorCode == 0 {
					resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(msg)
					resp.Results[i].MatchingACLs = nil
				}
			}
		} else {
			a.lg.Info("ACLs deleted", "principal", c.Principal(), "count", len(del))
		}
	}
	return server.Ready(resp), nil
}

// securityWriteError turns a failed metadata write into an error code.
func securityWriteError(err error) (int16, string) {
	if code := errorCode(err); code != kerr.UnknownServerError.Code {
		return code, err.Error()
	}
	return kerr.UnknownServerError.Code, "could not store the change: " + err.Error()
}

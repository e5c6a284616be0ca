package api

// DescribeAcls, CreateAcls, DeleteAcls, DescribeClientQuotas.
//
// samsa has no authorizer yet, so it answers the ACL APIs exactly as a
// Kafka broker without `authorizer.class.name` does: SECURITY_DISABLED
// with a message. Quotas are not enforced, and DescribeClientQuotas says so
// truthfully: no quota entries.
//
// Serving these matters beyond admin tools: kafka-python 2.0.2 infers the
// broker's release from ApiVersions, and only concludes 2.5+ (its newest)
// when DescribeAcls v2 is listed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

const securityDisabledMessage = "no authorizer is configured on this broker (samsa does not support ACLs yet)"

func (a *API) aclEntries() []entry {
	return []entry{
		{key: kmsg.DescribeACLs, fn: a.handleDescribeACLs},
		{key: kmsg.CreateACLs, fn: a.handleCreateACLs},
		{key: kmsg.DeleteACLs, fn: a.handleDeleteACLs},
		{key: kmsg.DescribeClientQuotas, fn: a.handleDescribeClientQuotas},
	}
}

func (a *API) handleDescribeACLs(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode = kerr.SecurityDisabled.Code
	resp.ErrorMessage = kmsg.StringPtr(securityDisabledMessage)
	return server.Ready(resp), nil
}

func (a *API) handleCreateACLs(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	for range req.Creations {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode = kerr.SecurityDisabled.Code
		r.ErrorMessage = kmsg.StringPtr(securityDisabledMessage)
		resp.Results = append(resp.Results, r)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDeleteACLs(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		r.ErrorCode = kerr.SecurityDisabled.Code
		r.ErrorMessage = kmsg.StringPtr(securityDisabledMessage)
		resp.Results = append(resp.Results, r)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDescribeClientQuotas(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	return server.Ready(resp), nil
}

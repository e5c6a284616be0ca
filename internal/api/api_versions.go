package api

// ApiVersions.
//
// Answers with the range of every API in the registry. An unknown (newer)
// version is answered at v0 with UNSUPPORTED_VERSION (KIP-511; see
// Handle). v3+ also carries the finalized features; we advertise none
// beyond what clients probe.
//
// kafka-python 2.0.2 infers the broker release from this answer (it checks
// which keys and versions appear) and must conclude a modern broker: the
// full ranges below do that.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	keys := make([]int16, 0, len(a.table))
	for k := range a.table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e := a.table[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, e.min, e.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp
}

func (a *API) handleApiVersions(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	return server.Ready(a.apiVersionsResponse(req.Version)), nil
}

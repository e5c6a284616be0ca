package api

// ApiVersions.
//
// Answers with the range of every API in the registry. An unknown (newer)
// version is answered at v0 with UNSUPPORTED_VERSION (KIP-511; see
// Handle). v3+ also carries the supported and finalized features: the one
// clients act on is transaction.version (KIP-890), finalized at
// transactionVersion.
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
	if version >= 3 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, 2
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{sf}
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", transactionVersion, transactionVersion
		resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{ff}
		resp.FinalizedFeaturesEpoch = 1
	}
	return resp
}

// transactionVersion is the finalized transaction.version feature, as a
// Kafka 4 cluster formatted today has it: 2, transactions v2 (KIP-890 part
// 2). Clients that know it end every transaction with EndTxn v5, which
// bumps the producer epoch, and add partitions implicitly by producing
// (Produce v12+); older clients keep to version 1's protocol, which the
// broker serves as well.
const transactionVersion = 2

func (a *API) handleApiVersions(_ context.Context, _ *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	return server.Ready(a.apiVersionsResponse(req.Version)), nil
}

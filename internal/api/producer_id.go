package api

// InitProducerID.
//
// Without a transactional id this hands out a fresh producer id with epoch
// 0, as Kafka does for idempotent producers (franz-go and the Java client
// produce idempotently by default); a bump request (KIP-360, v3+) also gets
// a fresh id. Ids are reserved from the durable metadata in blocks, so an id
// is never handed out twice, even across a crash.
//
// With a transactional id the transaction coordinator answers (txn.go):
// the id's producer id with a bumped epoch, fencing older instances.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/server"
)

// producerIDBlock ids are reserved per metadata write.
const producerIDBlock = 1000

func (a *API) handleInitProducerID(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && *req.TransactionalID != "" {
		if !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return server.Ready(resp), nil
		}
		a.initTransactionalProducer(c, req, resp)
		return server.Ready(resp), nil
	}
	// An idempotent producer: IDEMPOTENT_WRITE on the cluster, or (KIP-679)
	// WRITE on some topic.
	if !a.authorizedQuiet(c, kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, clusterResourceName) &&
		!a.authorizedAny(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic) {
		a.authorizedCluster(c, kmsg.ACLOperationIdempotentWrite) // counts the denial
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	id, err := a.nextProducerID()
	if err != nil {
		a.lg.Error("allocating a producer id failed", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return server.Ready(resp), nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return server.Ready(resp), nil
}

func (a *API) nextProducerID() (int64, error) {
	a.pidMu.Lock()
	defer a.pidMu.Unlock()
	if a.pidNext >= a.pidHi {
		first, err := a.b.AllocateProducerIDs(producerIDBlock)
		if err != nil {
			return 0, err
		}
		a.pidNext, a.pidHi = first, first+producerIDBlock
	}
	id := a.pidNext
	a.pidNext++
	return id, nil
}

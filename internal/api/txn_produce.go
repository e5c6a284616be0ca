package api

// The produce side of transactions (KIP-890). Before a partition accepts
// the first transactional batch of a transaction from a producer, the
// leader asks the transaction coordinator whether the partition is part of
// the producer's open transaction (part 1: verification, for clients that
// sent AddPartitionsToTxn, produce v3-v11) or adds it (part 2: produce
// v12+, whose clients run transactions v2 and send no AddPartitionsToTxn).
// A late batch of a transaction that was already ended (a zombie, or a
// retry after an abort) is refused instead of opening a transaction no
// marker will ever close: such a "hanging" transaction would hold the last
// stable offset, and every read_committed consumer, back forever.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/txn"
)

// verifyTimeout bounds a verification round trip to a remote coordinator.
const verifyTimeout = 5 * time.Second

// checkTxnProduce verifies (or, for produce v12+, adds) the partition with
// the transaction coordinator when records start a transaction there. It
// returns 0 when the append may go ahead, else the error code to answer.
func (a *API) checkTxnProduce(version int16, txnID *string, topic string, p *partition.Partition, records []byte) (int16, error) {
	if version < 3 || len(records) < record.BatchHeaderSize {
		return 0, nil
	}
	if m, err := record.Magic(records); err != nil || m != 2 {
		return 0, nil
	}
	h, err := record.ParseHeader(records)
	if err != nil || !h.Transactional() || h.Control() || h.ProducerID < 0 {
		return 0, nil // the append's own validation answers
	}
	if txnID == nil || *txnID == "" {
		return kerr.InvalidRecord.Code, fmt.Errorf("a transactional batch needs the request's transactional id")
	}
	if p.HasOngoingTxn(h.ProducerID, h.ProducerEpoch) {
		return 0, nil
	}
	tp := txn.TopicPartition{Topic: topic, Partition: p.Index}
	add := version >= 12
	// Under transactions v2 the client starts its next transaction as
	// soon as EndTxn answers, while the markers of the last one may still
	// be on their way (CONCURRENT_TRANSACTIONS): retry here, briefly, as
	// Kafka's brokers do (add.partitions.to.txn.retry.backoff.ms), instead
	// of sending the client into its own, much longer, produce backoff.
	code, err := a.addToTxn(*txnID, h.ProducerID, h.ProducerEpoch, tp, add)
	return txnProduceCode(code), err
}

// addToTxn is addOrVerify, retrying an add briefly while the coordinator
// answers CONCURRENT_TRANSACTIONS.
func (a *API) addToTxn(txnID string, pid int64, epoch int16, tp txn.TopicPartition, add bool) (int16, error) {
	deadline := time.Now().Add(addPartitionsRetryFor)
	backoff := addPartitionsBackoff
	for {
		code, err := a.addOrVerify(txnID, pid, epoch, tp, add)
		if code != kerr.ConcurrentTransactions.Code || !add || time.Now().Add(backoff).After(deadline) {
			return code, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// How long, and how often, a produce's implicit add (transactions v2) is
// retried while the previous transaction completes.
const (
	addPartitionsRetryFor = time.Second
	addPartitionsBackoff  = 10 * time.Millisecond
)

// addOrVerify asks the coordinator of txnID to add tp to the producer's
// transaction (add) or to confirm it is part of it, locally or with
// AddPartitionsToTxn v4/v5 to the coordinator's broker. It returns the
// coordinator's error code (0: go ahead), not yet mapped for the producer.
func (a *API) addOrVerify(txnID string, pid int64, epoch int16, tp txn.TopicPartition, add bool) (int16, error) {
	if a.txns.Coordinates(txnID) {
		var err error
		if add {
			err = a.txns.AddPartitions(txnID, pid, epoch, []txn.TopicPartition{tp})
		} else {
			var per map[txn.TopicPartition]error
			per, err = a.txns.Verify(txnID, pid, epoch, []txn.TopicPartition{tp})
			if err == nil {
				err = per[tp]
			}
		}
		if err != nil {
			return txnErrorCode(err, true), err
		}
		return 0, nil
	}
	if !a.b.Clustered() {
		return kerr.NotCoordinator.Code, fmt.Errorf("the transaction coordinator is not loaded")
	}
	id, ok := a.txnCoordinator(txnID)
	e, found := a.endpointOf("", id)
	if !ok || !found {
		return kerr.CoordinatorNotAvailable.Code, fmt.Errorf("the transaction coordinator of %q is not available", txnID)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, !add
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = tp.Topic, []int32{tp.Partition}
	tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{tt}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
	ctx, cancel := context.WithTimeout(a.b.Context(), verifyTimeout)
	defer cancel()
	kresp, err := a.peers.request(ctx, id, fmt.Sprintf("%s:%d", e.Host, e.Port), req)
	if err != nil {
		return kerr.CoordinatorNotAvailable.Code, fmt.Errorf("asking the transaction coordinator (broker %d): %w", id, err)
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode, kerr.ErrorForCode(resp.ErrorCode)
	}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, rp := range t.Partitions {
				if rp.ErrorCode != 0 {
					return rp.ErrorCode, fmt.Errorf("transaction coordinator (broker %d): %w", id, kerr.ErrorForCode(rp.ErrorCode))
				}
			}
		}
	}
	return 0, nil
}

// txnProduceCode turns a coordinator's answer into what the producer
// gets: coordinator moves and loads are retriable for the producer as
// NOT_ENOUGH_REPLICAS (Kafka does the same: the client cannot act on
// NOT_COORDINATOR for a produce).
func txnProduceCode(code int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.ConcurrentTransactions.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

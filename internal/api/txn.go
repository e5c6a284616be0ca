package api

// Transactions (KIP-98, KIP-447, KIP-890): FindCoordinator key type 1 and
// InitProducerId with a transactional id (in group.go and producer_id.go),
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
// DescribeTransactions, ListTransactions and DescribeProducers. The state
// machine lives in internal/txn; this file translates requests, maps its
// errors to Kafka codes, and writes transaction markers: locally to the
// partitions this broker leads, with WriteTxnMarkers to the other leaders.
//
// Version notes: AddPartitionsToTxn v0-v3 come from clients, v4+ (batched,
// with verify_only) from brokers verifying a transactional produce
// (KIP-890 part 1). EndTxn v5 is transactions v2 (KIP-890 part 2): the
// epoch is bumped with every end and returned. PRODUCER_FENCED exists from
// InitProducerId v4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2 and
// TxnOffsetCommit v3 (KIP-588); older versions get INVALID_PRODUCER_EPOCH.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/txn"
)

// txnEntries starts the transaction coordinator (closed with the broker)
// and declares the transaction APIs.
func (a *API) txnEntries() []entry {
	cfg := a.b.Config()
	a.txns = txn.New(txn.Config{
		MaxTimeout:     cfg.TransactionMaxTimeout,
		AbortInterval:  cfg.TransactionAbortTimedOutInterval,
		ExpireInterval: cfg.TransactionRemoveExpiredInterval,
		IDExpiration:   cfg.TransactionalIDExpiration,
		OffsetsPartitions: func() int {
			if t := a.b.Topic(offsetsTopic); t != nil {
				return int(t.Count())
			}
			return int(cfg.OffsetsTopicNumPartitions)
		},
		AllocateProducerID: a.nextProducerID,
		Markers:            markerWriter{a},
		Logger:             a.lg,
	})
	a.peers = newPeerClients()
	a.b.OnClose(func() {
		a.txns.Close()
		a.peers.close()
	})
	if a.b.Clustered() {
		a.b.OnLeadership(func(topic string, i, n int32, p *partition.Partition, leading bool) {
			if topic != txn.TopicName {
				return
			}
			var tp txn.Partition
			epoch := int32(-1)
			if leading {
				tp, epoch = txnStatePartition{replicatedPartition{p}, a}, p.LeaderEpoch()
			}
			a.txns.SetLeadership(int(i), int(n), tp, epoch, leading)
		})
	} else if t, _ := a.b.TransactionTopic(false); t != nil {
		a.adoptTxnTopic(t)
	}
	return []entry{
		{key: kmsg.AddPartitionsToTxn, fn: a.handleAddPartitionsToTxn},
		{key: kmsg.AddOffsetsToTxn, fn: a.handleAddOffsetsToTxn},
		{key: kmsg.EndTxn, fn: a.handleEndTxn},
		{key: kmsg.WriteTxnMarkers, fn: a.handleWriteTxnMarkers},
		{key: kmsg.DescribeTransactions, fn: a.handleDescribeTransactions},
		{key: kmsg.ListTransactions, fn: a.handleListTransactions},
		{key: kmsg.DescribeProducers, fn: a.handleDescribeProducers},
	}
}

// Txns returns the transaction coordinator, for read-only views (the
// console and metrics).
func (a *API) Txns() *txn.Coordinator { return a.txns }

// txnStatePartition is a __transaction_state partition in a cluster: a
// state change is written only while the ISR holds min.insync.replicas
// (transaction.state.log.min.isr), and acknowledged once on all of it.
type txnStatePartition struct {
	replicatedPartition
	a *API
}

func (p txnStatePartition) Append(batches []byte, now time.Time) (partition.AppendResult, error) {
	if t := p.a.b.Topic(txn.TopicName); t != nil && p.ISRSize() < t.Config.MinInsyncReplicas {
		return partition.AppendResult{}, fmt.Errorf("%w: the ISR of %s-%d has %d replicas, min.insync.replicas is %d",
			txn.ErrCoordinatorNotAvailable, txn.TopicName, p.Index, p.ISRSize(), t.Config.MinInsyncReplicas)
	}
	return p.replicatedPartition.Append(batches, now)
}

// Flush is replicatedPartition's, with the transaction coordinator's
// error: a write the ISR did not confirm is NOT_COORDINATOR for it too,
// and its log line should not name the group coordinator.
func (p txnStatePartition) Flush() error {
	epoch, end := p.LeaderEpoch(), p.LogEndOffset()
	if err := p.Partition.Flush(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
	defer cancel()
	if err := p.WaitCommitted(ctx, end, epoch); err != nil {
		return fmt.Errorf("%w: %s-%d not replicated: %w", txn.ErrNotCoordinator, txn.TopicName, p.Index, err)
	}
	return nil
}

// adoptTxnTopic hands a single broker's __transaction_state partitions to
// the coordinator: it leads them all, at coordinator epoch 0.
func (a *API) adoptTxnTopic(t *broker.Topic) {
	n := len(t.Partitions)
	if leading, _ := a.txns.Loaded(); leading == n {
		return // adopted already (every transactional FindCoordinator asks)
	}
	for i, p := range t.Partitions {
		a.txns.SetLeadership(i, n, p, 0, true)
	}
}

// ensureTxnTopic creates __transaction_state on first use, as Kafka does.
func (a *API) ensureTxnTopic() error {
	t, err := a.b.TransactionTopic(true)
	if err != nil {
		return fmt.Errorf("%w: create %s: %w", txn.ErrCoordinatorNotAvailable, txn.TopicName, err)
	}
	if !a.b.Clustered() {
		a.adoptTxnTopic(t)
	}
	return nil
}

// txnCoordinator returns the broker leading the id's __transaction_state
// partition (cluster mode).
func (a *API) txnCoordinator(id string) (int32, bool) {
	t := a.b.Topic(txn.TopicName)
	if t == nil || t.Count() == 0 {
		return -1, false
	}
	as, ok := t.Assignment(int32(txn.PartitionFor(id, int(t.Count()))))
	if !ok || as.Leader < 0 {
		return -1, false
	}
	return as.Leader, true
}

// txnErrorCode maps transaction coordinator and partition errors to Kafka
// codes. fencedOK says whether the request version knows PRODUCER_FENCED
// (KIP-588); older versions get INVALID_PRODUCER_EPOCH.
func txnErrorCode(err error, fencedOK bool) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, txn.ErrNotCoordinator), errors.Is(err, partition.ErrNotLeader):
		return kerr.NotCoordinator.Code
	case errors.Is(err, txn.ErrLoadInProgress):
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, txn.ErrCoordinatorNotAvailable):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, txn.ErrConcurrentTransactions):
		return kerr.ConcurrentTransactions.Code
	case errors.Is(err, txn.ErrInvalidProducerIDMapping):
		return kerr.InvalidProducerIDMapping.Code
	case errors.Is(err, txn.ErrProducerFenced), errors.Is(err, partition.ErrInvalidEpoch):
		if fencedOK {
			return kerr.ProducerFenced.Code
		}
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, txn.ErrInvalidTxnState), errors.Is(err, partition.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, txn.ErrInvalidTimeout):
		return kerr.InvalidTransactionTimeout.Code
	case errors.Is(err, txn.ErrInvalidID):
		return kerr.InvalidRequest.Code
	case errors.Is(err, txn.ErrUnknownID):
		return kerr.TransactionalIDNotFound.Code
	case errors.Is(err, partition.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced.Code
	default:
		return errorCode(err)
	}
}

func (a *API) logTxnError(c *server.Conn, api, id string, err error) {
	switch txnErrorCode(err, true) {
	case 0:
	case kerr.UnknownServerError.Code, kerr.KafkaStorageError.Code:
		a.lg.Error("transaction request failed", "api", api, "transactional_id", id, "client", c.Remote, "err", err)
	default:
		a.lg.Debug("transaction request refused", "api", api, "transactional_id", id, "client", c.Remote, "err", err)
	}
}

// initTransactionalProducer answers InitProducerId for a transactional id.
func (a *API) initTransactionalProducer(c *server.Conn, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	id := *req.TransactionalID
	err := a.ensureTxnTopic()
	if err == nil {
		expectPID, expectEpoch := int64(-1), int16(-1)
		if req.Version >= 3 {
			expectPID, expectEpoch = req.ProducerID, req.ProducerEpoch
		}
		timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
		resp.ProducerID, resp.ProducerEpoch, err = a.txns.InitProducerID(id, timeout, expectPID, expectEpoch, 0)
	}
	if err != nil {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = txnErrorCode(err, req.Version >= 4)
		a.logTxnError(c, "InitProducerId", id, err)
	}
}

func toTxnTPs(topics map[string][]int32) []txn.TopicPartition {
	var out []txn.TopicPartition
	for t, ps := range topics {
		for _, p := range ps {
			out = append(out, txn.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

// addPartitionsResult is the per-partition outcome of one transaction of
// an AddPartitionsToTxn.
func (a *API) addPartitionsTo(id string, pid int64, epoch int16, verifyOnly bool, topics map[string][]int32, fencedOK bool) map[string]map[int32]int16 {
	out := make(map[string]map[int32]int16, len(topics))
	set := func(t string, p int32, code int16) {
		if out[t] == nil {
			out[t] = make(map[int32]int16)
		}
		out[t][p] = code
	}
	// Unknown partitions fail alone; the rest are then not attempted.
	unknown := false
	for t, ps := range topics {
		bt := a.b.Topic(t)
		for _, p := range ps {
			if bt == nil || p < 0 || p >= bt.Count() {
				set(t, p, kerr.UnknownTopicOrPartition.Code)
				unknown = true
			}
		}
	}
	if unknown {
		for t, ps := range topics {
			for _, p := range ps {
				if out[t][p] == 0 {
					set(t, p, kerr.OperationNotAttempted.Code)
				}
			}
		}
		return out
	}
	tps := toTxnTPs(topics)
	if verifyOnly {
		perTP, err := a.txns.Verify(id, pid, epoch, tps)
		for _, tp := range tps {
			code := txnErrorCode(err, fencedOK)
			if err == nil {
				code = txnErrorCode(perTP[tp], fencedOK)
			}
			set(tp.Topic, tp.Partition, code)
		}
		return out
	}
	err := a.txns.AddPartitions(id, pid, epoch, tps)
	for _, tp := range tps {
		set(tp.Topic, tp.Partition, txnErrorCode(err, fencedOK))
	}
	return out
}

func (a *API) handleAddPartitionsToTxn(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version <= 3 {
		topics := make(map[string][]int32, len(req.Topics))
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		res := a.txnAddDenied(c, req.TransactionalID, topics)
		if res == nil {
			res = a.addPartitionsTo(req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics, req.Version >= 2)
		}
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, res[t.Topic][p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return server.Ready(resp), nil
	}
	// v4+ is the brokers' batched form (KIP-890): Kafka takes it only
	// from a principal with CLUSTER_ACTION.
	if !a.authorizedCluster(c, kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	for _, tx := range req.Transactions {
		topics := make(map[string][]int32, len(tx.Topics))
		for _, t := range tx.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		res := a.addPartitionsTo(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, topics, true)
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rtt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rtt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, res[t.Topic][p]
				rtt.Partitions = append(rtt.Partitions, rp)
			}
			rt.Topics = append(rt.Topics, rtt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return server.Ready(resp), nil
}

func (a *API) handleAddOffsetsToTxn(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return server.Ready(resp), nil
	case !a.groupAllowed(c, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	err := a.txns.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
	resp.ErrorCode = txnErrorCode(err, req.Version >= 2)
	a.logTxnError(c, "AddOffsetsToTxn", req.TransactionalID, err)
	return server.Ready(resp), nil
}

func (a *API) handleEndTxn(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return server.Ready(resp), nil
	}
	pid, epoch, err := a.txns.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 5)
	resp.ErrorCode = txnErrorCode(err, req.Version >= 2)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if err == nil {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	}
	a.logTxnError(c, "EndTxn", req.TransactionalID, err)
	return server.Ready(resp), nil
}

func (a *API) handleDescribeTransactions(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.StartTimestamp, st.ProducerID, st.ProducerEpoch = -1, -1, -1
		if !a.authorized(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		m, err := a.txns.Describe(id)
		if err != nil {
			st.ErrorCode = txnErrorCode(err, true)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State = m.State.String()
		st.TimeoutMillis = int32(m.Timeout / time.Millisecond)
		if !m.StartTime.IsZero() {
			st.StartTimestamp = m.StartTime.UnixMilli()
		}
		st.ProducerID, st.ProducerEpoch = m.ProducerID, m.ProducerEpoch
		for _, tp := range m.Partitions {
			if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
				st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
			st.Topics = append(st.Topics, t)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return server.Ready(resp), nil
}

func (a *API) handleListTransactions(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[txn.State]bool{}
	for _, s := range req.StateFilters {
		st, ok := txn.ParseState(s)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[st] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return server.Ready(resp), nil
		}
		pattern = re
	}
	now := a.now()
	metas, loading := a.txns.List(func(m *txn.Meta) bool {
		switch {
		case len(req.StateFilters) > 0 && !states[m.State]:
			return false
		case len(pids) > 0 && !pids[m.ProducerID]:
			return false
		case pattern != nil && !pattern.MatchString(m.ID):
			return false
		case req.Version >= 1 && req.DurationFilterMillis >= 0:
			// Only transactions running longer than the filter.
			if m.StartTime.IsZero() || now.Sub(m.StartTime) < time.Duration(req.DurationFilterMillis)*time.Millisecond {
				return false
			}
		}
		return true
	})
	if loading > 0 {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	for _, m := range metas {
		// Kafka lists only the ids the principal may DESCRIBE.
		if !a.authorizedQuiet(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, m.ID) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = m.ID, m.ProducerID, m.State.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDescribeProducers(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := a.b.Topic(rt.Topic)
		denied := !a.authorized(c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = i
			p, code := a.leaderPartition(t, i)
			if denied {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pi := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.ProducerEpoch), pi.LastSequence
				ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, pi.CoordinatorEpoch, pi.CurrentTxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Ready(resp), nil
}

// handleWriteTxnMarkers writes the markers a transaction coordinator asks
// for to the partitions this broker leads, and answers once each marker is
// committed (durable; on every in-sync replica in a cluster).
func (a *API) handleWriteTxnMarkers(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationClusterAction) {
		// Kafka: a broker-to-broker API; CLUSTER_AUTHORIZATION_FAILED for
		// every partition of every marker.
		for _, rm := range req.Markers {
			mr := kmsg.NewWriteTxnMarkersResponseMarker()
			mr.ProducerID = rm.ProducerID
			for _, t := range rm.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				mr.Topics = append(mr.Topics, rt)
			}
			resp.Markers = append(resp.Markers, mr)
		}
		return server.Ready(resp), nil
	}
	type job struct {
		m    txn.Markers
		errs map[txn.TopicPartition]error
	}
	jobs := make([]job, len(req.Markers))
	for i, rm := range req.Markers {
		m := txn.Markers{ProducerID: rm.ProducerID, ProducerEpoch: rm.ProducerEpoch, Commit: rm.Committed, CoordinatorEpoch: rm.CoordinatorEpoch}
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				m.Partitions = append(m.Partitions, txn.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		jobs[i].m = m
	}
	return func() kmsg.Response {
		ctx, cancel := context.WithTimeout(a.b.Context(), markerWriteTimeout)
		defer cancel()
		for i := range jobs {
			jobs[i].errs = a.writeMarkersLocal(ctx, jobs[i].m)
		}
		for i, rm := range req.Markers {
			mr := kmsg.NewWriteTxnMarkersResponseMarker()
			mr.ProducerID = rm.ProducerID
			for _, t := range rm.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					if err := jobs[i].errs[txn.TopicPartition{Topic: t.Topic, Partition: p}]; err != nil {
						rp.ErrorCode = markerErrorCode(err)
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				mr.Topics = append(mr.Topics, rt)
			}
			resp.Markers = append(resp.Markers, mr)
		}
		return resp
	}, nil
}

// markerWriteTimeout bounds how long a marker waits for its replicas.
const markerWriteTimeout = 10 * time.Second

// codedError carries a Kafka error code chosen where the error arose.
type codedError struct {
	code int16
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func markerErrorCode(err error) int16 {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return txnErrorCode(err, true)
}

// writeMarkersLocal appends m's marker to each of its partitions, which
// this broker must lead, waits until each is committed, and tells the
// group coordinator about markers on __consumer_offsets (pending
// transactional offset commits become visible or are dropped). The map
// holds the partitions that failed.
func (a *API) writeMarkersLocal(ctx context.Context, m txn.Markers) map[txn.TopicPartition]error {
	errs := make(map[txn.TopicPartition]error)
	type written struct {
		tp  txn.TopicPartition
		p   *partition.Partition
		res partition.AppendResult
	}
	var done []written
	for _, tp := range m.Partitions {
		t := a.b.Topic(tp.Topic)
		p, code := a.leaderPartition(t, tp.Partition)
		if code != 0 {
			errs[tp] = &codedError{code: code, err: fmt.Errorf("%s-%d: %s", tp.Topic, tp.Partition, kerr.ErrorForCode(code))}
			continue
		}
		res, err := p.AppendMarker(partition.Marker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
			Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch}, a.now())
		if err != nil {
			errs[tp] = err
			if code := txnErrorCode(err, true); code == kerr.UnknownServerError.Code || code == kerr.KafkaStorageError.Code {
				a.lg.Error("writing a transaction marker failed", "topic", tp.Topic, "partition", tp.Partition, "producer_id", m.ProducerID, "err", err)
			}
			continue
		}
		if res.FlushNow {
			a.b.ScheduleFlush(p)
		}
		done = append(done, written{tp, p, res})
	}
	for _, w := range done {
		var err error
		if w.res.SyncOnAck {
			err = w.p.Flush()
		}
		if err == nil && a.b.Clustered() {
			err = w.p.WaitCommitted(ctx, w.res.NextOffset, w.res.LeaderEpoch)
		}
		if err != nil {
			errs[w.tp] = err
			continue
		}
		if w.tp.Topic == offsetsTopic {
			a.completeGroupTxn(int(w.tp.Partition), m.ProducerID, m.Commit, w.res.BaseOffset)
		}
	}
	return errs
}

// markerWriter is the coordinator's MarkerWriter: markers for partitions
// led here are written directly, the rest are sent to their leaders.
type markerWriter struct{ a *API }

func (w markerWriter) WriteMarkers(ctx context.Context, m txn.Markers) map[txn.TopicPartition]error {
	a := w.a
	errs := make(map[txn.TopicPartition]error)
	local := m
	local.Partitions = nil
	remote := make(map[int32][]txn.TopicPartition)
	for _, tp := range m.Partitions {
		t := a.b.Topic(tp.Topic)
		switch {
		case t == nil || tp.Partition < 0 || tp.Partition >= t.Count():
			errs[tp] = txn.ErrPartitionGone
			continue
		case !a.b.Clustered():
			local.Partitions = append(local.Partitions, tp)
			continue
		}
		as, ok := t.Assignment(tp.Partition)
		switch {
		case !ok || as.Leader < 0:
			errs[tp] = fmt.Errorf("%s-%d has no leader", tp.Topic, tp.Partition)
		case as.Leader == a.b.NodeID():
			local.Partitions = append(local.Partitions, tp)
		default:
			remote[as.Leader] = append(remote[as.Leader], tp)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, tps := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := a.sendMarkers(ctx, leader, m, tps)
			mu.Lock()
			for tp, err := range out {
				errs[tp] = err
			}
			mu.Unlock()
		}()
	}
	if len(local.Partitions) > 0 {
		out := a.writeMarkersLocal(ctx, local)
		mu.Lock()
		for tp, err := range out {
			errs[tp] = err
		}
		mu.Unlock()
	}
	wg.Wait()
	return errs
}

// sendMarkers sends WriteTxnMarkers for tps to broker id.
func (a *API) sendMarkers(ctx context.Context, id int32, m txn.Markers, tps []txn.TopicPartition) map[txn.TopicPartition]error {
	fail := func(err error) map[txn.TopicPartition]error {
		out := make(map[txn.TopicPartition]error, len(tps))
		for _, tp := range tps {
			out[tp] = err
		}
		return out
	}
	e, ok := a.endpointOf("", id)
	if !ok {
		return fail(fmt.Errorf("broker %d is not registered", id))
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	rm := kmsg.NewWriteTxnMarkersRequestMarker()
	rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(rm.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			rm.Topics = append(rm.Topics, t)
		}
		rm.Topics[i].Partitions = append(rm.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{rm}
	kresp, err := a.peers.request(ctx, id, fmt.Sprintf("%s:%d", e.Host, e.Port), req)
	if err != nil {
		return fail(err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	out := make(map[txn.TopicPartition]error)
	answered := map[txn.TopicPartition]bool{}
	for _, mr := range resp.Markers {
		for _, t := range mr.Topics {
			for _, p := range t.Partitions {
				tp := txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}
				answered[tp] = true
				if p.ErrorCode != 0 {
					out[tp] = &codedError{code: p.ErrorCode, err: fmt.Errorf("broker %d: %w", id, kerr.ErrorForCode(p.ErrorCode))}
				}
			}
		}
	}
	for _, tp := range tps {
		if !answered[tp] {
			out[tp] = fmt.Errorf("broker %d did not answer for %s-%d", id, tp.Topic, tp.Partition)
		}
	}
	return out
}

// peerClients are franz-go clients to the other brokers of the cluster,
// one per broker (and address), for broker-to-broker requests.
type peerClients struct {
	opts []kgo.Opt // TLS and SASL login to the inter-broker listener (SetSecurity)

	mu sync.Mutex
	m  map[int32]peerClient // guarded by mu
}

type peerClient struct {
	addr string
	cl   *kgo.Client
}

func newPeerClients() *peerClients { return &peerClients{m: make(map[int32]peerClient)} }

// request sends req to broker id at addr and returns its response.
func (pc *peerClients) request(ctx context.Context, id int32, addr string, req kmsg.Request) (kmsg.Response, error) {
	pc.mu.Lock()
	c, ok := pc.m[id]
	if ok && c.addr != addr {
		c.cl.Close()
		ok = false
	}
	if !ok {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("samsa-broker-%d", id)),
			kgo.RequestRetries(0), kgo.DialTimeout(3 * time.Second)}, pc.opts...)...)
		if err != nil {
			pc.mu.Unlock()
			return nil, err
		}
		c = peerClient{addr: addr, cl: cl}
		pc.m[id] = c
	}
	pc.mu.Unlock()
	seeds := c.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to broker %d at %s", id, addr)
	}
	return seeds[0].Request(ctx, req)
}

func (pc *peerClients) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for id, c := range pc.m {
		c.cl.Close()
		delete(pc.m, id)
	}
}

// txnAddDenied checks a client's AddPartitionsToTxn (v0-3) as Kafka does:
// WRITE on the transactional id (else every partition is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then WRITE on each topic (the
// denied ones TOPIC_AUTHORIZATION_FAILED, the others
// OPERATION_NOT_ATTEMPTED). nil when everything is allowed.
func (a *API) txnAddDenied(c *server.Conn, id string, topics map[string][]int32) map[string]map[int32]int16 {
	fill := func(code func(topic string) int16) map[string]map[int32]int16 {
		out := make(map[string]map[int32]int16, len(topics))
		for t, ps := range topics {
			out[t] = make(map[int32]int16, len(ps))
			for _, p := range ps {
				out[t][p] = code(t)
			}
		}
		return out
	}
	if !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id) {
		return fill(func(string) int16 { return kerr.TransactionalIDAuthorizationFailed.Code })
	}
	denied := map[string]bool{}
	for t := range topics {
		if !a.authorized(c, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, t) {
			denied[t] = true
		}
	}
	if len(denied) == 0 {
		return nil
	}
	return fill(func(t string) int16 {
		if denied[t] {
			return kerr.TopicAuthorizationFailed.Code
		}
		return kerr.OperationNotAttempted.Code
	})
}

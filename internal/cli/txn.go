package cli

// samsa txn list|describe|producers|abort: transaction admin in the spirit
// of kafka-transactions.sh (KIP-664): find transactions, see what they
// hold, find the producers with an open transaction on a partition, and
// abort a hanging one.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTxnCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "txn",
		Aliases: []string{"transactions", "transaction"},
		Short:   "List and describe transactions, show producers, abort a hanging transaction",
		Long: `Inspect and repair Kafka transactions (KIP-98, KIP-664), as
kafka-transactions.sh does:

  list        every transactional id the coordinators know, with its state
  describe    one transactional id: state, producer id and epoch, timeout,
              how long the open transaction has run, its partitions
  producers   the producers a partition's leader tracks, and the offset at
              which each one's open transaction starts
  abort       abort a hanging transaction on one partition (one whose
              producer is gone and whose coordinator no longer ends it),
              so that read_committed consumers can move past it

These are Kafka's ListTransactions, DescribeTransactions, DescribeProducers
and WriteTxnMarkers requests, so they work against any Kafka-compatible
cluster that serves them (Apache Kafka 3.0 or newer).`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(
		newTxnListCommand(g),
		newTxnDescribeCommand(g),
		newTxnProducersCommand(g),
		newTxnAbortCommand(g),
	)
	return c
}

// txnStates are the transaction states a coordinator reports, spelled as
// Kafka spells them (TransactionState.stateName). --state matches them
// case-insensitively and sends the canonical spelling, which is what
// ListTransactions' StateFilters compares against.
var txnStates = []string{
	"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
	"CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence",
}

// normalizeTxnStates maps each --state item to its canonical spelling,
// dropping blanks and duplicates; an unknown state is a usage error.
func normalizeTxnStates(items []string) ([]string, error) {
	var out []string
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		i := slices.IndexFunc(txnStates, func(s string) bool { return strings.EqualFold(s, it) })
		if i < 0 {
			return nil, usageErrorf("--state %q: unknown transaction state; want one of %s", it, strings.Join(txnStates, ", "))
		}
		if !slices.Contains(out, txnStates[i]) {
			out = append(out, txnStates[i])
		}
	}
	return out, nil
}

func newTxnListCommand(g *globalOptions) *cobra.Command {
	var (
		states      []string
		producerIDs []int64
	)
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids with their producer id, state and coordinator",
		Long: `List the transactional ids that every broker coordinates
(ListTransactions, sent to all brokers), sorted by id: the producer id in
use, the transaction state and the coordinator's broker id.

--state keeps only ids in the given states (comma-separated or repeated,
case-insensitive): ` + strings.Join(txnStates, ", ") + `.
A transaction that is open right now is Ongoing.
--producer-id keeps only the given producer ids (repeatable).

If some broker does not answer, the ids the others listed are still
printed, and the command fails naming the broker.`,
		Example: `  samsa txn list
  samsa txn list --state Ongoing
  samsa txn list --producer-id 4001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := normalizeTxnStates(states)
			if err != nil {
				return err
			}
			for _, id := range producerIDs {
				if id < 0 {
					return usageErrorf("--producer-id %d: want a producer id >= 0", id)
				}
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			listed, err := adm.ListTransactions(ctx, producerIDs, filter)
			if err != nil && len(listed) == 0 {
				return txnRequestError("list transactions", err)
			}
			if perr := printTxnList(stdout(cmd), listed, filter, producerIDs); perr != nil {
				return perr
			}
			if err != nil {
				return txnRequestError("list transactions (the table above is partial)", err)
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&states, "state", nil, "only transactions in these states (comma-separated, repeatable)")
	c.Flags().Int64SliceVar(&producerIDs, "producer-id", nil, "only transactions of these producer ids (comma-separated, repeatable)")
	return c
}

// printTxnList writes the list table, sorted by transactional id. The
// filters are applied here too: brokers before ListTransactions v1 ignore
// the state filter (kadm says so), and applying a filter twice is harmless.
func printTxnList(w io.Writer, listed kadm.ListedTransactions, states []string, producerIDs []int64) error {
	t := newTable(w, "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR")
	for _, l := range listed.Sorted() {
		if len(states) > 0 && !slices.Contains(states, l.State) {
			continue
		}
		if len(producerIDs) > 0 && !slices.Contains(producerIDs, l.ProducerID) {
			continue
		}
		t.row(l.TxnID, l.ProducerID, dash(l.State), l.Coordinator)
	}
	return t.flush()
}

func newTxnDescribeCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Show a transactional id's state, producer, timeout, age and partitions",
		Long: `Describe transactional ids (DescribeTransactions, sent to each id's
coordinator): the coordinator, the state, the producer id and epoch in use,
the transaction timeout, when the open transaction started and how long ago
(its age; "-" when no transaction is open), and the partitions the
transaction has written to or added so far.

A transaction whose age nears its timeout is about to be aborted by its
coordinator. One that is far past it, or a partition whose last stable
offset does not move, is hanging: see "samsa txn producers" and
"samsa txn abort".`,
		Example: `  samsa txn describe payments-processor-0
  samsa txn describe tx-a tx-b`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := uniqueArgs(args)
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			described, err := adm.DescribeTransactions(ctx, ids...)
			if err != nil && len(described) == 0 {
				return txnRequestError("describe transactions", err)
			}
			var errs []error
			printed := 0
			now := time.Now()
			for _, id := range ids {
				d, ok := described[id]
				switch {
				case !ok && err != nil:
					errs = append(errs, txnRequestError(fmt.Sprintf("describe transactional id %q", id), err))
					continue
				case !ok:
					errs = append(errs, fmt.Errorf("transactional id %q: missing from the broker's response", id))
					continue
				case d.Err != nil:
					errs = append(errs, txnIDError(id, d.Err))
					continue
				}
				if printed > 0 {
					fmt.Fprintln(stdout(cmd))
				}
				printed++
				printTxnDescription(stdout(cmd), d, now)
			}
			return errors.Join(errs...)
		},
	}
	return c
}

// printTxnDescription writes one described transaction as aligned
// "KEY  value" lines; now is the time the age is measured against.
func printTxnDescription(w io.Writer, d kadm.DescribedTransaction, now time.Time) {
	start, age := "-", "-"
	// Kafka reports -1 when no transaction is open (Empty, Complete*).
	if d.StartTimestamp >= 0 {
		ts := time.UnixMilli(d.StartTimestamp)
		start = fmt.Sprintf("%s (%d)", ts.UTC().Format("2006-01-02T15:04:05.000Z"), d.StartTimestamp)
		age = now.Sub(ts).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "TRANSACTIONAL-ID  %s\n", d.TxnID)
	fmt.Fprintf(w, "COORDINATOR       %d\n", d.Coordinator)
	fmt.Fprintf(w, "STATE             %s\n", dash(d.State))
	fmt.Fprintf(w, "PRODUCER-ID       %d\n", d.ProducerID)
	fmt.Fprintf(w, "PRODUCER-EPOCH    %d\n", d.ProducerEpoch)
	fmt.Fprintf(w, "TIMEOUT           %s\n", time.Duration(d.TimeoutMillis)*time.Millisecond)
	fmt.Fprintf(w, "START-TIME        %s\n", start)
	fmt.Fprintf(w, "AGE               %s\n", age)
	fmt.Fprintf(w, "PARTITIONS        %s\n", formatTopicsSet(d.Topics))
}

// formatTopicsSet renders partitions as "audit(2),orders(0,1)", topics and
// partitions sorted, like formatAssignment; "-" for none.
func formatTopicsSet(s kadm.TopicsSet) string {
	var parts []string
	for _, tp := range s.Sorted() {
		ps := slices.Clone(tp.Partitions)
		slices.Sort(ps)
		parts = append(parts, fmt.Sprintf("%s(%s)", tp.Topic, int32List(ps)))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// txnIDError explains a per-transactional-id error code in words.
func txnIDError(id string, err error) error {
	var what string
	switch {
	case errors.Is(err, kerr.TransactionalIDNotFound):
		what = fmt.Sprintf("transactional id %q does not exist: no producer has initialized it, or it expired (transactional.id.expiration.ms)", id)
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		what = fmt.Sprintf("not authorized to describe transactional id %q", id)
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.NotCoordinator):
		what = fmt.Sprintf("transactional id %q: its coordinator is not available yet (try again): %v", id, err)
	default:
		what = fmt.Sprintf("transactional id %q: %v", id, err)
	}
	return fmt.Errorf("%s%w", what, silentWrap{err})
}

// txnRequestError is requestError with the transaction APIs' own
// whole-request failures put in words.
func txnRequestError(what string, err error) error {
	switch {
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return fmt.Errorf("%s: not authorized (this needs DESCRIBE on the transactional ids, or CLUSTER_ACTION to abort)%w", what, silentWrap{err})
	case errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.CoordinatorNotAvailable):
		return fmt.Errorf("%s: a transaction coordinator is still loading (try again)%w", what, silentWrap{err})
	}
	return requestError(what, err)
}

// parsePartitionArg parses the PARTITION argument or --partition value.
func parsePartitionArg(what, s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, usageErrorf("%s %q: want a partition number >= 0", what, s)
	}
	return int32(n), nil
}

func newTxnProducersCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "producers TOPIC PARTITION",
		Aliases: []string{"describe-producers"},
		Short:   "Show the producers a partition's leader tracks and their open transactions",
		Long: `Describe the producers the leader of TOPIC/PARTITION keeps state for
(DescribeProducers, KIP-664): each producer id with its epoch, the last
sequence number and timestamp it wrote, the coordinator epoch of its last
transaction marker, and the first offset of its open transaction
(TXN-START-OFFSET).

A "-" means none: no open transaction, no marker written yet, no
timestamp. The open transaction with the lowest TXN-START-OFFSET holds the
partition's last stable offset there: read_committed consumers read no
further until it ends. To abort one that hangs:
  samsa txn abort --topic TOPIC --partition PARTITION --start-offset OFFSET

LAST-TIMESTAMP is milliseconds since the epoch, as Kafka prints it.`,
		Example: `  samsa txn producers orders 0`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if err := checkTopicName(topic); err != nil {
				return err
			}
			partition, err := parsePartitionArg("PARTITION", args[1])
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
			adm := kadm.NewClient(cl)
			if _, err := partitionLeader(ctx, adm, topic, partition); err != nil {
				return err
			}
			dp, err := describePartitionProducers(ctx, adm, topic, partition)
			if err != nil {
				return err
			}
			return printProducers(stdout(cmd), dp.ActiveProducers)
		},
	}
	return c
}

// partitionLeader looks topic/partition up in the metadata and returns its
// leader, or an error that says in words why there is none.
func partitionLeader(ctx context.Context, adm *kadm.Client, topic string, partition int32) (int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return -1, requestError("metadata", err)
	}
	td, ok := md.Topics[topic]
	if !ok {
		return -1, topicError(topic, errUnknownTopic, "")
	}
	if td.Err != nil {
		return -1, topicError(topic, td.Err, "")
	}
	pd, ok := td.Partitions[partition]
	if !ok {
		return -1, fmt.Errorf("topic %q has no partition %d (it has %s)", topic, partition, count(len(td.Partitions), "partition", "partitions"))
	}
	if pd.Leader < 0 {
		return -1, fmt.Errorf("partition %s/%d has no leader right now (offline): retry once a replica is back", topic, partition)
	}
	return pd.Leader, nil
}

// describePartitionProducers asks the partition's leader for its producer
// state.
func describePartitionProducers(ctx context.Context, adm *kadm.Client, topic string, partition int32) (kadm.DescribedProducersPartition, error) {
	dts, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {partition: {}}})
	dp, ok := dts[topic].Partitions[partition]
	switch {
	case !ok && err != nil:
		return dp, txnRequestError(fmt.Sprintf("describe producers of %s/%d", topic, partition), err)
	case !ok:
		return dp, fmt.Errorf("describe producers of %s/%d: missing from the broker's response", topic, partition)
	case dp.Err != nil:
		var what string
		switch {
		case errors.Is(dp.Err, kerr.NotLeaderForPartition):
			what = "the partition's leader moved while asking (try again)"
		case errors.Is(dp.Err, kerr.UnknownTopicOrPartition):
			what = "the leader does not host this partition"
		default:
			what = dp.Err.Error()
		}
		if dp.ErrMessage != "" {
			what += ": " + dp.ErrMessage
		}
		return dp, fmt.Errorf("describe producers of %s/%d: %s%w", topic, partition, what, silentWrap{dp.Err})
	}
	return dp, nil
}

// printProducers writes the producers table, sorted by producer id.
func printProducers(w io.Writer, ps kadm.DescribedProducers) error {
	t := newTable(w, "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "COORDINATOR-EPOCH", "TXN-START-OFFSET")
	for _, p := range ps.Sorted() {
		t.row(p.ProducerID, p.ProducerEpoch, p.LastSequence, dashNeg(p.LastTimestamp),
			dashNeg(int64(p.CoordinatorEpoch)), dashNeg(p.CurrentTxnStartOffset))
	}
	return t.flush()
}

// dashNeg renders Kafka's "none" value -1 (any negative) as "-".
func dashNeg(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// abortOptions are the flags of "samsa txn abort".
type abortOptions struct {
	topic            string
	partition        int32
	startOffset      int64
	producerID       int64
	producerEpoch    int16
	coordinatorEpoch int32
}

// abortTarget is a validated abort request: either find the producer by
// the start offset of its transaction, or take it as given.
type abortTarget struct {
	topic     string
	partition int32
	// byStart: find the producer whose open transaction starts at
	// startOffset; the fields below are then filled from DescribeProducers.
	byStart     bool
	startOffset int64

	producerID       int64
	producerEpoch    int16
	coordinatorEpoch int32
}

// target validates the flag combination; changed reports whether a flag
// was given on the command line.
func (o *abortOptions) target(changed func(string) bool) (abortTarget, error) {
	tg := abortTarget{topic: o.topic, partition: o.partition}
	if err := checkTopicName(o.topic); err != nil {
		return tg, err
	}
	if o.partition < 0 {
		return tg, usageErrorf("--partition %d: want a partition number >= 0", o.partition)
	}
	explicit := []string{"producer-id", "producer-epoch", "coordinator-epoch"}
	var given, missing []string
	for _, f := range explicit {
		if changed(f) {
			given = append(given, "--"+f)
		} else {
			missing = append(missing, "--"+f)
		}
	}
	switch {
	case changed("start-offset") && len(given) > 0:
		return tg, usageErrorf("--start-offset and %s cannot be combined: name the transaction by its start offset, or by producer id, producer epoch and coordinator epoch", strings.Join(given, ", "))
	case changed("start-offset"):
		if o.startOffset < 0 {
			return tg, usageErrorf("--start-offset %d: want an offset >= 0", o.startOffset)
		}
		tg.byStart, tg.startOffset = true, o.startOffset
		return tg, nil
	case len(given) == 0:
		return tg, usageErrorf("say which transaction to abort: give --start-offset OFFSET (see \"samsa txn producers %s %d\"), or --producer-id, --producer-epoch and --coordinator-epoch", o.topic, o.partition)
	case len(missing) > 0:
		return tg, usageErrorf("%s also needs %s", strings.Join(given, ", "), strings.Join(missing, " and "))
	}
	if o.producerID < 0 {
		return tg, usageErrorf("--producer-id %d: want a producer id >= 0", o.producerID)
	}
	if o.producerEpoch < 0 {
		return tg, usageErrorf("--producer-epoch %d: want an epoch >= 0", o.producerEpoch)
	}
	tg.producerID, tg.producerEpoch = o.producerID, o.producerEpoch
	// A producer that hung before its first marker has coordinator epoch
	// -1 in DescribeProducers. Kafka's tool then sends 0, which no leader
	// can have a higher value than; do the same.
	tg.coordinatorEpoch = max(o.coordinatorEpoch, 0)
	return tg, nil
}

// findOpenTxn picks the producer whose open transaction starts at offset.
// The error names the offsets at which open transactions do start, so the
// operator can retry with the right one.
func findOpenTxn(ps kadm.DescribedProducers, topic string, partition int32, offset int64) (kadm.DescribedProducer, error) {
	var starts []int64
	for _, p := range ps.Sorted() {
		if p.CurrentTxnStartOffset >= 0 && p.CurrentTxnStartOffset == offset {
			return p, nil
		}
		if p.CurrentTxnStartOffset >= 0 {
			starts = append(starts, p.CurrentTxnStartOffset)
		}
	}
	if len(starts) == 0 {
		return kadm.DescribedProducer{}, fmt.Errorf("no open transaction starts at offset %d of %s/%d: the partition has no open transaction", offset, topic, partition)
	}
	slices.Sort(starts)
	var ss []string
	for _, s := range starts {
		ss = append(ss, strconv.FormatInt(s, 10))
	}
	at := "offsets"
	if len(ss) == 1 {
		at = "offset"
	}
	return kadm.DescribedProducer{}, fmt.Errorf("no open transaction starts at offset %d of %s/%d: open transactions there start at %s %s (see \"samsa txn producers %s %d\")",
		offset, topic, partition, at, strings.Join(ss, ", "), topic, partition)
}

func newTxnAbortCommand(g *globalOptions) *cobra.Command {
	o := &abortOptions{}
	c := &cobra.Command{
		Use:   "abort --topic TOPIC --partition N (--start-offset OFFSET | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition",
		Long: `Abort a hanging transaction on one partition by writing an abort marker
for its producer there (WriteTxnMarkers, sent to the partition's leader),
as kafka-transactions.sh abort does. read_committed consumers then skip
its records and read past it.

A transaction hangs when its records sit on a partition but no coordinator
will ever end it there (a producer or coordinator bug, or state lost);
the partition's last stable offset then stays at the transaction's first
offset. Normally the coordinator aborts an abandoned transaction itself
after its transaction.timeout.ms: check "samsa txn describe" first.

Name the transaction in one of two ways:
  --start-offset OFFSET
      the first offset of the open transaction, as "samsa txn producers
      TOPIC PARTITION" shows it in TXN-START-OFFSET; the producer id,
      epoch and coordinator epoch are looked up there
  --producer-id ID --producer-epoch E --coordinator-epoch C
      all three, as DescribeProducers reports them; a negative coordinator
      epoch is sent as 0, as Kafka's tool does

Only the named partition is aborted. This needs CLUSTER_ACTION on the
cluster where ACLs are enforced.`,
		Example: `  samsa txn producers orders 3        # find TXN-START-OFFSET
  samsa txn abort --topic orders --partition 3 --start-offset 1042
  samsa txn abort --topic orders --partition 3 --producer-id 4001 --producer-epoch 7 --coordinator-epoch 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tg, err := o.target(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return runTxnAbort(cmd, g, tg)
		},
	}
	f := c.Flags()
	f.StringVar(&o.topic, "topic", "", "topic of the partition (required)")
	f.Int32Var(&o.partition, "partition", 0, "partition number (required)")
	f.Int64Var(&o.startOffset, "start-offset", 0, "first offset of the open transaction to abort")
	f.Int64Var(&o.producerID, "producer-id", 0, "producer id of the transaction")
	f.Int16Var(&o.producerEpoch, "producer-epoch", 0, "producer epoch of the transaction")
	f.Int32Var(&o.coordinatorEpoch, "coordinator-epoch", 0, "coordinator epoch of the producer's last marker (negative: sent as 0)")
	_ = c.MarkFlagRequired("topic")
	_ = c.MarkFlagRequired("partition")
	return c
}

func runTxnAbort(cmd *cobra.Command, g *globalOptions, tg abortTarget) error {
	cl, err := g.newClient(cmd.Context())
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := withTimeout(cmd.Context(), g)
	defer cancel()
	adm := kadm.NewClient(cl)

	leader, err := partitionLeader(ctx, adm, tg.topic, tg.partition)
	if err != nil {
		return err
	}
	if tg.byStart {
		dp, err := describePartitionProducers(ctx, adm, tg.topic, tg.partition)
		if err != nil {
			return err
		}
		p, err := findOpenTxn(dp.ActiveProducers, tg.topic, tg.partition, tg.startOffset)
		if err != nil {
			return err
		}
		tg.producerID, tg.producerEpoch = p.ProducerID, p.ProducerEpoch
		tg.coordinatorEpoch = max(p.CoordinatorEpoch, 0)
		// DescribeProducers went to the leader it knew; the marker must
		// go to the same broker.
		if p.Leader >= 0 {
			leader = p.Leader
		}
	}

	if err := writeAbortMarker(ctx, cl, leader, tg); err != nil {
		return err
	}
	what := fmt.Sprintf("aborted the transaction of producer %d (epoch %d) on %s/%d", tg.producerID, tg.producerEpoch, tg.topic, tg.partition)
	if tg.byStart {
		what += fmt.Sprintf(", which started at offset %d", tg.startOffset)
	}
	fmt.Fprintln(stdout(cmd), what)
	return nil
}

// writeAbortMarker sends WriteTxnMarkers (abort) for one partition to its
// leader. It is sent to that broker directly rather than through kgo's
// sharding so that it goes where the producer state was read, as Kafka's
// Admin.abortTransaction does.
func writeAbortMarker(ctx context.Context, cl *kgo.Client, leader int32, tg abortTarget) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID = tg.producerID
	m.ProducerEpoch = tg.producerEpoch
	m.Committed = false
	m.CoordinatorEpoch = tg.coordinatorEpoch
	rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	rt.Topic = tg.topic
	rt.Partitions = []int32{tg.partition}
	m.Topics = append(m.Topics, rt)
	req.Markers = append(req.Markers, m)

	where := fmt.Sprintf("%s/%d", tg.topic, tg.partition)
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return txnRequestError(fmt.Sprintf("write abort marker to %s (leader %d)", where, leader), err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == tg.topic && rp.Partition == tg.partition {
					return abortMarkerError(where, tg, kerr.ErrorForCode(rp.ErrorCode))
				}
			}
		}
	}
	return fmt.Errorf("write abort marker to %s: the leader's response does not mention the partition", where)
}

// abortMarkerError explains WriteTxnMarkers' per-partition error codes.
func abortMarkerError(where string, tg abortTarget, err error) error {
	if err == nil {
		return nil
	}
	var what string
	switch {
	case errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.ProducerFenced):
		what = fmt.Sprintf("producer %d epoch %d is not current on %s: the transaction already ended, or the producer moved to a newer epoch (see \"samsa txn producers %s %d\")",
			tg.producerID, tg.producerEpoch, where, tg.topic, tg.partition)
	case errors.Is(err, kerr.TransactionCoordinatorFenced):
		what = fmt.Sprintf("coordinator epoch %d is older than the one the partition last saw for producer %d on %s (see \"samsa txn producers %s %d\")",
			tg.coordinatorEpoch, tg.producerID, where, tg.topic, tg.partition)
	case errors.Is(err, kerr.NotLeaderForPartition):
		what = fmt.Sprintf("the leader of %s moved while aborting (try again)", where)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		what = fmt.Sprintf("the leader does not host %s (try again)", where)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		what = "not authorized: aborting a transaction needs CLUSTER_ACTION on the cluster"
	default:
		what = fmt.Sprintf("abort marker on %s refused: %v", where, err)
	}
	return fmt.Errorf("%s%w", what, silentWrap{err})
}

package cli

// samsa consume: print records, by partition or as a group member.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOptions are the flags of "samsa consume".
type consumeOptions struct {
	offset     string
	partitions string
	num        int
	exit       bool
	format     string
	group      string
}

func newConsumeCommand(g *globalOptions) *cobra.Command {
	o := &consumeOptions{}
	c := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: `Print the records of TOPIC to stdout, one per line by default.

By default every partition is read from its start (-o start), and the
command keeps waiting for new records until Ctrl-C, which stops it cleanly
(exit code 0). -e stops instead once it has printed everything up to each
partition's high watermark as of the start; -n stops after N records.

Offsets (-o):
  start        the oldest retained record (default; kcat's "beginning")
  end          only records produced from now on
  N            absolute offset N (clamped to the partition's range)
  -N           the last N records of each partition
  @TIMESTAMP   the first record whose timestamp (Unix ms) is >= TIMESTAMP

With -g the command joins consumer group GROUP instead and reads the
partitions the group assigns it: it starts from the group's committed
offsets, falls back to -o for partitions without one, and commits the
offset of every record it printed. -p cannot be combined with -g, and -e in
a group assumes this is the group's only member.

` + formatHelp,
		Example: `  samsa consume orders                        # everything, then wait for more
  samsa consume orders -e -f json | jq .       # dump and exit
  samsa consume orders -o -10 -e               # last 10 records of each partition
  samsa consume orders -p 0,3 -o 1500 -n 20
  samsa consume orders -o @1700000000000 -e
  samsa consume orders -f '%p:%o %k=%v [%h]\n'
  samsa consume orders -g billing              # as member of group "billing"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, g, o, args[0])
		},
	}
	f := c.Flags()
	f.StringVarP(&o.offset, "offset", "o", "start", "where to start: start, end, N, -N or @TIMESTAMP_MS")
	f.StringVarP(&o.partitions, "partitions", "p", "", "comma-separated partitions to read (default: all)")
	f.IntVarP(&o.num, "num", "n", 0, "stop after this many records (0: no limit)")
	f.BoolVarP(&o.exit, "exit", "e", false, "stop at the end of the partitions (their high watermarks when the command started)")
	f.StringVarP(&o.format, "format", "f", "value", "output format: value, kv, json or a %-template (see above)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	return c
}

// consumeState decides when consuming is over. It is owned by the poll
// loop's goroutine; nothing else touches it.
type consumeState struct {
	limit   int             // stop after this many records; 0 = none
	printed int             // records written so far
	exit    bool            // stop when remaining is empty
	ends    map[int32]int64 // high watermark per partition as of the start
	// remaining holds the partitions that still have records below their
	// end. Invariant (exit mode): p in remaining iff the next offset to
	// print from p is < ends[p].
	remaining map[int32]bool
}

// newConsumeState tracks partitions whose first offset is below their
// end; starts and ends are per partition.
func newConsumeState(limit int, exit bool, starts, ends map[int32]int64) *consumeState {
	s := &consumeState{limit: limit, exit: exit, ends: ends, remaining: map[int32]bool{}}
	for p, start := range starts {
		if start < ends[p] {
			s.remaining[p] = true
		}
	}
	return s
}

// done reports whether consuming is complete before (or after) records.
func (s *consumeState) done() bool {
	if s.limit > 0 && s.printed >= s.limit {
		return true
	}
	return s.exit && len(s.remaining) == 0
}

// record accounts for one printed record.
func (s *consumeState) record(partition int32, offset int64) {
	s.printed++
	if end, ok := s.ends[partition]; ok && offset+1 >= end {
		delete(s.remaining, partition)
	}
}

func runConsume(cmd *cobra.Command, g *globalOptions, o *consumeOptions, topic string) error {
	spec, err := parseOffsetSpec(o.offset)
	if err != nil {
		return err
	}
	format, err := newRecordFormatter(o.format)
	if err != nil {
		return err
	}
	if o.num < 0 {
		return usageErrorf("--num %d: want a record count (0: no limit)", o.num)
	}
	var wantParts []int32
	if o.partitions != "" {
		if o.group != "" {
			return usageErrorf("--partitions and --group cannot be combined: the group assigns partitions")
		}
		if wantParts, err = parsePartitions(o.partitions); err != nil {
			return err
		}
	}

	ctx := cmd.Context()
	// Resolve offsets with a plain admin client first, so a missing topic
	// fails before any group is joined, and the consuming client can be
	// built with its partitions and exact offsets.
	adm, err := g.newAdmin(ctx)
	if err != nil {
		return err
	}
	parts, ends, starts, err := resolvePartitions(ctx, g, adm, topic, wantParts, spec, o.group)
	adm.Close()
	if err != nil {
		return err
	}
	state := newConsumeState(o.num, o.exit, starts, ends)
	if state.done() {
		return nil
	}

	var extra []kgo.Opt
	if o.group != "" {
		extra = append(extra,
			kgo.ConsumerGroup(o.group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(spec.kgoOffset()),
			// Commit only what was printed: with -n the last poll may
			// hold records that were never shown.
			kgo.AutoCommitMarks(),
		)
	} else {
		assign := make(map[int32]kgo.Offset, len(parts))
		for _, p := range parts {
			assign[p] = kgo.NewOffset().At(starts[p])
		}
		extra = append(extra, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	}
	cl, err := g.newClient(ctx, extra...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriterSize(stdout(cmd), 64<<10)
	defer out.Flush()
	for !state.done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break // Ctrl-C: a normal way to stop a consumer
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if fetchErr == nil && !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("partition %d: %w", p, err)
				if errors.Is(err, errUnknownTopic) {
					fetchErr = topicError(t, err, "")
				}
			}
		})
		if fetchErr != nil {
			return requestError("consume "+topic, fetchErr)
		}
		var writeErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if writeErr != nil || state.done() {
				return
			}
			if writeErr = format(out, r); writeErr != nil {
				return
			}
			state.record(r.Partition, r.Offset)
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
		})
		if writeErr != nil {
			return fmt.Errorf("writing output: %w", writeErr)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	if o.group != "" {
		// ctx may already be cancelled by Ctrl-C; the final commit gets
		// its own bounded context so printed records are not re-read.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil {
			return fmt.Errorf("commit offsets of group %q: %w", o.group, err)
		}
	}
	return nil
}

// resolvePartitions checks that topic exists and returns the partitions to
// read, their high watermarks now, and the concrete offset each will start
// from. In group mode the start is the group's committed offset where it
// has one (it only matters for --exit; kgo itself resumes from the commit).
func resolvePartitions(ctx context.Context, g *globalOptions, adm *kadm.Client, topic string, want []int32, spec offsetSpec, group string) (parts []int32, ends, starts map[int32]int64, err error) {
	ctx, cancel := withTimeout(ctx, g)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, nil, nil, requestError("metadata", err)
	}
	td, ok := md.Topics[topic]
	if !ok {
		return nil, nil, nil, topicError(topic, errUnknownTopic, "")
	}
	if td.Err != nil {
		return nil, nil, nil, topicError(topic, td.Err, "")
	}
	all := td.Partitions.Numbers()
	parts = all
	if want != nil {
		for _, p := range want {
			if !slices.Contains(all, p) {
				return nil, nil, nil, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, p, len(all))
			}
		}
		parts = want
	}

	logStarts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, nil, nil, requestError("list start offsets", err)
	}
	highs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, nil, requestError("list end offsets", err)
	}
	var byTime kadm.ListedOffsets
	if spec.kind == offsetTimestamp {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic); err != nil {
			return nil, nil, nil, requestError("list offsets by timestamp", err)
		}
	}
	var committed kadm.OffsetResponses
	if group != "" {
		// Kafka answers an unknown group with no offsets; some brokers
		// say GROUP_ID_NOT_FOUND instead. Both mean "nothing committed".
		committed, err = adm.FetchOffsets(ctx, group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, nil, nil, requestError(fmt.Sprintf("fetch committed offsets of group %q", group), err)
		}
	}

	ends = make(map[int32]int64, len(parts))
	starts = make(map[int32]int64, len(parts))
	for _, p := range parts {
		ls, ok1 := logStarts.Lookup(topic, p)
		hw, ok2 := highs.Lookup(topic, p)
		if !ok1 || !ok2 || ls.Err != nil || hw.Err != nil {
			return nil, nil, nil, fmt.Errorf("topic %q partition %d: offsets unavailable: %w", topic, p, errors.Join(ls.Err, hw.Err))
		}
		forTime := int64(-1)
		if t, ok := byTime.Lookup(topic, p); ok && t.Err == nil {
			forTime = t.Offset
		}
		ends[p] = hw.Offset
		starts[p] = spec.resolve(ls.Offset, hw.Offset, forTime)
		if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			starts[p] = c.At
		}
	}
	return parts, ends, starts, nil
}

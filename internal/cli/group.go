package cli

// samsa group list|describe|delete|reset-offsets: consumer-group admin in
// the spirit of kafka-consumer-groups.sh and rpk group.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newGroupCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups", "cg"},
		Short:   "List, describe, delete consumer groups and reset their offsets",
		Long: `Manage consumer groups: list, describe (members, committed offsets and lag),
delete, reset-offsets.

These are the Kafka group admin APIs (ListGroups, DescribeGroups,
OffsetFetch, ListOffsets, OffsetCommit, DeleteGroups), so they work against
any Kafka-compatible cluster.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(
		newGroupListCommand(g),
		newGroupDescribeCommand(g),
		newGroupDeleteCommand(g),
		newGroupResetOffsetsCommand(g),
	)
	return c
}

// groupStates are the group states a broker reports, spelled as Kafka
// spells them: the classic protocol's five, then KIP-848's consumer-group
// states. --state matches them case-insensitively, as
// kafka-consumer-groups.sh does, and sends the canonical spelling.
var groupStates = []string{
	"Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead",
	"Assigning", "Reconciling",
}

// normalizeStates maps each --state item to its canonical spelling,
// dropping blanks and duplicates. An unknown state is a usage error rather
// than a filter that silently matches nothing.
func normalizeStates(items []string) ([]string, error) {
	var out []string
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		i := slices.IndexFunc(groupStates, func(s string) bool { return strings.EqualFold(s, it) })
		if i < 0 {
			return nil, usageErrorf("--state %q: unknown group state; want one of %s", it, strings.Join(groupStates, ", "))
		}
		if !slices.Contains(out, groupStates[i]) {
			out = append(out, groupStates[i])
		}
	}
	return out, nil
}

func newGroupListCommand(g *globalOptions) *cobra.Command {
	var states []string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state and protocol type",
		Long: `List the groups every broker coordinates (ListGroups), sorted by name.

--state keeps only groups in the given states (comma-separated or repeated,
case-insensitive): ` + strings.Join(groupStates, ", ") + `.
Filtering is done by the broker, so it needs Kafka 2.6 or newer.`,
		Example: `  samsa group list
  samsa group list --state Stable,Empty`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := normalizeStates(states)
			if err != nil {
				return err
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			groups, err := adm.ListGroups(ctx, filter...)
			if err != nil {
				return requestError("list groups", err)
			}
			t := newTable(stdout(cmd), "GROUP", "STATE", "PROTOCOL-TYPE")
			for _, lg := range groups.Sorted() {
				// Brokers before Kafka 2.6 (ListGroups v4) ignore the
				// states filter: apply it here too.
				if len(filter) > 0 && lg.State != "" && !slices.Contains(filter, lg.State) {
					continue
				}
				t.row(lg.Group, dash(lg.State), dash(lg.ProtocolType))
			}
			return t.flush()
		},
	}
	c.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (comma-separated, repeatable)")
	return c
}

// dash renders an empty cell as "-", so that columns stay aligned and a
// reader (or a test splitting on whitespace) never sees a missing field.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// groupError explains a per-group Kafka error code in words, naming the
// group; msg is the broker's optional error message.
func groupError(group string, err error, msg string) error {
	if err == nil {
		return nil
	}
	var what string
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		what = fmt.Sprintf("group %q does not exist", group)
	case errors.Is(err, kerr.NonEmptyGroup):
		what = fmt.Sprintf("group %q still has active members; stop them first", group)
	case errors.Is(err, kerr.InvalidGroupID):
		what = fmt.Sprintf("invalid group name %q", group)
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		what = fmt.Sprintf("not authorized for group %q", group)
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.NotCoordinator):
		what = fmt.Sprintf("group %q: its coordinator is not available yet (try again): %v", group, err)
	default:
		what = fmt.Sprintf("group %q: %v", group, err)
	}
	if msg != "" && !strings.Contains(what, msg) {
		what += ": " + msg
	}
	return fmt.Errorf("%s%w", what, silentWrap{err})
}

// uniqueArgs returns args without repeats, first occurrence first, so that
// "describe a b a" prints a and b once each, in the order asked.
func uniqueArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func newGroupDescribeCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Long: `Describe consumer groups: state, protocol, coordinator and total lag; the
members with the partitions assigned to each; and per partition the
committed offset (CURRENT-OFFSET), the high watermark (LOG-END-OFFSET), the
lag between them and the member that owns the partition.

A "-" means unknown: no committed offset yet, an offset that could not be
listed, or (for MEMBER-ID) a partition no member owns, as in an Empty group.
A partition with no commit counts its lag from the log start offset.`,
		Example: `  samsa group describe billing
  samsa group describe billing shipping`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			groups := uniqueArgs(args)
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return requestError("describe groups", err)
			}
			var errs []error
			printed := 0
			for _, name := range groups {
				l, ok := lags[name]
				if !ok {
					errs = append(errs, fmt.Errorf("group %q: missing from the broker's response", name))
					continue
				}
				if err := l.Error(); err != nil {
					errs = append(errs, groupError(name, err, ""))
					continue
				}
				if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0 {
					// Kafka answers DescribeGroups for an unknown
					// group with state Dead and no error before v6.
					errs = append(errs, groupError(name, kerr.GroupIDNotFound, ""))
					continue
				}
				if printed > 0 {
					fmt.Fprintln(stdout(cmd))
				}
				printed++
				if err := printGroupLag(cmd, &l); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	return c
}

// printGroupLag writes one group's summary, members and per-partition lag.
func printGroupLag(cmd *cobra.Command, l *kadm.DescribedGroupLag) error {
	w := stdout(cmd)
	protocol := dash(l.ProtocolType)
	if l.Protocol != "" {
		protocol += "/" + l.Protocol
	}
	fmt.Fprintf(w, "GROUP        %s\n", l.Group)
	fmt.Fprintf(w, "COORDINATOR  %d (%s:%d)\n", l.Coordinator.NodeID, l.Coordinator.Host, l.Coordinator.Port)
	fmt.Fprintf(w, "STATE        %s\n", dash(l.State))
	fmt.Fprintf(w, "PROTOCOL     %s\n", protocol)
	fmt.Fprintf(w, "MEMBERS      %d\n", len(l.Members))
	fmt.Fprintf(w, "TOTAL-LAG    %d\n", l.Lag.Total())

	if len(l.Members) > 0 {
		fmt.Fprintln(w)
		t := newTable(w, "MEMBER-ID", "CLIENT-ID", "HOST", "INSTANCE-ID", "ASSIGNED-PARTITIONS")
		for _, m := range l.Members {
			inst := "-"
			if m.InstanceID != nil {
				inst = dash(*m.InstanceID)
			}
			assigned, _ := m.Assigned.AsConsumer() // nil unless the protocol type is "consumer"
			t.row(m.MemberID, dash(m.ClientID), dash(m.ClientHost), inst, formatAssignment(assigned))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	rows := l.Lag.Sorted()
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID")
	var problems []string
	for _, r := range rows {
		current, end, lag, member := "-", "-", "-", "-"
		if r.Commit.At >= 0 {
			current = strconv.FormatInt(r.Commit.At, 10)
		}
		if r.End.Err == nil {
			end = strconv.FormatInt(r.End.Offset, 10)
		}
		if r.Lag >= 0 {
			lag = strconv.FormatInt(r.Lag, 10)
		}
		if r.Member != nil {
			member = r.Member.MemberID
		}
		if r.Err != nil {
			problems = append(problems, fmt.Sprintf("%s/%d: %v", r.Topic, r.Partition, r.Err))
		}
		t.row(r.Topic, r.Partition, current, end, lag, member)
	}
	if err := t.flush(); err != nil {
		return err
	}
	// Why a row shows "-" goes to stderr: stdout stays a clean table.
	for _, p := range problems {
		fmt.Fprintf(stderr(cmd), "warning: group %s: %s\n", l.Group, p)
	}
	return nil
}

// formatAssignment renders a member's assignment the way
// kafka-consumer-groups.sh --members --verbose does, "orders(0,1),audit(2)",
// topics sorted; "-" for none. c is nil for a non-consumer protocol.
func formatAssignment(c *kmsg.ConsumerMemberAssignment) string {
	if c == nil {
		return "-"
	}
	var parts []string
	for _, t := range c.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, fmt.Sprintf("%s(%s)", t.Topic, int32List(ps)))
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func newGroupDeleteCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Long: `Delete consumer groups (DeleteGroups), with all their committed offsets.
A group can only be deleted while it has no members: stop its consumers
first.`,
		Example: `  samsa group delete billing
  samsa group delete tmp-1 tmp-2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			groups := uniqueArgs(args)
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil && len(resps) == 0 {
				return requestError("delete groups", err)
			}
			var errs []error
			for _, name := range groups {
				r, ok := resps[name]
				switch {
				case !ok && err != nil:
					// A shard (coordinator) failed as a whole; its
					// groups are absent from resps and err says why.
					errs = append(errs, requestError(fmt.Sprintf("delete group %q", name), err))
				case !ok:
					errs = append(errs, fmt.Errorf("group %q: missing from the broker's response", name))
				case r.Err != nil:
					errs = append(errs, groupError(name, r.Err, r.ErrMessage))
				default:
					fmt.Fprintf(stdout(cmd), "deleted group %s\n", name)
				}
			}
			return errors.Join(errs...)
		},
	}
	return c
}

// resetKind says how reset-offsets picks a partition's new offset.
type resetKind int

const (
	resetToEarliest resetKind = iota // the log start offset
	resetToLatest                    // the high watermark
	resetToOffset                    // an absolute offset
	resetToDatetime                  // the first record at or after a time
	resetShiftBy                     // the committed offset plus n
)

// resetSpec is the parsed --to-*/--shift-by choice.
type resetSpec struct {
	kind resetKind
	n    int64 // offset for resetToOffset, Unix ms for resetToDatetime, delta for resetShiftBy
}

// partitionOffsets is what the plan needs to know about one partition.
// Invariant (as listed by a healthy broker): 0 <= Start <= End.
type partitionOffsets struct {
	Topic     string
	Partition int32
	Current   int64 // the group's committed offset; -1 when it has none
	Start     int64 // log start offset
	End       int64 // high watermark
	// ForTime is the broker's answer to ListOffsets by timestamp for
	// resetToDatetime: the first offset whose record timestamp is at or
	// after the time, or -1 when no record is that new.
	ForTime int64
}

// resetRow is one line of the plan: where the group is and where it goes.
type resetRow struct {
	Topic     string
	Partition int32
	Current   int64 // -1: no committed offset
	New       int64
}

// errNoCommit is what --shift-by reports for a partition the group never
// committed: there is nothing to shift from (Kafka's tool refuses too).
var errNoCommit = errors.New("the group has no committed offset to shift from")

// planReset computes the new offset of every partition. Like
// kafka-consumer-groups.sh, every result is clamped into [Start, End]: a
// committed offset outside the log would only make consumers hit
// OFFSET_OUT_OF_RANGE and fall back to auto.offset.reset, which is not
// what the operator asked for. The rows keep the order of parts.
func planReset(spec resetSpec, parts []partitionOffsets) ([]resetRow, error) {
	rows := make([]resetRow, 0, len(parts))
	for _, p := range parts {
		var at int64
		switch spec.kind {
		case resetToEarliest:
			at = p.Start
		case resetToLatest:
			at = p.End
		case resetToOffset:
			at = spec.n
		case resetToDatetime:
			at = p.ForTime
			if at < 0 {
				// No record at or after the time: start after
				// everything there is, as Kafka does.
				at = p.End
			}
		case resetShiftBy:
			if p.Current < 0 {
				return nil, fmt.Errorf("--shift-by: partition %s/%d: %w", p.Topic, p.Partition, errNoCommit)
			}
			// Saturate rather than overflow: the clamp below
			// brings a huge shift back into the log.
			switch {
			case spec.n > 0 && p.Current > maxInt64-spec.n:
				at = maxInt64
			default:
				at = p.Current + spec.n
			}
		default:
			return nil, fmt.Errorf("reset-offsets: unknown reset kind %d", spec.kind)
		}
		rows = append(rows, resetRow{
			Topic:     p.Topic,
			Partition: p.Partition,
			Current:   p.Current,
			New:       min(max(at, p.Start), p.End),
		})
	}
	return rows, nil
}

const maxInt64 = 1<<63 - 1

// resetScope is one parsed --topic value: a topic and, optionally, some of
// its partitions (nil: all of them).
type resetScope struct {
	Topic      string
	Partitions []int32
}

// parseResetTopics parses the repeatable --topic "T" or "T:P,P,...".
// Kafka topic names cannot contain ':', so the first ':' separates them.
// The same topic named twice merges: all partitions win over a subset.
func parseResetTopics(items []string) ([]resetScope, error) {
	var out []resetScope
	for _, it := range items {
		name, ps, hasParts := strings.Cut(it, ":")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, usageErrorf("--topic %q: want TOPIC or TOPIC:P,P,...", it)
		}
		var parts []int32
		if hasParts {
			var err error
			if parts, err = parsePartitions(ps); err != nil {
				return nil, usageErrorf("--topic %q: want TOPIC or TOPIC:P,P,... with partition numbers", it)
			}
		}
		i := slices.IndexFunc(out, func(s resetScope) bool { return s.Topic == name })
		switch {
		case i < 0:
			out = append(out, resetScope{Topic: name, Partitions: parts})
		case out[i].Partitions == nil || parts == nil:
			out[i].Partitions = nil
		default:
			for _, p := range parts {
				if !slices.Contains(out[i].Partitions, p) {
					out[i].Partitions = append(out[i].Partitions, p)
				}
			}
		}
	}
	return out, nil
}

// parseDatetime parses --to-datetime: RFC 3339 ("2026-01-02T15:04:05Z",
// fractional seconds and offsets allowed) or milliseconds since the epoch.
// It returns Unix milliseconds.
func parseDatetime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, usageErrorf("--to-datetime %q: want a time at or after the epoch", s)
		}
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, usageErrorf("--to-datetime %q: want RFC 3339 (2026-01-02T15:04:05Z) or milliseconds since the epoch", s)
	}
	if ms := t.UnixMilli(); ms >= 0 {
		return ms, nil
	}
	return 0, usageErrorf("--to-datetime %q: want a time at or after the epoch", s)
}

// resetOptions are the flags of "samsa group reset-offsets".
type resetOptions struct {
	topics    []string
	allTopics bool
	earliest  bool
	latest    bool
	toOffset  int64
	datetime  string
	shiftBy   int64
	dryRun    bool
	execute   bool
}

// spec validates the flag combination and returns the one reset chosen;
// changed reports whether a flag was given on the command line.
func (o *resetOptions) spec(changed func(string) bool) (resetSpec, error) {
	var chosen []string
	var spec resetSpec
	if o.earliest {
		chosen, spec = append(chosen, "--to-earliest"), resetSpec{kind: resetToEarliest}
	}
	if o.latest {
		chosen, spec = append(chosen, "--to-latest"), resetSpec{kind: resetToLatest}
	}
	if changed("to-offset") {
		if o.toOffset < 0 {
			return resetSpec{}, usageErrorf("--to-offset %d: want an offset >= 0", o.toOffset)
		}
		chosen, spec = append(chosen, "--to-offset"), resetSpec{kind: resetToOffset, n: o.toOffset}
	}
	if changed("to-datetime") {
		ms, err := parseDatetime(o.datetime)
		if err != nil {
			return resetSpec{}, err
		}
		chosen, spec = append(chosen, "--to-datetime"), resetSpec{kind: resetToDatetime, n: ms}
	}
	if changed("shift-by") {
		chosen, spec = append(chosen, "--shift-by"), resetSpec{kind: resetShiftBy, n: o.shiftBy}
	}
	switch {
	case len(chosen) == 0:
		return resetSpec{}, usageErrorf("say where to: give one of --to-earliest, --to-latest, --to-offset N, --to-datetime TIME, --shift-by N")
	case len(chosen) > 1:
		return resetSpec{}, usageErrorf("%s cannot be combined: give exactly one", strings.Join(chosen, " and "))
	}
	switch {
	case len(o.topics) == 0 && !o.allTopics:
		return resetSpec{}, usageErrorf("say which partitions: give --topic TOPIC[:P,P...] (repeatable) or --all-topics")
	case len(o.topics) > 0 && o.allTopics:
		return resetSpec{}, usageErrorf("--topic and --all-topics cannot be combined")
	}
	if o.dryRun && o.execute {
		return resetSpec{}, usageErrorf("--dry-run and --execute cannot be combined")
	}
	return spec, nil
}

func newGroupResetOffsetsCommand(g *globalOptions) *cobra.Command {
	o := &resetOptions{}
	c := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a group's committed offsets (dry run unless --execute)",
		Long: `Compute new committed offsets for GROUP and, with --execute, commit them.

Which partitions:
  --topic T           every partition of T (repeatable)
  --topic T:0,2       only partitions 0 and 2 of T
  --all-topics        every partition the group has committed offsets for

Where to (exactly one):
  --to-earliest       the log start offset: re-read everything retained
  --to-latest         the high watermark: skip everything there is now
  --to-offset N       offset N
  --to-datetime TIME  the first record at or after TIME, RFC 3339
                      (2026-01-02T15:04:05Z) or Unix milliseconds; the
                      high watermark when no record is that new
  --shift-by N        the committed offset plus N (negative: back); every
                      partition needs a committed offset

Every new offset is clamped into [log start offset, high watermark], as
kafka-consumer-groups.sh does. Without --execute nothing is committed: the
command prints the plan (TOPIC PARTITION CURRENT-OFFSET NEW-OFFSET) as
--dry-run does. As in Kafka, the group must be inactive (no members): stop
its consumers first, or they would overwrite the new offsets.`,
		Example: `  samsa group reset-offsets billing --topic orders --to-earliest            # show the plan
  samsa group reset-offsets billing --topic orders --to-earliest --execute  # commit it
  samsa group reset-offsets billing --topic orders:0,1 --shift-by -100 --execute
  samsa group reset-offsets billing --all-topics --to-datetime 2026-01-02T15:04:05Z --execute
  samsa group reset-offsets billing --topic orders --to-offset 4200 --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := o.spec(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			scopes, err := parseResetTopics(o.topics)
			if err != nil {
				return err
			}
			return runResetOffsets(cmd, g, args[0], spec, scopes, o.execute)
		},
	}
	f := c.Flags()
	f.StringArrayVar(&o.topics, "topic", nil, "topic to reset, TOPIC or TOPIC:P,P,... (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	f.BoolVar(&o.earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.latest, "to-latest", false, "reset to the high watermark")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.StringVar(&o.datetime, "to-datetime", "", "reset to the first record at or after this time (RFC 3339 or Unix ms)")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by this many records (negative: back)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan only (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	return c
}

func runResetOffsets(cmd *cobra.Command, g *globalOptions, group string, spec resetSpec, scopes []resetScope, execute bool) error {
	adm, err := g.newAdmin(cmd.Context())
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := withTimeout(cmd.Context(), g)
	defer cancel()

	if err := requireInactive(ctx, adm, group); err != nil {
		return err
	}
	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return requestError(fmt.Sprintf("fetch committed offsets of group %q", group), err)
	}
	if scopes == nil { // --all-topics
		for _, t := range commits.Partitions().Sorted() {
			scopes = append(scopes, resetScope{Topic: t.Topic, Partitions: t.Partitions})
		}
		if len(scopes) == 0 {
			return fmt.Errorf("group %q has no committed offsets: name the topics with --topic", group)
		}
	}
	parts, err := listResetOffsets(ctx, adm, spec, scopes, commits)
	if err != nil {
		return err
	}
	rows, err := planReset(spec, parts)
	if err != nil {
		return err
	}

	t := newTable(stdout(cmd), "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
	for _, r := range rows {
		current := "-"
		if r.Current >= 0 {
			current = strconv.FormatInt(r.Current, 10)
		}
		t.row(r.Topic, r.Partition, current, r.New)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if !execute {
		fmt.Fprintf(stderr(cmd), "dry run: nothing committed; add --execute to commit these offsets\n")
		return nil
	}

	var offsets kadm.Offsets
	for _, r := range rows {
		// Leader epoch -1: the commit is not tied to a fetched record,
		// so consumers skip the epoch-based truncation check (KIP-320).
		offsets.AddOffset(r.Topic, r.Partition, r.New, -1)
	}
	resps, err := adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return requestError(fmt.Sprintf("commit offsets of group %q", group), err)
	}
	var errs []error
	for _, r := range resps.Sorted() {
		if r.Err == nil {
			continue
		}
		// UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION here mean a consumer
		// joined between the check above and the commit.
		if errors.Is(r.Err, kerr.UnknownMemberID) || errors.Is(r.Err, kerr.IllegalGeneration) {
			return fmt.Errorf("group %q became active while resetting; stop its consumers and retry%w", group, silentWrap{r.Err})
		}
		errs = append(errs, fmt.Errorf("commit %s/%d: %w", r.Topic, r.Partition, groupError(group, r.Err, "")))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stderr(cmd), "committed new offsets for %s of group %s\n", count(len(rows), "partition", "partitions"), group)
	return nil
}

// requireInactive refuses to reset a group that has members: they hold
// positions in memory and would commit over the reset (Kafka's tool
// checks the same). A group the coordinator does not know is fine: the
// commit creates it, which is how offsets are seeded for a new group.
func requireInactive(ctx context.Context, adm *kadm.Client, group string) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return requestError(fmt.Sprintf("describe group %q", group), err)
	}
	d, ok := described[group]
	switch {
	case !ok:
		return fmt.Errorf("group %q: missing from the broker's response", group)
	case errors.Is(d.Err, kerr.GroupIDNotFound):
		return nil
	case d.Err != nil:
		return groupError(group, d.Err, d.ErrMessage)
	case len(d.Members) > 0 || (d.State != "Empty" && d.State != "Dead" && d.State != ""):
		return fmt.Errorf("group %q is active (state %s, %s): offsets can only be reset while it is inactive; stop its consumers first",
			group, dash(d.State), count(len(d.Members), "member", "members"))
	}
	return nil
}

// listResetOffsets gathers, for every partition in scopes, the group's
// commit and the partition's start and end offsets (and, for
// --to-datetime, the offset for the time). Any partition whose offsets
// cannot be listed fails the whole command: a partial reset is worse than
// none, since the operator would have to work out which part happened.
func listResetOffsets(ctx context.Context, adm *kadm.Client, spec resetSpec, scopes []resetScope, commits kadm.OffsetResponses) ([]partitionOffsets, error) {
	topics := make([]string, len(scopes))
	for i, s := range scopes {
		topics[i] = s.Topic
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, requestError("list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, requestError("list end offsets", err)
	}
	var forTime kadm.ListedOffsets
	if spec.kind == resetToDatetime {
		if forTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topics...); err != nil {
			return nil, requestError("list offsets by time", err)
		}
	}

	var out []partitionOffsets
	for _, s := range scopes {
		tend := ends[s.Topic]
		if len(tend) == 0 {
			return nil, topicError(s.Topic, errUnknownTopic, "")
		}
		if o, ok := tend[-1]; ok { // kadm's marker for a missing topic
			return nil, topicError(s.Topic, o.Err, "")
		}
		ps := s.Partitions
		if ps == nil {
			for p := range tend {
				ps = append(ps, p)
			}
		}
		ps = slices.Clone(ps)
		slices.Sort(ps)
		for _, p := range ps {
			end, ok := tend[p]
			if !ok {
				return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", s.Topic, p, len(tend))
			}
			start, sok := starts.Lookup(s.Topic, p)
			for _, lo := range []struct {
				ok  bool
				o   kadm.ListedOffset
				was string
			}{{true, end, "end"}, {sok, start, "start"}} {
				if !lo.ok {
					return nil, fmt.Errorf("partition %s/%d: no %s offset in the broker's answer", s.Topic, p, lo.was)
				}
				if lo.o.Err != nil {
					return nil, fmt.Errorf("partition %s/%d: list %s offset: %w", s.Topic, p, lo.was, lo.o.Err)
				}
			}
			po := partitionOffsets{Topic: s.Topic, Partition: p, Current: -1, Start: start.Offset, End: end.Offset, ForTime: -1}
			if c, ok := commits.Lookup(s.Topic, p); ok && c.Err == nil {
				po.Current = c.At
			}
			if spec.kind == resetToDatetime {
				if o, ok := forTime.Lookup(s.Topic, p); ok {
					if o.Err != nil {
						return nil, fmt.Errorf("partition %s/%d: list offset by time: %w", s.Topic, p, o.Err)
					}
					po.ForTime = o.Offset
				}
			}
			out = append(out, po)
		}
	}
	return out, nil
}

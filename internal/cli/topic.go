package cli

// samsa topic create|list|describe|delete|alter-config|add-partitions.

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "topic",
		Aliases: []string{"topics"},
		Short:   "Create, list, describe, alter and delete topics",
		Long: `Manage topics: create, list, describe, alter-config, add-partitions, delete.

These are the Kafka admin APIs (CreateTopics, Metadata, DescribeConfigs,
IncrementalAlterConfigs, CreatePartitions, DeleteTopics), so they work
against any Kafka-compatible cluster.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(
		newTopicCreateCommand(g),
		newTopicListCommand(g),
		newTopicDescribeCommand(g),
		newTopicDeleteCommand(g),
		newTopicAlterConfigCommand(g),
		newTopicAddPartitionsCommand(g),
	)
	return c
}

func newTopicCreateCommand(g *globalOptions) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
	)
	c := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create one or more topics",
		Long: `Create topics with the given partition count, replication factor and configs.

-1 for --partitions or --replicas leaves the choice to the broker
(num.partitions and default.replication.factor). Configs use Kafka's names
(retention.ms, cleanup.policy, max.message.bytes, ...). --dry-run asks the
broker to validate the request without creating anything.`,
		Example: `  samsa topic create orders
  samsa topic create orders payments -p 6 -r 3    # 3 replicas need 3 brokers
  samsa topic create events -c retention.ms=86400000 -c cleanup.policy=compact
  samsa topic create big -p 64 --dry-run`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseConfigs("config", configs)
			if err != nil {
				return err
			}
			if partitions == 0 || partitions < -1 {
				return usageErrorf("--partitions %d: want a positive count, or -1 for the broker default", partitions)
			}
			if replicas == 0 || replicas < -1 {
				return usageErrorf("--replicas %d: want a positive count, or -1 for the broker default", replicas)
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			create := adm.CreateTopics
			verb := "created"
			if dryRun {
				create = adm.ValidateCreateTopics
				verb = "would create"
			}
			resps, err := create(ctx, partitions, replicas, cfg, args...)
			if err != nil {
				return requestError("create topics", err)
			}
			var errs []error
			for _, name := range args {
				r, ok := resps[name]
				if !ok {
					errs = append(errs, fmt.Errorf("topic %q: missing from the broker's response", name))
					continue
				}
				if r.Err != nil {
					errs = append(errs, topicError(name, r.Err, r.ErrMessage))
					continue
				}
				fmt.Fprintf(stdout(cmd), "%s topic %s (partitions %d, replicas %d)\n", verb, name, r.NumPartitions, r.ReplicationFactor)
			}
			return errors.Join(errs...)
		},
	}
	f := c.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	f.Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: broker default)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "validate only (CreateTopics validate_only); create nothing")
	return c
}

func newTopicListCommand(g *globalOptions) *cobra.Command {
	var internal bool
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics with their partition and replica counts",
		Example: `  samsa topic list
  samsa topic list --internal     # include __consumer_offsets and friends`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			var tds kadm.TopicDetails
			if internal {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return requestError("list topics", err)
			}
			t := newTable(stdout(cmd), "NAME", "PARTITIONS", "REPLICAS")
			for _, td := range tds.Sorted() {
				if td.Err != nil {
					t.row(td.Topic, "error: "+td.Err.Error(), "")
					continue
				}
				t.row(td.Topic, len(td.Partitions), td.Partitions.NumReplicas())
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return c
}

func newTopicDescribeCommand(g *globalOptions) *cobra.Command {
	var allConfigs bool
	c := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's summary, configs and partitions",
		Long: `Describe a topic: its ID and counts, the configs that differ from the
defaults (with where each comes from: DYNAMIC_TOPIC_CONFIG is a per-topic
override, STATIC_BROKER_CONFIG a broker setting, ...), and per partition
its leader, leader epoch, replicas, in-sync replicas, log start offset and
high watermark.`,
		Example: `  samsa topic describe orders
  samsa topic describe orders --all-configs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return describeTopic(cmd, g, args[0], allConfigs)
		},
	}
	c.Flags().BoolVarP(&allConfigs, "all-configs", "a", false, "show every config, defaults included")
	return c
}

func describeTopic(cmd *cobra.Command, g *globalOptions, name string, allConfigs bool) error {
	adm, err := g.newAdmin(cmd.Context())
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := withTimeout(cmd.Context(), g)
	defer cancel()

	md, err := adm.Metadata(ctx, name)
	if err != nil {
		return requestError("describe topic", err)
	}
	td, ok := md.Topics[name]
	if !ok {
		return topicError(name, errUnknownTopic, "")
	}
	if td.Err != nil {
		return topicError(name, td.Err, "")
	}
	// Offsets and configs are best effort: a partition without a leader
	// still gets its row, with "-" where the offset is unknown.
	starts, startErr := adm.ListStartOffsets(ctx, name)
	ends, endErr := adm.ListEndOffsets(ctx, name)
	rcs, cfgErr := adm.DescribeTopicConfigs(ctx, name)

	w := stdout(cmd)
	fmt.Fprintf(w, "NAME        %s\n", name)
	if td.ID != (kadm.TopicID{}) {
		fmt.Fprintf(w, "ID          %s\n", kafkaUUID(td.ID))
	}
	fmt.Fprintf(w, "INTERNAL    %t\n", td.IsInternal)
	fmt.Fprintf(w, "PARTITIONS  %d\n", len(td.Partitions))
	fmt.Fprintf(w, "REPLICAS    %d\n", td.Partitions.NumReplicas())

	fmt.Fprintf(w, "\nCONFIGS\n")
	switch rc, err := rcs.On(name, nil); {
	case cfgErr != nil:
		fmt.Fprintf(w, "(unavailable: %v)\n", cfgErr)
	case err != nil:
		fmt.Fprintf(w, "(unavailable: %v)\n", err)
	case rc.Err != nil:
		fmt.Fprintf(w, "(unavailable: %v)\n", rc.Err)
	default:
		shown := configsToShow(rc.Configs, allConfigs)
		if len(shown) == 0 {
			fmt.Fprintf(w, "(all defaults)\n")
			break
		}
		t := newTable(w, "KEY", "VALUE", "SOURCE")
		for _, c := range shown {
			v := c.MaybeValue()
			if c.Sensitive {
				v = "(sensitive)"
			}
			t.row(c.Key, v, c.Source)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\n")
	t := newTable(w, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK")
	offset := func(lo kadm.ListedOffsets, lerr error, p int32) string {
		if lerr != nil {
			return "-"
		}
		o, ok := lo.Lookup(name, p)
		if !ok || o.Err != nil {
			return "-"
		}
		return fmt.Sprint(o.Offset)
	}
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil && len(p.Replicas) == 0 {
			t.row(p.Partition, "error: "+p.Err.Error(), "", "", "", "", "")
			continue
		}
		t.row(p.Partition, p.Leader, p.LeaderEpoch, int32List(p.Replicas), int32List(p.ISR),
			offset(starts, startErr, p.Partition), offset(ends, endErr, p.Partition))
	}
	return t.flush()
}

// configsToShow picks the configs describe prints, sorted by key: all of
// them with --all-configs, else only those not at their default. Like
// kafka-configs.sh, a value set in the broker's static config counts as
// non-default: it is a decision somebody made.
func configsToShow(cs []kadm.Config, all bool) []kadm.Config {
	var out []kadm.Config
	for _, c := range cs {
		if all || (c.Source != kmsg.ConfigSourceDefaultConfig && c.Source != kmsg.ConfigSourceUnknown) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func newTopicDeleteCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: `  samsa topic delete orders
  samsa topic delete tmp-1 tmp-2 tmp-3`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return requestError("delete topics", err)
			}
			var errs []error
			for _, name := range args {
				r, ok := resps[name]
				switch {
				case !ok:
					// A broker answers every topic it was asked about;
					// a missing entry is a broker bug, reported plainly.
					errs = append(errs, fmt.Errorf("topic %q: missing from the broker's response", name))
				case r.Err != nil:
					errs = append(errs, topicError(name, r.Err, r.ErrMessage))
				default:
					fmt.Fprintf(stdout(cmd), "deleted topic %s\n", name)
				}
			}
			return errors.Join(errs...)
		},
	}
	return c
}

func newTopicAlterConfigCommand(g *globalOptions) *cobra.Command {
	var sets, deletes []string
	c := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or remove per-topic config overrides",
		Long: `Change topic configs incrementally (IncrementalAlterConfigs): --set adds or
replaces an override, --delete removes one so the topic falls back to the
broker default. Configs not named are left alone.`,
		Example: `  samsa topic alter-config orders --set retention.ms=3600000
  samsa topic alter-config orders --set cleanup.policy=compact --delete retention.ms`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			kvs, err := parseKeyValues("set", sets)
			if err != nil {
				return err
			}
			if len(kvs) == 0 && len(deletes) == 0 {
				return usageErrorf("nothing to do: give --set key=value and/or --delete key")
			}
			var alters []kadm.AlterConfig
			for _, kv := range kvs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv.Key, Value: kadm.StringPtr(kv.Value)})
			}
			for _, k := range deletes {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			resps, err := adm.AlterTopicConfigs(ctx, alters, name)
			if err != nil {
				return requestError("alter topic config", err)
			}
			r, err := resps.On(name, nil)
			if err != nil {
				return topicError(name, err, "")
			}
			if r.Err != nil {
				return topicError(name, r.Err, r.ErrMessage)
			}
			fmt.Fprintf(stdout(cmd), "altered config of topic %s\n", name)
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVar(&sets, "set", nil, "config override key=value to set (repeatable)")
	f.StringArrayVar(&deletes, "delete", nil, "config key whose override to remove (repeatable)")
	return c
}

func newTopicAddPartitionsCommand(g *globalOptions) *cobra.Command {
	var total int
	c := &cobra.Command{
		Use:   "add-partitions NAME",
		Short: "Grow a topic to a total number of partitions",
		Long: `Grow a topic to --num partitions in total (CreatePartitions). Partitions
can only be added, never removed. Adding partitions changes which partition
a key hashes to, so keyed consumers lose per-key ordering across the change.`,
		Example: `  samsa topic add-partitions orders --num 12`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if total <= 0 {
				return usageErrorf("--num %d: want the new total partition count (> 0)", total)
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			resps, err := adm.UpdatePartitions(ctx, total, name)
			if err != nil {
				return requestError("add partitions", err)
			}
			r, ok := resps[name]
			if !ok {
				return topicError(name, errUnknownTopic, "")
			}
			if r.Err != nil {
				return topicError(name, r.Err, r.ErrMessage)
			}
			fmt.Fprintf(stdout(cmd), "topic %s now has %d partitions\n", name, total)
			return nil
		},
	}
	c.Flags().IntVar(&total, "num", 0, "new total number of partitions (required)")
	_ = c.MarkFlagRequired("num") // cannot fail: the flag exists
	return c
}

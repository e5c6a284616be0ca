package cli

// samsa cluster: who is in the cluster and who controls it.

import (
	"context"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spf13/cobra"
)

func newClusterCommand(g *globalOptions) *cobra.Command {
	run := func(cmd *cobra.Command, _ []string) error {
		adm, err := g.newAdmin(cmd.Context())
		if err != nil {
			return err
		}
		defer adm.Close()
		ctx, cancel := withTimeout(cmd.Context(), g)
		defer cancel()
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return requestError("cluster metadata", err)
		}
		w := stdout(cmd)
		id := md.Cluster
		if id == "" {
			id = "(none)"
		}
		fmt.Fprintf(w, "CLUSTER     %s\n", id)
		if md.Controller >= 0 {
			fmt.Fprintf(w, "CONTROLLER  %d\n", md.Controller)
		} else {
			fmt.Fprintf(w, "CONTROLLER  (none)\n")
		}
		fmt.Fprintf(w, "\n")
		t := newTable(w, "ID", "HOST", "PORT", "RACK")
		for _, b := range md.Brokers {
			id := fmt.Sprint(b.NodeID)
			if b.NodeID == md.Controller {
				id += "*"
			}
			rack := ""
			if b.Rack != nil {
				rack = *b.Rack
			}
			t.row(id, b.Host, b.Port, rack)
		}
		if err := t.flush(); err != nil {
			return err
		}
		// Partitions with an offline replica: on a broker whose storage
		// failed (a failed fsync) they refuse reads and writes until it
		// restarts.
		tmd, err := adm.Metadata(ctx)
		if err != nil {
			return requestError("topic metadata", err)
		}
		if cl, err := g.newClient(ctx); err == nil {
			printQuorum(ctx, w, cl)
			cl.Close()
		}
		under := underReplicated(tmd)
		if len(under) == 0 {
			fmt.Fprintf(w, "\nUNDER-REPLICATED PARTITIONS  none\n")
		} else {
			fmt.Fprintf(w, "\nUNDER-REPLICATED PARTITIONS  %d: fewer in-sync replicas than replicas\n", len(under))
			for _, u := range under {
				fmt.Fprintf(w, "  %s\n", u)
			}
		}
		offline := offlinePartitions(tmd)
		if len(offline) == 0 {
			fmt.Fprintf(w, "\nOFFLINE PARTITIONS  none\n")
			return nil
		}
		fmt.Fprintf(w, "\nOFFLINE PARTITIONS  %d: no leader, or a replica whose broker is down or whose storage failed. Check the brokers named (their logs and disks) and start or restart them.\n", len(offline))
		for _, o := range offline {
			fmt.Fprintf(w, "  %s\n", o)
		}
		return nil
	}
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster ID, the controller and the brokers",
		Long: `Show the cluster ID, the controller and every live broker with its
advertised host, port and rack, as the cluster's Metadata response reports
them (the controller's ID is marked with '*'); the metadata quorum (its
leader, term, commit index, voters and non-voting brokers); the
under-replicated partitions (fewer in-sync replicas than replicas); and the
offline partitions (no leader, or a replica on a broker that is down or
whose storage failed), if any.`,
		Example: `  samsa cluster
  samsa cluster info -b broker1:9092`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	c.AddCommand(newReassignCommand(g))
	c.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Same as \"samsa cluster\"",
		Args:  cobra.NoArgs,
		RunE:  run,
	})
	return c
}

// offlinePartitions lists "topic-partition (offline on broker N)" for every
// partition with an offline replica, or none leading, sorted.
func offlinePartitions(md kadm.Metadata) []string {
	var out []string
	for _, td := range md.Topics.Sorted() {
		for _, pd := range td.Partitions.Sorted() {
			switch {
			case len(pd.OfflineReplicas) > 0:
				out = append(out, fmt.Sprintf("%s-%d (offline on broker %s)", td.Topic, pd.Partition, joinIDs(pd.OfflineReplicas)))
			case pd.Leader < 0 && len(pd.Replicas) > 0:
				out = append(out, fmt.Sprintf("%s-%d (no leader; replicas %s)", td.Topic, pd.Partition, joinIDs(pd.Replicas)))
			}
		}
	}
	return out
}

// underReplicated lists "topic-partition (ISR a of replicas b)" for every
// partition whose ISR is smaller than its replica set, sorted.
func underReplicated(md kadm.Metadata) []string {
	var out []string
	for _, td := range md.Topics.Sorted() {
		for _, pd := range td.Partitions.Sorted() {
			if len(pd.ISR) < len(pd.Replicas) {
				out = append(out, fmt.Sprintf("%s-%d (in sync %s of replicas %s)", td.Topic, pd.Partition, joinIDs(pd.ISR), joinIDs(pd.Replicas)))
			}
		}
	}
	return out
}

// printQuorum prints the metadata quorum as a broker describes it
// (DescribeQuorum); nothing when the broker does not answer it.
func printQuorum(ctx context.Context, w io.Writer, cl *kgo.Client) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := req.RequestWith(ctx, cl)
	if err != nil || len(kresp.Topics) == 0 || len(kresp.Topics[0].Partitions) == 0 || kresp.Topics[0].Partitions[0].ErrorCode != 0 {
		return
	}
	p := kresp.Topics[0].Partitions[0]
	var voters, observers []int32
	for _, v := range p.CurrentVoters {
		voters = append(voters, v.ReplicaID)
	}
	for _, v := range p.Observers {
		observers = append(observers, v.ReplicaID)
	}
	fmt.Fprintf(w, "\nMETADATA QUORUM  leader %d, term %d, commit index %d, voters %s", p.LeaderID, p.LeaderEpoch, p.HighWatermark, joinIDs(voters))
	if len(observers) > 0 {
		fmt.Fprintf(w, ", non-voting brokers %s", joinIDs(observers))
	}
	fmt.Fprintln(w)
}

func joinIDs(ids []int32) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(id)
	}
	return s
}

package cli

// samsa cluster: who is in the cluster and who controls it.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

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
		offline := offlinePartitions(tmd)
		if len(offline) == 0 {
			fmt.Fprintf(w, "\nOFFLINE PARTITIONS  none\n")
			return nil
		}
		fmt.Fprintf(w, "\nOFFLINE PARTITIONS  %d: their storage failed; they refuse reads and writes. Check the broker's log and disk, then restart it.\n", len(offline))
		for _, o := range offline {
			fmt.Fprintf(w, "  %s\n", o)
		}
		return nil
	}
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster ID, the controller and the brokers",
		Long: `Show the cluster ID, the active controller and every broker with its
advertised host, port and rack, as the cluster's Metadata response reports
them. The controller's ID is marked with '*'. Then the partitions with an
offline replica (a broker whose storage failed for them), if any.`,
		Example: `  samsa cluster
  samsa cluster info -b broker1:9092`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	c.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Same as \"samsa cluster\"",
		Args:  cobra.NoArgs,
		RunE:  run,
	})
	return c
}

// offlinePartitions lists "topic-partition (offline on broker N)" for every
// partition with an offline replica, sorted.
func offlinePartitions(md kadm.Metadata) []string {
	var out []string
	for _, td := range md.Topics.Sorted() {
		for _, pd := range td.Partitions.Sorted() {
			if len(pd.OfflineReplicas) > 0 {
				out = append(out, fmt.Sprintf("%s-%d (offline on broker %s)", td.Topic, pd.Partition, joinIDs(pd.OfflineReplicas)))
			}
		}
	}
	return out
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

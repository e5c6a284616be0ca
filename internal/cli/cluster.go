package cli

// samsa cluster: who is in the cluster and who controls it.

import (
	"fmt"

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
		return t.flush()
	}
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster ID, the controller and the brokers",
		Long: `Show the cluster ID, the active controller and every broker with its
advertised host, port and rack, as the cluster's Metadata response reports
them. The controller's ID is marked with '*'.`,
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

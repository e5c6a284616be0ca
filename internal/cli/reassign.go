package cli

// samsa cluster reassign: move replicas between brokers (Kafka's
// kafka-reassign-partitions), to drain a broker before removing it or to
// give a new broker its share.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newReassignCommand(g *globalOptions) *cobra.Command {
	var drain, add int32
	var wait bool
	c := &cobra.Command{
		Use:   "reassign (--drain ID | --add ID)",
		Short: "Move partition replicas off a broker, or onto a new one",
		Long: `Plan and start partition reassignments (AlterPartitionReassignments):

  --drain ID  moves every replica off broker ID, each to the live broker that
              holds the fewest replicas and not one of that partition yet; run
              it before you stop a broker for good.
  --add ID    moves replicas onto broker ID (a broker that just joined) from
              the brokers holding the most, until it holds its even share.

The new replicas copy the data while clients keep producing; each partition's
old replica is dropped once the new one is in sync. Prints the plan, then
(with --wait, the default) waits until no reassignment is in progress.`,
		Example: `  samsa cluster reassign --drain 3
  samsa cluster reassign --add 4 --wait=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (drain < 0) == (add < 0) {
				return errors.New("give exactly one of --drain ID or --add ID")
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return requestError("metadata", err)
			}
			var live []int32
			for _, b := range md.Brokers {
				live = append(live, b.NodeID)
			}
			var plan []move
			if drain >= 0 {
				plan, err = planDrain(md, live, drain)
			} else {
				plan, err = planAdd(md, live, add)
			}
			if err != nil {
				return err
			}
			w := stdout(cmd)
			if len(plan) == 0 {
				fmt.Fprintln(w, "nothing to move")
				return nil
			}
			req := kadm.AlterPartitionAssignmentsReq{}
			t := newTable(w, "TOPIC", "PARTITION", "FROM", "TO")
			for _, m := range plan {
				req.Assign(m.topic, m.partition, m.to)
				t.row(m.topic, m.partition, int32List(m.from), int32List(m.to))
			}
			if err := t.flush(); err != nil {
				return err
			}
			res, err := adm.AlterPartitionAssignments(ctx, req)
			if err != nil {
				return requestError("reassign", err)
			}
			if err := res.Error(); err != nil {
				return requestError("reassign", err)
			}
			if !wait {
				fmt.Fprintf(w, "%d reassignments started\n", len(plan))
				return nil
			}
			return waitReassignments(cmd.Context(), w, adm, g.timeout)
		},
	}
	c.Flags().Int32Var(&drain, "drain", -1, "move every replica off this broker id")
	c.Flags().Int32Var(&add, "add", -1, "move an even share of replicas onto this broker id")
	c.Flags().BoolVar(&wait, "wait", true, "wait until the reassignments complete")
	return c
}

// move is one partition's new replica list.
type move struct {
	topic     string
	partition int32
	from, to  []int32
}

// load counts the replicas each live broker holds.
func load(md kadm.Metadata, live []int32) map[int32]int {
	n := map[int32]int{}
	for _, id := range live {
		n[id] = 0
	}
	for _, td := range md.Topics {
		for _, pd := range td.Partitions {
			for _, r := range pd.Replicas {
				n[r]++
			}
		}
	}
	return n
}

func planDrain(md kadm.Metadata, live []int32, id int32) ([]move, error) {
	n := load(md, live)
	delete(n, id)
	var plan []move
	for _, td := range md.Topics.Sorted() {
		for _, pd := range td.Partitions.Sorted() {
			i := slices.Index(pd.Replicas, id)
			if i < 0 {
				continue
			}
			best := int32(-1)
			for b, c := range n {
				if slices.Contains(pd.Replicas, b) {
					continue
				}
				if best < 0 || c < n[best] || c == n[best] && b < best {
					best = b
				}
			}
			if best < 0 {
				return nil, fmt.Errorf("%s-%d has a replica on every other live broker: add a broker before draining %d", td.Topic, pd.Partition, id)
			}
			to := slices.Clone(pd.Replicas)
			to[i] = best
			n[best]++
			plan = append(plan, move{topic: td.Topic, partition: pd.Partition, from: pd.Replicas, to: to})
		}
	}
	return plan, nil
}

func planAdd(md kadm.Metadata, live []int32, id int32) ([]move, error) {
	if !slices.Contains(live, id) {
		return nil, fmt.Errorf("broker %d is not live in the cluster (start it first)", id)
	}
	n := load(md, live)
	total := 0
	for _, c := range n {
		total += c
	}
	share := total / len(n)
	var plan []move
	for _, td := range md.Topics.Sorted() {
		if td.IsInternal {
			continue
		}
		for _, pd := range td.Partitions.Sorted() {
			if n[id] >= share {
				return plan, nil
			}
			if slices.Contains(pd.Replicas, id) {
				continue
			}
			// Take the replica of this partition's most loaded broker,
			// if that broker holds more than its share.
			from := -1
			for i, r := range pd.Replicas {
				if n[r] > share && (from < 0 || n[r] > n[pd.Replicas[from]]) {
					from = i
				}
			}
			if from < 0 {
				continue
			}
			to := slices.Clone(pd.Replicas)
			n[to[from]]--
			to[from] = id
			n[id]++
			plan = append(plan, move{topic: td.Topic, partition: pd.Partition, from: pd.Replicas, to: to})
		}
	}
	return plan, nil
}

// waitReassignments polls ListPartitionReassignments until none is left.
func waitReassignments(ctx context.Context, w io.Writer, adm *kadm.Client, timeout time.Duration) error {
	deadline := time.Now().Add(max(timeout, 5*time.Minute))
	last := -1
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		lr, err := adm.ListPartitionReassignments(cctx, nil)
		cancel()
		if err != nil {
			return requestError("list reassignments", err)
		}
		n := 0
		for _, ps := range lr {
			n += len(ps)
		}
		if n == 0 {
			fmt.Fprintln(w, "all reassignments complete")
			return nil
		}
		if n != last {
			fmt.Fprintf(w, "%d reassignments in progress\n", n)
			last = n
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d reassignments still in progress; check again with \"samsa cluster\" (under-replicated partitions)", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

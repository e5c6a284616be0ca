package api

// Admin APIs: the topic, config, cluster, log-dir and delete-records
// families, one file each (topics.go, configs.go, cluster.go,
// delete_records.go). This file declares them and holds what they share.
//
// Every admin handler answers per resource: one bad topic or config never
// fails the others in the same request, and a request never closes the
// connection for a semantic problem. Each error carries a message (where
// the version has the field) saying what was wrong, in the words an
// operator can act on.
//
// Timeouts (timeout_ms) are ignored: a single broker applies metadata
// changes synchronously and durably before it answers, so there is nothing
// to wait for.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request-level problems the admin handlers detect themselves (not the
// layers below). errorCode maps them like any other error.
var (
	// errInvalidRequest is a request that is well formed on the wire but
	// self-contradictory: duplicates, a null value where none is allowed,
	// a resource type that does not apply. Kafka answers INVALID_REQUEST.
	errInvalidRequest = errors.New("api: invalid request")
	// errInvalidReplicaAssignment is a manual assignment that names a
	// broker other than us, or skips or repeats a partition.
	errInvalidReplicaAssignment = errors.New("api: invalid replica assignment")
)

// adminEntries declares the admin APIs (topics, configs, cluster, log dirs).
// Every version kmsg knows is accepted (max 0 = kmsg's newest).
func (a *API) adminEntries() []entry {
	return []entry{
		{key: kmsg.CreateTopics, fn: a.handleCreateTopics},
		{key: kmsg.DeleteTopics, fn: a.handleDeleteTopics},
		{key: kmsg.CreatePartitions, fn: a.handleCreatePartitions},
		{key: kmsg.DeleteRecords, fn: a.handleDeleteRecords},
		{key: kmsg.DescribeConfigs, fn: a.handleDescribeConfigs},
		{key: kmsg.AlterConfigs, fn: a.handleAlterConfigs},
		{key: kmsg.IncrementalAlterConfigs, fn: a.handleIncrementalAlterConfigs},
		{key: kmsg.DescribeCluster, fn: a.handleDescribeCluster},
		{key: kmsg.DescribeLogDirs, fn: a.handleDescribeLogDirs},
	}
}

// adminErrorMessage is errorMessage on one line: config validation joins
// one error per bad key with newlines, and a client prints the message as
// a single line.
func adminErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := clientMessage(err)
	return &s
}

// duplicates returns the names that occur more than once in names.
func duplicates(names []string) map[string]bool {
	seen := make(map[string]int, len(names))
	for _, n := range names {
		seen[n]++
	}
	dup := make(map[string]bool)
	for n, c := range seen {
		if c > 1 {
			dup[n] = true
		}
	}
	return dup
}

// checkOwnReplicas checks one partition's manual replica list: on a
// cluster of one, the only valid list is exactly [node].
func checkOwnReplicas(replicas []int32, node int32) error {
	switch {
	case len(replicas) == 0:
		return fmt.Errorf("%w: the replica list is empty", errInvalidReplicaAssignment)
	case len(replicas) > 1:
		return fmt.Errorf("%w: the replica list %v names more than one broker, but this cluster has 1 broker (id %d)", errInvalidReplicaAssignment, replicas, node)
	case replicas[0] != node:
		return fmt.Errorf("%w: the replica list names broker %d, but the only broker is %d", errInvalidReplicaAssignment, replicas[0], node)
	}
	return nil
}

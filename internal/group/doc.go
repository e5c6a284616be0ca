// Package group is the consumer group coordinator for Kafka's classic
// group protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) and the
// committed offsets of every group.
//
// # Shape
//
// The package has two layers:
//
//   - Group (state.go, offsets.go) is a pure state machine: no sockets, no
//     files, no clocks. Every event takes `now`; replies to requests that
//     must wait (a JoinGroup waits for the rebalance, a SyncGroup for the
//     leader's assignment) come back later as Effects naming the Waiter
//     the caller registered. NextDeadline says when Tick must next be
//     called (session expiry, rebalance timeout, initial rebalance delay,
//     the sync deadline). Tests drive it as a script with a fake time.
//   - Coordinator (coordinator.go) owns the groups, their timers, the
//     waiters' channels and the I/O: it writes every commit and every
//     group change to the __consumer_offsets partition of the group, and
//     replays those partitions when it starts.
//
// # Who owns what
//
// Coordinator.mu guards the group table (which groups exist) and the load
// state. Each group has its own mutex (groupEntry.mu) that guards the Group
// value, its timer and its waiters; every event for a group runs under it,
// so a group's events are totally ordered, and groups never contend with
// each other. Lock order: groupEntry.mu -> Coordinator.mu (a deleted group
// leaves the table under its own lock); groupEntry.mu -> partition.mu (an
// append to __consumer_offsets happens under the group lock so the log order of a group's records is the order of its events;
// the fsync that makes them durable happens after the lock is released, on
// the connection's writer goroutine, and the request is acknowledged only
// after it).
//
// # On disk
//
// The records are Kafka's own (kmsg.OffsetCommitKey/Value and
// GroupMetadataKey/Value with their int16 version prefixes), one record
// per v2 batch entry, so Kafka tooling can read the topic:
//
//	key   = int16 version (0 or 1: offset commit, 2: group metadata) | fields
//	value = int16 version | fields, or null (a tombstone: delete)
//
// Consumer-protocol groups (KIP-848, key versions 3-8: group epoch,
// subscription metadata, member metadata, target assignment epoch, member
// targets, current member assignments) are written by consumer_records.go
// from Kafka's published schemas; kmsg has no types for them.
//
// A group lives on partition abs(javaStringHashCode(group)) % partitions,
// Kafka's formula, so a data directory keeps its groups where they were.
//
// # Transactional offset commits
//
// TxnOffsetCommit (KIP-98; KIP-447 member fencing) writes its commits as
// one transactional batch (the producer's id and epoch, BaseSequence -1)
// through Partition.AppendCoordinator, which fences stale producer
// epochs. The commits are staged in the group per producer id and stay
// invisible to OffsetFetch until the transaction coordinator has written
// the transaction's marker to the partition and calls CompleteTxn: on
// commit they become the committed offsets (unless a plain commit of the
// same partition is later in the log: the later record wins, as in
// Kafka), on abort they are dropped. OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for a partition with a staged commit.
// Retention keeps such offsets, and their group, until the transaction
// ends; DeleteGroups and OffsetDelete drop staged commits with the rest
// (their tombstones do on replay too). The replay stages the records of
// transactional batches and completes them at their producer's marker in
// the same partition; a transaction still open at the end of the log
// stays staged for its coordinator to finish. Coordinator.txn (a leaf
// lock) indexes the groups with staged commits per producer id, so a
// marker visits only those. See txn_offsets.go.
//
// # Two protocols
//
// Classic groups (JoinGroup/SyncGroup/Heartbeat, client-side assignment)
// are Group (state.go). Consumer-protocol groups (ConsumerGroupHeartbeat,
// server-side "uniform" and "range" assignors, revocation before
// reassignment) are ConsumerGroup (consumer.go); they share the group
// table and the committed offsets. An empty group converts between the two
// kinds and keeps its offsets; a non-empty one refuses the other protocol
// (no online migration).
package group

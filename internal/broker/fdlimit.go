package broker

// File-descriptor budget.
//
// Every log segment holds one open file, its .log (the index files are
// opened only to be written or read: internal/log/segment.go), so a
// broker's descriptors grow with its partitions and their segments. Running out (EMFILE) is not
// a disk failure and must not look like one: CreateTopics, CreatePartitions
// and auto-creation are refused up front when the partitions would not fit
// under the process's RLIMIT_NOFILE, and Open refuses to start when the
// partitions it holds cannot fit, each with a message naming the limit.

import (
	"errors"
	"fmt"
)

// ErrDescriptorLimit: the partitions asked for would need more open files
// than the process may have (the api answers POLICY_VIOLATION).
var ErrDescriptorLimit = errors.New("broker: not enough file descriptors")

// filesPerSegment is what one open log segment holds.
const filesPerSegment = 1

// fdReserve is kept out of the partitions' share for everything else:
// client connections, the listener, metadata, snapshots, checkpoints and
// segments rolled later; a quarter of the limit when that is smaller (a
// 1024-file limit still holds some partitions).
const fdReserve = 1024

func reserveFor(limit uint64) uint64 { return min(fdReserve, limit/4) }

// descriptorsInUse estimates the descriptors the open partitions hold.
func (b *Broker) descriptorsInUse() (files, partitions int) {
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue
			}
			files += filesPerSegment * p.NumSegments()
			partitions++
		}
	}
	return files, partitions
}

// checkDescriptors refuses adding n partitions that would not fit under the
// descriptor limit. A limit of 0 (unknown, or unlimited) checks nothing.
func (b *Broker) checkDescriptors(n int32) error {
	limit := b.fdLimit()
	if limit == 0 {
		return nil
	}
	used, parts := b.descriptorsInUse()
	need := uint64(used) + uint64(n)*filesPerSegment + reserveFor(limit)
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: %d more partitions need about %d open files (%d per log segment), on top of %d for the %d partitions already here and %d kept for connections; the limit (ulimit -n, RLIMIT_NOFILE) is %d: raise it (ulimit -n, systemd LimitNOFILE=) or create fewer partitions",
		ErrDescriptorLimit, n, uint64(n)*filesPerSegment, filesPerSegment, used, parts, reserveFor(limit), limit)
}

// checkStartDescriptors refuses to open partitions that cannot all be open
// at once: at least one segment each, plus the reserve.
func checkStartDescriptors(partitions int, limit uint64) error {
	if limit == 0 {
		return nil
	}
	reserve := reserveFor(limit)
	need := uint64(partitions)*filesPerSegment + reserve
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: the %d partitions in the data directory need at least %d open files (%d per log segment, plus %d for connections), but the limit (ulimit -n, RLIMIT_NOFILE) is %d: raise it (ulimit -n, systemd LimitNOFILE=) and start again",
		ErrDescriptorLimit, partitions, need-reserve, filesPerSegment, reserve, limit)
}

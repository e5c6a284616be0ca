package partition

import "time"

// AppendCoordinator is a TEMPORARY stand-in so that branch gtxn builds
// before the partition layer's transactional appends (branch ptxn) merge:
// the group coordinator's Partition interface needs the method. It only
// calls Append, which refuses transactional batches, so transactional
// offset commits fail against a real partition until then.
//
// TEMPORARY: delete this file when merging ptxn, which has the real
// AppendCoordinator.
func (p *Partition) AppendCoordinator(batches []byte, now time.Time) (AppendResult, error) {
	return p.Append(batches, now)
}

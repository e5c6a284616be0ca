package api

// completeGroupTxn tells the group coordinator that the marker for
// producerID at markerOffset is committed on __consumer_offsets partition
// i: the producer's pending transactional offset commits written before it
// become visible (commit) or are dropped (abort).
func (a *API) completeGroupTxn(i int, producerID int64, commit bool, markerOffset int64) {
	a.groups.CompleteTxnAt(i, producerID, commit, markerOffset)
}

package api

// completeGroupTxn tells the group coordinator that a marker for
// producerID is committed on __consumer_offsets partition i: its pending
// transactional offset commits there become visible (commit) or are
// dropped (abort). Until TxnOffsetCommit is served there are none.
func (a *API) completeGroupTxn(i int, producerID int64, commit bool) {
	_, _, _ = i, producerID, commit
}

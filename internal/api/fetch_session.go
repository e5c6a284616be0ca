package api

// Incremental fetch sessions (KIP-227): the bookkeeping, free of I/O.
//
// A session remembers, per partition, what the client asked for (fetch
// offset, partition_max_bytes, current leader epoch) and what it was last
// told (high watermark, log start offset). An incremental request then
// names only what changed, and its response carries only the partitions
// with something new; on a consumer of hundreds of partitions that cuts
// every fetch from hundreds of entries each way to a handful.
//
// Sessions are keyed by id alone, not by connection, as in Kafka: a client
// that reconnects keeps its session. Memory is bounded by the slot count
// (Kafka's max.incremental.fetch.session.cache.slots) times the partitions
// that exist (unknown partitions are answered and never kept), and idle
// sessions expire.
//
// Admission when every slot is taken follows Kafka's reasoning rather than
// plain LRU: evicting a session that is in active use only makes its owner
// fail with FETCH_SESSION_ID_NOT_FOUND and create another, evicting a third
// client, and so on. So a new session may evict the least recently used one
// only once that has been idle for evictAfter; until then the newcomer is
// answered session id 0 and fetches sessionless, which every client
// supports. A follower's session (the replica fetcher) may evict the least
// recently used consumer session at once: replication must not degrade
// because consumers filled the cache.

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// defaultSessionSlots is Kafka's max.incremental.fetch.session.cache.slots.
	defaultSessionSlots = 1000
	// defaultSessionEvictAfter is Kafka's
	// min.incremental.fetch.session.eviction.ms: how long a session must be
	// idle before a new session may take its slot.
	defaultSessionEvictAfter = 2 * time.Minute
	// defaultSessionExpireAfter drops a session idle this long even when
	// slots are free. It exceeds maxFetchWait, so a session is never
	// expired under a long poll that is still running.
	defaultSessionExpireAfter = 10 * time.Minute
)

// fetchMode is what a Fetch request's (session_id, session_epoch) asks for.
type fetchMode uint8

const (
	// fetchSessionless: a full fetch that creates no session (epoch -1,
	// any version before 7, or no free slot).
	fetchSessionless fetchMode = iota
	// fetchFull: a full fetch that creates a session (epoch 0).
	fetchFull
	// fetchIncremental: epoch > 0 on a known session.
	fetchIncremental
)

// nextSessionEpoch returns the epoch after e. Epochs run 1..MaxInt32 and
// wrap to 1: 0 and -1 mean "full fetch" and are never a session's epoch.
func nextSessionEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// partKey names a partition inside one session: by topic id when the
// session uses ids (v13+), else by name; the other field stays zero.
type partKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// fetchItem is one partition of one Fetch request, in response order. The
// cache fills the request half (for an incremental fetch from the session,
// so a concurrent change to the session cannot tear it); fetch fills the
// rest.
type fetchItem struct {
	topic       string
	topicID     [16]byte
	partition   int32
	offset      int64
	maxBytes    int32
	leaderEpoch int32 // current_leader_epoch as last sent (v9+), else -1

	// sentHW and sentLogStart are what the client was last told; -2 (never
	// a real value) until it was told anything.
	sentHW, sentLogStart int64
	// listed: the request named this partition (always answered).
	listed bool

	// Set by fetch.
	ti, pi  int  // index into resp.Topics / .Partitions
	unknown bool // topic or partition does not exist: answered, then dropped from the session
	// What the response says: included in it (always, but for an
	// incremental fetch only when something is new), with records, and
	// the high watermark and log start offset it carries.
	included, records bool
	hw, logStart      int64
}

// fetchPlan is the cache's decision for one request.
type fetchPlan struct {
	mode  fetchMode
	items []fetchItem
	// For fetchIncremental: the session and the epoch it expects next,
	// which finish uses to tell whether another request used the session
	// meanwhile.
	s         *fetchSession
	sessionID int32
	nextEpoch int32
	// For fetchFull.
	usesIDs, privileged bool
}

// sessionPartition is one partition of a session.
type sessionPartition struct {
	key         partKey
	topic       string // for responses and logs, also in an id session
	topicID     [16]byte
	offset      int64
	maxBytes    int32
	leaderEpoch int32
	// What the client was last told (-2 until told anything).
	sentHW, sentLogStart int64

	// Scratch flags, only meaningful inside one cache call.
	listed, gone, moved bool
}

// fetchSession is one client's session. Every field is guarded by
// sessionCache.mu.
type fetchSession struct {
	id int32
	// epoch is the session_epoch the next incremental request must carry.
	epoch      int32
	usesIDs    bool
	privileged bool
	// parts is the session's partitions in fetch order: the order of the
	// response and of the max_bytes budget. Partitions that returned
	// records move to the end, so under a tight max_bytes every partition
	// gets its turn (the fairness Kafka's sessions provide the same way).
	// Invariant: index[parts[i].key] == i for every i, and len(index) ==
	// len(parts).
	parts   []sessionPartition
	index   map[partKey]int
	scratch []sessionPartition // reused by compact; never read outside it

	lastUsed   time.Time
	prev, next *fetchSession // LRU list; head is the most recently used
}

// FetchSessionStats counts fetch-session events since the broker started.
type FetchSessionStats struct {
	Sessions     int   // sessions in the cache now
	Partitions   int   // partitions over all sessions now
	Created      int64 // sessions created
	Incremental  int64 // incremental fetches answered
	Refused      int64 // full fetches that asked for a session and got none (cache full)
	Evicted      int64 // sessions evicted for a new one
	Expired      int64 // sessions dropped after expireAfter idle
	Closed       int64 // sessions closed by the client (epoch -1 or a new full fetch)
	NotFound     int64 // FETCH_SESSION_ID_NOT_FOUND answers
	InvalidEpoch int64 // INVALID_FETCH_SESSION_EPOCH answers
}

// sessionCache holds the fetch sessions of one broker.
type sessionCache struct {
	slots                   int
	evictAfter, expireAfter time.Duration

	mu struct {
		sync.Mutex
		byID map[int32]*fetchSession
		// head is the most recently used session, tail the least.
		// Invariant: the list holds exactly the sessions in byID.
		head, tail *fetchSession
		stats      FetchSessionStats
	}
}

func newSessionCache(slots int, evictAfter, expireAfter time.Duration) *sessionCache {
	c := &sessionCache{slots: slots, evictAfter: evictAfter, expireAfter: expireAfter}
	c.mu.byID = make(map[int32]*fetchSession)
	return c
}

// stats returns a snapshot of the counters.
func (c *sessionCache) stats() FetchSessionStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.mu.stats
	st.Sessions = len(c.mu.byID)
	st.Partitions = 0
	for _, s := range c.mu.byID {
		st.Partitions += len(s.parts)
	}
	return st
}

// begin decides what req asks for and returns the partitions to read, or
// a top-level error code for the response. For an incremental fetch it
// applies the request's changes to the session and advances its epoch
// now, as Kafka does: a retry of the same epoch is then rejected, and the
// client starts over with a full fetch.
func (c *sessionCache) begin(req *kmsg.FetchRequest, now time.Time) (fetchPlan, int16) {
	byID := req.Version >= 13
	if req.Version < 7 {
		return fetchPlan{mode: fetchSessionless, items: requestItems(req)}, 0
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			// A full fetch naming a session closes it, whether or not it
			// asks for a new one (KIP-227).
			c.close(req.SessionID, now)
		}
		plan := fetchPlan{mode: fetchSessionless, items: requestItems(req)}
		if req.SessionEpoch == 0 {
			plan.mode = fetchFull
			plan.usesIDs = byID
			plan.privileged = req.ReplicaID >= 0 || req.ReplicaState.ID >= 0
		}
		return plan, 0
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	s := c.mu.byID[req.SessionID]
	if s == nil {
		c.mu.stats.NotFound++
		return fetchPlan{}, kerr.FetchSessionIDNotFound.Code
	}
	if s.usesIDs != byID {
		// The client changed between names and ids under one session
		// (a downgrade across a reconnect): its keys no longer match.
		return fetchPlan{}, kerr.FetchSessionTopicIDError.Code
	}
	if req.SessionEpoch != s.epoch {
		c.mu.stats.InvalidEpoch++
		return fetchPlan{}, kerr.InvalidFetchSessionEpoch.Code
	}
	s.applyLocked(req)
	s.epoch = nextSessionEpoch(s.epoch)
	c.touchLocked(s, now)
	c.mu.stats.Incremental++

	items := make([]fetchItem, len(s.parts))
	for i := range s.parts {
		sp := &s.parts[i]
		items[i] = fetchItem{
			topic: sp.topic, topicID: sp.topicID, partition: sp.key.partition,
			offset: sp.offset, maxBytes: sp.maxBytes, leaderEpoch: sp.leaderEpoch,
			sentHW: sp.sentHW, sentLogStart: sp.sentLogStart, listed: sp.listed,
		}
		sp.listed = false
	}
	return fetchPlan{mode: fetchIncremental, items: items, s: s, sessionID: s.id, nextEpoch: s.epoch}, 0
}

// requestItems lists a full fetch's partitions in request order.
func requestItems(req *kmsg.FetchRequest) []fetchItem {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	items := make([]fetchItem, 0, n)
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			items = append(items, fetchItem{
				topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition,
				offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: leaderEpochOf(req, rp),
				sentHW: -2, sentLogStart: -2, listed: true,
			})
		}
	}
	return items
}

func leaderEpochOf(req *kmsg.FetchRequest, rp *kmsg.FetchRequestTopicPartition) int32 {
	if req.Version < 9 {
		return -1
	}
	return rp.CurrentLeaderEpoch
}

// keyOf returns the session key of a partition named by topic/topicID.
func (s *fetchSession) keyOf(topic string, topicID [16]byte, partition int32) partKey {
	if s.usesIDs {
		return partKey{topicID: topicID, partition: partition}
	}
	return partKey{topic: topic, partition: partition}
}

// applyLocked adds or updates the partitions req lists (marking them
// listed) and then removes its forgotten ones, Kafka's order: a partition
// both listed and forgotten ends up removed. Requires sessionCache.mu.
func (s *fetchSession) applyLocked(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := s.keyOf(rt.Topic, rt.TopicID, rp.Partition)
			if at, ok := s.index[k]; ok {
				sp := &s.parts[at]
				sp.offset, sp.maxBytes, sp.leaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, leaderEpochOf(req, rp)
				sp.listed = true
				continue
			}
			s.index[k] = len(s.parts)
			s.parts = append(s.parts, sessionPartition{
				key: k, topic: rt.Topic, topicID: rt.TopicID,
				offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: leaderEpochOf(req, rp),
				sentHW: -2, sentLogStart: -2, listed: true,
			})
		}
	}
	removed := false
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, p := range ft.Partitions {
			if at, ok := s.index[s.keyOf(ft.Topic, ft.TopicID, p)]; ok {
				s.parts[at].gone = true
				removed = true
			}
		}
	}
	if removed {
		s.compactLocked()
	}
}

// compactLocked drops the partitions marked gone and moves the ones marked
// moved to the end, keeping relative order otherwise, then rebuilds the
// index. Requires sessionCache.mu.
func (s *fetchSession) compactLocked() {
	out := s.scratch[:0]
	for _, sp := range s.parts {
		if !sp.gone && !sp.moved {
			out = append(out, sp)
		}
	}
	for _, sp := range s.parts {
		if !sp.gone && sp.moved {
			sp.moved = false
			out = append(out, sp)
		}
	}
	// Swap the buffers: the old parts become next time's scratch.
	s.parts, s.scratch = out, s.parts[:0]
	clear(s.index)
	for i := range s.parts {
		s.index[s.parts[i].key] = i
	}
}

// finish records what the response told the client. For a full fetch that
// asked for one it creates the session and returns its id (0 when the
// cache admits none). For an incremental one it updates the session,
// unless the session is gone or another request used it since begin (a
// misbehaving client): that request's answer is then the one to remember.
// The items' answer fields (included, records, hw, logStart) say what the
// response told the client.
func (c *sessionCache) finish(plan *fetchPlan, now time.Time) int32 {
	switch plan.mode {
	case fetchFull:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.expireLocked(now)
		if !c.admitLocked(plan.privileged, now) {
			c.mu.stats.Refused++
			return 0
		}
		s := &fetchSession{id: c.newIDLocked(), epoch: 1, usesIDs: plan.usesIDs, privileged: plan.privileged}
		s.parts = make([]sessionPartition, 0, len(plan.items))
		s.index = make(map[partKey]int, len(plan.items))
		for i := range plan.items {
			it := &plan.items[i]
			if it.unknown {
				continue
			}
			k := s.keyOf(it.topic, it.topicID, it.partition)
			if _, dup := s.index[k]; dup {
				continue // a request naming a partition twice: the first wins
			}
			s.index[k] = len(s.parts)
			s.parts = append(s.parts, sessionPartition{
				key: k, topic: it.topic, topicID: it.topicID,
				offset: it.offset, maxBytes: it.maxBytes, leaderEpoch: it.leaderEpoch,
				sentHW: it.hw, sentLogStart: it.logStart,
			})
		}
		c.mu.byID[s.id] = s
		c.pushFrontLocked(s)
		s.lastUsed = now
		c.mu.stats.Created++
		return s.id

	case fetchIncremental:
		c.mu.Lock()
		defer c.mu.Unlock()
		s := plan.s
		if c.mu.byID[plan.sessionID] != s || s.epoch != plan.nextEpoch {
			return plan.sessionID
		}
		c.touchLocked(s, now)
		reorder := false
		for i := range plan.items {
			it := &plan.items[i]
			at, ok := s.index[s.keyOf(it.topic, it.topicID, it.partition)]
			if !ok {
				continue
			}
			sp := &s.parts[at]
			if it.unknown {
				sp.gone = true
				reorder = true
				continue
			}
			if !it.included {
				continue
			}
			sp.sentHW, sp.sentLogStart = it.hw, it.logStart
			if it.records && at != len(s.parts)-1 {
				sp.moved = true
				reorder = true
			}
		}
		if reorder {
			s.compactLocked()
		}
		return plan.sessionID
	}
	return 0
}

// close removes session id, if present.
func (c *sessionCache) close(id int32, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if s := c.mu.byID[id]; s != nil {
		c.removeLocked(s)
		c.mu.stats.Closed++
	}
}

// admitLocked makes room for one more session if the rules allow (see the
// file comment) and reports whether there is room. Requires mu.
func (c *sessionCache) admitLocked(privileged bool, now time.Time) bool {
	if c.slots <= 0 {
		return false
	}
	if len(c.mu.byID) < c.slots {
		return true
	}
	if t := c.mu.tail; t != nil && now.Sub(t.lastUsed) >= c.evictAfter {
		c.removeLocked(t)
		c.mu.stats.Evicted++
		return true
	}
	if privileged {
		for s := c.mu.tail; s != nil; s = s.prev {
			if !s.privileged {
				c.removeLocked(s)
				c.mu.stats.Evicted++
				return true
			}
		}
	}
	return false
}

// expireLocked drops the sessions idle for expireAfter, oldest first: the
// list is in last-use order, so it stops at the first fresh one and costs
// O(1) when nothing expires. Requires mu.
func (c *sessionCache) expireLocked(now time.Time) {
	for t := c.mu.tail; t != nil && now.Sub(t.lastUsed) >= c.expireAfter; t = c.mu.tail {
		c.removeLocked(t)
		c.mu.stats.Expired++
	}
}

// newIDLocked returns a random session id, non-zero and unused. Random
// rather than sequential so that a client cannot guess another's session.
// Requires mu; the cache holds far fewer than 2^31 ids, so this ends fast.
func (c *sessionCache) newIDLocked() int32 {
	for {
		id := rand.Int32()
		if _, used := c.mu.byID[id]; id != 0 && !used {
			return id
		}
	}
}

func (c *sessionCache) touchLocked(s *fetchSession, now time.Time) {
	s.lastUsed = now
	c.unlinkLocked(s)
	c.pushFrontLocked(s)
}

func (c *sessionCache) removeLocked(s *fetchSession) {
	delete(c.mu.byID, s.id)
	c.unlinkLocked(s)
}

func (c *sessionCache) pushFrontLocked(s *fetchSession) {
	s.prev, s.next = nil, c.mu.head
	if c.mu.head != nil {
		c.mu.head.prev = s
	}
	c.mu.head = s
	if c.mu.tail == nil {
		c.mu.tail = s
	}
}

func (c *sessionCache) unlinkLocked(s *fetchSession) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if c.mu.head == s {
		c.mu.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else if c.mu.tail == s {
		c.mu.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// fetchSessions returns a's session cache (built in New).
func (a *API) fetchSessions() *sessionCache { return a.sessions }

// FetchSessionStats reports the fetch-session cache's counters (for
// metrics and tests).
func (a *API) FetchSessionStats() FetchSessionStats {
	return a.fetchSessions().stats()
}

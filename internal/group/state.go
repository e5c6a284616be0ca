package group

import (
	"bytes"
	"errors"
	"slices"
	"time"
)

var (
	// ErrUnknownMemberID: the member is not (or no longer) in the group.
	ErrUnknownMemberID = errors.New("group: unknown member id")
	// ErrIllegalGeneration: the request names a generation the group has left.
	ErrIllegalGeneration = errors.New("group: illegal generation")
	// ErrRebalanceInProgress: the member must rejoin.
	ErrRebalanceInProgress = errors.New("group: rebalance in progress")
	// ErrInconsistentProtocol: the member's protocol type or protocols do
	// not fit the group's.
	ErrInconsistentProtocol = errors.New("group: inconsistent group protocol")
	// ErrGroupMaxSizeReached: group.max.size members already.
	ErrGroupMaxSizeReached = errors.New("group: group max size reached")
	// ErrInvalidSessionTimeout: outside group.min/max.session.timeout.ms.
	ErrInvalidSessionTimeout = errors.New("group: invalid session timeout")
	// ErrInvalidGroupID: the group id is empty.
	ErrInvalidGroupID = errors.New("group: invalid group id")
	// ErrFencedInstanceID: another member now holds this group.instance.id.
	ErrFencedInstanceID = errors.New("group: fenced instance id")
	// ErrMemberIDRequired: KIP-394, the first JoinGroup (v4+) gets an id to
	// rejoin with.
	ErrMemberIDRequired = errors.New("group: member id required")
	// ErrCoordinatorNotAvailable: the group is being removed, or the
	// coordinator is shutting down.
	ErrCoordinatorNotAvailable = errors.New("group: coordinator not available")
	// ErrLoadInProgress: the coordinator is still replaying __consumer_offsets.
	ErrLoadInProgress = errors.New("group: coordinator load in progress")
	// ErrNotCoordinator: another broker coordinates the group (cluster).
	ErrNotCoordinator = errors.New("group: this broker is not the group's coordinator")
	// ErrNonEmptyGroup: the group has members.
	ErrNonEmptyGroup = errors.New("group: group is not empty")
	// ErrGroupIDNotFound: no such group.
	ErrGroupIDNotFound = errors.New("group: group id not found")
	// ErrSubscribedToTopic: OffsetDelete of a topic an active member consumes.
	ErrSubscribedToTopic = errors.New("group: group is subscribed to the topic")
	// ErrOffsetMetadataTooLarge: the commit's metadata string is over
	// offset.metadata.max.bytes.
	ErrOffsetMetadataTooLarge = errors.New("group: offset metadata too large")
)

// State is a classic group's state, named as Kafka names it (DescribeGroups
// and ListGroups report these strings).
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

// Waiter names a request waiting for a reply (a JoinGroup or SyncGroup).
// The caller picks the values; zero means "nobody waits".
type Waiter uint64

// Protocol is one assignment protocol a member supports, with its metadata
// (for consumers, a ConsumerMemberMetadata: topics, owned partitions).
type Protocol struct {
	Name     string
	Metadata []byte
}

// Limits are the broker settings a group enforces.
type Limits struct {
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int           // group.max.size
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
}

// Member is one member of a group.
type Member struct {
	MemberID   string
	InstanceID string // group.instance.id (KIP-345); "" for a dynamic member
	ClientID   string
	ClientHost string
	Protocols  []Protocol // in the member's order of preference
	// Timeouts as the member asked for them at its last join.
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Assignment       []byte // from the leader's SyncGroup; nil before

	// joinWaiter is the JoinGroup waiting for this rebalance to finish;
	// non-zero exactly while the member is "awaiting join".
	joinWaiter Waiter
	// syncWaiter is the SyncGroup waiting for the leader's assignment.
	syncWaiter Waiter
	// needsSync: the member got this generation's JoinGroup answer and
	// has not sent its SyncGroup yet (Kafka's pending-sync set).
	needsSync bool
	// heartbeatDeadline: the member is removed if it has not been heard
	// from by then. It does not apply while the member awaits a join or
	// sync reply: Kafka keeps those members alive.
	heartbeatDeadline time.Time
}

// metadataFor returns the member's metadata for protocol name.
func (m *Member) metadataFor(name string) []byte {
	for _, p := range m.Protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether ps is exactly what the member last joined with.
func (m *Member) matches(ps []Protocol) bool {
	return slices.EqualFunc(m.Protocols, ps, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// JoinRequest is a JoinGroup as the state machine sees it.
type JoinRequest struct {
	MemberID         string // "" on a first join
	InstanceID       string
	ClientID         string
	ClientHost       string
	ProtocolType     string
	Protocols        []Protocol
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// RequireKnownMemberID: JoinGroup v4+ (KIP-394). A new dynamic member
	// gets MEMBER_ID_REQUIRED and its id, and must join again with it.
	RequireKnownMemberID bool
	// NewMemberID is the id to give the member if it is new. The caller
	// makes it (clientID-uuid) because the machine has no randomness.
	NewMemberID string
	Waiter      Waiter
}

// JoinMember is one member as the leader's JoinGroup answer lists it.
type JoinMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResult answers a JoinGroup.
type JoinResult struct {
	Err            error
	MemberID       string
	Generation     int32
	ProtocolType   string
	Protocol       string
	LeaderID       string
	Members        []JoinMember // only for the leader
	SkipAssignment bool         // v9+: a static leader rejoined; the assignment stands
}

// SyncRequest is a SyncGroup as the state machine sees it.
type SyncRequest struct {
	MemberID     string
	InstanceID   string
	Generation   int32
	ProtocolType string // "" when the version does not carry it (v<5)
	Protocol     string
	Assignments  map[string][]byte // from the leader; ignored from others
	Waiter       Waiter
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// JoinReply is a JoinResult for the waiter that asked.
type JoinReply struct {
	Waiter Waiter
	JoinResult
}

// SyncReply is a SyncResult for the waiter that asked.
type SyncReply struct {
	Waiter Waiter
	SyncResult
}

// Effects is what an event decided that the caller must carry out:
// replies to deliver, and whether the group's metadata must be written
// (before those replies are acknowledged).
type Effects struct {
	Joins      []JoinReply
	Syncs      []SyncReply
	StoreGroup bool
}

func (e *Effects) join(w Waiter, r JoinResult) {
	if w != 0 {
		e.Joins = append(e.Joins, JoinReply{Waiter: w, JoinResult: r})
	}
}

func (e *Effects) sync(w Waiter, r SyncResult) {
	if w != 0 {
		e.Syncs = append(e.Syncs, SyncReply{Waiter: w, SyncResult: r})
	}
}

// Group is one classic consumer group: membership, generations and its
// committed offsets. It is a pure state machine; the caller serialises
// calls (see the package doc).
type Group struct {
	ID     string
	limits Limits

	state State
	// stateSince is when the group entered its state (Kafka's
	// currentStateTimestamp): offsets of an Empty group expire
	// offsets.retention after it.
	stateSince time.Time

	// Generation, ProtocolType, Protocol and Leader are the current
	// generation's. Invariant: Protocol != "" iff state is
	// CompletingRebalance or Stable (or PreparingRebalance of a group that
	// had one); Leader is a member id or "".
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string

	members map[string]*Member
	// order is the member ids in join order (Kafka elects the first
	// joined member as leader; answers list members in this order).
	order []string
	// instances maps group.instance.id to the member id holding it.
	instances map[string]string
	// pending are member ids handed out with MEMBER_ID_REQUIRED and not
	// yet used, with the deadline after which they are forgotten.
	pending map[string]time.Time

	// joinDeadline ends the join phase (PreparingRebalance) whether or not
	// everyone has rejoined. While initialDelay is set it is the end of a
	// group.initial.rebalance.delay.ms step instead, and the join cannot
	// finish early: the delay collects the members of a starting fleet
	// into one generation.
	joinDeadline   time.Time
	initialDelay   bool
	remainingDelay time.Duration
	newMemberAdded bool
	// syncDeadline: members that have not sent SyncGroup by then are
	// removed and the group rebalances (zero when nobody needs to sync).
	syncDeadline time.Time

	offsets map[TopicPartition]Offset
	// offsetPos is the log offset of the record each commit in offsets
	// came from (absent: unknown, older than any record). A transaction's
	// commit replaces a commit only if its record is later in the log
	// (Kafka's rule for mixing transactional and plain commits; see
	// CompleteTxn).
	offsetPos map[TopicPartition]int64
	// txnOffsets are transactional commits (TxnOffsetCommit), per
	// producer id, whose transaction has not ended: not visible to
	// OffsetFetch (Kafka's pendingTransactionalOffsetCommits).
	// Invariant: no inner map is empty.
	txnOffsets map[int64]map[TopicPartition]txnOffset
}

// NewGroup returns an Empty group.
func NewGroup(id string, limits Limits, now time.Time) *Group {
	return &Group{
		ID: id, limits: limits,
		state: Empty, stateSince: now,
		members:   make(map[string]*Member),
		instances: make(map[string]string),
		pending:   make(map[string]time.Time),
		offsets:   make(map[TopicPartition]Offset),
		offsetPos: make(map[TopicPartition]int64),
	}
}

// State returns the group's state.
func (g *Group) State() State { return g.state }

// StateSince returns when the group entered its state.
func (g *Group) StateSince() time.Time { return g.stateSince }

// Members returns the members in join order. The values are the group's
// own: read them, do not change them.
func (g *Group) Members() []*Member {
	ms := make([]*Member, 0, len(g.order))
	for _, id := range g.order {
		ms = append(ms, g.members[id])
	}
	return ms
}

// Member returns the member with that id or nil.
func (g *Group) Member(id string) *Member { return g.members[id] }

// NumMembers is the number of members (pending ids not counted).
func (g *Group) NumMembers() int { return len(g.members) }

// MarkDead moves the group to Dead (it is being deleted). Waiting requests
// get COORDINATOR_NOT_AVAILABLE, on which clients look the coordinator up
// again.
func (g *Group) MarkDead(now time.Time) Effects {
	var e Effects
	for _, m := range g.members {
		e.join(m.joinWaiter, JoinResult{Err: ErrCoordinatorNotAvailable, MemberID: m.MemberID})
		e.sync(m.syncWaiter, SyncResult{Err: ErrCoordinatorNotAvailable})
		m.joinWaiter, m.syncWaiter = 0, 0
	}
	g.setState(Dead, now)
	return e
}

func (g *Group) setState(s State, now time.Time) {
	g.state = s
	g.stateSince = now
}

// isFenced: instanceID is held by a member other than memberID (KIP-345).
func (g *Group) isFenced(instanceID, memberID string) bool {
	if instanceID == "" {
		return false
	}
	id, ok := g.instances[instanceID]
	return ok && id != memberID
}

// supports reports whether a member with these protocols may be in the
// group: an Empty group takes anything non-empty; otherwise the protocol
// type must match and one protocol must be supported by every member.
func (g *Group) supports(protocolType string, ps []Protocol) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.ProtocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.Protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(ps []Protocol, name string) bool {
	return slices.ContainsFunc(ps, func(p Protocol) bool { return p.Name == name })
}

// selectProtocol is Kafka's vote: among the protocols every member
// supports, each member votes for the first of its own preference order,
// and the most votes win. Ties go to the candidate the earliest-joined
// member prefers, so the choice is deterministic.
func (g *Group) selectProtocol() string {
	var candidates []string
	if len(g.order) == 0 {
		return ""
	}
	for _, p := range g.members[g.order[0]].Protocols {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.Protocols, p.Name) {
				all = false
				break
			}
		}
		if all && !slices.Contains(candidates, p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int)
	for _, id := range g.order {
		for _, p := range g.members[id].Protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.RebalanceTimeout)
	}
	return d
}

// Join handles a JoinGroup. The reply to r.Waiter is among the returned
// Effects, now or (when the member must wait for the rebalance) from a
// later event.
func (g *Group) Join(now time.Time, r JoinRequest) Effects {
	var e Effects
	fail := func(err error) Effects {
		e.join(r.Waiter, JoinResult{Err: err, MemberID: r.MemberID})
		return e
	}
	if g.state == Dead {
		return fail(ErrCoordinatorNotAvailable)
	}
	if r.SessionTimeout < g.limits.MinSessionTimeout || r.SessionTimeout > g.limits.MaxSessionTimeout {
		return fail(ErrInvalidSessionTimeout)
	}
	if r.RebalanceTimeout <= 0 {
		// JoinGroup v0 has no rebalance timeout: Kafka uses the session
		// timeout.
		r.RebalanceTimeout = r.SessionTimeout
	}
	if r.MemberID == "" {
		if !g.supports(r.ProtocolType, r.Protocols) {
			return fail(ErrInconsistentProtocol)
		}
		if r.InstanceID != "" {
			if old, ok := g.instances[r.InstanceID]; ok {
				return g.staticRejoin(now, g.members[old], r, e)
			}
		}
		if len(g.members) >= g.limits.MaxSize {
			return fail(ErrGroupMaxSizeReached)
		}
		if r.InstanceID == "" && r.RequireKnownMemberID {
			g.pending[r.NewMemberID] = now.Add(r.SessionTimeout)
			e.join(r.Waiter, JoinResult{Err: ErrMemberIDRequired, MemberID: r.NewMemberID, Generation: -1})
			return e
		}
		r.MemberID = r.NewMemberID
		g.addMember(now, r, &e)
		return e
	}

	if _, ok := g.pending[r.MemberID]; ok {
		delete(g.pending, r.MemberID)
		if !g.supports(r.ProtocolType, r.Protocols) {
			return fail(ErrInconsistentProtocol)
		}
		if len(g.members) >= g.limits.MaxSize {
			return fail(ErrGroupMaxSizeReached)
		}
		g.addMember(now, r, &e)
		return e
	}
	if g.isFenced(r.InstanceID, r.MemberID) {
		return fail(ErrFencedInstanceID)
	}
	m := g.members[r.MemberID]
	if m == nil {
		return fail(ErrUnknownMemberID)
	}
	if !g.supports(r.ProtocolType, r.Protocols) {
		return fail(ErrInconsistentProtocol)
	}
	switch g.state {
	case PreparingRebalance:
		g.updateMember(now, m, r, &e)
	case CompletingRebalance:
		if m.matches(r.Protocols) {
			// A retried join (the answer was lost): answer it again.
			e.join(r.Waiter, g.joinResultFor(m))
			return e
		}
		g.updateMember(now, m, r, &e)
	case Stable:
		if m.MemberID == g.Leader || !m.matches(r.Protocols) {
			// The leader rejoining means it wants a new assignment
			// (its metadata may have changed, e.g. new topics matched
			// a regex subscription).
			g.updateMember(now, m, r, &e)
			return e
		}
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
		e.join(r.Waiter, JoinResult{MemberID: m.MemberID, Generation: g.Generation,
			ProtocolType: g.ProtocolType, Protocol: g.Protocol, LeaderID: g.Leader})
	default:
		return fail(ErrUnknownMemberID)
	}
	return e
}

// staticRejoin handles a join with an unknown member id but a known
// group.instance.id (KIP-345): the new member id replaces the old one, the
// old one is fenced, and if nothing changed the group stays Stable.
func (g *Group) staticRejoin(now time.Time, m *Member, r JoinRequest, e Effects) Effects {
	// Whatever the old incarnation was waiting for, it is fenced now.
	e.join(m.joinWaiter, JoinResult{Err: ErrFencedInstanceID, MemberID: m.MemberID})
	e.sync(m.syncWaiter, SyncResult{Err: ErrFencedInstanceID})
	m.joinWaiter, m.syncWaiter = 0, 0
	old := m.MemberID
	m.MemberID = r.NewMemberID
	delete(g.members, old)
	g.members[m.MemberID] = m
	g.order[slices.Index(g.order, old)] = m.MemberID
	g.instances[r.InstanceID] = m.MemberID
	if g.Leader == old {
		g.Leader = m.MemberID
	}
	r.MemberID = m.MemberID
	switch g.state {
	case Stable:
		if !m.matches(r.Protocols) {
			g.updateMember(now, m, r, &e)
			return e
		}
		m.ClientID, m.ClientHost = r.ClientID, r.ClientHost
		m.SessionTimeout, m.RebalanceTimeout = r.SessionTimeout, r.RebalanceTimeout
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
		e.StoreGroup = true
		res := JoinResult{MemberID: m.MemberID, Generation: g.Generation,
			ProtocolType: g.ProtocolType, Protocol: g.Protocol, LeaderID: g.Leader}
		if m.MemberID == g.Leader {
			// The leader gets the member list so an old client (no
			// skip_assignment, v<9) can compute the same assignment
			// again; its SyncGroup in Stable changes nothing.
			res.Members = g.joinMembers()
			res.SkipAssignment = true
		}
		e.join(r.Waiter, res)
	default:
		g.updateMember(now, m, r, &e)
	}
	return e
}

// addMember adds a member awaiting join and starts or advances the
// rebalance.
func (g *Group) addMember(now time.Time, r JoinRequest, e *Effects) {
	m := &Member{
		MemberID: r.MemberID, InstanceID: r.InstanceID,
		ClientID: r.ClientID, ClientHost: r.ClientHost,
		Protocols:      r.Protocols,
		SessionTimeout: r.SessionTimeout, RebalanceTimeout: r.RebalanceTimeout,
		joinWaiter: r.Waiter,
	}
	if len(g.members) == 0 {
		g.ProtocolType = r.ProtocolType
	}
	g.members[m.MemberID] = m
	g.order = append(g.order, m.MemberID)
	if m.InstanceID != "" {
		g.instances[m.InstanceID] = m.MemberID
	}
	if g.Leader == "" {
		g.Leader = m.MemberID
	}
	g.newMemberAdded = true
	g.rebalance(now, e)
}

// updateMember records a known member's rejoin and starts or advances the
// rebalance.
func (g *Group) updateMember(now time.Time, m *Member, r JoinRequest, e *Effects) {
	if m.joinWaiter != 0 && m.joinWaiter != r.Waiter {
		// The member joined again (another connection) while its
		// first join waits: only the latest gets the generation.
		e.join(m.joinWaiter, JoinResult{Err: ErrRebalanceInProgress, MemberID: m.MemberID})
	}
	m.Protocols = r.Protocols
	m.ClientID, m.ClientHost = r.ClientID, r.ClientHost
	m.SessionTimeout, m.RebalanceTimeout = r.SessionTimeout, r.RebalanceTimeout
	m.joinWaiter = r.Waiter
	g.rebalance(now, e)
}

// rebalance starts a rebalance unless one is running, then completes the
// join phase if everyone is in.
func (g *Group) rebalance(now time.Time, e *Effects) {
	if g.state != PreparingRebalance {
		g.prepareRebalance(now, e)
	}
	g.tryCompleteJoin(now, e)
}

func (g *Group) prepareRebalance(now time.Time, e *Effects) {
	if g.state == CompletingRebalance {
		// The assignment being computed is for a generation that will
		// never be Stable: tell the members waiting for it to rejoin.
		for _, m := range g.members {
			e.sync(m.syncWaiter, SyncResult{Err: ErrRebalanceInProgress})
			m.syncWaiter = 0
			m.Assignment = nil
		}
	}
	for _, m := range g.members {
		m.needsSync = false
	}
	g.syncDeadline = time.Time{}
	if g.state == Empty {
		g.initialDelay = true
		g.newMemberAdded = false
		d := g.limits.InitialRebalanceDelay
		g.remainingDelay = max(g.maxRebalanceTimeout()-d, 0)
		g.joinDeadline = now.Add(d)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
	}
	g.setState(PreparingRebalance, now)
}

// allJoined: every member has rejoined and no handed-out id is pending.
func (g *Group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinWaiter == 0 {
			return false
		}
	}
	return true
}

func (g *Group) tryCompleteJoin(now time.Time, e *Effects) {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoined() {
		g.completeJoin(now, e)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are removed, the generation advances, and everyone waiting gets the
// answer (the leader with the member list).
func (g *Group) completeJoin(now time.Time, e *Effects) {
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		if m.joinWaiter == 0 && m.InstanceID == "" {
			g.removeMember(m, e)
		}
	}
	if m := g.members[g.Leader]; m == nil || m.joinWaiter == 0 {
		g.Leader = ""
		for _, id := range g.order {
			if g.members[id].joinWaiter != 0 {
				g.Leader = id
				break
			}
		}
	}
	g.initialDelay, g.newMemberAdded = false, false
	g.joinDeadline = time.Time{}
	g.Generation++
	if len(g.members) == 0 || g.Leader == "" {
		// Nobody is left (only static members that did not rejoin would
		// be): the group is Empty at a new generation, as Kafka does.
		for _, id := range slices.Clone(g.order) {
			g.removeMember(g.members[id], e)
		}
		g.Protocol, g.Leader = "", ""
		g.setState(Empty, now)
		e.StoreGroup = true
		return
	}
	g.Protocol = g.selectProtocol()
	g.setState(CompletingRebalance, now)
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	for _, id := range g.order {
		m := g.members[id]
		if m.joinWaiter == 0 {
			continue
		}
		e.join(m.joinWaiter, g.joinResultFor(m))
		m.joinWaiter = 0
		m.needsSync = true
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
	}
}

func (g *Group) joinMembers() []JoinMember {
	ms := make([]JoinMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		ms = append(ms, JoinMember{MemberID: m.MemberID, InstanceID: m.InstanceID, Metadata: m.metadataFor(g.Protocol)})
	}
	return ms
}

func (g *Group) joinResultFor(m *Member) JoinResult {
	res := JoinResult{MemberID: m.MemberID, Generation: g.Generation,
		ProtocolType: g.ProtocolType, Protocol: g.Protocol, LeaderID: g.Leader}
	if m.MemberID == g.Leader {
		res.Members = g.joinMembers()
	}
	return res
}

// removeMember drops m; its waiting requests get UNKNOWN_MEMBER_ID. It does
// not start a rebalance (see afterRemoval).
func (g *Group) removeMember(m *Member, e *Effects) {
	e.join(m.joinWaiter, JoinResult{Err: ErrUnknownMemberID, MemberID: m.MemberID})
	e.sync(m.syncWaiter, SyncResult{Err: ErrUnknownMemberID})
	m.joinWaiter, m.syncWaiter = 0, 0
	delete(g.members, m.MemberID)
	if i := slices.Index(g.order, m.MemberID); i >= 0 {
		g.order = slices.Delete(g.order, i, i+1)
	}
	if m.InstanceID != "" && g.instances[m.InstanceID] == m.MemberID {
		delete(g.instances, m.InstanceID)
	}
	if g.Leader == m.MemberID {
		g.Leader = ""
		if len(g.order) > 0 {
			g.Leader = g.order[0]
		}
	}
}

// afterRemoval rebalances after members left or expired.
func (g *Group) afterRemoval(now time.Time, e *Effects) {
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, e)
		g.tryCompleteJoin(now, e)
	case PreparingRebalance:
		g.tryCompleteJoin(now, e)
	}
}

// Sync handles a SyncGroup.
func (g *Group) Sync(now time.Time, r SyncRequest) Effects {
	var e Effects
	fail := func(err error) Effects {
		e.sync(r.Waiter, SyncResult{Err: err})
		return e
	}
	if g.state == Dead {
		return fail(ErrCoordinatorNotAvailable)
	}
	if g.isFenced(r.InstanceID, r.MemberID) {
		return fail(ErrFencedInstanceID)
	}
	m := g.members[r.MemberID]
	if m == nil {
		return fail(ErrUnknownMemberID)
	}
	if r.Generation != g.Generation {
		return fail(ErrIllegalGeneration)
	}
	if (r.ProtocolType != "" && r.ProtocolType != g.ProtocolType) || (r.Protocol != "" && r.Protocol != g.Protocol) {
		return fail(ErrInconsistentProtocol)
	}
	switch g.state {
	case Empty:
		return fail(ErrUnknownMemberID)
	case PreparingRebalance:
		return fail(ErrRebalanceInProgress)
	case CompletingRebalance:
		m.needsSync = false
		if m.syncWaiter != 0 && m.syncWaiter != r.Waiter {
			e.sync(m.syncWaiter, SyncResult{Err: ErrRebalanceInProgress})
		}
		m.syncWaiter = r.Waiter
		if r.MemberID != g.Leader {
			return e
		}
		for _, mm := range g.members {
			mm.Assignment = r.Assignments[mm.MemberID]
			if mm.Assignment == nil {
				mm.Assignment = []byte{}
			}
		}
		g.setState(Stable, now)
		e.StoreGroup = true
		for _, id := range g.order {
			mm := g.members[id]
			if mm.syncWaiter != 0 {
				e.sync(mm.syncWaiter, SyncResult{ProtocolType: g.ProtocolType, Protocol: g.Protocol, Assignment: mm.Assignment})
				mm.syncWaiter = 0
				mm.heartbeatDeadline = now.Add(mm.SessionTimeout)
			}
		}
		g.syncDeadline = time.Time{}
		if g.anyNeedsSync() {
			// Kafka keeps the pending-sync deadline in Stable too: a
			// member that never syncs is removed.
			g.syncDeadline = now.Add(g.maxRebalanceTimeout())
		}
	case Stable:
		m.needsSync = false
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
		e.sync(r.Waiter, SyncResult{ProtocolType: g.ProtocolType, Protocol: g.Protocol, Assignment: m.Assignment})
		if !g.anyNeedsSync() {
			g.syncDeadline = time.Time{}
		}
	}
	return e
}

// StoreFailed is called when writing the group's metadata failed after an
// event that changed it (a SyncGroup leader's assignment, a static member's
// rejoin): the members were answered with the error, and, as Kafka's
// coordinator does, the assignments that never became durable are dropped
// and a group with members rebalances, so that they rejoin and the next
// generation's metadata is written.
func (g *Group) StoreFailed(now time.Time) Effects {
	var e Effects
	if g.state == Dead || g.state == Empty || len(g.members) == 0 {
		return e
	}
	for _, m := range g.members {
		m.Assignment = nil
	}
	if g.state != PreparingRebalance {
		g.prepareRebalance(now, &e)
	}
	return e
}

func (g *Group) anyNeedsSync() bool {
	for _, m := range g.members {
		if m.needsSync {
			return true
		}
	}
	return false
}

// Heartbeat handles a Heartbeat.
func (g *Group) Heartbeat(now time.Time, memberID, instanceID string, generation int32) error {
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	if g.isFenced(instanceID, memberID) {
		return ErrFencedInstanceID
	}
	m := g.members[memberID]
	if m == nil {
		return ErrUnknownMemberID
	}
	if generation != g.Generation {
		return ErrIllegalGeneration
	}
	switch g.state {
	case Empty:
		return ErrUnknownMemberID
	case PreparingRebalance:
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
		return ErrRebalanceInProgress
	default:
		m.heartbeatDeadline = now.Add(m.SessionTimeout)
		return nil
	}
}

// LeaveMember is one member leaving (LeaveGroup v3+ batches them).
type LeaveMember struct {
	MemberID   string
	InstanceID string
}

// Leave removes members. errs[i] is the outcome for ms[i].
func (g *Group) Leave(now time.Time, ms []LeaveMember) (errs []error, e Effects) {
	errs = make([]error, len(ms))
	removed := false
	for i, lm := range ms {
		if g.state == Dead {
			errs[i] = ErrCoordinatorNotAvailable
			continue
		}
		id := lm.MemberID
		if lm.InstanceID != "" {
			held, ok := g.instances[lm.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMemberID
				continue
			case id != "" && id != held:
				errs[i] = ErrFencedInstanceID
				continue
			}
			id = held
		}
		if _, ok := g.pending[id]; ok {
			// A handed-out id that never joined: nothing to
			// rebalance, but a join phase may have waited for it.
			delete(g.pending, id)
			g.tryCompleteJoin(now, &e)
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = ErrUnknownMemberID
			continue
		}
		g.removeMember(m, &e)
		removed = true
	}
	if removed {
		g.afterRemoval(now, &e)
	}
	return errs, e
}

// NextDeadline returns when Tick must next run; zero when nothing is due.
func (g *Group) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, d := range g.pending {
		earlier(d)
	}
	for _, m := range g.members {
		if m.joinWaiter == 0 && m.syncWaiter == 0 {
			earlier(m.heartbeatDeadline)
		}
	}
	if g.state == PreparingRebalance {
		earlier(g.joinDeadline)
	}
	earlier(g.syncDeadline)
	return next
}

// Tick handles every deadline at or before now: expired pending ids and
// sessions, the end of the join phase or of an initial-delay step, and
// members that never sent SyncGroup.
func (g *Group) Tick(now time.Time) Effects {
	var e Effects
	if g.state == Dead {
		return e
	}
	for id, d := range g.pending {
		if !d.After(now) {
			// Not a member yet: its expiry only unblocks a join phase
			// that waited for it (Kafka does not rebalance for it).
			delete(g.pending, id)
			g.tryCompleteJoin(now, &e)
		}
	}
	removed := false
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		if m.joinWaiter == 0 && m.syncWaiter == 0 && !m.heartbeatDeadline.IsZero() && !m.heartbeatDeadline.After(now) {
			g.removeMember(m, &e)
			removed = true
		}
	}
	if removed {
		g.afterRemoval(now, &e)
	}
	if !g.syncDeadline.IsZero() && !g.syncDeadline.After(now) {
		g.syncDeadline = time.Time{}
		if g.state == CompletingRebalance || g.state == Stable {
			for _, id := range slices.Clone(g.order) {
				if m := g.members[id]; m.needsSync {
					g.removeMember(m, &e)
				}
			}
			g.prepareRebalance(now, &e)
			g.tryCompleteJoin(now, &e)
		}
	}
	if g.state == PreparingRebalance && !g.joinDeadline.After(now) {
		if g.initialDelay && g.newMemberAdded && g.remainingDelay > 0 {
			// KIP-134: members keep arriving; wait another step, up
			// to the rebalance timeout in all.
			d := min(g.limits.InitialRebalanceDelay, g.remainingDelay)
			g.remainingDelay -= d
			g.newMemberAdded = false
			g.joinDeadline = now.Add(d)
		} else {
			g.completeJoin(now, &e)
		}
	}
	return e
}

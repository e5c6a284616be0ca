package group

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The consumer group protocol of KIP-848 ("next generation" groups): the
// broker, not a leader client, computes the assignment, and members learn
// it through ConsumerGroupHeartbeat.
//
// # Epochs
//
//   - The group epoch moves whenever what the assignment depends on
//     changes: a member joins, leaves or is fenced, a subscription or the
//     chosen assignor changes, or a subscribed topic appears or changes
//     its partition count.
//   - The target assignment is computed at once for the new group epoch;
//     its epoch (AssignmentEpoch) then equals the group epoch. Invariant:
//     AssignmentEpoch <= GroupEpoch.
//   - Each member has its own member epoch: the target epoch it has
//     reconciled to. Invariant: MemberEpoch <= AssignmentEpoch.
//
// # Reconciliation (revocation first)
//
// A member moves to a new target in two steps. If it owns partitions the
// target takes away, it is first told to drop them (its Assigned shrinks,
// the rest wait in PendingRevocation) and keeps its epoch; only when a
// heartbeat reports owned partitions without them (or it leaves or is
// fenced) does it advance to the target epoch. A partition newly in a
// member's target is handed over only once no other member owns it, as
// Assigned or PendingRevocation: so no partition is ever consumed by two
// members at once. A member that waits for such partitions is at the
// target epoch already and gets them on a later heartbeat.

var (
	// ErrFencedMemberEpoch: the member's epoch is not the one the group
	// has for it; it must rejoin with epoch 0.
	ErrFencedMemberEpoch = errors.New("group: fenced member epoch")
	// ErrStaleMemberEpoch: an OffsetCommit from a consumer group member
	// carries an epoch other than the member's current one.
	ErrStaleMemberEpoch = errors.New("group: stale member epoch")
	// ErrUnreleasedInstanceID: a static member joins with an instance id
	// another live member still holds.
	ErrUnreleasedInstanceID = errors.New("group: unreleased instance id")
	// ErrUnsupportedAssignor: the heartbeat names a server assignor the
	// broker does not have.
	ErrUnsupportedAssignor = errors.New("group: unsupported assignor")
	// ErrInvalidRequest: a heartbeat is missing a field its epoch requires.
	ErrInvalidRequest = errors.New("group: invalid request")
	// ErrInvalidRegularExpression: SubscribedTopicRegex does not compile.
	ErrInvalidRegularExpression = errors.New("group: invalid regular expression")
)

// ConsumerState is a consumer group's state as ConsumerGroupDescribe and
// ListGroups name it.
type ConsumerState int8

const (
	ConsumerEmpty ConsumerState = iota
	// ConsumerAssigning: the target assignment lags the group epoch. It
	// is transient here (the target is computed in the same event).
	ConsumerAssigning
	// ConsumerReconciling: some member has not reached the target.
	ConsumerReconciling
	ConsumerStable
	ConsumerDead
)

var consumerStateNames = [...]string{"Empty", "Assigning", "Reconciling", "Stable", "Dead"}

func (s ConsumerState) String() string {
	if s < 0 || int(s) >= len(consumerStateNames) {
		return "Unknown"
	}
	return consumerStateNames[s]
}

// MemberState is how far a member is in reconciling to its target; the
// values are Kafka's (stored in the current assignment record).
type MemberState int8

const (
	MemberStable MemberState = 0
	// MemberUnrevokedPartitions: the member must drop PendingRevocation
	// before it may advance.
	MemberUnrevokedPartitions MemberState = 1
	// MemberUnreleasedPartitions: the member is at the target epoch but
	// waits for partitions other members still own.
	MemberUnreleasedPartitions MemberState = 2
)

// ConsumerLimits are the broker settings of consumer groups.
type ConsumerLimits struct {
	// SessionTimeout is group.consumer.session.timeout.ms (45s).
	SessionTimeout time.Duration
	// HeartbeatInterval is group.consumer.heartbeat.interval.ms (5s).
	HeartbeatInterval time.Duration
	// MaxSize is group.consumer.max.size.
	MaxSize int
}

func (l ConsumerLimits) withDefaults() ConsumerLimits {
	if l.SessionTimeout <= 0 {
		l.SessionTimeout = 45 * time.Second
	}
	if l.HeartbeatInterval <= 0 {
		l.HeartbeatInterval = 5 * time.Second
	}
	if l.MaxSize <= 0 {
		l.MaxSize = int(^uint32(0) >> 1)
	}
	return l
}

// TopicMeta is one topic as a heartbeat sees the cluster.
type TopicMeta struct {
	Name       string
	ID         TopicID
	Partitions int32
	Internal   bool // never matched by a subscription regex, as in Kafka
}

// TopicImage is a snapshot of the cluster's topics by name. The caller
// takes it outside the group lock (see doc.go) and passes it in.
type TopicImage map[string]TopicMeta

// ConsumerMember is one member of a consumer group.
type ConsumerMember struct {
	MemberID   string
	InstanceID string // "" for a dynamic member
	RackID     string
	ClientID   string
	ClientHost string
	// RebalanceTimeout bounds how long the member may take to revoke.
	RebalanceTimeout     time.Duration
	SubscribedTopicNames []string // sorted
	SubscribedTopicRegex string
	ServerAssignor       string // "" when the member did not ask

	MemberEpoch         int32
	PreviousMemberEpoch int32
	State               MemberState
	// Assigned is what the member may consume now. PendingRevocation is
	// what it was told to drop and has not confirmed dropping. The two
	// never overlap.
	Assigned          Assignment
	PendingRevocation Assignment

	regex *regexp.Regexp // compiled SubscribedTopicRegex; nil if none
	// sendAssignment: Assigned changed since the last answer, so the next
	// answer carries it (an answer without it means "unchanged").
	sendAssignment bool
	// leftStatic: the static member sent epoch -2; it keeps its
	// partitions until the session expires or its instance rejoins.
	leftStatic        bool
	heartbeatDeadline time.Time
	// revokeDeadline is set while State is MemberUnrevokedPartitions: the
	// member is fenced if it has not revoked by then.
	revokeDeadline time.Time
}

// subscribes reports whether the member wants topic t.
func (m *ConsumerMember) subscribes(t TopicMeta) bool {
	if _, ok := slices.BinarySearch(m.SubscribedTopicNames, t.Name); ok {
		return true
	}
	return m.regex != nil && !t.Internal && m.regex.MatchString(t.Name)
}

// compileRegex compiles a subscription regex as Kafka matches it: the
// whole topic name (Java's Matcher.matches), RE2 syntax (Kafka uses RE2/J).
func compileRegex(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + s + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRegularExpression, err)
	}
	return re, nil
}

// ConsumerGroup is one KIP-848 group: its epochs, members, target
// assignment and the topic metadata that target was computed from. It is a
// pure state machine like Group: every event takes now and the caller
// serialises calls and does the I/O (records to write come from Records).
type ConsumerGroup struct {
	ID     string
	limits ConsumerLimits

	GroupEpoch      int32
	AssignmentEpoch int32
	// members by id; instances maps instance id -> member id.
	members   map[string]*ConsumerMember
	instances map[string]string
	// target is each member's target assignment at AssignmentEpoch.
	target map[string]Assignment
	// subscribed is the metadata of the subscribed topics when the group
	// epoch last moved; a heartbeat that sees it differ bumps the epoch.
	subscribed map[string]TopicMeta
	assignor   string // the assignor of the current target

	// dirty tracks what Records must write (see consumer_records.go).
	dirty consumerDirty
}

// NewConsumerGroup returns an empty consumer group.
func NewConsumerGroup(id string, limits ConsumerLimits) *ConsumerGroup {
	return &ConsumerGroup{
		ID: id, limits: limits.withDefaults(),
		members:    make(map[string]*ConsumerMember),
		instances:  make(map[string]string),
		target:     make(map[string]Assignment),
		subscribed: make(map[string]TopicMeta),
		dirty:      newConsumerDirty(),
	}
}

// State derives the group's state from its epochs and members.
func (g *ConsumerGroup) State() ConsumerState {
	switch {
	case len(g.members) == 0:
		return ConsumerEmpty
	case g.AssignmentEpoch != g.GroupEpoch:
		return ConsumerAssigning
	}
	for _, m := range g.members {
		if m.MemberEpoch != g.AssignmentEpoch || m.State != MemberStable {
			return ConsumerReconciling
		}
	}
	return ConsumerStable
}

// Members returns the members sorted by id. Read them, do not change them.
func (g *ConsumerGroup) Members() []*ConsumerMember {
	ms := make([]*ConsumerMember, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *ConsumerMember) int { return cmp.Compare(a.MemberID, b.MemberID) })
	return ms
}

// Member returns a member or nil.
func (g *ConsumerGroup) Member(id string) *ConsumerMember { return g.members[id] }

// Target returns a member's target assignment (nil when it has none).
func (g *ConsumerGroup) Target(memberID string) Assignment { return g.target[memberID] }

// Assignor is the assignor of the current target ("" before the first).
func (g *ConsumerGroup) Assignor() string { return g.assignor }

// NumMembers is the number of members.
// clone returns a deep copy: the coordinator keeps one across an event so
// that, when the event's records cannot be written, the group goes back to
// what the log says (as Kafka's coordinator runtime reverts uncommitted
// state). The compiled regexes are immutable and shared.
func (g *ConsumerGroup) clone() *ConsumerGroup {
	c := *g
	c.members = make(map[string]*ConsumerMember, len(g.members))
	for id, m := range g.members {
		mc := *m
		mc.SubscribedTopicNames = slices.Clone(m.SubscribedTopicNames)
		mc.Assigned = m.Assigned.Clone()
		mc.PendingRevocation = m.PendingRevocation.Clone()
		c.members[id] = &mc
	}
	c.instances = maps.Clone(g.instances)
	c.target = make(map[string]Assignment, len(g.target))
	for id, a := range g.target {
		c.target[id] = a.Clone()
	}
	c.subscribed = maps.Clone(g.subscribed)
	c.dirty = consumerDirty{
		epoch: g.dirty.epoch, targetEpoch: g.dirty.targetEpoch, partitionMeta: g.dirty.partitionMeta,
		members: maps.Clone(g.dirty.members), targets: maps.Clone(g.dirty.targets),
		currents: maps.Clone(g.dirty.currents), gone: maps.Clone(g.dirty.gone),
	}
	return &c
}

func (g *ConsumerGroup) NumMembers() int { return len(g.members) }

// SubscribedTopics returns the topic names any member subscribes to (by
// name, or matched by a regex among the topics seen at the last epoch).
func (g *ConsumerGroup) SubscribedTopics() map[string]bool {
	out := make(map[string]bool)
	for _, m := range g.members {
		for _, n := range m.SubscribedTopicNames {
			out[n] = true
		}
	}
	for n := range g.subscribed {
		out[n] = true
	}
	return out
}

// ConsumerHeartbeat is a ConsumerGroupHeartbeat as the machine sees it.
// Pointer and slice fields are nil when the client left them null
// ("unchanged").
type ConsumerHeartbeat struct {
	MemberID             string
	MemberEpoch          int32
	InstanceID           *string
	RackID               *string
	RebalanceTimeout     time.Duration // < 0: unchanged
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	ServerAssignor       *string
	// Owned is what the client consumes now; nil: unchanged.
	Owned      Assignment
	ClientID   string
	ClientHost string
	// NewMemberID is used when a v0 client joins without an id (v1+
	// clients make their own).
	NewMemberID string
}

// ConsumerHeartbeatResult answers a heartbeat.
type ConsumerHeartbeatResult struct {
	Err         error
	MemberID    string
	MemberEpoch int32
	// Assignment is the member's assignment when it must be sent; nil
	// means "unchanged" (the response's null).
	Assignment        Assignment
	HeartbeatInterval time.Duration
}

// Heartbeat handles a ConsumerGroupHeartbeat: join (epoch 0), heartbeat
// (epoch > 0), leave (-1) or static leave (-2). topics is the cluster's
// topics now; subscribed topics that appeared or changed their partition
// count since the last epoch bump the group epoch.
func (g *ConsumerGroup) Heartbeat(now time.Time, r ConsumerHeartbeat, topics TopicImage) ConsumerHeartbeatResult {
	res := ConsumerHeartbeatResult{MemberID: r.MemberID, MemberEpoch: r.MemberEpoch, HeartbeatInterval: g.limits.HeartbeatInterval}
	fail := func(err error) ConsumerHeartbeatResult {
		res.Err = err
		return res
	}
	if err := validateHeartbeat(r); err != nil {
		return fail(err)
	}
	if r.ServerAssignor != nil && *r.ServerAssignor != "" && !KnownAssignor(*r.ServerAssignor) {
		return fail(fmt.Errorf("%w: %q (have %q, %q)", ErrUnsupportedAssignor, *r.ServerAssignor, AssignorUniform, AssignorRange))
	}
	var re *regexp.Regexp
	if r.SubscribedTopicRegex != nil {
		var err error
		if re, err = compileRegex(*r.SubscribedTopicRegex); err != nil {
			return fail(err)
		}
	}
	switch r.MemberEpoch {
	case -1, -2:
		return g.leave(now, r, topics, res)
	}

	m, created, err := g.memberFor(now, r)
	if err != nil {
		return fail(err)
	}
	res.MemberID = m.MemberID

	// Update the member's description; a change to what the assignment
	// depends on bumps the group epoch.
	bump := created // a new member changes the group
	if r.InstanceID != nil && *r.InstanceID != m.InstanceID && m.InstanceID == "" {
		m.InstanceID = *r.InstanceID
		g.instances[m.InstanceID] = m.MemberID
		g.dirty.member(m.MemberID)
	}
	if r.RackID != nil && *r.RackID != m.RackID {
		m.RackID = *r.RackID
		g.dirty.member(m.MemberID)
	}
	if r.RebalanceTimeout >= 0 && r.RebalanceTimeout != m.RebalanceTimeout {
		m.RebalanceTimeout = r.RebalanceTimeout
		g.dirty.member(m.MemberID)
	}
	if r.ClientID != "" && r.ClientID != m.ClientID {
		m.ClientID, m.ClientHost = r.ClientID, r.ClientHost
		g.dirty.member(m.MemberID)
	}
	if r.SubscribedTopicNames != nil {
		names := slices.Clone(r.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.SubscribedTopicNames) {
			m.SubscribedTopicNames = names
			bump = true
		}
	}
	if r.SubscribedTopicRegex != nil && *r.SubscribedTopicRegex != m.SubscribedTopicRegex {
		m.SubscribedTopicRegex, m.regex = *r.SubscribedTopicRegex, re
		bump = true
	}
	if r.ServerAssignor != nil && *r.ServerAssignor != m.ServerAssignor {
		m.ServerAssignor = *r.ServerAssignor
		bump = true
	}
	if bump {
		g.dirty.member(m.MemberID)
	}
	m.heartbeatDeadline = now.Add(g.limits.SessionTimeout)

	// A changed subscription or topic metadata: new group epoch, new target.
	if sub := g.computeSubscribed(topics); bump || !subscribedEqual(sub, g.subscribed) || g.chooseAssignor() != g.assignor {
		g.bumpEpoch(sub)
	}

	if r.Owned != nil {
		g.ackRevocation(now, m, r.Owned.normalized())
	}
	g.reconcile(now, m)
	// Other members may now get partitions m released.
	if r.Owned != nil || r.MemberEpoch == 0 {
		g.releaseToWaiting(now, m.MemberID)
	}

	res.MemberEpoch = m.MemberEpoch
	if m.sendAssignment || r.Owned != nil {
		res.Assignment = m.Assigned.Clone()
		if res.Assignment == nil {
			res.Assignment = Assignment{}
		}
		m.sendAssignment = false
	}
	return res
}

// validateHeartbeat checks the fields Kafka requires for each epoch.
func validateHeartbeat(r ConsumerHeartbeat) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrInvalidRequest, what) }
	switch {
	case r.MemberEpoch < -2:
		return bad("member epoch below -2")
	case r.MemberEpoch == 0:
		if r.RebalanceTimeout < 0 {
			return bad("rebalance timeout must be set when joining")
		}
		if r.SubscribedTopicNames == nil && r.SubscribedTopicRegex == nil {
			return bad("subscribed topic names or regex must be set when joining")
		}
		if r.Owned == nil {
			return bad("topic partitions must be set (empty) when joining")
		}
	case r.MemberEpoch == -2:
		if r.InstanceID == nil || *r.InstanceID == "" {
			return bad("a static leave (epoch -2) needs the instance id")
		}
		fallthrough
	default:
		if r.MemberID == "" {
			return bad("member id is required")
		}
	}
	return nil
}

// memberFor returns the heartbeat's member, creating or taking over one
// on a join, and checks the epoch otherwise.
func (g *ConsumerGroup) memberFor(now time.Time, r ConsumerHeartbeat) (m *ConsumerMember, created bool, err error) {
	instance := ""
	if r.InstanceID != nil {
		instance = *r.InstanceID
	}
	if r.MemberEpoch != 0 {
		m = g.members[r.MemberID]
		if m == nil {
			return nil, false, fmt.Errorf("%w: %q", ErrUnknownMemberID, r.MemberID)
		}
		if m.leftStatic {
			return nil, false, fmt.Errorf("%w: static member %q left", ErrUnknownMemberID, r.MemberID)
		}
		if r.MemberEpoch != m.MemberEpoch {
			// The member may have missed our last answer: Kafka accepts
			// the previous epoch if what it owns is within its assignment.
			if r.MemberEpoch == m.PreviousMemberEpoch && r.Owned != nil && ownedWithin(r.Owned.normalized(), m.Assigned) {
				return m, false, nil
			}
			return nil, false, fmt.Errorf("%w: member %q sent epoch %d, has %d", ErrFencedMemberEpoch, m.MemberID, r.MemberEpoch, m.MemberEpoch)
		}
		return m, false, nil
	}

	// Epoch 0: a join.
	if instance != "" {
		if prevID, ok := g.instances[instance]; ok {
			prev := g.members[prevID]
			if prev.MemberID == r.MemberID && r.MemberID != "" {
				// A rejoin of the same member: reset it below.
			} else if !prev.leftStatic {
				return nil, false, fmt.Errorf("%w: %q is held by member %q", ErrUnreleasedInstanceID, instance, prevID)
			} else {
				// KIP-848 static membership: the new member takes over
				// the instance's member epoch and assignment, so a
				// restarted static consumer resumes without a rebalance.
				id := r.MemberID
				if id == "" {
					id = r.NewMemberID
				}
				if _, taken := g.members[id]; taken && id != prevID {
					return nil, false, fmt.Errorf("%w: member id %q is in use", ErrInvalidRequest, id)
				}
				g.replaceMember(prev, id)
				prev.leftStatic = false
				prev.sendAssignment = true
				return prev, false, nil
			}
		}
	}
	if m = g.members[r.MemberID]; m != nil && r.MemberID != "" {
		// The member lost its state (it was fenced, or restarted with
		// the same id): it owns nothing now. Its target stands, so it
		// gets it back without moving anything else.
		if m.MemberEpoch != 0 {
			g.freeMember(m)
			m.MemberEpoch, m.PreviousMemberEpoch, m.State = 0, 0, MemberStable
			g.dirty.current(m.MemberID)
		}
		m.leftStatic = false
		m.sendAssignment = true
		return m, false, nil
	}
	if len(g.members) >= g.limits.MaxSize {
		return nil, false, fmt.Errorf("%w: %d members", ErrGroupMaxSizeReached, len(g.members))
	}
	id := r.MemberID
	if id == "" {
		id = r.NewMemberID
	}
	m = &ConsumerMember{MemberID: id, InstanceID: instance, ClientID: r.ClientID, ClientHost: r.ClientHost,
		Assigned: Assignment{}, PendingRevocation: Assignment{}, sendAssignment: true}
	g.members[id] = m
	if instance != "" {
		g.instances[instance] = id
	}
	g.dirty.member(id)
	g.dirty.current(id)
	return m, true, nil
}

// ownedWithin reports whether every owned partition is in a.
func ownedWithin(owned, a Assignment) bool {
	for t, ps := range owned {
		for _, p := range ps {
			if !a.Has(t, p) {
				return false
			}
		}
	}
	return true
}

// replaceMember renames a member (a static member rejoining under a new
// member id): the old id's records become tombstones.
func (g *ConsumerGroup) replaceMember(m *ConsumerMember, newID string) {
	if m.MemberID == newID {
		return
	}
	old := m.MemberID
	delete(g.members, old)
	g.dirty.removed(old)
	m.MemberID = newID
	g.members[newID] = m
	g.instances[m.InstanceID] = newID
	if t, ok := g.target[old]; ok {
		delete(g.target, old)
		g.target[newID] = t
		g.dirty.targetOf(newID)
	}
	g.dirty.member(newID)
	g.dirty.current(newID)
}

// freeMember drops everything the member owns.
func (g *ConsumerGroup) freeMember(m *ConsumerMember) {
	m.Assigned, m.PendingRevocation = Assignment{}, Assignment{}
	m.revokeDeadline = time.Time{}
}

// leave handles epochs -1 (leave) and -2 (static member will rejoin).
func (g *ConsumerGroup) leave(now time.Time, r ConsumerHeartbeat, topics TopicImage, res ConsumerHeartbeatResult) ConsumerHeartbeatResult {
	m := g.members[r.MemberID]
	if m == nil {
		if r.InstanceID != nil {
			if id, ok := g.instances[*r.InstanceID]; ok {
				m = g.members[id]
			}
		}
		if m == nil {
			res.Err = fmt.Errorf("%w: %q", ErrUnknownMemberID, r.MemberID)
			return res
		}
	}
	if m.InstanceID != "" && r.InstanceID != nil && *r.InstanceID != m.InstanceID {
		res.Err = fmt.Errorf("%w: instance %q is not member %q's", ErrFencedInstanceID, *r.InstanceID, m.MemberID)
		return res
	}
	if r.MemberEpoch == -2 && m.InstanceID != "" {
		// The static member keeps its partitions for its instance to
		// take back; the session timeout removes it if it does not.
		m.leftStatic = true
		m.heartbeatDeadline = now.Add(g.limits.SessionTimeout)
		return res
	}
	g.removeMember(now, m, topics)
	return res
}

// removeMember drops a member (leave, fencing, expiry) and recomputes the
// target; its partitions are free at once.
func (g *ConsumerGroup) removeMember(now time.Time, m *ConsumerMember, topics TopicImage) {
	delete(g.members, m.MemberID)
	delete(g.target, m.MemberID)
	if m.InstanceID != "" && g.instances[m.InstanceID] == m.MemberID {
		delete(g.instances, m.InstanceID)
	}
	g.dirty.removed(m.MemberID)
	var sub map[string]TopicMeta
	if topics != nil {
		sub = g.computeSubscribed(topics)
	} else {
		// No fresh metadata (a timer): keep what the last epoch saw,
		// minus topics only this member subscribed to.
		sub = make(map[string]TopicMeta)
		for n, t := range g.subscribed {
			for _, o := range g.members {
				if o.subscribes(t) {
					sub[n] = t
					break
				}
			}
		}
	}
	g.bumpEpoch(sub)
	g.releaseToWaiting(now, "")
}

// computeSubscribed returns the metadata of every existing topic some
// member subscribes to.
func (g *ConsumerGroup) computeSubscribed(topics TopicImage) map[string]TopicMeta {
	out := make(map[string]TopicMeta)
	anyRegex := false
	for _, m := range g.members {
		for _, n := range m.SubscribedTopicNames {
			if t, ok := topics[n]; ok {
				out[n] = t
			}
		}
		anyRegex = anyRegex || m.regex != nil
	}
	if anyRegex {
		for n, t := range topics {
			if _, ok := out[n]; ok {
				continue
			}
			for _, m := range g.members {
				if m.regex != nil && m.subscribes(t) {
					out[n] = t
					break
				}
			}
		}
	}
	return out
}

func subscribedEqual(a, b map[string]TopicMeta) bool {
	if len(a) != len(b) {
		return false
	}
	for n, t := range a {
		if u, ok := b[n]; !ok || u.ID != t.ID || u.Partitions != t.Partitions {
			return false
		}
	}
	return true
}

// chooseAssignor picks the group's assignor: the one most members ask
// for, ties and no preference going to the default (as Kafka does).
func (g *ConsumerGroup) chooseAssignor() string {
	votes := make(map[string]int)
	for _, m := range g.members {
		if m.ServerAssignor != "" {
			votes[m.ServerAssignor]++
		}
	}
	best := DefaultAssignor
	for _, name := range []string{AssignorUniform, AssignorRange} {
		if votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// bumpEpoch moves the group epoch and computes the new target at once.
func (g *ConsumerGroup) bumpEpoch(sub map[string]TopicMeta) {
	g.GroupEpoch++
	g.subscribed = sub
	g.dirty.epoch = true
	g.dirty.partitionMeta = true
	g.assignor = g.chooseAssignor()
	spec := AssignSpec{}
	for _, t := range sub {
		spec.Topics = append(spec.Topics, AssignTopic{ID: t.ID, Name: t.Name, Partitions: t.Partitions})
	}
	for _, m := range g.Members() {
		am := AssignMember{MemberID: m.MemberID, Current: g.target[m.MemberID]}
		for _, t := range sub {
			if m.subscribes(t) {
				am.Topics = append(am.Topics, t.ID)
			}
		}
		spec.Members = append(spec.Members, am)
	}
	out, _ := Assign(g.assignor, spec)
	for id, a := range out {
		if !a.Equal(g.target[id]) {
			g.dirty.targetOf(id)
		}
		g.target[id] = a
	}
	g.AssignmentEpoch = g.GroupEpoch
	g.dirty.targetEpoch = true
}

// ackRevocation takes a heartbeat's owned partitions: pending revocations
// the member no longer owns are released.
func (g *ConsumerGroup) ackRevocation(now time.Time, m *ConsumerMember, owned Assignment) {
	if m.State != MemberUnrevokedPartitions {
		return
	}
	changed := false
	for t, ps := range m.PendingRevocation.Clone() {
		for _, p := range ps {
			if !owned.Has(t, p) {
				m.PendingRevocation.remove(t, p)
				changed = true
			}
		}
	}
	if changed {
		g.dirty.current(m.MemberID)
	}
}

// owners returns, for every partition some member other than skip owns,
// its owner.
func (g *ConsumerGroup) owners(skip string) map[topicPart]string {
	out := make(map[topicPart]string)
	for id, m := range g.members {
		if id == skip {
			continue
		}
		for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
			for t, ps := range a {
				for _, p := range ps {
					out[topicPart{t, p}] = id
				}
			}
		}
	}
	return out
}

// reconcile moves m towards its target: revoke first, then advance the
// epoch and take what is free.
func (g *ConsumerGroup) reconcile(now time.Time, m *ConsumerMember) {
	target := g.target[m.MemberID]
	if m.State == MemberUnrevokedPartitions {
		if m.PendingRevocation.Len() > 0 {
			return
		}
		m.State, m.revokeDeadline = MemberStable, time.Time{}
		g.dirty.current(m.MemberID)
	}
	if m.MemberEpoch == g.AssignmentEpoch && m.State == MemberStable {
		return
	}
	// Revoke whatever the target no longer has.
	var revoke Assignment
	for t, ps := range m.Assigned {
		for _, p := range ps {
			if !target.Has(t, p) {
				if revoke == nil {
					revoke = Assignment{}
				}
				revoke.add(t, p)
			}
		}
	}
	if revoke != nil {
		for t, ps := range revoke {
			for _, p := range ps {
				m.Assigned.remove(t, p)
				m.PendingRevocation.add(t, p)
			}
		}
		m.State = MemberUnrevokedPartitions
		rt := m.RebalanceTimeout
		if rt <= 0 {
			rt = g.limits.SessionTimeout
		}
		m.revokeDeadline = now.Add(rt)
		m.sendAssignment = true
		g.dirty.current(m.MemberID)
		return
	}
	// Nothing to revoke: advance to the target epoch, take what is free.
	if m.MemberEpoch != g.AssignmentEpoch {
		m.PreviousMemberEpoch, m.MemberEpoch = m.MemberEpoch, g.AssignmentEpoch
		g.dirty.current(m.MemberID)
	}
	g.takeFree(m, g.owners(m.MemberID))
}

// takeFree gives m the partitions of its target that nobody else owns.
func (g *ConsumerGroup) takeFree(m *ConsumerMember, owners map[topicPart]string) {
	target := g.target[m.MemberID]
	missing := false
	for t, ps := range target {
		for _, p := range ps {
			if m.Assigned.Has(t, p) {
				continue
			}
			if _, taken := owners[topicPart{t, p}]; taken {
				missing = true
				continue
			}
			m.Assigned.add(t, p)
			owners[topicPart{t, p}] = m.MemberID
			m.sendAssignment = true
			g.dirty.current(m.MemberID)
		}
	}
	want := MemberStable
	if missing {
		want = MemberUnreleasedPartitions
	}
	if m.State != want {
		m.State = want
		g.dirty.current(m.MemberID)
	}
}

// releaseToWaiting lets members waiting for released partitions take
// them (and members behind the target start revoking), so they see them
// on their next heartbeat.
func (g *ConsumerGroup) releaseToWaiting(now time.Time, skip string) {
	for _, m := range g.Members() {
		if m.MemberID == skip || m.leftStatic {
			continue
		}
		if m.State == MemberUnreleasedPartitions && m.MemberEpoch == g.AssignmentEpoch {
			g.takeFree(m, g.owners(m.MemberID))
		}
	}
}

// NextDeadline is when Tick must next run (zero: never).
func (g *ConsumerGroup) NextDeadline() time.Time {
	var at time.Time
	for _, m := range g.members {
		for _, d := range []time.Time{m.heartbeatDeadline, m.revokeDeadline} {
			if !d.IsZero() && (at.IsZero() || d.Before(at)) {
				at = d
			}
		}
	}
	return at
}

// Tick fences members whose session expired or that did not revoke in
// time; it reports whether the group changed.
func (g *ConsumerGroup) Tick(now time.Time) bool {
	changed := false
	for _, m := range g.Members() {
		expired := !m.heartbeatDeadline.IsZero() && !now.Before(m.heartbeatDeadline)
		late := !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline)
		if expired || late {
			g.removeMember(now, m, nil)
			changed = true
		}
	}
	return changed
}

// ValidateCommit checks an OffsetCommit against the consumer group, as
// Kafka does for KIP-848 groups: the generation field is the member
// epoch. A simple commit (epoch < 0, no member) is allowed only on an
// empty group; a member must exist and send its current epoch.
func (g *ConsumerGroup) ValidateCommit(now time.Time, memberEpoch int32, memberID string) error {
	if memberEpoch < 0 && memberID == "" {
		if len(g.members) == 0 {
			return nil
		}
		return fmt.Errorf("%w: group %q has members", ErrUnknownMemberID, g.ID)
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return fmt.Errorf("%w: %q", ErrUnknownMemberID, memberID)
	case memberEpoch != m.MemberEpoch:
		return fmt.Errorf("%w: member %q sent %d, has %d", ErrStaleMemberEpoch, memberID, memberEpoch, m.MemberEpoch)
	}
	return nil
}

// ValidateFetch checks OffsetFetch v9's member id and epoch (both unset
// means an admin fetch, always allowed).
func (g *ConsumerGroup) ValidateFetch(memberID string, memberEpoch int32) error {
	if memberID == "" && memberEpoch < 0 {
		return nil
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return fmt.Errorf("%w: %q", ErrUnknownMemberID, memberID)
	case memberEpoch != m.MemberEpoch:
		return fmt.Errorf("%w: member %q sent %d, has %d", ErrStaleMemberEpoch, memberID, memberEpoch, m.MemberEpoch)
	}
	return nil
}

// String is for logs and test failures: short topic id prefixes and partitions.
func (a Assignment) String() string {
	var b strings.Builder
	for _, tp := range a.partitions() {
		fmt.Fprintf(&b, "%x/%d ", tp.Topic[:2], tp.Partition)
	}
	return strings.TrimSpace(b.String())
}

package quota

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a client is charged for.
type Kind int

const (
	// Produce is bytes produced; bound by producer_byte_rate (bytes/s).
	Produce Kind = iota
	// Fetch is bytes fetched; bound by consumer_byte_rate (bytes/s).
	Fetch
	// Request is handler time in nanoseconds; bound by request_percentage,
	// a percentage of one thread's time per second (KIP-124: 100 is one
	// thread fully busy). Recorded as percentage-seconds, so the measured
	// rate is a percentage.
	Request
	numKinds
)

// keyOf is the configuration key that bounds each kind.
var keyOf = [numKinds]string{KeyProducerByteRate, KeyConsumerByteRate, KeyRequestPercentage}

// nanosToPercent turns handler nanoseconds into percentage-seconds of one
// thread (Kafka's ClientRequestQuotaManager.nanosToPercentage).
const nanosToPercent = 100.0 / float64(time.Second)

// Config are the quota window settings.
type Config struct {
	Windows int           // quota.window.num; 0 means Kafka's default 11
	Window  time.Duration // quota.window.size.seconds; 0 means 1s
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Inactive is how long a sensor may go unrecorded before Expire drops
	// it; 0 means Kafka's one hour (InactiveSensorExpirationTimeSeconds).
	Inactive time.Duration
}

// snapshot is one immutable set of configured quotas; Record reads it
// without locking, SetAll swaps in a new one.
type snapshot struct {
	// byKind holds, per kind, the entities that set that kind's key:
	// Kafka keeps a separate set per quota manager, so an entity setting
	// only consumer_byte_rate takes no part in resolving produce quotas.
	byKind    [numKinds]levels
	ips       map[netip.Addr]float64
	ipDefault float64 // 0: no /ips/<default>
}

// Level shapes, most specific first: /users/u/clients/c,
// /users/u/clients/<default>, /users/u, /users/<default>/clients/c,
// /users/<default>/clients/<default>, /users/<default>, /clients/c,
// /clients/<default>.
const (
	lvUserClient = 1 << iota
	lvUserDefClient
	lvUser
	lvDefUserClient
	lvDefUserDefClient
	lvDefUser
	lvClient
	lvDefClient
)

func shape(e Entity) uint8 {
	switch {
	case e.HasUser && e.HasClient:
		switch {
		case !e.DefaultUser && !e.DefaultClient:
			return lvUserClient
		case !e.DefaultUser:
			return lvUserDefClient
		case !e.DefaultClient:
			return lvDefUserClient
		}
		return lvDefUserDefClient
	case e.HasUser:
		if e.DefaultUser {
			return lvDefUser
		}
		return lvUser
	case e.HasClient:
		if e.DefaultClient {
			return lvDefClient
		}
		return lvClient
	}
	return 0
}

// levels are the entities bounding one kind. shapes has a bit for each
// level shape with at least one entity, so that resolution skips the map
// lookups that cannot hit (most clusters configure one or two shapes).
type levels struct {
	q      map[Entity]float64
	shapes uint8
}

// get looks e up, skipping the map when no entity has e's shape.
func (l *levels) get(e Entity) (float64, bool) {
	if l.shapes&shape(e) == 0 {
		return 0, false
	}
	v, ok := l.q[e]
	return v, ok
}

func (l *levels) has(e Entity) bool {
	_, ok := l.get(e)
	return ok
}

// sensorKey names the usage a sensor aggregates: Kafka's quota metric
// tags. An empty user or client means usage is summed over all values of
// that component.
type sensorKey struct {
	kind         Kind
	user, client string
}

// Manager holds the configured quotas and measures usage per quota
// entity. It is safe for concurrent use.
//
// Lock order: Manager.mu -> rate.mu (Expire); Record takes them one after
// the other, never nested.
type Manager struct {
	p        params
	now      func() time.Time
	base     time.Time // times are kept as ns since base (monotonic when Now is time.Now)
	inactive int64

	cfg atomic.Pointer[snapshot]

	mu      sync.RWMutex
	sensors map[sensorKey]*rate
	ipRates map[netip.Addr]*rate

	brokerLimit atomic.Uint64 // float64 bits of max.connection.creation.rate; 0: unlimited
	broker      *rate         // never expires, like Kafka's broker connection rate sensor
}

// NewManager returns a Manager with no quotas configured.
func NewManager(cfg Config) *Manager {
	if cfg.Windows < 1 {
		cfg.Windows = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Inactive <= 0 {
		cfg.Inactive = time.Hour
	}
	m := &Manager{
		p:        params{windows: cfg.Windows, window: int64(cfg.Window)},
		now:      cfg.Now,
		base:     cfg.Now(),
		inactive: int64(cfg.Inactive),
		sensors:  map[sensorKey]*rate{},
		ipRates:  map[netip.Addr]*rate{},
		broker:   newRate(cfg.Windows),
	}
	m.cfg.Store(&snapshot{})
	return m
}

func (m *Manager) since(t time.Time) int64 { return int64(t.Sub(m.base)) }

// SetAll replaces all configured quotas. Sensors keep their history; the
// bound is looked up at each Record, so new bounds apply at once and a
// removed quota stops throttling. Invalid entries (see ValidKey) and
// non-positive values are ignored: Kafka's controller never lets them in.
func (m *Manager) SetAll(q map[Entity]Values) {
	s := &snapshot{ips: map[netip.Addr]float64{}}
	for k := range s.byKind {
		s.byKind[k].q = map[Entity]float64{}
	}
	for e, vals := range q {
		e = e.canonical()
		if validEntity(e) != nil {
			continue
		}
		for key, v := range vals {
			if !(v > 0) || ValidKey(key, e) != nil {
				continue
			}
			if key == KeyConnectionCreationRate {
				if e.DefaultIP {
					s.ipDefault = v
				} else if a, err := netip.ParseAddr(e.IP); err == nil {
					s.ips[canonAddr(a)] = v
				}
				continue
			}
			for k, kk := range keyOf {
				if kk == key {
					s.byKind[k].q[e] = v
					s.byKind[k].shapes |= shape(e)
				}
			}
		}
	}
	m.cfg.Store(s)
}

// tags picks the sensor for (user, client): Kafka's
// DefaultQuotaCallback.quotaMetricTags. Walking the 8 levels from most to
// least specific, the first configured one decides how usage is
// aggregated:
//
//	/users/u/clients/c, /users/u/clients/<default>       -> per (u, c)
//	/users/u                                             -> per u, all its clients
//	/users/<default>/clients/c, .../clients/<default>    -> per (u, c)
//	/users/<default>                                     -> per u
//	/clients/c, /clients/<default>, or nothing           -> per c, all users
func tags(q *levels, user, client string) (string, string) {
	switch {
	case q.has(ForUser(user).AndClient(client)), q.has(ForUser(user).AndDefaultClient()):
		return user, client
	case q.has(ForUser(user)):
		return user, ""
	case q.has(ForDefaultUser().AndClient(client)), q.has(ForDefaultUser().AndDefaultClient()):
		return user, client
	case q.has(ForDefaultUser()):
		return user, ""
	}
	return "", client
}

// limit is the bound for a sensor's tags: Kafka's
// DefaultQuotaCallback.quotaLimit. It follows tags' choice of level for
// every non-empty user and client id (so Kafka's oddities with an empty
// client id are kept: such a client under /users/u/clients/<default> is
// bound by /users/u or /users/<default>, if any).
func limit(q *levels, user, client string) (float64, bool) {
	var cands [4]Entity
	var n int
	switch {
	case user != "" && client != "":
		cands = [4]Entity{
			ForUser(user).AndClient(client), ForUser(user).AndDefaultClient(),
			ForDefaultUser().AndClient(client), ForDefaultUser().AndDefaultClient(),
		}
		n = 4
	case user != "":
		cands[0], cands[1], n = ForUser(user), ForDefaultUser(), 2
	case client != "":
		cands[0], cands[1], n = ForClient(client), ForDefaultClient(), 2
	}
	for _, e := range cands[:n] {
		if v, ok := q.get(e); ok {
			return v, true
		}
	}
	return 0, false
}

func (m *Manager) resolve(kind Kind, user, clientID string) (sensorKey, float64, bool) {
	if kind < 0 || kind >= numKinds {
		return sensorKey{}, 0, false
	}
	q := &m.cfg.Load().byKind[kind]
	if q.shapes == 0 {
		return sensorKey{}, 0, false
	}
	u, c := tags(q, user, clientID)
	bound, ok := limit(q, u, c)
	return sensorKey{kind, u, c}, bound, ok
}

// Quota returns the bound that applies to the client, ok=false when none.
// For Request it is a percentage; for Produce and Fetch bytes/s.
func (m *Manager) Quota(kind Kind, user, clientID string) (float64, bool) {
	_, bound, ok := m.resolve(kind, user, clientID)
	return bound, ok
}

// sensor returns the sensor for k, creating it on first use.
func (m *Manager) sensor(k sensorKey) *rate {
	m.mu.RLock()
	r := m.sensors[k]
	m.mu.RUnlock()
	if r != nil {
		return r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r = m.sensors[k]; r == nil {
		r = newRate(m.p.windows)
		m.sensors[k] = r
	}
	return r
}

// maxThrottle caps a client quota delay. Produce and Fetch: the whole
// quota span (Windows*Window). Request: one window, as Kafka's
// ClientRequestQuotaManager does.
func (m *Manager) maxThrottle(kind Kind) time.Duration {
	if kind == Request {
		return time.Duration(m.p.window)
	}
	return time.Duration(int64(m.p.windows) * m.p.window)
}

// Record charges amount (bytes for Produce and Fetch, handler nanoseconds
// for Request) to the client and returns how long it must be throttled,
// 0 if within quota. The amount is recorded before the check, as in
// Kafka, and the request is to be served anyway (KIP-219): the caller
// returns the delay as throttle_time_ms and then mutes the channel for it.
// user is the principal name without "User:" (Kafka's ANONYMOUS for
// unauthenticated clients; an empty user matches no user entity).
//
// Clients to which no quota applies are not measured at all. Once the
// entity's sensor exists, Record does not allocate.
func (m *Manager) Record(kind Kind, user, clientID string, amount float64) time.Duration {
	k, bound, ok := m.resolve(kind, user, clientID)
	if !ok {
		return 0
	}
	if kind == Request {
		amount *= nanosToPercent
	}
	now := m.since(m.now())
	r := m.sensor(k)
	r.mu.Lock()
	r.add(m.p, amount, now)
	d := r.charge(amount, bound, m.burst(bound), now)
	r.mu.Unlock()
	return min(d, m.maxThrottle(kind))
}

// burst is how much a client may use at once after idling: the quota's
// whole span (Windows*Window) of it, what Kafka's windowed rate lets
// through at first.
//
// Why a token bucket decides the delay rather than Kafka's formula
// ((rate-bound)/bound*span over sliding windows, kept in throttleFor): with
// a pipelining client the formula lets bursts through each time an old
// sample expires, and real clients (franz-go, 16 KiB batches) ran 14-47 %
// over their quota; the bucket holds the long-run rate to the bound
// exactly, with the same first burst.
func (m *Manager) burst(bound float64) float64 {
	return bound * float64(int64(m.p.windows)*m.p.window) / float64(time.Second)
}

// Unrecord takes back amount recorded by Record, without a check. Kafka
// does this for a throttled fetch: it answers with an empty response, so
// the bytes were never sent.
func (m *Manager) Unrecord(kind Kind, user, clientID string, amount float64) {
	k, _, ok := m.resolve(kind, user, clientID)
	if !ok {
		return
	}
	if kind == Request {
		amount *= nanosToPercent
	}
	_, bound, _ := m.resolve(kind, user, clientID)
	now := m.since(m.now())
	r := m.sensor(k)
	r.mu.Lock()
	r.add(m.p, -amount, now)
	r.charge(-amount, bound, m.burst(bound), now)
	r.mu.Unlock()
}

// SetBrokerConnectionRate sets max.connection.creation.rate, the
// broker-wide bound on new connections per second; <= 0 or +Inf means
// unlimited (Kafka's default is Int.MaxValue).
func (m *Manager) SetBrokerConnectionRate(perSec float64) {
	if !(perSec > 0) || math.IsInf(perSec, 1) {
		perSec = 0
	}
	m.brokerLimit.Store(math.Float64bits(perSec))
}

// canonAddr makes addresses that Java's InetAddress treats as equal equal
// here: IPv4-mapped IPv6 is IPv4, zones are dropped.
func canonAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// parseIP accepts an address with or without a port (net.Conn's
// RemoteAddr().String() has one).
func parseIP(ip string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(ip); err == nil {
		return canonAddr(a), true
	}
	if ap, err := netip.ParseAddrPort(ip); err == nil {
		return canonAddr(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// ConnectionAllowed records a new connection from ip (KIP-612) and says
// what to do with it:
//
//   - ok=false: the IP's connection_creation_rate (/ips/<ip>, else
//     /ips/<default>) is exceeded. Kafka does not count the connection
//     (it is taken back from the IP and broker rates), keeps it open for
//     wait and then closes it, so that a reconnecting client backs off.
//   - ok=true, wait>0: the broker-wide max.connection.creation.rate is
//     exceeded; Kafka's acceptor blocks for wait before it takes this
//     connection on (and so before accepting any other).
//   - ok=true, wait=0: go ahead.
//
// Both delays are capped at one window, as in Kafka's ConnectionQuotas.
// Inter-broker listeners are exempt in Kafka: do not call this for them.
// An unparsable ip is subject to /ips/<default> only, shared by all such.
func (m *Manager) ConnectionAllowed(ip string) (ok bool, wait time.Duration) {
	now := m.since(m.now())
	maxWait := time.Duration(m.p.window)

	brokerLimit := math.Float64frombits(m.brokerLimit.Load())
	if brokerLimit > 0 {
		m.broker.mu.Lock()
		m.broker.add(m.p, 1, now)
		perSec, span := m.broker.measure(m.p, now)
		m.broker.mu.Unlock()
		wait = throttleFor(perSec, brokerLimit, span, maxWait)
	}

	s := m.cfg.Load()
	addr, parsed := parseIP(ip)
	bound, found := s.ips[addr]
	if !parsed || !found {
		bound, found = s.ipDefault, s.ipDefault > 0
	}
	if !found {
		return true, wait
	}
	m.mu.RLock()
	r := m.ipRates[addr]
	m.mu.RUnlock()
	if r == nil {
		m.mu.Lock()
		if r = m.ipRates[addr]; r == nil {
			r = newRate(m.p.windows)
			m.ipRates[addr] = r
		}
		m.mu.Unlock()
	}
	r.mu.Lock()
	r.add(m.p, 1, now)
	perSec, span := r.measure(m.p, now)
	ipWait := throttleFor(perSec, bound, span, maxWait)
	if ipWait > 0 {
		r.add(m.p, -1, now)
	}
	r.mu.Unlock()
	if ipWait == 0 {
		return true, wait
	}
	if brokerLimit > 0 {
		m.broker.mu.Lock()
		m.broker.add(m.p, -1, now)
		m.broker.mu.Unlock()
	}
	return false, ipWait
}

// Expire drops the sensors not recorded into for Config.Inactive (an hour
// by default) before now, so that memory stays bounded however many
// client ids and IPs come and go. A dropped sensor's history is lost; a
// client that comes back starts afresh, as in Kafka.
func (m *Manager) Expire(now time.Time) {
	cut := m.since(now) - m.inactive
	idle := func(r *rate) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.lastRecord() < cut
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.sensors {
		if idle(r) {
			delete(m.sensors, k)
		}
	}
	for a, r := range m.ipRates {
		if idle(r) {
			delete(m.ipRates, a)
		}
	}
}

// sensorCount is for tests.
func (m *Manager) sensorCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.sensors) + len(m.ipRates)
}

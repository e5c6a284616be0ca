package quota

import (
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injected clock: tests move time instead of sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestManager() (*Manager, *fakeClock) {
	c := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	return NewManager(Config{Windows: 11, Window: time.Second, Now: c.Now}), c
}

func produce(v float64) Values { return Values{KeyProducerByteRate: v} }

// TestPrecedence configures all 8 levels for alice/c and removes them
// from the most specific down: each time the next level must decide both
// the bound and how usage is aggregated (Kafka's quotaMetricTags).
func TestPrecedence(t *testing.T) {
	levels := []struct {
		e          Entity
		user, clnt string // expected aggregation tags
	}{
		{ForUser("alice").AndClient("c"), "alice", "c"},
		{ForUser("alice").AndDefaultClient(), "alice", "c"},
		{ForUser("alice"), "alice", ""},
		{ForDefaultUser().AndClient("c"), "alice", "c"},
		{ForDefaultUser().AndDefaultClient(), "alice", "c"},
		{ForDefaultUser(), "alice", ""},
		{ForClient("c"), "", "c"},
		{ForDefaultClient(), "", "c"},
	}
	for i := range levels {
		t.Run(levels[i].e.String(), func(t *testing.T) {
			m, _ := newTestManager()
			q := map[Entity]Values{}
			for j := i; j < len(levels); j++ {
				q[levels[j].e] = produce(float64(1000 * (j + 1)))
			}
			// Noise: other users, clients and keys must not interfere.
			q[ForUser("bob")] = produce(1)
			q[ForClient("other")] = produce(2)
			q[ForUser("alice").AndClient("c2")] = produce(3)
			if i == 0 {
				// A consumer quota at a more specific level does not
				// take part in produce resolution.
			} else {
				q[levels[i-1].e] = Values{KeyConsumerByteRate: 5}
			}
			m.SetAll(q)
			got, ok := m.Quota(Produce, "alice", "c")
			if want := float64(1000 * (i + 1)); !ok || got != want {
				t.Fatalf("Quota = %v, %v; want %v", got, ok, want)
			}
			k, _, _ := m.resolve(Produce, "alice", "c")
			if k.user != levels[i].user || k.client != levels[i].clnt {
				t.Fatalf("aggregated per (%q, %q), want (%q, %q)", k.user, k.client, levels[i].user, levels[i].clnt)
			}
		})
	}
	m, _ := newTestManager()
	m.SetAll(map[Entity]Values{ForUser("bob"): produce(1)})
	if v, ok := m.Quota(Produce, "alice", "c"); ok {
		t.Fatalf("no level configured for alice, got %v", v)
	}
}

// TestAggregation: the matched level decides whose usage is summed. Each
// case records 600 bytes twice at the same instant against a 100 B/s
// bound: one record alone is 60 B/s over the minimum 10 s span, two on
// one sensor are 120 B/s, throttled by (120-100)/100*10s = 2s.
func TestAggregation(t *testing.T) {
	type call struct{ user, client string }
	cases := []struct {
		name     string
		entity   Entity
		a, b     call
		throttle bool
	}{
		{"user: all of alice's clients share", ForUser("alice"), call{"alice", "c1"}, call{"alice", "c2"}, true},
		{"default user: alice's clients share", ForDefaultUser(), call{"alice", "c1"}, call{"alice", "c2"}, true},
		{"default user: each user separately", ForDefaultUser(), call{"alice", "c1"}, call{"bob", "c1"}, false},
		{"user/default client: per client", ForUser("alice").AndDefaultClient(), call{"alice", "c1"}, call{"alice", "c2"}, false},
		{"user/client: that pair only", ForUser("alice").AndClient("c1"), call{"alice", "c1"}, call{"alice", "c1"}, true},
		{"default user/default client: per pair", ForDefaultUser().AndDefaultClient(), call{"alice", "c"}, call{"bob", "c"}, false},
		{"default client: users share a client id", ForDefaultClient(), call{"alice", "c"}, call{"bob", "c"}, true},
		{"default client: client ids separately", ForDefaultClient(), call{"alice", "c1"}, call{"alice", "c2"}, false},
		{"client: across users", ForClient("c"), call{"alice", "c"}, call{"bob", "c"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager()
			m.SetAll(map[Entity]Values{tc.entity: produce(100)})
			if d := m.Record(Produce, tc.a.user, tc.a.client, 600); d != 0 {
				t.Fatalf("first record throttled %v", d)
			}
			d := m.Record(Produce, tc.b.user, tc.b.client, 600)
			want := time.Duration(0)
			if tc.throttle {
				want = time.Second // 1200 B against 1100 B of credit at 100 B/s
			}
			if d != want {
				t.Fatalf("second record throttled %v, want %v", d, want)
			}
		})
	}
}

// TestThrottleTime checks the delays and caps: a bucket of 11 s of quota
// (quota.window.num * quota.window.size.seconds), refilled at the bound.
func TestThrottleTime(t *testing.T) {
	cases := []struct {
		name   string
		kind   Kind
		key    string
		bound  float64
		amount float64
		want   time.Duration
	}{
		{"at the bound", Produce, KeyProducerByteRate, 100, 1000, 0},
		{"at the burst", Produce, KeyProducerByteRate, 100, 1100, 0},
		{"400 B over the burst", Produce, KeyProducerByteRate, 100, 1500, 4 * time.Second},
		{"fetch", Fetch, KeyConsumerByteRate, 100, 1200, time.Second},
		{"capped at windows*window", Produce, KeyProducerByteRate, 100, 1e9, 11 * time.Second},
		// 4 s of handler time is 400 %s, within 50 % * 11 s = 550 %s.
		{"request within", Request, KeyRequestPercentage, 50, float64(4 * time.Second), 0},
		// 6 s is 600 %s: 50 over, 1 s at 50 %, capped at one window.
		{"request capped at one window", Request, KeyRequestPercentage, 50, float64(6 * time.Second), time.Second},
		// 5.6 s is 560 %s: 10 over, 200 ms at 50 %.
		{"request over", Request, KeyRequestPercentage, 50, float64(5600 * time.Millisecond), 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager()
			m.SetAll(map[Entity]Values{ForUser("u"): {tc.key: tc.bound}})
			if d := m.Record(tc.kind, "u", "c", tc.amount); d != tc.want {
				t.Fatalf("throttle %v, want %v", d, tc.want)
			}
		})
	}
}

// TestCreditRefill: credit comes back at the bound, up to the burst.
func TestCreditRefill(t *testing.T) {
	m, c := newTestManager()
	m.SetAll(map[Entity]Values{ForClient("c"): produce(100)})
	m.Record(Produce, "", "c", 100)
	c.Advance(15 * time.Second) // back to the full 1100 B, no more
	if d := m.Record(Produce, "", "c", 1100); d != 0 {
		t.Fatalf("throttle %v, want 0", d)
	}
	c.Advance(10500 * time.Millisecond) // 1050 B of credit
	if d := m.Record(Produce, "", "c", 1100); d != 500*time.Millisecond {
		t.Fatalf("throttle %v, want 500ms", d)
	}
}

// TestProducerAtTwiceTheQuota runs a producer that tries to send at twice
// its quota and honours every throttle (KIP-219: the broker mutes the
// channel for the delay). Over the run its throughput must come within
// 10% of the quota. A client with no quota sending alongside at ten times
// the rate is never throttled.
func TestProducerAtTwiceTheQuota(t *testing.T) {
	cases := []struct {
		quota, batch float64
		run          time.Duration
	}{
		{1000, 100, 10 * time.Second},
		{1 << 20, 64 << 10, 10 * time.Second},
		{1 << 20, 16 << 10, 60 * time.Second},
		{5000, 1000, 30 * time.Second},
	}
	for _, tc := range cases {
		m, c := newTestManager()
		m.SetAll(map[Entity]Values{
			ForUser("p"):       produce(tc.quota),
			ForClient("other"): Values{KeyConsumerByteRate: 1}, // not a produce quota
		})
		// The first Windows*Window of quota is a burst the client may
		// use at once; the rate is measured after it.
		warm := c.Now().Add(11 * time.Second)
		interval := time.Duration(tc.batch / (2 * tc.quota) * float64(time.Second))
		sent, throttled := 0.0, 0
		start := warm
		for c.Now().Sub(warm) < tc.run {
			if c.Now().Before(warm) {
				start = c.Now()
			} else {
				sent += tc.batch
			}
			if d := m.Record(Produce, "p", "producer-1", tc.batch); d > 0 {
				throttled++
				c.Advance(d)
			}
			if d := m.Record(Produce, "free", "other", 10*tc.batch); d != 0 {
				t.Fatalf("client without a produce quota throttled %v", d)
			}
			c.Advance(interval)
		}
		elapsed := c.Now().Sub(start).Seconds()
		got := sent / elapsed
		t.Logf("quota %.0f B/s, batch %.0f: %.0f B/s over %.1fs, %d throttles", tc.quota, tc.batch, got, elapsed, throttled)
		if throttled == 0 || math.Abs(got-tc.quota)/tc.quota > 0.10 {
			t.Errorf("quota %.0f: throughput %.0f B/s (%d throttles), want within 10%%", tc.quota, got, throttled)
		}
	}
}

// TestSetAll: new bounds apply to existing sensors with their history;
// removed quotas stop throttling.
func TestSetAll(t *testing.T) {
	m, _ := newTestManager()
	m.SetAll(map[Entity]Values{ForUser("u"): produce(100)})
	if d := m.Record(Produce, "u", "c", 1500); d != 4*time.Second {
		t.Fatalf("throttle %v, want 4s", d)
	}
	// A raised bound repays the same debt (400 B) faster.
	m.SetAll(map[Entity]Values{ForUser("u"): produce(200)})
	if d := m.Record(Produce, "u", "c", 0); d != 2*time.Second {
		t.Fatalf("raised bound: throttle %v, want 2s", d)
	}
	m.SetAll(map[Entity]Values{ForUser("u"): produce(100)})
	if d := m.Record(Produce, "u", "c", 0); d != 4*time.Second {
		t.Fatalf("history lost: throttle %v, want 4s", d)
	}
	m.SetAll(nil)
	if d := m.Record(Produce, "u", "c", 1e9); d != 0 {
		t.Fatalf("removed quota still throttles %v", d)
	}
	if _, ok := m.Quota(Produce, "u", "c"); ok {
		t.Fatal("removed quota still reported")
	}
	// Invalid entries are ignored rather than trusted.
	m.SetAll(map[Entity]Values{
		ForUser("u"):  {KeyProducerByteRate: -1, KeyConnectionCreationRate: 5},
		ForIP("nope"): {KeyConnectionCreationRate: 1},
	})
	if _, ok := m.Quota(Produce, "u", "c"); ok {
		t.Fatal("non-positive quota accepted")
	}
}

// TestUnrecord: a throttled fetch takes its bytes back.
func TestUnrecord(t *testing.T) {
	m, _ := newTestManager()
	m.SetAll(map[Entity]Values{ForDefaultClient(): {KeyConsumerByteRate: 100}})
	if d := m.Record(Fetch, "u", "c", 1500); d == 0 {
		t.Fatal("not throttled")
	}
	m.Unrecord(Fetch, "u", "c", 1500)
	if d := m.Record(Fetch, "u", "c", 1000); d != 0 {
		t.Fatalf("unrecorded bytes still count: %v", d)
	}
}

func TestConnectionAllowed(t *testing.T) {
	m, c := newTestManager()
	m.SetAll(map[Entity]Values{ForIP("10.0.0.1"): {KeyConnectionCreationRate: 2}})

	// 2/s over the minimum 10 s span allows 20 at once; the 21st is over
	// by 0.1/s: wait (2.1-2)/2*10s = 500ms, and it is not counted.
	for i := 0; i < 20; i++ {
		if ok, w := m.ConnectionAllowed("10.0.0.1"); !ok || w != 0 {
			t.Fatalf("connection %d: %v %v", i, ok, w)
		}
	}
	for _, addr := range []string{"10.0.0.1", "10.0.0.1:9092", "::ffff:10.0.0.1"} {
		if ok, w := m.ConnectionAllowed(addr); ok || w != 500*time.Millisecond {
			t.Fatalf("%s over quota: %v %v, want false 500ms", addr, ok, w)
		}
	}
	// Another IP has no quota (no /ips/<default>).
	for i := 0; i < 100; i++ {
		if ok, w := m.ConnectionAllowed("10.0.0.2"); !ok || w != 0 {
			t.Fatalf("unbounded IP: %v %v", ok, w)
		}
	}
	// Rejections were not counted: one more slot opens after 0.5 s.
	c.Advance(500 * time.Millisecond)
	if ok, _ := m.ConnectionAllowed("10.0.0.1"); !ok {
		t.Fatal("still rejected after the wait")
	}

	// /ips/<default> bounds the others, each IP separately.
	m.SetAll(map[Entity]Values{
		ForIP("10.0.0.1"): {KeyConnectionCreationRate: 2},
		ForDefaultIP():    {KeyConnectionCreationRate: 1},
	})
	for _, ip := range []string{"10.0.0.3", "10.0.0.4"} {
		for i := 0; i < 10; i++ {
			if ok, _ := m.ConnectionAllowed(ip); !ok {
				t.Fatalf("%s connection %d rejected", ip, i)
			}
		}
		if ok, w := m.ConnectionAllowed(ip); ok || w != time.Second {
			t.Fatalf("%s: %v %v, want false 1s (capped at one window)", ip, ok, w)
		}
	}
}

func TestBrokerConnectionRate(t *testing.T) {
	m, _ := newTestManager()
	m.SetBrokerConnectionRate(5)
	m.SetAll(map[Entity]Values{ForIP("10.0.0.9"): {KeyConnectionCreationRate: 1}})
	// The throttled IP's attempts are taken back from the broker rate.
	for i := 0; i < 30; i++ {
		m.ConnectionAllowed("10.0.0.9")
	}
	// 10 accepted from 10.0.0.9; 40 more fill the broker's 5/s * 10 s.
	for i := 0; i < 40; i++ {
		if ok, w := m.ConnectionAllowed("192.168.1.1"); !ok || w != 0 {
			t.Fatalf("connection %d: %v %v", i, ok, w)
		}
	}
	// Broker-wide: accepted, but the acceptor waits (5.1-5)/5*10s = 200ms.
	if ok, w := m.ConnectionAllowed("192.168.1.2"); !ok || w != 200*time.Millisecond {
		t.Fatalf("broker limit: %v %v, want true 200ms", ok, w)
	}
	m.SetBrokerConnectionRate(0)
	if ok, w := m.ConnectionAllowed("192.168.1.2"); !ok || w != 0 {
		t.Fatalf("unlimited broker: %v %v", ok, w)
	}
}

func TestExpire(t *testing.T) {
	m, c := newTestManager()
	m.SetAll(map[Entity]Values{
		ForDefaultUser(): produce(100),
		ForDefaultIP():   {KeyConnectionCreationRate: 100},
	})
	m.Record(Produce, "alice", "a", 1)
	m.ConnectionAllowed("10.1.1.1")
	m.Record(Produce, "bob", "b", 1)
	if n := m.sensorCount(); n != 3 {
		t.Fatalf("%d sensors, want 3", n)
	}
	c.Advance(30 * time.Minute)
	m.Record(Produce, "bob", "b", 1)
	c.Advance(31 * time.Minute)
	m.Expire(c.Now())
	if n := m.sensorCount(); n != 1 {
		t.Fatalf("%d sensors after expiry, want 1 (bob)", n)
	}
	m.mu.RLock()
	_, bob := m.sensors[sensorKey{Produce, "bob", ""}]
	m.mu.RUnlock()
	if !bob {
		t.Fatal("active sensor expired")
	}
	// A returning client starts afresh.
	if d := m.Record(Produce, "alice", "a", 1000); d != 0 {
		t.Fatalf("throttle %v", d)
	}
}

// TestRecordDoesNotAllocate holds the hot path to zero allocations once
// the sensor exists, with resolution walking all 8 levels.
func TestRecordDoesNotAllocate(t *testing.T) {
	m, c := newTestManager()
	m.SetAll(map[Entity]Values{ForDefaultClient(): produce(1e12)})
	m.Record(Produce, "user", "client", 1)
	allocs := testing.AllocsPerRun(1000, func() {
		c.Advance(time.Millisecond)
		m.Record(Produce, "user", "client", 100)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Record", allocs)
	}
}

func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name string
		e    Entity
	}{
		{"user-client", ForUser("user").AndClient("client")},
		{"default-client", ForDefaultClient()}, // worst case: all 8 levels looked up
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewManager(Config{})
			m.SetAll(map[Entity]Values{bc.e: produce(1e12)})
			m.Record(Produce, "user", "client", 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Record(Produce, "user", "client", 100)
			}
		})
	}
}

// TestConcurrent exercises the locking under -race: records, quota
// changes, connection checks and expiry all at once.
func TestConcurrent(t *testing.T) {
	m := NewManager(Config{})
	q := map[Entity]Values{
		ForDefaultUser():   produce(1e6),
		ForDefaultClient(): {KeyRequestPercentage: 50},
		ForDefaultIP():     {KeyConnectionCreationRate: 100},
	}
	m.SetAll(q)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			users := []string{"a", "b", "c"}
			for i := 0; i < 2000; i++ {
				u := users[i%len(users)]
				m.Record(Produce, u, "c", 100)
				m.Record(Request, u, "c", 1e5)
				m.Quota(Fetch, u, "c")
				if i%100 == 0 {
					m.ConnectionAllowed("10.0.0.1")
					m.SetAll(q)
					m.Expire(time.Now().Add(2 * time.Hour))
				}
			}
		}(g)
	}
	wg.Wait()
}

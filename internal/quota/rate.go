package quota

import (
	"math"
	"sync"
	"time"
)

// sample is one window of a rate: the usage recorded from start on.
type sample struct {
	start int64 // ns since the Manager's base: the first record of this window
	last  int64 // ns: the latest record into this window
	value float64
}

// rate is Kafka's Rate over a windowed sum (SampledStat): usage is summed
// into windows of one Window each, a new window beginning at the first
// record at least Window after the current one began (windows are not
// aligned to the clock). It keeps Windows+1 samples: the extra one is the
// sample overlapping the start of the monitored span.
//
// Invariants: len(samples) == Windows+1 and never changes, so recording
// does not allocate; samples[used:] have never held data and are ignored;
// cur < used once anything has been recorded.
type rate struct {
	mu      sync.Mutex
	samples []sample
	used    int
	cur     int

	// credit is a token bucket of quota units refilled at the bound, which
	// decides the throttle (Manager.Record); the samples above still
	// measure the rate.
	credit     float64
	creditAt   int64 // ns: when credit was last refilled
	creditInit bool
}

// charge takes v from the bucket at now, refilling it at bound per second
// up to burst, and returns the delay until the credit is back to zero (0
// while some is left). A negative v gives credit back. The caller holds
// r.mu.
func (r *rate) charge(v, bound, burst float64, now int64) time.Duration {
	if !r.creditInit {
		r.credit, r.creditAt, r.creditInit = burst, now, true
	}
	if el := now - r.creditAt; el > 0 {
		r.credit = min(burst, r.credit+bound*float64(el)/float64(time.Second))
		r.creditAt = now
	}
	r.credit = min(burst, r.credit-v)
	if r.credit >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-r.credit/bound*1000)) * time.Millisecond
}

func newRate(windows int) *rate { return &rate{samples: make([]sample, windows+1)} }

// params are the quota window settings shared by all sensors.
type params struct {
	windows int   // quota.window.num
	window  int64 // quota.window.size.seconds, in ns
}

// add records v at now. The caller holds r.mu.
func (r *rate) add(p params, v float64, now int64) {
	if r.used == 0 {
		r.samples[0] = sample{start: now, last: now}
		r.used, r.cur = 1, 0
	}
	s := &r.samples[r.cur]
	if now-s.start >= p.window {
		r.cur = (r.cur + 1) % len(r.samples)
		if r.cur >= r.used {
			r.used = r.cur + 1
		}
		s = &r.samples[r.cur]
		*s = sample{start: now, last: now}
	}
	s.value += v
	s.last = now
}

// lastRecord is when r was last recorded into (for expiry). The caller
// holds r.mu.
func (r *rate) lastRecord() int64 {
	if r.used == 0 {
		return math.MinInt64
	}
	return r.samples[r.cur].last
}

// measure returns the rate per second at now and the span (ns) it was
// measured over. Samples that saw no record during the last Windows*Window
// are cleared first (Kafka's purgeObsoleteSamples). The span runs from
// the oldest retained sample's start to now but is at least Windows-1 full
// windows plus the elapsed part of the current one, so that a fresh
// sensor does not report a burst as a huge rate; and at least 1 ms. The
// caller holds r.mu.
func (r *rate) measure(p params, now int64) (perSec float64, span int64) {
	expire := int64(p.windows) * p.window
	total := 0.0
	oldest := now
	for i := 0; i < r.used; i++ {
		s := &r.samples[i]
		if now-s.last >= expire {
			*s = sample{start: now, last: now}
		}
		total += s.value
		if s.start < oldest {
			oldest = s.start
		}
	}
	span = now - oldest
	minFull := int64(p.windows - 1)
	if full := span / p.window; full < minFull {
		span += (minFull - full) * p.window
	}
	if span < int64(time.Millisecond) {
		span = int64(time.Millisecond)
	}
	return total / (float64(span) / float64(time.Second)), span
}

// throttleFor is Kafka's QuotaUtils.throttleTime: the delay X that brings
// the observed rate O back to the bound T over the span W if nothing more
// is recorded, O*W/(W+X) = T, so X = (O-T)/T*W; rounded to milliseconds
// like Kafka and capped at max. Zero while O <= T (Kafka's Quota accepts
// a value equal to the bound).
func throttleFor(perSec, bound float64, span int64, max time.Duration) time.Duration {
	if !(perSec > bound) {
		return 0
	}
	ms := math.Round((perSec - bound) / bound * float64(span) / float64(time.Millisecond))
	if ms >= float64(max/time.Millisecond) {
		return max
	}
	return time.Duration(ms) * time.Millisecond
}

package web

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/group"
)

// Metric names follow Prometheus conventions (base units in the name,
// _total on counters) and the vocabulary Kafka and Redpanda exporters use,
// so existing dashboards translate: api is the Kafka API name as kmsg
// spells it ("Produce", "Fetch", ...).

// unknownKey is the slot for API keys kmsg does not know: a client may send
// any int16, and each must not mint a new series.
const unknownKey = kmsg.MaxKey + 1

// apiMetrics holds one API's series, resolved once so that the hot path
// never looks labels up.
type apiMetrics struct {
	requests prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
	received prometheus.Counter
	sent     prometheus.Counter
}

// Metrics counts Kafka requests and connections. It implements
// server.Observer; its methods are called on connection goroutines and
// allocate nothing once an API's series exist.
type Metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	received *prometheus.CounterVec
	sent     *prometheus.CounterVec

	connsOpen  prometheus.Gauge
	connsTotal prometheus.Counter

	sec *securityMetrics // security_metrics.go

	// byKey[key] is resolved on the first request with that key (so
	// /metrics lists the APIs in use, not 90 idle ones) and never changes
	// after: concurrent first uses resolve the same series.
	byKey [unknownKey + 1]atomic.Pointer[apiMetrics]
}

// durationBuckets span a cached fetch (~100µs) to a long poll or a slow
// fsync (seconds); Kafka's default fetch.max.wait is 500ms.
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

func newMetrics() *Metrics {
	api := []string{"api"}
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_requests_total",
			Help: "Kafka requests answered, by API.",
		}, api),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_request_errors_total",
			Help: `Connections closed because of what the client sent (bad frame size, undecodable header, unsupported API or version), by API; api="unknown" when the header could not be read.`,
		}, api),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "samsa_request_duration_seconds",
			Help:    "Time from reading a request to writing its response (including long polls and fsync waits), by API.",
			Buckets: durationBuckets,
		}, api),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_received_bytes_total",
			Help: "Bytes of request frames read from Kafka clients, by API.",
		}, api),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_sent_bytes_total",
			Help: "Bytes of response frames written to Kafka clients, by API.",
		}, api),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "samsa_connections_open",
			Help: "Kafka client connections currently open.",
		}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samsa_connections_total",
			Help: "Kafka client connections accepted.",
		}),
		sec: newSecurityMetrics(),
	}
}

func (m *Metrics) register(r prometheus.Registerer) error {
	for _, c := range append([]prometheus.Collector{m.requests, m.errors, m.duration, m.received, m.sent, m.connsOpen, m.connsTotal}, m.sec.collectors()...) {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// apiName is the api label for key.
func apiName(key int16) string {
	if key < 0 || key > kmsg.MaxKey {
		return "unknown"
	}
	if n := kmsg.NameForKey(key); n != "" && n != "Unknown" {
		return n
	}
	return "unknown"
}

// forKey returns key's series, resolving them on first use.
func (m *Metrics) forKey(key int16) *apiMetrics {
	i := int(key)
	if key < 0 || key > kmsg.MaxKey {
		i = unknownKey
	}
	if am := m.byKey[i].Load(); am != nil {
		return am
	}
	name := apiName(key)
	am := &apiMetrics{
		requests: m.requests.WithLabelValues(name),
		errors:   m.errors.WithLabelValues(name),
		duration: m.duration.WithLabelValues(name),
		received: m.received.WithLabelValues(name),
		sent:     m.sent.WithLabelValues(name),
	}
	m.byKey[i].Store(am)
	return am
}

// ConnOpened implements server.Observer.
func (m *Metrics) ConnOpened() {
	m.connsOpen.Inc()
	m.connsTotal.Inc()
}

// ConnClosed implements server.Observer.
func (m *Metrics) ConnClosed() { m.connsOpen.Dec() }

// RequestDone implements server.Observer.
func (m *Metrics) RequestDone(key, _ int16, dur time.Duration, inBytes, outBytes int) {
	am := m.forKey(key)
	am.requests.Inc()
	am.duration.Observe(dur.Seconds())
	am.received.Add(float64(inBytes))
	if outBytes > 0 {
		am.sent.Add(float64(outBytes))
	}
}

// ProtocolError implements server.Observer.
func (m *Metrics) ProtocolError(key int16) { m.forKey(key).errors.Inc() }

func buildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "samsa_build_info",
		Help:        "Always 1; the version label says which samsa this is.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}

// stateCollector reads partition and group state at scrape time. Nothing is
// kept between scrapes, so deleted topics and groups simply disappear.
type stateCollector struct {
	b      *broker.Broker
	groups Groups

	highWatermark, logStartOffset, logEndOffset, sizeBytes, segments, fsyncs *prometheus.Desc
	offline, offlineTotal                                                    *prometheus.Desc
	underReplicated, leaderCount, replicaLag                                 *prometheus.Desc
	isrExpands, isrShrinks, leaderships                                      *prometheus.Desc

	groupsByState, groupMembers, groupOffset, groupLag *prometheus.Desc

	txns                                     Txns
	lastStable, lsoLag, partitionOpenTxns    *prometheus.Desc
	txnsOpen, txnOldestAge, transactionalIDs *prometheus.Desc
}

func newStateCollector(b *broker.Broker, g Groups, t Txns) *stateCollector {
	tp := []string{"topic", "partition"}
	gtp := []string{"group", "topic", "partition"}
	return &stateCollector{
		b: b, groups: g, txns: t,
		lastStable:        prometheus.NewDesc("samsa_partition_last_stable_offset", "Offset below which every transaction is decided: what read_committed consumers may read up to.", tp, nil),
		lsoLag:            prometheus.NewDesc("samsa_partition_lso_lag_records", "High watermark minus last stable offset: records read_committed consumers wait for because a transaction is open.", tp, nil),
		partitionOpenTxns: prometheus.NewDesc("samsa_partition_open_transactions", "Transactions with records in the partition and no marker yet.", tp, nil),
		txnsOpen:          prometheus.NewDesc("samsa_transactions_open", "Transactions this broker coordinates that are open or being completed.", nil, nil),
		txnOldestAge:      prometheus.NewDesc("samsa_transaction_oldest_open_age_seconds", "Age of the oldest open transaction this broker coordinates (0 when none).", nil, nil),
		transactionalIDs:  prometheus.NewDesc("samsa_transactional_ids", "Transactional ids this broker coordinates.", nil, nil),
		highWatermark:     prometheus.NewDesc("samsa_partition_high_watermark", "Offset below which records are committed (durable) and visible to consumers.", tp, nil),
		logStartOffset:    prometheus.NewDesc("samsa_partition_log_start_offset", "First offset still in the partition's log.", tp, nil),
		logEndOffset:      prometheus.NewDesc("samsa_partition_log_end_offset", "Offset the next appended record will get.", tp, nil),
		sizeBytes:         prometheus.NewDesc("samsa_partition_size_bytes", "Bytes the partition's log segments occupy on disk.", tp, nil),
		segments:          prometheus.NewDesc("samsa_partition_segments", "Log segments of the partition.", tp, nil),
		fsyncs:            prometheus.NewDesc("samsa_partition_fsyncs_total", "fsyncs of the partition's log since it was opened.", tp, nil),
		offline:           prometheus.NewDesc("samsa_partition_offline", "1 when the partition's storage failed (a failed fsync): it refuses reads and writes until the broker restarts.", tp, nil),
		offlineTotal:      prometheus.NewDesc("samsa_offline_partitions", "Partitions whose storage failed (Kafka's OfflinePartitionsCount); alert when above 0.", nil, nil),
		underReplicated:   prometheus.NewDesc("samsa_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions); alert when above 0 for long.", nil, nil),
		leaderCount:       prometheus.NewDesc("samsa_leader_partitions", "Partitions this broker leads.", nil, nil),
		replicaLag:        prometheus.NewDesc("samsa_replica_lag_records", "How many records a follower's last fetch was behind this leader's log end (-1: not heard from since this broker took the lead).", []string{"topic", "partition", "follower"}, nil),
		isrExpands:        prometheus.NewDesc("samsa_isr_expands_total", "ISR expansions this broker committed as leader.", nil, nil),
		isrShrinks:        prometheus.NewDesc("samsa_isr_shrinks_total", "ISR shrinks this broker committed as leader.", nil, nil),
		leaderships:       prometheus.NewDesc("samsa_leader_changes_total", "Times this broker took the leadership of a partition (leader elections it won).", nil, nil),
		groupsByState:     prometheus.NewDesc("samsa_consumer_groups", "Consumer groups by state.", []string{"state"}, nil),
		groupMembers:      prometheus.NewDesc("samsa_consumer_group_members", "Members of a consumer group.", []string{"group"}, nil),
		groupOffset:       prometheus.NewDesc("samsa_consumer_group_committed_offset", "A consumer group's committed offset (the next offset it will consume).", gtp, nil),
		groupLag:          prometheus.NewDesc("samsa_consumer_group_lag", "Records between a group's committed offset and the partition's high watermark.", gtp, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.highWatermark, c.logStartOffset, c.logEndOffset, c.sizeBytes, c.segments, c.fsyncs, c.offline, c.offlineTotal,
		c.underReplicated, c.leaderCount, c.replicaLag, c.isrExpands, c.isrShrinks, c.leaderships,
		c.groupsByState, c.groupMembers, c.groupOffset, c.groupLag,
		c.lastStable, c.lsoLag, c.partitionOpenTxns, c.txnsOpen, c.txnOldestAge, c.transactionalIDs} {
		ch <- d
	}
}

// collectReplication reports what this broker leads and how its
// followers keep up.
func (c *stateCollector) collectReplication(ch chan<- prometheus.Metric) {
	under, leading := 0, 0
	for _, t := range c.b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue
			}
			role, leads := p.Role()
			if !leads {
				continue
			}
			leading++
			if len(role.ISR) < len(role.Replicas) {
				under++
			}
			for f, lag := range p.FollowerLag() {
				ch <- prometheus.MustNewConstMetric(c.replicaLag, prometheus.GaugeValue, float64(lag), t.Name, strconv.Itoa(int(p.Index)), strconv.Itoa(int(f)))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.underReplicated, prometheus.GaugeValue, float64(under))
	ch <- prometheus.MustNewConstMetric(c.leaderCount, prometheus.GaugeValue, float64(leading))
	l, e, s := broker.ClusterCounters()
	ch <- prometheus.MustNewConstMetric(c.isrExpands, prometheus.CounterValue, float64(e))
	ch <- prometheus.MustNewConstMetric(c.isrShrinks, prometheus.CounterValue, float64(s))
	ch <- prometheus.MustNewConstMetric(c.leaderships, prometheus.CounterValue, float64(l))
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	offline := 0
	for _, t := range c.b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica on this broker
			}
			labels := []string{t.Name, strconv.Itoa(int(p.Index))}
			gauge := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
			}
			gauge(c.highWatermark, float64(p.HighWatermark()))
			lso := p.LastStableOffset()
			gauge(c.lastStable, float64(lso))
			gauge(c.lsoLag, float64(max(p.HighWatermark()-lso, 0)))
			open, _ := p.OngoingTxns()
			gauge(c.partitionOpenTxns, float64(open))
			gauge(c.logStartOffset, float64(p.LogStartOffset()))
			gauge(c.logEndOffset, float64(p.LogEndOffset()))
			gauge(c.sizeBytes, float64(p.Size()))
			gauge(c.segments, float64(p.NumSegments()))
			ch <- prometheus.MustNewConstMetric(c.fsyncs, prometheus.CounterValue, float64(p.Syncs()), labels...)
			off := 0.0
			if p.StorageError() != nil {
				off = 1
				offline++
			}
			gauge(c.offline, off)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.offlineTotal, prometheus.GaugeValue, float64(offline))
	if c.b.Clustered() {
		c.collectReplication(ch)
	}
	if c.txns != nil {
		st := c.txns.Stats()
		ch <- prometheus.MustNewConstMetric(c.txnsOpen, prometheus.GaugeValue, float64(st.Open))
		ch <- prometheus.MustNewConstMetric(c.txnOldestAge, prometheus.GaugeValue, st.OldestOpenAge.Seconds())
		ch <- prometheus.MustNewConstMetric(c.transactionalIDs, prometheus.GaugeValue, float64(st.IDs))
	}
	if c.groups == nil {
		return
	}
	// ErrLoadInProgress right after a start: report no group series rather
	// than zeros that would read as "every group vanished".
	gs, err := collectGroups(c.b, c.groups)
	if err != nil {
		return
	}
	byState := make(map[group.State]int)
	for _, g := range gs {
		byState[g.State]++
		ch <- prometheus.MustNewConstMetric(c.groupMembers, prometheus.GaugeValue, float64(len(g.Members)), g.ID)
		for _, o := range g.Offsets {
			labels := []string{g.ID, o.Topic, strconv.Itoa(int(o.Partition))}
			ch <- prometheus.MustNewConstMetric(c.groupOffset, prometheus.GaugeValue, float64(o.Committed), labels...)
			if o.Lag >= 0 {
				ch <- prometheus.MustNewConstMetric(c.groupLag, prometheus.GaugeValue, float64(o.Lag), labels...)
			}
		}
	}
	for _, s := range []group.State{group.Empty, group.PreparingRebalance, group.CompletingRebalance, group.Stable} {
		ch <- prometheus.MustNewConstMetric(c.groupsByState, prometheus.GaugeValue, float64(byState[s]), s.String())
	}
}

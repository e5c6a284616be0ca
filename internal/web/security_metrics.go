package web

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// securityMetrics count authentications, refused connections, throttled
// requests and denied operations. Labels come from small fixed sets
// (listener names, mechanisms, reasons, API names, ACL enums), so the
// series stay bounded whatever clients send.
type securityMetrics struct {
	auth      *prometheus.CounterVec
	refused   *prometheus.CounterVec
	throttled *prometheus.CounterVec
	denied    *prometheus.CounterVec
	console   prometheus.Counter
}

func newSecurityMetrics() *securityMetrics {
	return &securityMetrics{
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_authentications_total",
			Help: `Client authentications (SASL exchanges and TLS handshakes, mechanism="TLS"), by listener, mechanism and result ("success" or "failure").`,
		}, []string{"listener", "mechanism", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_connections_refused_total",
			Help: "Connections closed at once by a limit (max.connections, max.connections.per.ip, connection creation rate), by limit.",
		}, []string{"reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_throttled_requests_total",
			Help: "Requests answered with a throttle time because the client was over its quota, by API.",
		}, []string{"api"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samsa_authorization_denied_total",
			Help: "Operations refused by the ACLs, by operation and resource type.",
		}, []string{"operation", "resource_type"}),
		console: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samsa_console_login_failures_total",
			Help: "Failed logins to the web console.",
		}),
	}
}

func (s *securityMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.auth, s.refused, s.throttled, s.denied, s.console}
}

// Authenticated implements server.SecurityObserver.
func (m *Metrics) Authenticated(listener, mechanism string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.sec.auth.WithLabelValues(listener, mechanism, result).Inc()
}

// ConnectionRefused implements server.SecurityObserver.
func (m *Metrics) ConnectionRefused(reason string) { m.sec.refused.WithLabelValues(reason).Inc() }

// Throttled implements server.SecurityObserver.
func (m *Metrics) Throttled(key int16) { m.sec.throttled.WithLabelValues(apiName(key)).Inc() }

// Denied counts an operation the ACLs refused (api.SecurityOptions.OnDenied).
func (m *Metrics) Denied(op kmsg.ACLOperation, rt kmsg.ACLResourceType) {
	m.sec.denied.WithLabelValues(strings.ToLower(op.String()), strings.ToLower(rt.String())).Inc()
}

func (m *Metrics) consoleLoginFailed() { m.sec.console.Inc() }

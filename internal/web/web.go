// Package web serves the broker's HTTP side on its own listener, away from
// the Kafka port: Prometheus metrics, health checks and a read-only console.
//
//	GET /metrics              Prometheus text format (own registry, not the global one)
//	GET /healthz              200 "ok" while the process serves HTTP at all (liveness)
//	GET /readyz               200 once the Kafka listener serves, 503 before and during shutdown
//	GET /                     console: cluster, topics, consumer groups
//	GET /topics/{topic}       partitions, configs and a message browser
//	GET /groups/{group}       members, committed offsets and lag
//
// Nothing here is on the Kafka hot path. Request metrics arrive through
// server.Observer (Metrics), which only bumps pre-resolved counters; every
// other number is read at scrape or page time by walking the broker's topics
// and asking the group coordinator, on the HTTP server's own goroutines. The
// console is read-only and bounds what one page may read from a log
// (maxBrowseRecords, maxBrowseBytes), so a browser cannot make the broker
// read a partition end to end.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/txn"
)

// Groups is what the console and the metrics read from the consumer group
// coordinator (*group.Coordinator implements it).
type Groups interface {
	ListGroups() ([]group.Listing, error)
	Describe(groupID string) (group.Description, error)
	FetchOffsets(groupID string, tps []group.TopicPartition, all bool) ([]group.FetchedOffset, error)
}

// Txns is what the console and the metrics read from the transaction
// coordinator (*txn.Coordinator implements it).
type Txns interface {
	List(keep func(*txn.Meta) bool) ([]txn.Meta, int)
	Stats() txn.Stats
}

// Config configures a Server.
type Config struct {
	// Broker is the broker to show. Required.
	Broker *broker.Broker
	// Groups is the group coordinator; nil shows no groups.
	Groups Groups
	// Txns is the transaction coordinator; nil shows no transactions.
	Txns Txns
	// Version is samsa's version, shown in the console and samsa_build_info.
	Version string
	// KafkaAddr returns the address the Kafka listener is bound to (it may
	// be ":0" resolved late); nil shows the configured listener.
	KafkaAddr func() string
	// Started is when the broker started, for the uptime; zero = New's time.
	Started time.Time
	Logger  *slog.Logger
	// Auth, when required, puts the console behind a login (auth.go).
	Auth *Auth
}

// Server is the HTTP side of one broker.
type Server struct {
	cfg      Config
	lg       *slog.Logger
	metrics  *Metrics
	reg      *prometheus.Registry
	mux      *http.ServeMux
	pages    *pages
	sessions sessions // console logins (auth.go)

	// ready is false until SetReady(true) (the Kafka listener serves) and
	// again from SetReady(false) (shutdown began): /readyz follows it.
	ready atomic.Bool

	mu   sync.Mutex
	srv  *http.Server  // guarded by mu; nil until Serve
	done chan struct{} // closed when the Serve goroutine returns; guarded by mu
}

// New builds the server; nothing listens until Serve. Register Metrics()
// as the Kafka server's Observer before it accepts connections.
func New(cfg Config) (*Server, error) {
	if cfg.Broker == nil {
		return nil, errors.New("web: Config.Broker is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.KafkaAddr == nil {
		l := cfg.Broker.Config().Listener
		cfg.KafkaAddr = func() string { return l }
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, lg: cfg.Logger, reg: prometheus.NewRegistry(), pages: pg}
	s.metrics = newMetrics()
	err = errors.Join(
		s.reg.Register(collectors.NewGoCollector()),
		s.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		s.metrics.register(s.reg),
		s.reg.Register(newStateCollector(cfg.Broker, cfg.Groups, cfg.Txns)),
		s.reg.Register(buildInfo(cfg.Version)),
		registerAll(s.reg, controller.Collectors()),
	)
	if err != nil {
		return nil, fmt.Errorf("web: register metrics: %w", err)
	}
	s.routes()
	return s, nil
}

// registerAll registers cs, which may already be registered elsewhere
// (package-level collectors shared by every web server of the process).
func registerAll(r *prometheus.Registry, cs []prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Metrics returns the request and connection metrics; pass it to the Kafka
// server as its Observer.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Registry returns the Prometheus registry /metrics serves, so embedders can
// add their own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler returns the HTTP handler for every endpoint (for tests and for
// embedding under another server).
func (s *Server) Handler() http.Handler { return s.mux }

// SetReady sets what /readyz answers.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.lg.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes walk every partition and group; two at a time is plenty
		// and keeps a scrape storm from competing with the broker for CPU.
		MaxRequestsInFlight: 2,
		Timeout:             10 * time.Second,
	}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	m.HandleFunc("GET /{$}", s.requireLogin(s.handleOverview))
	m.HandleFunc("GET /topics/{topic}", s.requireLogin(s.handleTopic))
	m.HandleFunc("GET /groups/{group}", s.requireLogin(s.handleGroup))
	m.HandleFunc("GET /login", s.handleLoginForm)
	m.HandleFunc("POST /login", s.handleLogin)
	m.HandleFunc("POST /logout", s.handleLogout)
	m.HandleFunc("GET /static/style.css", s.pages.serveCSS)
	m.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, http.StatusNotFound, "No such page: "+r.URL.Path)
	})
	s.mux = m
}

// Serve serves HTTP on ln until Close, in its own goroutine.
func (s *Server) Serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.lg.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.lg.Error("web console stopped", "err", err)
		}
	}()
}

// Close stops the HTTP server: it stops accepting, lets requests in flight
// finish (bounded by ctx, then closes their connections) and returns once
// the Serve goroutine has exited.
func (s *Server) Close(ctx context.Context) error {
	s.ready.Store(false)
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-done
	return err
}

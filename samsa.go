// Package samsa embeds a samsa broker — an Apache Kafka wire-compatible
// event-streaming broker — in a Go program or test:
//
//	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
//	if err != nil { ... }
//	defer b.Close()
//	client, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//
// The broker is the same one `samsa serve` runs: real storage, fsynced
// before acknowledging, ready in milliseconds.
package samsa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/api"
	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/web"
)

// Version is shown in the web console and the samsa_build_info metric.
// cmd/samsa sets it from its build-time version before starting.
var Version = "dev"

// HTTPOff, as Config.HTTPAddr, starts no HTTP server.
const HTTPOff = "off"

// Config configures an embedded broker. Zero fields take samsa's defaults
// (Kafka's, made durable: see the README).
type Config struct {
	// Addr is the host:port to listen on; "127.0.0.1:0" picks a free port.
	// Default 127.0.0.1:9092.
	Addr string
	// AdvertisedAddr is the host:port clients are told to connect to.
	// Default: the address actually bound.
	AdvertisedAddr string
	// DataDir holds the partitions and metadata. Default ./samsa-data.
	DataDir string
	// Properties are Kafka server.properties settings (num.partitions,
	// log.retention.ms, ...), applied before the fields above.
	Properties map[string]string
	// HTTPAddr is the host:port of the web console, /metrics, /healthz
	// and /readyz; "127.0.0.1:0" picks a free port (see Broker.HTTPAddr),
	// HTTPOff serves no HTTP. Default: samsa.http.listener from
	// Properties, else no HTTP: an embedded broker (a test, say) does not
	// grab a fixed port unless asked. `samsa serve` defaults to
	// 127.0.0.1:9644.
	HTTPAddr string
	// Logger receives the broker's logs; default slog.Default().
	Logger *slog.Logger
}

// Broker is a running broker.
type Broker struct {
	cfg    config.Broker
	lg     *slog.Logger
	ln     net.Listener   // the primary (inter-broker) listener
	extra  []openListener // the further client listeners
	srv    *server.Server
	broker *broker.Broker
	web    *web.Server   // nil when HTTP is off
	httpLn net.Listener  // nil when HTTP is off
	clu    *clusterParts // nil on a single broker
	sec    *security     // TLS, SASL, ACLs, quotas (security.go)
	// stopSec ends the certificate reloaders and quota expiry.
	stopSec context.CancelFunc
}

// Start opens the data directory (recovering it after a crash), starts
// listening and returns once the broker serves requests.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	bc := config.Default()
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	if cfg.Properties != nil {
		warnings, err := bc.Apply(cfg.Properties)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			lg.Warn(w)
		}
	}
	if cfg.Addr != "" {
		bc.Listener = cfg.Addr
	}
	if cfg.AdvertisedAddr != "" {
		bc.AdvertisedListener = cfg.AdvertisedAddr
	}
	if cfg.DataDir != "" {
		bc.DataDir = cfg.DataDir
	}
	switch cfg.HTTPAddr {
	case "":
		if _, set := cfg.Properties["samsa.http.listener"]; !set {
			bc.HTTPAddr = ""
		}
	case HTTPOff:
		bc.HTTPAddr = ""
	default:
		bc.HTTPAddr = cfg.HTTPAddr
	}
	return StartWithConfig(ctx, bc, lg)
}

// StartWithConfig starts a broker from fully resolved settings (what
// `samsa serve` builds from its flags and properties file). bc.HTTPAddr ""
// serves no HTTP.
func StartWithConfig(ctx context.Context, bc config.Broker, lg *slog.Logger) (*Broker, error) {
	if lg == nil {
		lg = slog.Default()
	}
	if err := bc.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if bc.Clustered() {
		return startClusterNode(ctx, bc, lg)
	}
	sec, err := newSecurity(bc, lg)
	if err != nil {
		return nil, err
	}
	br, err := broker.Open(bc, lg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", bc.Listener)
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("listen on %s: %w (is another broker running? choose another address with --addr)", bc.Listener, err)
	}
	b := &Broker{cfg: bc, lg: lg, ln: ln, broker: br, sec: sec}
	if b.extra, err = listenOthers(ctx, bc); err != nil {
		ln.Close()
		br.Close()
		return nil, err
	}
	if err := b.serve(ctx, br, ln, api.AdvertisedFrom(bc.AdvertisedListener, ln.Addr())); err != nil {
		b.closeListeners()
		br.Close()
		return nil, err
	}
	return b, nil
}

// openListener is a bound client listener besides the primary one.
type openListener struct {
	cfg config.Listener
	ln  net.Listener
}

// listenOthers binds every client listener but the primary.
func listenOthers(ctx context.Context, bc config.Broker) ([]openListener, error) {
	var lc net.ListenConfig
	var out []openListener
	for _, l := range bc.OtherListeners {
		ln, err := lc.Listen(ctx, "tcp", l.Addr)
		if err != nil {
			for _, o := range out {
				o.ln.Close()
			}
			return nil, fmt.Errorf("listen on %s (listener %s): %w", l.Addr, l.Name, err)
		}
		out = append(out, openListener{cfg: l, ln: ln})
	}
	return out, nil
}

func (b *Broker) closeListeners() {
	if b.ln != nil {
		b.ln.Close()
	}
	for _, o := range b.extra {
		o.ln.Close()
	}
}

// ListenerAddr returns the bound address of the client listener called
// name ("" when there is none), for callers that listen on port 0.
func (b *Broker) ListenerAddr(name string) string {
	if strings.EqualFold(name, b.cfg.ListenerName) || name == "" {
		return b.Addr()
	}
	for _, o := range b.extra {
		if strings.EqualFold(o.cfg.Name, name) {
			return o.ln.Addr().String()
		}
	}
	return ""
}

// Listeners describes every client listener as NAME://host:port (the
// primary first), for the startup log.
func (b *Broker) Listeners() string {
	parts := []string{b.cfg.ListenerName + "://" + b.Addr()}
	for _, o := range b.extra {
		parts = append(parts, o.cfg.Name+"://"+o.ln.Addr().String())
	}
	return strings.Join(parts, ",")
}

// listenerAdvertisers returns, by listener name, what each further
// listener advertises.
func (b *Broker) listenerAdvertisers() map[string]func() (string, int32) {
	m := make(map[string]func() (string, int32), len(b.extra))
	for _, o := range b.extra {
		m[o.cfg.Name] = api.AdvertisedFrom(o.cfg.Advertised, o.ln.Addr())
	}
	return m
}

// serve builds the API over br and serves it on ln (with the web console
// and /metrics when configured).
func (b *Broker) serve(ctx context.Context, br *broker.Broker, ln net.Listener, advertise func() (string, int32)) error {
	bc := b.cfg
	started := time.Now()
	handler := api.New(br, b.lg, advertise)
	handler.SetListeners(b.cfg.ListenerName, b.listenerAdvertisers())
	secOpts := b.sec.api()
	var observer server.Observer
	if bc.HTTPAddr != "" {
		if err := b.listenHTTP(ctx, handler, started); err != nil {
			return err
		}
		if b.web != nil {
			observer = b.web.Metrics()
			secOpts.OnDenied = b.web.Metrics().Denied
		}
	}
	handler.SetSecurity(secOpts)
	queued := bc.QueuedMaxRequestBytes
	if queued < 0 {
		queued = 1 << 62
	}
	b.srv = server.New(b.sec.serverConfig(server.Config{
		MaxFrameBytes:  bc.SocketRequestMaxBytes,
		QueuedMaxBytes: queued,
		Logger:         b.lg,
		Observer:       observer,
	}), handler)
	primary := bc.ClientListeners()[0]
	sl, err := b.sec.listener(primary, br)
	if err != nil {
		return err
	}
	b.srv.ServeListener(ln, sl)
	for _, o := range b.extra {
		sl, err := b.sec.listener(o.cfg, br)
		if err != nil {
			b.srv.Close()
			return err
		}
		b.srv.ServeListener(o.ln, sl)
	}
	// The reloaders live as long as the broker, not as the start's ctx.
	sctx, stop := context.WithCancel(context.Background())
	b.stopSec = stop
	b.sec.start(sctx)
	if b.web != nil {
		b.web.Serve(b.httpLn)
		b.web.SetReady(true)
	}
	return nil
}

// listenHTTP binds the HTTP listener and builds the web server. Failing to
// bind the default address is not fatal (b.web stays nil): a second broker
// on one machine, or parallel tests, should still start.
func (b *Broker) listenHTTP(ctx context.Context, handler *api.API, started time.Time) error {
	w, err := web.New(web.Config{
		Broker:    b.broker,
		Groups:    handler.Groups(),
		Txns:      handler.Txns(),
		Version:   Version,
		KafkaAddr: b.Addr,
		Started:   started,
		Logger:    b.lg,
		Auth:      b.sec.consoleAuth(handler, b.broker),
	})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	hl, err := lc.Listen(ctx, "tcp", b.cfg.HTTPAddr)
	if err != nil {
		if b.cfg.HTTPAddr == config.Default().HTTPAddr {
			b.lg.Warn("web console and /metrics disabled: the default address is taken (another samsa running?); choose one with --http-addr or samsa.http.listener",
				"addr", b.cfg.HTTPAddr, "err", err)
			return nil
		}
		return fmt.Errorf("listen for HTTP on %s: %w (choose another address with --http-addr, or --http-addr=off)", b.cfg.HTTPAddr, err)
	}
	b.web, b.httpLn = w, hl
	return nil
}

// Addr returns the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// HTTPAddr returns the address the web console and /metrics listen on
// (host:port), or "" when no HTTP server runs.
func (b *Broker) HTTPAddr() string {
	if b.httpLn == nil {
		return ""
	}
	return b.httpLn.Addr().String()
}

// DataDir returns the data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Shutdown stops accepting requests, answers the ones in flight (bounded by
// ctx), then syncs and closes every partition. /readyz answers 503 from
// the start; the HTTP server stops before the partitions close, so no
// scrape reads a closing log.
func (b *Broker) Shutdown(ctx context.Context) error {
	if b.stopSec != nil {
		defer b.stopSec()
	}
	if b.clu != nil {
		defer b.clu.close()
		if b.broker == nil { // a controller-only node
			return nil
		}
		// Leadership moves away while we still answer: clients are told
		// NOT_LEADER_OR_FOLLOWER and go to the new leaders.
		b.broker.PrepareShutdown()
	}
	if b.web != nil {
		b.web.SetReady(false)
	}
	drainErr := b.srv.Drain(ctx)
	err := b.srv.Close()
	var webErr error
	if b.web != nil {
		if webErr = b.web.Close(ctx); webErr != nil && drainErr == nil {
			webErr = fmt.Errorf("web: %w", webErr)
		} else {
			webErr = nil // the drain already reported the expired grace period
		}
	}
	return errors.Join(drainErr, err, webErr, b.broker.Close())
}

// Close shuts down, giving in-flight requests up to 5 seconds.
func (b *Broker) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.Shutdown(ctx)
}

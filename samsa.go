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
	"time"

	"github.com/samsa-io/samsa/internal/api"
	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
)

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
	// Logger receives the broker's logs; default slog.Default().
	Logger *slog.Logger
}

// Broker is a running broker.
type Broker struct {
	cfg    config.Broker
	lg     *slog.Logger
	ln     net.Listener
	srv    *server.Server
	broker *broker.Broker
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
	return StartWithConfig(ctx, bc, lg)
}

// StartWithConfig starts a broker from fully resolved settings (what
// `samsa serve` builds from its flags and properties file).
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
	handler := api.New(br, lg, api.AdvertisedFrom(bc.AdvertisedListener, ln.Addr()))
	queued := bc.QueuedMaxRequestBytes
	if queued < 0 {
		queued = 1 << 62
	}
	srv := server.New(server.Config{
		MaxFrameBytes:  bc.SocketRequestMaxBytes,
		QueuedMaxBytes: queued,
		Logger:         lg,
	}, handler)
	srv.Serve(ln)
	return &Broker{cfg: bc, lg: lg, ln: ln, srv: srv, broker: br}, nil
}

// Addr returns the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// DataDir returns the data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Shutdown stops accepting requests, answers the ones in flight (bounded by
// ctx), then syncs and closes every partition.
func (b *Broker) Shutdown(ctx context.Context) error {
	drainErr := b.srv.Drain(ctx)
	err := b.srv.Close()
	return errors.Join(drainErr, err, b.broker.Close())
}

// Close shuts down, giving in-flight requests up to 5 seconds.
func (b *Broker) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.Shutdown(ctx)
}

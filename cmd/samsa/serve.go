package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/samsa-io/samsa"
	"github.com/samsa-io/samsa/internal/config"
)

type serveOptions struct {
	addr, advertise, dataDir, configFile, logLevel, httpAddr string
	set                                                      []string
}

func newServeCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a samsa broker: a Kafka-compatible broker that any Kafka client can use.

With no flags it listens on 127.0.0.1:9092, keeps its data in ./samsa-data,
and creates topics on first use (auto.create.topics.enable=true,
num.partitions=1). Every acknowledged record (acks=1 or all) is fsynced
first, so it survives a crash or kill -9.

Settings come from, in increasing precedence: samsa's defaults (Kafka's,
made durable), a Kafka server.properties file (--config), --set key=value,
and the --addr/--advertise/--data-dir/--http-addr flags. Unknown keys in
the file are warned about and ignored.

The web console, Prometheus /metrics, /healthz and /readyz are served on
http://127.0.0.1:9644/ (samsa.http.listener); --http-addr moves them and
--http-addr=off turns them off. If the default port is taken, the broker
starts without them and says so.

Security is configured with Kafka's keys in the properties file: listeners
with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (several at once), TLS
(ssl.keystore.location etc., PEM files), SASL users (PLAIN in
listener.name.<l>.plain.sasl.jaas.config; SCRAM with samsa user create),
ACLs (authorizer.class.name, super.users; samsa acl add) and quotas.
config/secure.properties is a complete example; see the README's
"Security" section. --addr moves the first listener (the inter-broker one).

SIGINT or SIGTERM shuts down cleanly: requests in flight are answered,
then every partition is synced and closed.`,
		Example: `  samsa serve
  samsa serve --addr 0.0.0.0:9092 --advertise kafka.example.com:9092 --data-dir /var/lib/samsa
  samsa serve --config server.properties --set num.partitions=6
  samsa serve --config config/secure.properties   # TLS, SASL users, ACLs
  samsa serve --http-addr 0.0.0.0:9644     # console and /metrics reachable from other hosts
  samsa serve --http-addr off              # no HTTP at all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "", "host:port to listen on (default 127.0.0.1:9092; Kafka's listeners)")
	f.StringVar(&o.advertise, "advertise", "", "host:port clients are told to connect to (Kafka's advertised.listeners; default: the listen address, localhost if that is all interfaces)")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for partitions and metadata (default ./samsa-data; Kafka's log.dirs)")
	f.StringVar(&o.configFile, "config", "", "a Kafka server.properties file")
	f.StringArrayVar(&o.set, "set", nil, "set a Kafka broker setting, key=value (repeatable)")
	f.StringVar(&o.httpAddr, "http-addr", "", `host:port of the web console and /metrics (default 127.0.0.1:9644; "off" disables; samsa.http.listener)`)
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// Every flag serve inherits from the root (--brokers, --timeout,
	// --user, --tls-ca, ...) belongs to the client commands: a broker
	// ignores them, so its help must not offer them.
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		c.InheritedFlags().VisitAll(func(fl *pflag.Flag) { fl.Hidden = true })
		c.Parent().HelpFunc()(c, args)
	})
	return cmd
}

// advertiseWarning returns a warning when the broker listens on every
// interface but advertises nothing: Metadata then names localhost, so a
// client on another host bootstraps fine and then fails to reach the broker
// it was told about, the classic Kafka advertised.listeners trap. It
// returns "" otherwise.
func advertiseWarning(listen, advertised string) string {
	if advertised != "" {
		return ""
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return ""
	}
	return fmt.Sprintf("listening on all interfaces but advertising localhost:%s: clients on other hosts will reach the bootstrap address, then fail; set --advertise HOST:PORT (advertised.listeners)", port)
}

// unusedKeyWarning matches config.Apply's warning for a Kafka key samsa
// knows but does not use. A stock Kafka server.properties has about ten
// (process.roles, num.io.threads, socket buffers, ...): one line naming
// them all reads as the harmless note it is, where ten WARN lines at the
// top of the first start look like trouble. If config's wording changes,
// the warnings are still logged, one per line (TestServeWarnings notices).
var unusedKeyWarning = regexp.MustCompile(`^setting "([^"]+)" is a Kafka setting samsa does not use yet; ignored$`)

// logConfigWarnings logs config.Apply's warnings, folding the unused-key
// ones into a single line.
func logConfigWarnings(lg *slog.Logger, warnings []string) {
	var unused []string
	for _, w := range warnings {
		if m := unusedKeyWarning.FindStringSubmatch(w); m != nil {
			unused = append(unused, m[1])
			continue
		}
		lg.Warn(w)
	}
	if len(unused) > 0 {
		lg.Warn("ignoring Kafka settings samsa does not use yet", "keys", strings.Join(unused, ","))
	}
}

func runServe(cmd *cobra.Command, o serveOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)
	}
	lg := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

	bc := config.Default()
	props := map[string]string{}
	if o.configFile != "" {
		f, err := os.Open(o.configFile)
		if err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		p, err := config.ParseProperties(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", o.configFile, err)
		}
		props = p
	}
	for _, kv := range o.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("--set %q: expected key=value", kv)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	warnings, err := bc.Apply(props)
	if err != nil {
		return err
	}
	logConfigWarnings(lg, warnings)
	for flag, v := range map[string]string{"--addr": o.addr, "--advertise": o.advertise} {
		if v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%s %q: expected host:port, e.g. 127.0.0.1:9092 or :9092", flag, v)
		}
	}
	if o.addr != "" {
		bc.Listener = o.addr
	}
	if o.advertise != "" {
		bc.AdvertisedListener = o.advertise
	}
	if o.dataDir != "" {
		bc.DataDir = o.dataDir
	}
	// One spelling of the data directory everywhere (logs, console,
	// DescribeLogDirs), whatever the working directory later becomes.
	if abs, err := filepath.Abs(bc.DataDir); err == nil {
		bc.DataDir = abs
	}
	switch o.httpAddr {
	case "":
	case samsa.HTTPOff:
		bc.HTTPAddr = ""
	default:
		bc.HTTPAddr = o.httpAddr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	samsa.Version = version
	b, err := samsa.StartWithConfig(ctx, bc, lg)
	if err != nil {
		return err
	}
	dir, _ := filepath.Abs(b.DataDir())
	console := "off"
	if a := b.HTTPAddr(); a != "" {
		console = "http://" + a + "/"
	}
	if w := advertiseWarning(b.Addr(), bc.AdvertisedListener); w != "" {
		lg.Warn(w)
	}
	lg.Info("samsa is ready", "listening", b.Addr(), "listeners", b.Listeners(), "console", console, "data_dir", dir, "startup", time.Since(start).Round(time.Microsecond).String())
	<-ctx.Done()
	stop()
	lg.Info("shutting down: answering requests in flight, then syncing partitions")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	lg.Info("stopped cleanly")
	return nil
}

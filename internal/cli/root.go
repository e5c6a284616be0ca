// Package cli is samsa's admin and data command line: topic management,
// produce, consume, consumer groups and cluster inspection, in the spirit of Redpanda's rpk
// and kcat. It talks to any Kafka-compatible cluster through franz-go's kgo
// and kadm, so it works against samsa and against Apache Kafka alike.
//
// Every command writes through cobra's OutOrStdout/ErrOrStderr and reads
// through InOrStdin, so tests drive the commands in-process. Data goes to
// stdout; summaries and errors go to stderr, so `samsa consume | jq` stays
// clean. Any failure is reported by Execute as exactly one line,
// "samsa: <what went wrong>", with exit code 1.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// envBrokers names the environment variable that supplies the default for
// --brokers, like rpk's RPK_BROKERS.
const envBrokers = "SAMSA_BROKERS"

// defaultBrokers is Kafka's conventional listener and what `samsa serve`
// binds by default.
const defaultBrokers = "localhost:9092"

// globalOptions are the persistent flags shared by every client command.
type globalOptions struct {
	brokers string        // comma-separated host:port list
	timeout time.Duration // bound on each admin call; consume/produce use it for setup only
	verbose bool          // log the client's protocol chatter to stderr
	logTo   io.Writer     // where verbose logs go: the command's stderr
	sec     securityOptions
}

// seeds returns the broker list with blanks removed.
func (o *globalOptions) seeds() []string {
	var out []string
	for _, s := range strings.Split(o.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// newClient builds a kgo client for the seeds plus extra options and checks
// that at least one broker answers. The early Ping turns "nothing listens
// there" into one clear error instead of a generic deadline after kgo's
// retries.
func (o *globalOptions) newClient(ctx context.Context, extra ...kgo.Opt) (*kgo.Client, error) {
	seeds := o.seeds()
	if len(seeds) == 0 {
		return nil, usageErrorf("--brokers is empty")
	}
	secOpts, err := o.sec.kgoOpts()
	if err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(o.timeout),
		kgo.ClientID("samsa-cli"),
	}, secOpts...), extra...)
	if o.verbose {
		// kgo logs from its own goroutines; the lock makes any writer
		// (a test's bytes.Buffer included) safe to share.
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(&lockedWriter{w: o.logTo}, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if serr := o.sec.securityError(err); serr != nil {
			return nil, serr
		}
		return nil, &unreachableError{brokers: strings.Join(seeds, ","), err: err}
	}
	return cl, nil
}

// newAdmin is newClient wrapped in kadm, with the broker-side timeout of
// admin requests (CreateTopics, DeleteTopics, ...) matched to --timeout.
func (o *globalOptions) newAdmin(ctx context.Context) (*kadm.Client, error) {
	cl, err := o.newClient(ctx)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(o.timeout / time.Millisecond))
	return adm, nil
}

// NewRootCommand returns the "samsa" root command carrying the client
// subcommands (topic, produce, consume, group, cluster, txn). The caller adds the
// broker's own "serve" command and runs it with Execute.
func NewRootCommand(version string) *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "samsa",
		Short: "samsa: a Kafka-compatible event-streaming broker and its CLI",
		Long: `samsa is an event-streaming broker that speaks the Apache Kafka protocol,
shipped as one binary. Besides "samsa serve", it carries an admin and data
CLI that works against any Kafka-compatible cluster.

The client commands find the cluster through --brokers (or the SAMSA_BROKERS
environment variable), a comma-separated list of host:port seeds. On a
secured cluster give a Kafka client properties file (--command-config:
security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location)
or the flags --user, --password (env SAMSA_PASSWORD), --sasl-mechanism,
--tls-ca, --tls-cert, --tls-key.`,
		Example: `  samsa serve                              # start a broker on localhost:9092
  samsa topic create orders -p 6           # create a topic with 6 partitions
  printf 'k1:hello\nk2:world\n' | samsa produce orders -k :
  samsa consume orders -e -f json          # print everything, then exit
  samsa group describe my-group            # members, committed offsets, lag
  samsa txn list --state Ongoing           # open transactions
  samsa user create alice --password s3cret --command-config admin.properties
  samsa acl add --allow-principal User:alice --consumer --topic orders --group billing
  SAMSA_BROKERS=h1:9092,h2:9092 samsa cluster`,
		Version:       version,
		SilenceErrors: true, // Execute prints the one error line
		SilenceUsage:  true, // a failed request is not a usage problem
	}
	def := defaultBrokers
	if env := os.Getenv(envBrokers); env != "" {
		def = env
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&opts.brokers, "brokers", "b", def, "comma-separated seed brokers (host:port); env "+envBrokers)
	pf.DurationVar(&opts.timeout, "timeout", 10*time.Second, "timeout for connecting and for each admin request")
	pf.BoolVarP(&opts.verbose, "verbose", "v", false, "log the Kafka client's requests and connections to stderr")
	opts.sec.addFlags(pf)
	root.PersistentPreRun = func(c *cobra.Command, _ []string) { opts.logTo = c.ErrOrStderr() }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), err: err}
	})

	root.AddCommand(
		newTopicCommand(opts),
		newProduceCommand(opts),
		newConsumeCommand(opts),
		newClusterCommand(opts),
		newGroupCommand(opts),
		newTxnCommand(opts),
		newUserCommand(opts),
		newACLCommand(opts),
	)
	return root
}

// Execute runs root with a context cancelled by SIGINT or SIGTERM, prints
// any error as one line "samsa: ..." on root's stderr, and returns the
// process exit code: 0 on success, 1 on any error.
func Execute(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, root)
}

// run is Execute without the signal handling, for tests.
func run(ctx context.Context, root *cobra.Command) int {
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if c == nil {
		c = root
	}
	fmt.Fprintln(root.ErrOrStderr(), "samsa: "+errorLine(c, err))
	return 1
}

// errorLine renders err as a single human line: known Kafka and network
// failures get a plain-words explanation, and embedded newlines are folded
// so that the "one line" promise holds for any error text. Lines become
// "; "-separated clauses rather than running together: errors.Join puts
// one error per line (one per topic in "topic create a b"), and a reader
// must see where one ends and the next begins.
func errorLine(c *cobra.Command, err error) string {
	var msg string
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		msg = ue.Error()
	case isUsageFromCobra(err):
		msg = fmt.Sprintf("%v (see %q)", err, c.CommandPath()+" --help")
	case errors.Is(err, context.Canceled):
		msg = "interrupted"
	default:
		msg = err.Error()
	}
	var clauses []string
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			clauses = append(clauses, line)
		}
	}
	return strings.Join(clauses, "; ")
}

// isUsageFromCobra reports cobra's own argument errors ("accepts 1 arg(s),
// received 0", "unknown command"), which come back as plain errors.
func isUsageFromCobra(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "accepts ") || strings.HasPrefix(s, "requires ") ||
		strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "invalid argument") ||
		strings.HasPrefix(s, "required flag")
}

// usageError is a mistake in how the command was invoked; its message
// points at the command's --help.
type usageError struct {
	cmd string // command path, e.g. "samsa topic create"; may be empty
	err error
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.err.Error()
	}
	return fmt.Sprintf("%v (see %q)", e.err, e.cmd+" --help")
}

func (e *usageError) Unwrap() error { return e.err }

// usageErrorf is a usageError without a command path (the caller's
// message already says which flag is wrong).
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// unreachableError is returned when no seed broker answered.
type unreachableError struct {
	brokers string
	err     error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach broker %s: %s (is \"samsa serve\" running?)", e.brokers, netReason(e.err))
}

func (e *unreachableError) Unwrap() error { return e.err }

// netReason reduces a dial error to its cause: "connection refused" reads
// better than "dial tcp 127.0.0.1:9092: connect: connection refused".
func netReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unknown host " + dnsErr.Name
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

// topicError explains a per-topic Kafka error code in words, naming the
// topic; msg is the broker's optional error message.
//
// The CLI imports kerr although the broker's rule keeps kerr in api and
// server: that rule stops storage layers from speaking Kafka codes, while
// the CLI is a Kafka client whose job is to turn those codes into words.
func topicError(topic string, err error, msg string) error {
	if err == nil {
		return nil
	}
	var what string
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		what = fmt.Sprintf("topic %q does not exist", topic)
	case errors.Is(err, kerr.TopicAlreadyExists):
		what = fmt.Sprintf("topic %q already exists", topic)
	case errors.Is(err, kerr.InvalidTopicException):
		what = fmt.Sprintf("invalid topic name %q", topic)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		what = fmt.Sprintf("not authorized for topic %q (TOPIC_AUTHORIZATION_FAILED): ask an admin for an ACL (samsa acl add --topic %s)", topic, topic)
	default:
		// The broker's message names the specifics ("replication factor
		// 3, but this cluster has 1 broker") and kerr's description is a
		// generic sentence, so show the message with just the code's name
		// and fall back to the description when there is no message.
		var ke *kerr.Error
		if msg != "" && errors.As(err, &ke) {
			return fmt.Errorf("topic %q: %s (%s)%w", topic, msg, ke.Message, silentWrap{err})
		}
		what = fmt.Sprintf("topic %q: %v", topic, err)
	}
	if msg != "" && !strings.Contains(what, msg) {
		what += ": " + msg
	}
	return fmt.Errorf("%s%w", what, silentWrap{err})
}

// silentWrap keeps err in the chain for errors.Is without adding its text:
// topicError already said what it means.
type silentWrap struct{ err error }

func (s silentWrap) Error() string { return "" }
func (s silentWrap) Unwrap() error { return s.err }

// requestError names the request that failed for errors that concern no
// single topic (the whole request failed, e.g. a timeout).
func requestError(what string, err error) error {
	// kgo's "broker is too old" error is unexported; its text is what
	// there is to match. It means ApiVersions did not list the request.
	if strings.Contains(err.Error(), "broker is too old") {
		return fmt.Errorf("%s: the broker does not support this request: %w", what, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out (raise --timeout?): %w", what, err)
	}
	if errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.SaslAuthenticationFailed) {
		return fmt.Errorf("%s: not authorized (%v): ask an admin for an ACL (samsa acl add)%w", what, kerr.TypedErrorForCode(codeOf(err)), silentWrap{err})
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errUnknownTopic is what a lookup that did not find the topic reports.
var errUnknownTopic = kerr.UnknownTopicOrPartition

// withTimeout bounds one admin round trip by --timeout.
func withTimeout(ctx context.Context, g *globalOptions) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}

// groupRunE is the RunE of a command that only groups subcommands: bare,
// it shows help; with an argument it is a mistyped subcommand, which must
// fail rather than print help and exit 0 (cobra's default below the root).
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// stdout and stderr are short names for a command's writers.
func stdout(c *cobra.Command) io.Writer { return c.OutOrStdout() }
func stderr(c *cobra.Command) io.Writer { return c.ErrOrStderr() }

// codeOf returns the Kafka error code in err's chain, or 0.
func codeOf(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return 0
}

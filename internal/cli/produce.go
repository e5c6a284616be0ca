package cli

// samsa produce: one record per stdin line.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceOptions are the flags of "samsa produce".
type produceOptions struct {
	keyDelimiter string
	headers      []string
	partition    int32 // -1: let the partitioner choose
	acks         string
	compression  string
}

func newProduceCommand(g *globalOptions) *cobra.Command {
	o := &produceOptions{}
	c := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read from stdin, one per line",
		Long: `Read lines from stdin and produce each as one record to TOPIC.

The trailing newline is not part of the record; an empty line is an
empty-valued record. With -k SEP each line is split at the first SEP into
key and value; a line without SEP is produced with no key (null) and the
whole line as value.

Keyed records go to murmur2(key) mod partitions, the partition the Java
client and kafka-python's default partitioner choose, so keys written by
any of them land together. Records without a key stick to one partition per
batch. -p forces a partition.

Records are sent in batches, asynchronously; the command waits for every
acknowledgement, prints a summary to stderr, and fails if any record did
not make it. --timeout bounds each record's delivery. The topic is created
on first use if the broker allows it (auto.create.topics.enable).

Typing records at a terminal: one per line, then Ctrl-D to finish. Ctrl-C
also ends the input; the lines already entered are still delivered.`,
		Example: `  echo hello | samsa produce greetings
  printf 'user1:login\nuser2:logout\n' | samsa produce events -k :
  samsa produce events -H source=cli -H trace-id=42 < events.txt
  samsa produce logs -z zstd --acks 1 < app.log`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, g, o, args[0])
		},
	}
	f := c.Flags()
	f.StringVarP(&o.keyDelimiter, "key-delimiter", "k", "", "split each line into key and value at the first occurrence of this string")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "produce every record to this partition (-1: by key)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVarP(&o.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4, zstd")
	return c
}

// clientOpts turns the flags into kgo producer options.
func (o *produceOptions) clientOpts(g *globalOptions) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		// Let the broker's auto.create.topics.enable decide, as librdkafka's
		// producer does by default.
		kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(g.timeout),
		// A just auto-created topic may need a second metadata round
		// before its leaders are known; kgo's 5s default minimum between
		// refreshes suits long-lived producers, not a command that runs
		// for a moment.
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
	switch o.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		// Idempotence requires acks=all (KIP-98), so it goes with it.
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, usageErrorf("--acks %q: want all, 1 or 0", o.acks)
	}
	codec, err := parseCompression(o.compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else {
		// nil hasher: Kafka's murmur2, sign bit masked, mod partitions.
		opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	}
	if o.partition < -1 {
		return nil, usageErrorf("--partition %d: want a partition number, or -1 to choose by key", o.partition)
	}
	return opts, nil
}

// parseCompression maps a --compression name to a kgo codec.
func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, usageErrorf("--compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// lineRecord builds the record for one input line (without its newline).
// With a delimiter the key is the text before its first occurrence; a line
// without the delimiter has a nil key. The line buffer is copied: the
// caller reuses it.
func lineRecord(line []byte, delim string, headers []kgo.RecordHeader) *kgo.Record {
	r := &kgo.Record{Headers: headers}
	if delim != "" {
		if k, v, ok := bytes.Cut(line, []byte(delim)); ok {
			r.Key = bytes.Clone(k)
			r.Value = bytes.Clone(v)
			if r.Key == nil {
				r.Key = []byte{} // empty, not null: the line had a delimiter
			}
			if r.Value == nil {
				r.Value = []byte{}
			}
			return r
		}
	}
	r.Value = append([]byte{}, line...)
	return r
}

// produceTally counts acknowledgements from kgo's callbacks, which run on
// kgo's goroutines; mu guards every field.
type produceTally struct {
	mu       sync.Mutex
	ok       int
	failed   int
	firstErr error
}

func (t *produceTally) done(_ *kgo.Record, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	t.ok++
}

func runProduce(cmd *cobra.Command, g *globalOptions, o *produceOptions, topic string) error {
	if err := checkTopicName(topic); err != nil {
		return err
	}
	kvs, err := parseKeyValues("header", o.headers)
	if err != nil {
		return err
	}
	headers := make([]kgo.RecordHeader, len(kvs))
	for i, kv := range kvs {
		headers[i] = kgo.RecordHeader{Key: kv.Key, Value: []byte(kv.Value)}
	}
	extra, err := o.clientOpts(g)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cl, err := g.newClient(ctx, extra...)
	if err != nil {
		return err
	}
	defer cl.Close()

	tally := &produceTally{}
	done := make(chan struct{})
	defer close(done)
	lines, readErrc := readLines(cmd.InOrStdin(), done)
	// Ctrl-C ends the input, as Ctrl-D does: the records read so far are
	// still delivered (each within --timeout, kgo's RecordDeliveryTimeout),
	// so they must not carry the context the signal cancels.
	pctx := context.WithoutCancel(ctx)
	sent := 0
	interrupted := false
	var readErr error
read:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break read
		case line, ok := <-lines:
			if !ok {
				readErr = <-readErrc
				break read
			}
			r := lineRecord(line, o.keyDelimiter, headers)
			r.Topic = topic
			if o.partition >= 0 {
				r.Partition = o.partition
			}
			cl.Produce(pctx, r, tally.done)
			sent++
			// Stop reading early once something failed: the rest would
			// most likely fail the same way (unknown topic, authorization).
			tally.mu.Lock()
			failed := tally.firstErr != nil
			tally.mu.Unlock()
			if failed {
				break read
			}
		}
	}
	flushErr := cl.Flush(pctx)

	tally.mu.Lock()
	defer tally.mu.Unlock()
	switch {
	case tally.firstErr != nil:
		err := produceError(topic, tally.firstErr, o.keyDelimiter != "")
		// kgo words a forced partition beyond the topic's count as an
		// "invalid record partitioning choice"; say it in the user's terms.
		if o.partition >= 0 && strings.Contains(err.Error(), "invalid record partitioning choice") {
			err = fmt.Errorf("topic %q has no partition %d", topic, o.partition)
		}
		return fmt.Errorf("produced %d of %d records to %s: %w", tally.ok, sent, topic, err)
	case readErr != nil:
		return fmt.Errorf("reading stdin after %d records: %w", sent, readErr)
	case flushErr != nil:
		return fmt.Errorf("produced %d of %d records to %s: %w", tally.ok, sent, topic, flushErr)
	}
	noun := "records"
	if tally.ok == 1 {
		noun = "record"
	}
	note := ""
	if interrupted {
		note = " (interrupted: stopped reading stdin)"
	}
	if o.acks == "0" {
		// acks=0 has no response: "produced" would claim more than is known.
		fmt.Fprintf(stderr(cmd), "sent %d %s to %s (acks=0: not confirmed)%s\n", tally.ok, noun, topic, note)
		return nil
	}
	fmt.Fprintf(stderr(cmd), "produced %d %s to %s%s\n", tally.ok, noun, topic, note)
	return nil
}

// readLines reads r on its own goroutine and sends each line, without its
// newline, on the returned channel; a final line without a newline counts.
// At the end of input it sends the read error (nil at EOF) on the second
// channel and closes the first. It gives up, leaving r, once done is
// closed.
//
// The goroutine is what lets Ctrl-C end "samsa produce" at a terminal: a
// read from a tty does not return when a signal arrives, so a loop that
// reads directly would sit there until the next Enter or Ctrl-D.
func readLines(r io.Reader, done <-chan struct{}) (<-chan []byte, <-chan error) {
	lines := make(chan []byte, 256)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		in := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := in.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			} else if err == io.EOF && len(line) == 0 {
				errc <- nil // no trailing partial line
				return
			}
			if err != nil && err != io.EOF {
				errc <- err
				return
			}
			select {
			case lines <- line: // ReadBytes returns a fresh slice: no copy needed
			case <-done:
				errc <- nil
				return
			}
			if err == io.EOF {
				errc <- nil
				return
			}
		}
	}()
	return lines, errc
}

// produceError puts a failed record's error in words. keyed says whether
// the records had keys (-k), for the hint on INVALID_RECORD.
func produceError(topic string, err error, keyed bool) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.InvalidTopicException):
		return topicError(topic, err, "")
	case errors.Is(err, kerr.InvalidRecord) && !keyed:
		// kgo drops the produce response's error message, so the broker's
		// reason is lost. The usual one for a CLI user is a compacted
		// topic, which needs a key on every record (as in Kafka).
		return fmt.Errorf("%w (if the topic is compacted, every record needs a key: split lines into key and value with -k)", err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted: %w", err)
	case errors.Is(err, kgo.ErrRecordTimeout):
		return fmt.Errorf("not acknowledged within --timeout: %w", err)
	}
	return err
}

// maxTopicNameLen is Kafka's limit: 249, so that "<topic>-<partition>"
// directory names stay within common file-system limits.
const maxTopicNameLen = 249

// checkTopicName applies Kafka's topic name rule (ASCII letters, digits,
// '.', '_' and '-'; at most 249 characters; not "." or "..") before any
// request, so that a bad name reads as one. Without it, a produce to an
// auto-created topic only gets INVALID_TOPIC_EXCEPTION back, after kgo's
// metadata round trips.
func checkTopicName(name string) error {
	switch {
	case name == "":
		return usageErrorf("topic name is empty")
	case name == "." || name == "..":
		return usageErrorf("invalid topic name %q: \".\" and \"..\" are not allowed", name)
	case len(name) > maxTopicNameLen:
		return usageErrorf("invalid topic name: %d characters, at most %d are allowed", len(name), maxTopicNameLen)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return usageErrorf("invalid topic name %q: use only ASCII letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// Command kfake-serve runs franz-go's kfake as a one-broker, disk-backed,
// fsync-every-batch process, so that bench can measure its startup time and
// resident memory the same way it measures `samsa serve`.
//
// It exists only as a peer to measure against; samsa never uses kfake as a
// broker. On readiness it prints one line to stderr, in the same shape as
// samsa's log line so one parser serves both:
//
//	msg="kfake is ready" listening=127.0.0.1:PORT
//
// It exits on SIGINT or SIGTERM after closing the cluster (which flushes).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "host:port to listen on")
	dataDir := flag.String("data-dir", "", "persistence directory (required)")
	partitions := flag.Int("partitions", 1, "partitions of auto-created topics")
	flag.Parse()
	if err := run(*addr, *dataDir, *partitions); err != nil {
		fmt.Fprintln(os.Stderr, "kfake-serve:", err)
		os.Exit(1)
	}
}

func run(addr, dataDir string, partitions int) error {
	if dataDir == "" {
		return fmt.Errorf("--data-dir is required")
	}
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--addr %q: port: %w", addr, err)
	}
	c, err := kfake.NewCluster(kfakeOpts(dataDir, partitions, port)...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(os.Stderr, "msg=\"kfake is ready\" listening=%s\n", c.ListenAddrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

// kfakeOpts mirrors the in-process peer's options in bench/peers_test.go:
// one broker, durable (DataDir + SyncWrites), auto-created topics.
func kfakeOpts(dataDir string, partitions, port int) []kfake.Opt {
	return []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(dataDir),
		kfake.SyncWrites(),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
	}
}

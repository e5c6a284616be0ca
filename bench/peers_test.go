package bench

// Peers: the brokers measured side by side.
//
// Every peer is a single broker, durable to the same standard, with topics
// auto-created at a fixed partition count (samsa has no CreateTopics yet, so
// auto-creation is the one path both peers share):
//
//   - samsa: samsa.Start in this process; every acks>=1 produce is fsynced
//     (group commit) before it is answered.
//   - samsa-bin: the real `samsa serve` binary, same settings, in its own
//     process (so its RSS and startup can be measured).
//   - kfake: franz-go's kfake with NumBrokers(1), DataDir and SyncWrites,
//     which fsyncs the segment and index file after every batch, inside the
//     produce handler, before answering.
//   - kfake-bin: the same kfake options in its own process
//     (bench/cmd/kfake-serve), for startup and RSS only.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/samsa-io/samsa"
)

// peer is one running broker under test.
type peer struct {
	name string
	addr string
	// pid is the broker's process id when it runs as its own process, else 0.
	pid   int
	close func()
}

// peerKind starts fresh brokers of one kind.
type peerKind struct {
	name string
	// start runs a broker whose auto-created topics have partitions
	// partitions, keeping its data in dir (empty, on a real disk).
	start func(ctx context.Context, dir string, partitions int) (*peer, error)
}

func samsaInProcess() peerKind {
	return peerKind{name: "samsa", start: func(ctx context.Context, dir string, partitions int) (*peer, error) {
		b, err := samsa.Start(ctx, samsa.Config{
			Addr:       "127.0.0.1:0",
			DataDir:    dir,
			Properties: map[string]string{"num.partitions": strconv.Itoa(partitions)},
			Logger:     slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, err
		}
		return &peer{name: "samsa", addr: b.Addr(), close: func() { b.Close() }}, nil
	}}
}

// samsaRelaxedInProcess is samsa with Kafka's default durability trade
// (log.flush.interval.messages above 1: acknowledged from the page cache,
// fsynced in the background every second), to show what relaxing buys.
func samsaRelaxedInProcess() peerKind {
	return peerKind{name: "samsa", start: func(ctx context.Context, dir string, partitions int) (*peer, error) {
		b, err := samsa.Start(ctx, samsa.Config{
			Addr:    "127.0.0.1:0",
			DataDir: dir,
			Properties: map[string]string{
				"num.partitions":              strconv.Itoa(partitions),
				"log.flush.interval.messages": "9223372036854775807", // Kafka's default
				"log.flush.interval.ms":       "1000",
			},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, err
		}
		return &peer{name: "samsa", addr: b.Addr(), close: func() { b.Close() }}, nil
	}}
}

// kfakeNoSyncInProcess is kfake writing its data dir without fsync: the
// peer of equal durability for samsaRelaxedInProcess.
func kfakeNoSyncInProcess() peerKind {
	return peerKind{name: "kfake", start: func(_ context.Context, dir string, partitions int) (*peer, error) {
		c, err := kfake.NewCluster(
			kfake.NumBrokers(1),
			kfake.DataDir(dir),
			kfake.AllowAutoTopicCreation(),
			kfake.DefaultNumPartitions(partitions),
		)
		if err != nil {
			return nil, err
		}
		return &peer{name: "kfake", addr: c.ListenAddrs()[0], close: c.Close}, nil
	}}
}

func kfakeInProcess() peerKind {
	return peerKind{name: "kfake", start: func(_ context.Context, dir string, partitions int) (*peer, error) {
		c, err := kfake.NewCluster(
			kfake.NumBrokers(1),
			kfake.DataDir(dir),
			kfake.SyncWrites(),
			kfake.AllowAutoTopicCreation(),
			kfake.DefaultNumPartitions(partitions),
		)
		if err != nil {
			return nil, err
		}
		return &peer{name: "kfake", addr: c.ListenAddrs()[0], close: c.Close}, nil
	}}
}

// binaries are the peer programs, built once per run into a temp dir.
type binaries struct {
	samsa, kfake string
}

// buildBinaries compiles `samsa` and `kfake-serve` into dir. The build is
// what `make` would do; it is not timed.
func buildBinaries(ctx context.Context, dir string) (binaries, error) {
	bins := binaries{samsa: filepath.Join(dir, "samsa"), kfake: filepath.Join(dir, "kfake-serve")}
	for pkg, out := range map[string]string{
		"github.com/samsa-io/samsa/cmd/samsa":             bins.samsa,
		"github.com/samsa-io/samsa/bench/cmd/kfake-serve": bins.kfake,
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return bins, nil
}

// serveArgs is the command line that starts binary kind ("samsa-bin" or
// "kfake-bin") on addr with data in dir.
func serveArgs(bins binaries, kind, addr, dir string, partitions int) (string, []string) {
	if kind == "kfake-bin" {
		return bins.kfake, []string{"--addr", addr, "--data-dir", dir, "--partitions", strconv.Itoa(partitions)}
	}
	return bins.samsa, []string{"serve", "--addr", addr, "--data-dir", dir,
		"--set", "num.partitions=" + strconv.Itoa(partitions)}
}

var readyRE = regexp.MustCompile(`is ready.*listening=(\S+)`)

// binaryPeer runs kind ("samsa-bin" or "kfake-bin") as a child process and
// returns once it has logged its ready line.
func binaryPeer(bins binaries, kind string) peerKind {
	return peerKind{name: kind, start: func(ctx context.Context, dir string, partitions int) (*peer, error) {
		path, args := serveArgs(bins, kind, "127.0.0.1:0", dir, partitions)
		p, err := startProcess(path, args)
		if err != nil {
			return nil, err
		}
		select {
		case addr := <-p.ready:
			return &peer{name: kind, addr: addr, pid: p.cmd.Process.Pid, close: p.stop}, nil
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before it was ready: %s", kind, p.tail())
		case <-time.After(15 * time.Second):
			p.stop()
			return nil, fmt.Errorf("%s not ready after 15s: %s", kind, p.tail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		}
	}}
}

// process is a broker child process whose stderr is drained for its whole
// life: a full pipe would block the broker's logger and stall it.
type process struct {
	cmd    *exec.Cmd
	ready  chan string   // receives the listen address once
	exited chan struct{} // closed when the process has exited

	mu       sync.Mutex
	lastLogs []string // the last few stderr lines, for error messages
}

func startProcess(path string, args []string) (*process, error) {
	cmd := exec.Command(path, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, ready: make(chan string, 1), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lastLogs = append(p.lastLogs, line)
			if len(p.lastLogs) > 10 {
				p.lastLogs = p.lastLogs[1:]
			}
			p.mu.Unlock()
			if m := readyRE.FindStringSubmatch(line); m != nil && !sent {
				p.ready <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lastLogs, "\n")
}

// stop asks the process to shut down cleanly and kills it if it has not
// exited within 10s.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a child that must be told its port before it starts.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rssBytes reads VmRSS of process pid from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// dataRoot picks where data dirs go: the OS temp dir when it is on a real
// disk, else a directory beside the repository (a tmpfs would make fsync
// free and the durability comparison meaningless). It returns the root and
// a description for the report such as "/tmp (ext4 /dev/vda)".
func dataRoot() (root, desc string, err error) {
	tmp := os.TempDir()
	fs, dev := mountOf(tmp)
	if fs != "tmpfs" && fs != "ramfs" {
		return tmp, fmt.Sprintf("%s (%s %s)", tmp, fs, dev), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	// The test runs in <repo>/bench; the repository's parent is on disk.
	alt := filepath.Join(wd, "..", "..")
	fs2, dev2 := mountOf(alt)
	return alt, fmt.Sprintf("%s (%s %s; %s is %s)", alt, fs2, dev2, tmp, fs), nil
}

// mountOf returns the filesystem type and device of the longest mount
// point in /proc/mounts that contains path.
func mountOf(path string) (fsType, device string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "unknown", "?"
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown", "?"
	}
	best := -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if abs == mp || mp == "/" || strings.HasPrefix(abs, mp+"/") {
			if len(mp) > best {
				best, device, fsType = len(mp), f[0], f[2]
			}
		}
	}
	if best < 0 {
		return "unknown", "?"
	}
	return fsType, device
}

// Package interop runs real Kafka clients (kafka-python, confluent-kafka,
// kcat, franz-go) against a real `samsa serve` process, and crashes that
// process with kill -9 to check that no acknowledged record is lost.
//
// TestMain builds the samsa binary once. Every test starts its own broker
// on a free loopback port with its own data directory, so tests run in
// parallel and never share state. The Python clients and kcat come from
// Debian packages (python3-kafka, python3-confluent-kafka, kcat); a test
// whose client is missing skips, except under CI=true, where it fails: CI
// installs them, and a skip there would hide a broken install.
//
// SAMSA_BIN=/path/to/samsa tests that binary instead of building one.
//
// Tests that need consumer groups probe FindCoordinator first and skip with
// "needs consumer groups: ..." while the broker does not serve it, so they
// start running by themselves once groups land.
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// samsaBin is the binary TestMain built; empty if the build failed.
var samsaBin string

// pythonBin is the interpreter the Debian client packages install into.
// CI installs the same packages, so the path is fixed rather than $PATH's.
const pythonBin = "/usr/bin/python3"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// SAMSA_BIN tests a prebuilt binary (a release build, or a known-good
	// build while the tree is mid-change) instead of building one.
	if bin := os.Getenv("SAMSA_BIN"); bin != "" {
		samsaBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "samsa-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "samsa")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/samsa-io/samsa/cmd/samsa")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: building samsa: %v\n%s", err, out)
		return 1
	}
	samsaBin = bin
	return m.Run()
}

// inCI reports whether a missing client must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips the test, or fails it under CI=true.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if inCI() {
		t.Fatalf("%s (CI=true: the CI image must install it)", msg)
	}
	t.Skip(msg)
}

// needPython skips (fails under CI) unless /usr/bin/python3 can import
// module ("kafka" or "confluent_kafka").
func needPython(t *testing.T, module string) {
	t.Helper()
	pkg := map[string]string{"kafka": "python3-kafka", "confluent_kafka": "python3-confluent-kafka"}[module]
	if pkg == "" {
		pkg = "python3-" + module
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pythonBin, "-c", "import "+module).CombinedOutput()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("python module %s not installed: apt-get install %s (%v: %s)",
			module, pkg, err, bytes.TrimSpace(out)))
	}
}

// needKcat skips (fails under CI) unless kcat is on $PATH.
func needKcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		skipOrFail(t, "kcat not installed: apt-get install kcat")
	}
	return p
}

// waitFor polls fn every 20ms until it returns nil, failing the test with
// fn's last error after timeout. It is the only way tests wait.
func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBuffer collects a process's stderr. It is the process's Stderr, so
// exec copies into it and cmd.Wait returns only after the last write.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// readyRE matches the line `samsa serve` logs once it accepts connections.
var readyRE = regexp.MustCompile(`msg="samsa is ready" listening=(\S+)`)

// proc is one `samsa serve` process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	log     *logBuffer
	dataDir string
	args    []string  // extra args, reused by Restart
	started time.Time // just before exec
	// Addr is the host:port the broker listens on (a free port picked by
	// the kernel on first start, reused by Restart).
	Addr string

	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result; read only after done
}

// startBroker starts `samsa serve --data-dir dataDir extraArgs...` on a
// free loopback port (unless extraArgs has --addr), waits until it answers
// Metadata, and registers a cleanup that stops it (SIGTERM, then SIGKILL
// after 10s).
func startBroker(t *testing.T, dataDir string, extraArgs ...string) *proc {
	t.Helper()
	addr := "127.0.0.1:0"
	for _, a := range extraArgs {
		if a == "--addr" || strings.HasPrefix(a, "--addr=") {
			addr = ""
		}
	}
	return startBrokerAt(t, addr, dataDir, extraArgs...)
}

// startBrokerAt is startBroker on addr ("" when extraArgs names it).
func startBrokerAt(t *testing.T, addr, dataDir string, extraArgs ...string) *proc {
	t.Helper()
	p := launch(t, addr, dataDir, extraArgs...)
	p.waitReady(t, 15*time.Second)
	return p
}

// launch starts `samsa serve` without waiting for it (cluster nodes wait
// for a quorum before they are ready, so they start together).
func launch(t *testing.T, addr, dataDir string, extraArgs ...string) *proc {
	t.Helper()
	if samsaBin == "" {
		t.Fatal("samsa binary not built")
	}
	args := []string{"serve", "--data-dir", dataDir}
	if addr != "" {
		args = append(args, "--addr", addr)
	}
	args = append(args, extraArgs...)
	// The context bounds the process's life: no test keeps a broker longer,
	// and a hung test cannot leak it.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	p := &proc{t: t, cancel: cancel, log: &logBuffer{}, dataDir: dataDir, args: extraArgs, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, samsaBin, args...)
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start samsa: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// waitReady waits for the ready line, then for a Metadata round trip.
func (p *proc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		if p.exited() {
			return fmt.Errorf("samsa exited before ready (%v); log:\n%s", p.waitErr, p.log.String())
		}
		m := readyRE.FindStringSubmatch(p.log.String())
		if m == nil {
			return errors.New("no ready line yet; log:\n" + p.log.String())
		}
		p.Addr = m[1]
		return nil
	})
	// The ready line is logged after the listener is bound; a Metadata
	// round trip also proves the request path works.
	cl := p.client(t)
	adm := kadm.NewClient(cl)
	waitFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := adm.BrokerMetadata(ctx)
		return err
	})
	cl.Close()
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop is the cleanup: SIGTERM, wait up to 10s, then SIGKILL. On a failed
// test it prints the broker's log.
func (p *proc) stop() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.t.Errorf("samsa (pid %d) ignored SIGTERM for 10s; killing it", p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.cancel()
	if p.t.Failed() {
		p.t.Logf("samsa log (%s):\n%s", p.Addr, p.log.String())
	}
}

// Kill9 kills the process with SIGKILL and waits for it to exit: the crash
// the log must survive.
func (p *proc) Kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("samsa did not exit 10s after SIGKILL")
	}
}

// Terminate sends SIGTERM and waits up to timeout for the exit, returning
// the exit code (-1 if killed by a signal or still running).
func (p *proc) Terminate(timeout time.Duration) (int, error) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, fmt.Errorf("still running %v after SIGTERM", timeout)
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

// Restart starts a new process on the same address and data directory
// (the previous one must have exited), so clients that outlive the crash
// reconnect to it.
func (p *proc) Restart() *proc {
	p.t.Helper()
	if !p.exited() {
		p.t.Fatal("Restart: previous process still running")
	}
	return startBrokerAt(p.t, p.Addr, p.dataDir, p.args...)
}

// Pid is the broker's process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Logs returns everything the process wrote so far.
func (p *proc) Logs() string { return p.log.String() }

// Port is the listening port as a string.
func (p *proc) Port() string {
	_, port, _ := strings.Cut(p.Addr, ":")
	return port
}

// client returns a kgo client seeded with the broker, closed at cleanup.
// Topics are auto-created (the broker's num.partitions decides the count).
func (p *proc) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(p.Addr),
		kgo.AllowAutoTopicCreation(),
		kgo.RetryTimeout(20 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runPy runs a Python script from py/ with /usr/bin/python3, bounded by
// timeout, and returns its stdout. A non-zero exit fails the test with
// the script's stderr.
func runPy(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("py", script))
	if err != nil {
		t.Fatal(err)
	}
	return runCmd(t, timeout, nil, pythonBin, append([]string{path}, args...)...)
}

// runCmd runs name with args, stdin from stdin (may be nil), bounded by
// timeout, and returns stdout; it fails the test on a non-zero exit.
func runCmd(t *testing.T, timeout time.Duration, stdin []byte, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "),
			err, time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Command testreport reads `go test -json` on stdin and prints what a
// person needs: each package's result line, and the full output of every
// failed test. It exits non-zero when a test or package failed, and, under
// CI=true, when a test outside bench/ skipped: CI installs every real
// client the tests use, so a skip there is a feature not tested (the
// benchmarks in bench/ skip unless SAMSA_BENCH is set, by design).
//
//	go test -json ./... | go run ./scripts/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type key struct{ pkg, test string }

// report is what run found.
type report struct {
	failed  []key
	skipped []key // outside the allowed packages
}

// run copies the human-readable part of the event stream in to out.
// allowSkip reports whether a package may skip tests.
func run(in io.Reader, out io.Writer, allowSkip func(pkg string) bool) (report, error) {
	var r report
	buf := map[key][]string{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (a build error printed before the stream,
			// say): show it as it is.
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output", "build-output":
			if e.Test == "" {
				// Package-level lines: keep the result lines and
				// anything that is not the per-test chatter.
				if keepPackageLine(e.Output) {
					fmt.Fprint(out, e.Output)
				}
				continue
			}
			buf[k] = append(buf[k], e.Output)
		case "fail":
			if e.Test != "" {
				r.failed = append(r.failed, k)
				fmt.Fprintf(out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
				for _, o := range buf[k] {
					fmt.Fprint(out, o)
				}
			} else {
				r.failed = append(r.failed, k) // a package failed (build error, panic, timeout)
			}
			delete(buf, k)
		case "skip":
			if e.Test != "" && !allowSkip(e.Package) {
				r.skipped = append(r.skipped, k)
				for _, o := range buf[k] {
					if strings.Contains(o, ".go:") { // the t.Skip message line
						fmt.Fprintf(out, "--- SKIP: %s (%s): %s", e.Test, e.Package, strings.TrimSpace(o)+"\n")
					}
				}
			}
			delete(buf, k)
		case "pass":
			delete(buf, k)
		}
	}
	return r, sc.Err()
}

// keepPackageLine keeps a package's own output: its ok/FAIL summary, panics
// and build errors, not the === RUN / --- PASS chatter of -json's stream.
func keepPackageLine(s string) bool {
	t := strings.TrimSpace(s)
	switch {
	case t == "", t == "PASS", strings.HasPrefix(t, "=== "), strings.HasPrefix(t, "--- PASS"), strings.HasPrefix(t, "--- SKIP"):
		return false
	}
	return true
}

func main() {
	ci := os.Getenv("CI") == "true"
	allow := func(pkg string) bool {
		return !ci || strings.HasSuffix(pkg, "/bench") || strings.Contains(pkg, "/bench/")
	}
	r, err := run(os.Stdin, os.Stdout, allow)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if len(r.skipped) > 0 {
		sort.Slice(r.skipped, func(i, j int) bool { return r.skipped[i].pkg+r.skipped[i].test < r.skipped[j].pkg+r.skipped[j].test })
		fmt.Printf("\n%d tests skipped under CI=true (outside bench/, nothing may skip: install what they need in .ci/run, or make them fail):\n", len(r.skipped))
		for _, k := range r.skipped {
			fmt.Printf("  %s %s\n", k.pkg, k.test)
		}
	}
	if len(r.failed) > 0 || len(r.skipped) > 0 {
		os.Exit(1)
	}
}

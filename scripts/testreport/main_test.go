package main

import (
	"bytes"
	"strings"
	"testing"
)

const stream = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK"}
{"Action":"run","Package":"m/a","Test":"TestBad"}
{"Action":"output","Package":"m/a","Test":"TestBad","Output":"    a_test.go:9: got 1, want 2\n"}
{"Action":"fail","Package":"m/a","Test":"TestBad"}
{"Action":"run","Package":"m/a","Test":"TestSkip"}
{"Action":"output","Package":"m/a","Test":"TestSkip","Output":"    a_test.go:12: needs kcat\n"}
{"Action":"skip","Package":"m/a","Test":"TestSkip"}
{"Action":"output","Package":"m/a","Output":"FAIL\n"}
{"Action":"output","Package":"m/a","Output":"FAIL\tm/a\t0.01s\n"}
{"Action":"fail","Package":"m/a"}
{"Action":"run","Package":"m/bench","Test":"TestReport"}
{"Action":"output","Package":"m/bench","Test":"TestReport","Output":"    b_test.go:3: set SAMSA_BENCH=1\n"}
{"Action":"skip","Package":"m/bench","Test":"TestReport"}
{"Action":"output","Package":"m/bench","Output":"ok  \tm/bench\t0.01s\n"}
{"Action":"pass","Package":"m/bench"}
`

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ci          bool
		wantSkipped int
	}{
		{"local: skips allowed", false, 0},
		{"CI: skips outside bench fail", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			allow := func(pkg string) bool { return !tc.ci || strings.HasSuffix(pkg, "/bench") }
			r, err := run(strings.NewReader(stream), &out, allow)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.failed) != 2 { // TestBad and its package
				t.Errorf("failed = %v, want TestBad and package m/a", r.failed)
			}
			if len(r.skipped) != tc.wantSkipped || (tc.wantSkipped == 1 && r.skipped[0].test != "TestSkip") {
				t.Errorf("skipped = %v, want %d (TestSkip)", r.skipped, tc.wantSkipped)
			}
			s := out.String()
			for _, want := range []string{"--- FAIL: TestBad (m/a)", "a_test.go:9: got 1, want 2", "FAIL\tm/a", "ok  \tm/bench"} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, "=== RUN") || strings.Contains(s, "--- PASS") {
				t.Errorf("output has per-test chatter:\n%s", s)
			}
		})
	}
}

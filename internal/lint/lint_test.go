// Package lint holds project rules as tests (the habit of pebble's
// internal/lint): facts about the code that reviews keep missing.
package lint

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// root is the module root, two levels up from this package.
const root = "../.."

// goFiles returns the non-test Go files under dir (relative to root).
func goFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func imports(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		out = append(out, p)
	}
	return out
}

// Kafka error codes are chosen in one place: the api layer (errorCode)
// and, for connection-level answers, server. Lower layers return Go errors.
// The CLI may read them (turning codes into words is its job), and so may
// the replica fetchers (a Kafka client of the leaders) and internal/auth/peer
// (how nodes log in to each other: it reads SaslHandshake/SaslAuthenticate
// answers). The controller
// answers brokers' calls with the code the broker passes on to its client
// (a peer of the api layer, on the controller listener).
func TestKafkaErrorCodesOnlyAboveTheStorageLayers(t *testing.T) {
	allowed := []string{"internal/api/", "internal/server/", "internal/cli/", "internal/replica/", "internal/controller/", "internal/auth/peer/"}
	for _, file := range goFiles(t, ".") {
		rel, _ := filepath.Rel(root, file)
		rel = filepath.ToSlash(rel)
		ok := false
		for _, a := range allowed {
			if strings.HasPrefix(rel, a) {
				ok = true
			}
		}
		if ok || strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "test/") {
			continue
		}
		for _, imp := range imports(t, file) {
			if imp == "github.com/twmb/franz-go/pkg/kerr" {
				t.Errorf("%s imports kerr: map errors to Kafka codes in internal/api/errors.go instead", rel)
			}
		}
	}
}

// wire is a leaf: it knows kmsg and nothing of samsa's.
func TestWireImportsNothingOfSamsa(t *testing.T) {
	for _, file := range goFiles(t, "internal/wire") {
		for _, imp := range imports(t, file) {
			if strings.HasPrefix(imp, "github.com/samsa-io/samsa") {
				t.Errorf("%s imports %s", file, imp)
			}
		}
	}
}

// The layers below api know nothing of the api or of sockets: the log
// knows batches and offsets, not topics or requests.
func TestStorageDoesNotImportUpperLayers(t *testing.T) {
	upper := []string{"/internal/api", "/internal/server", "/internal/broker", "/internal/web", "/internal/cli"}
	for _, dir := range []string{"internal/log", "internal/record", "internal/partition", "internal/metadata", "internal/group", "internal/config"} {
		for _, file := range goFiles(t, dir) {
			for _, imp := range imports(t, file) {
				for _, u := range upper {
					if strings.HasPrefix(imp, "github.com/samsa-io/samsa"+u) {
						t.Errorf("%s imports %s: arrows point down (see DESIGN.md)", file, imp)
					}
				}
			}
		}
	}
}

// Decoders of untrusted input never panic: no panic( in the packages that
// parse what clients and disks hand us.
func TestNoPanicInDecoders(t *testing.T) {
	for _, dir := range []string{"internal/wire", "internal/record", "internal/server"} {
		for _, file := range goFiles(t, dir) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				code, _, _ := strings.Cut(line, "//")
				if strings.Contains(code, "panic(") {
					t.Errorf("%s:%d: panic in a decoder package; return an error", file, i+1)
				}
			}
		}
	}
}

package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExampleClusterProperties: the property files the README's "Run a
// cluster" starts from parse, validate, and describe the cluster it says.
func TestExampleClusterProperties(t *testing.T) {
	files, err := filepath.Glob("../../config/*.properties")
	if err != nil || len(files) < 5 {
		t.Fatalf("example files: %v %v", files, err)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		props, err := ParseProperties(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b := Default()
		warnings, err := b.Apply(props)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(warnings) > 0 {
			t.Errorf("%s: warnings %q", name, warnings)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if filepath.Base(name) == "secure.properties" {
			if len(b.ClientListeners()) != 4 || !b.AuthorizerEnabled() {
				t.Errorf("%s: listeners %+v, authorizer %v", name, b.ClientListeners(), b.AuthorizerEnabled())
			}
			continue
		}
		voters, _ := b.Voters()
		if !b.Clustered() || len(voters) != 3 {
			t.Errorf("%s: clustered %v, voters %v", name, b.Clustered(), voters)
		}
	}
}

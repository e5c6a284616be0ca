// Command samsa is the samsa broker and its command line: `samsa serve`
// runs a broker; the other subcommands (topic, produce, consume, cluster,
// group) are Kafka clients built on franz-go.
package main

import (
	"os"

	"github.com/samsa-io/samsa/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	root := cli.NewRootCommand(version)
	root.AddCommand(newServeCommand())
	os.Exit(cli.Execute(root))
}

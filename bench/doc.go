// Package bench measures samsa side by side with franz-go's kfake: produce
// and fetch throughput, paced produce latency, startup time and resident
// memory. Everything lives in the package's tests (so kfake never enters a
// samsa build) plus bench/cmd/kfake-serve, which runs kfake as its own
// process for the startup and memory comparison. See README.md.
package bench

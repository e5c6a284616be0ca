// Package bench measures samsa side by side with franz-go's kfake: produce
// and fetch throughput, paced produce latency, startup time and resident
// memory; and, for the performance report, next to a discard broker (a
// minimal kmsg broker that acknowledges and keeps nothing: the client's
// ceiling) and this disk's fdatasync. Everything lives in the package's
// tests (so kfake never enters a samsa build) plus bench/cmd/kfake-serve,
// which runs kfake as its own process for the startup and memory
// comparison. See README.md.
package bench

# samsa — make targets. `make test` is what the README promises; CI runs it, then `make fuzz`.
GO ?= go
SHELL := /bin/bash
FUZZTIME ?= 10s

.PHONY: build test race vet fuzz interop bench ci serve

build:
	$(GO) build -o samsa ./cmd/samsa

serve:
	$(GO) run ./cmd/samsa serve

# The README's test command, and what CI runs: vet and gofmt, then every
# test with the race detector.
test: vet race

# -count=1: test/interop builds and runs the samsa binary itself, which Go's
# test cache cannot see, so a cached pass could hide a broken broker.
# scripts/testreport prints each package's result and the output of failed
# tests, and under CI=true fails on any skipped test outside bench/.
race:
	$(GO) build -o .testreport ./scripts/testreport
	set -o pipefail; $(GO) test -race -count=1 -timeout 30m -json ./... | ./.testreport

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed on:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# Runs every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

interop:
	$(GO) test -race -count=1 -v ./test/interop/

bench:
	SAMSA_BENCH=1 $(GO) test ./bench -run 'TestReport|TestRebalanceReport' -v -timeout 15m

ci: test fuzz

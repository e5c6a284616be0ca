#!/usr/bin/env bash
# Runs sarama's own functional tests for partition reassignment and leader
# election against a three-node samsa cluster (KRaft combined mode) on
# 127.0.0.1:29091-29093, with test/faketoxiproxy standing in for the
# toxiproxy API the suite expects. Needs the Go module proxy (sarama's test
# dependencies). Usage: scripts/sarama-functional.sh [go test -run regexp]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-'TestFuncAdminAlterPartitionReassignments|TestFuncAdminElectLeadersV1'}
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/samsa" ./cmd/samsa
go build -o "$work/faketoxiproxy" ./test/faketoxiproxy
ver=$(go list -m -f '{{.Version}}' github.com/IBM/sarama)
src=$(go list -m -f '{{.Dir}}' github.com/IBM/sarama)
cp -r "$src" "$work/sarama" && chmod -R u+w "$work/sarama"
"$work/faketoxiproxy" & pids+=($!)
voters=1@127.0.0.1:29191,2@127.0.0.1:29192,3@127.0.0.1:29193
for n in 1 2 3; do
	"$work/samsa" serve --data-dir "$work/d$n" --http-addr off --set node.id=$n \
		--set process.roles=broker,controller \
		--set listeners=PLAINTEXT://127.0.0.1:2909$n,CONTROLLER://127.0.0.1:2919$n \
		--set controller.listener.names=CONTROLLER --set controller.quorum.voters=$voters \
		--set default.replication.factor=3 2>"$work/log$n" & pids+=($!)
done
for n in 1 2 3; do
	for _ in $(seq 100); do grep -q "samsa is ready" "$work/log$n" && break; sleep 0.1; done
done
echo "sarama $ver functional tests ($RUN) against a 3-node samsa cluster"
(cd "$work/sarama" && TOXIPROXY_ADDR=http://127.0.0.1:8474 KAFKA_VERSION=3.7.0 \
	go test -tags functional -run "$RUN" -count=1 -v .)

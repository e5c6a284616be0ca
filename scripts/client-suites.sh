#!/usr/bin/env bash
# Runs the client libraries' own tests of partition reassignment and leader
# election against three-node samsa clusters (KRaft combined mode):
#   - sarama's functional tests (build tag "functional"), with the cluster
#     on 127.0.0.1:29091-29093 and test/faketoxiproxy standing in for the
#     toxiproxy API the suite expects;
#   - kafka-go's client tests, with the cluster on 127.0.0.1:9092-9094
#     (kafka-go's tests dial localhost:9092).
# Needs the Go module proxy (sarama's test dependencies) and ports 9092-9094
# free. Usage: scripts/client-suites.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$work"' EXIT
go build -o "$work/samsa" ./cmd/samsa
go build -o "$work/faketoxiproxy" ./test/faketoxiproxy

# cluster NAME PORT1 PORT2 PORT3: three nodes, controllers on 1919x/2919x.
cluster() {
	local name=$1 cbase=$5
	local voters="1@127.0.0.1:${cbase}1,2@127.0.0.1:${cbase}2,3@127.0.0.1:${cbase}3"
	local ports=("$2" "$3" "$4")
	for n in 1 2 3; do
		"$work/samsa" serve --data-dir "$work/$name$n" --http-addr off --set node.id=$n \
			--set process.roles=broker,controller \
			--set "listeners=PLAINTEXT://127.0.0.1:${ports[$((n - 1))]},CONTROLLER://127.0.0.1:${cbase}$n" \
			--set controller.listener.names=CONTROLLER --set "controller.quorum.voters=$voters" \
			--set default.replication.factor=3 2>"$work/$name$n.log" &
		pids+=($!)
	done
	for n in 1 2 3; do
		for _ in $(seq 150); do grep -q "samsa is ready" "$work/$name$n.log" && break; sleep 0.1; done
		grep -q "samsa is ready" "$work/$name$n.log" || { cat "$work/$name$n.log"; exit 1; }
	done
}

src=$(go list -m -f '{{.Dir}}' github.com/IBM/sarama)
cp -r "$src" "$work/sarama" && chmod -R u+w "$work/sarama"
"$work/faketoxiproxy" &
pids+=($!)
cluster s 29091 29092 29093 2919
echo "== sarama $(go list -m -f '{{.Version}}' github.com/IBM/sarama): functional reassignment and ElectLeaders tests"
(cd "$work/sarama" && TOXIPROXY_ADDR=http://127.0.0.1:8474 KAFKA_VERSION=3.7.0 \
	go test -tags functional -run 'TestFuncAdminAlterPartitionReassignments|TestFuncAdminElectLeadersV1' -count=1 -v .)
stop

cluster k 9092 9093 9094 1929
echo "== kafka-go $(go list -m -f '{{.Version}}' github.com/segmentio/kafka-go): client reassignment and ElectLeaders tests"
KAFKA_VERSION=3.7.0 go test github.com/segmentio/kafka-go \
	-run 'TestClientAlterPartitionReassignments|TestClientListPartitionReassignments|TestClientElectLeaders' -count=1 -v

#!/usr/bin/env bash
# Runs the client libraries' own tests against three-node samsa clusters
# (KRaft combined mode). Module sources come from the Go module proxy; each
# suite runs from a writable copy in a temp dir.
#
#   sarama (the version in go.mod), build tag "functional", cluster on
#   127.0.0.1:29091-29093, test/faketoxiproxy standing in for the toxiproxy
#   API the suite expects (TOXIPROXY_ADDR, KAFKA_VERSION=3.7.0):
#     - reassignment and ElectLeaders: TestFuncAdminAlterPartitionReassignments,
#       TestFuncAdminElectLeadersV1
#     - transactions: TestFuncTxnProduceNoBegin, TestFuncTxnCommitNoMessages,
#       TestFuncTxnProduce, TestFuncTxnProduceEpochBump, TestFuncInitProducerId3,
#       TestFuncTxnProduceAndCommitOffset, TestFuncTxnProduceMultiTxn,
#       TestFuncTxnAbortedProduce, and the admin views TestFuncDescribeProducers,
#       TestFuncDescribeTransactions, TestFuncListTransactions.
#       Excluded: TestFuncTxnProduceWithBrokerFailure, which stops the
#       coordinator's broker with `docker compose stop` (the suite's docker
#       environment; faketoxiproxy cannot stop a process).
#   franz-go (the version in go.mod), pkg/kgo's integration tests on the
#   same cluster: they find it through KGO_SEEDS, create their topics with
#   KGO_TEST_RF replicas (3 here), and KGO_TEST_RECORDS bounds the records
#   each ETL test pushes through (500000 by default; 50000 here, still
#   hundreds of transactions across three levels of consumers).
#     - TestTxnEtl: transactional consume-transform-produce chains
#       (GroupTransactSession, read_committed, EndAndBeginTransaction),
#       checking every record exactly once. Its KIP-848 and static-member
#       subtests skip themselves unless ApiVersions offers
#       ConsumerGroupHeartbeat v1 / JoinGroup v5. It is kgo's only test of
#       transactions against a broker; the other Txn-named tests in pkg/kgo
#       (TestAudit*Txn*, TestOptValuesTxnIDAndShare) run against kfake or
#       no broker at all.
#   confluent-kafka-go v2 ($CKGO_VERSION), package kafka, with cgo and the
#   static librdkafka the module ships for linux/amd64 (glibc). Its
#   integration tests read ./testconf.json ("Brokers"); without it they
#   skip, so the script writes one naming the cluster. integration_test.go
#   is removed from the copy first: it is the docker-compose suite (it
#   imports testcontainers, whose dependency tree is Docker and Kubernetes)
#   and none of the tests run here need it.
#     - TestTransactionalSendOffsets: SendOffsetsToTransaction + commit, then
#       + abort; the group's committed offsets must be the committed ones.
#       Excluded: TestTransactionalProducer. It calls Flush(-1), which in
#       this version returns at once (a negative timeout is already past),
#       so its "flush" steps pass only if delivery won the race; and it and
#       TestTransactionalSendOffsets seed their random topic names with the
#       current second, so run in the same second the second one finds its
#       topics taken. Both fail that way against kfake too; run alone,
#       TestTransactionalSendOffsets passes there.
#   kafka-go (the version in go.mod), its client tests with the cluster on
#   127.0.0.1:9092-9094 (kafka-go's tests dial localhost:9092):
#     - TestClientAlterPartitionReassignments, TestClientListPartitionReassignments,
#       TestClientElectLeaders
#   security: the libraries' ACL, SCRAM-credential and quota tests, on a
#   cluster (127.0.0.1:9092-9094) with the StandardAuthorizer and
#   allow.everyone.if.no.acl.found=true (the suites log in as nobody, as in
#   their docker environments):
#     - kafka-go: TestClientCreateACLs, TestClientDescribeACLs,
#       TestClientDeleteACLs, TestAlterUserScramCredentials,
#       TestDescribeUserScramCredentials, TestClientAlterClientQuotas
#     - confluent-kafka-go: TestAdminACLs and
#       TestAdminClient_UserScramCredentials, lifted out of its
#       docker-compose testify suite into plain tests (on a fresh cluster:
#       TestAdminACLs expects to see only its own ACLs)
#   and, in the sarama group above, TestFuncAdminQuotas (sarama has no
#   functional ACL or SCRAM test).
#
# Needs the Go module proxy, gcc (cgo) and ports 9092-9094, 29091-29093,
# 19291-19293, 29191-29193 and 8474 free.
# Usage: scripts/client-suites.sh [SUITE...]   SUITE: sarama franz confluent kafka-go security (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
CKGO_VERSION=v2.11.1
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(sarama franz confluent kafka-go security)
want() { local s; for s in "${suites[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
for s in "${suites[@]}"; do
	case $s in sarama | franz | confluent | kafka-go | security) ;; *) echo "unknown suite $s (want sarama, franz, confluent, kafka-go, security)" >&2; exit 2 ;; esac
done

work=$(mktemp -d)
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$work"' EXIT
go build -o "$work/samsa" ./cmd/samsa
go build -o "$work/faketoxiproxy" ./test/faketoxiproxy

# extra_sets are further --set flags for the next cluster (the security
# suite's authorizer).
extra_sets=()

# cluster NAME PORT1 PORT2 PORT3 CBASE: three nodes, controllers on CBASE1..3.
# The transaction log gets 3 replicas like any internal topic, and the
# coordinator aborts timed-out transactions every second (Kafka's default
# is 10s; the suites' transactions time out in minutes, so this only
# shortens what a hung test leaves behind).
cluster() {
	local name=$1 cbase=$5
	local voters="1@127.0.0.1:${cbase}1,2@127.0.0.1:${cbase}2,3@127.0.0.1:${cbase}3"
	local ports=("$2" "$3" "$4")
	for n in 1 2 3; do
		"$work/samsa" serve --data-dir "$work/$name$n" --http-addr off --set node.id=$n \
			--set process.roles=broker,controller \
			--set "listeners=PLAINTEXT://127.0.0.1:${ports[$((n - 1))]},CONTROLLER://127.0.0.1:${cbase}$n" \
			--set controller.listener.names=CONTROLLER --set "controller.quorum.voters=$voters" \
			--set default.replication.factor=3 \
			--set transaction.state.log.replication.factor=3 --set transaction.state.log.min.isr=2 \
			--set transaction.abort.timed.out.transaction.cleanup.interval.ms=1000 "${extra_sets[@]}" 2>"$work/$name$n.log" &
		pids+=($!)
	done
	for n in 1 2 3; do
		for _ in $(seq 150); do grep -q "samsa is ready" "$work/$name$n.log" && break; sleep 0.1; done
		grep -q "samsa is ready" "$work/$name$n.log" || { cat "$work/$name$n.log"; exit 1; }
	done
}

# modsrc MODULE@VERSION DEST: a writable copy of a module's source from the
# module proxy (go mod download, so the checksum database vouches for it).
modsrc() {
	local dir
	dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || { echo "go mod download $1: no source directory" >&2; exit 1; }
	cp -r "$dir" "$2" && chmod -R u+w "$2"
}

failed=()
# run NAME CMD...: runs one suite step, remembering a failure and going on
# to the next suite (each one is worth seeing).
run() {
	local name=$1
	shift
	if ! "$@"; then failed+=("$name"); fi
}

# noskip CMD...: runs CMD and fails if any test skipped itself: these
# suites skip when their configuration is missing (no testconf.json, no
# KAFKA_VERSION), and a skip must not pass for a run.
noskip() {
	local log="$work/step.log"
	local rc=0
	"$@" 2>&1 | tee "$log" || rc=$?
	if grep -q -- '--- SKIP' "$log"; then
		echo "a test skipped itself (see above): the suite's configuration is wrong" >&2
		return 1
	fi
	return "$rc"
}

if want sarama || want franz || want confluent; then
	"$work/faketoxiproxy" &
	pids+=($!)
	cluster s 29091 29092 29093 2919
	seeds=127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093
fi

if want sarama; then
	src=$(go list -m -f '{{.Dir}}' github.com/IBM/sarama)
	cp -r "$src" "$work/sarama" && chmod -R u+w "$work/sarama"
	sv=$(go list -m -f '{{.Version}}' github.com/IBM/sarama)
	echo "== sarama $sv: functional reassignment and ElectLeaders tests"
	run "sarama reassignment" bash -c "cd '$work/sarama' && TOXIPROXY_ADDR=http://127.0.0.1:8474 KAFKA_VERSION=3.7.0 \
		go test -tags functional -run 'TestFuncAdminAlterPartitionReassignments|TestFuncAdminElectLeadersV1' -count=1 -v ."
	echo "== sarama $sv: functional client quota test"
	run "sarama quotas" noskip bash -c "cd '$work/sarama' && TOXIPROXY_ADDR=http://127.0.0.1:8474 KAFKA_VERSION=3.7.0 \
		go test -tags functional -run '^TestFuncAdminQuotas\$' -count=1 -v ."
	echo "== sarama $sv: functional transaction tests"
	run "sarama transactions" noskip bash -c "cd '$work/sarama' && TOXIPROXY_ADDR=http://127.0.0.1:8474 KAFKA_VERSION=3.7.0 \
		go test -tags functional -count=1 -v -timeout 15m \
		-run '^(TestFuncTxnProduceNoBegin|TestFuncTxnCommitNoMessages|TestFuncTxnProduce|TestFuncTxnProduceEpochBump|TestFuncInitProducerId3|TestFuncTxnProduceAndCommitOffset|TestFuncTxnProduceMultiTxn|TestFuncTxnAbortedProduce|TestFuncDescribeProducers|TestFuncDescribeTransactions|TestFuncListTransactions)\$' ."
fi

if want franz; then
	fv=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
	modsrc "github.com/twmb/franz-go@$fv" "$work/franz-go"
	echo "== franz-go $fv: pkg/kgo TestTxnEtl"
	run "franz-go TestTxnEtl" bash -c "cd '$work/franz-go/pkg/kgo' && KGO_SEEDS=$seeds KGO_TEST_RF=3 KGO_TEST_RECORDS=50000 KGO_LOG_LEVEL=none \
		go test -run '^TestTxnEtl\$' -count=1 -v -timeout 20m ."
fi

if want confluent; then
	modsrc "github.com/confluentinc/confluent-kafka-go/v2@$CKGO_VERSION" "$work/ckgo"
	rm "$work/ckgo/kafka/integration_test.go"
	printf '{"Brokers": "%s", "TopicName": "ckgo-test", "GroupID": "ckgo-testgroup"}\n' "$seeds" >"$work/ckgo/kafka/testconf.json"
	echo "== confluent-kafka-go $CKGO_VERSION (bundled librdkafka): TestTransactionalSendOffsets"
	run "confluent-kafka-go transactions" noskip bash -c "cd '$work/ckgo' && CGO_ENABLED=1 \
		go test -run '^TestTransactionalSendOffsets\$' -count=1 -v -timeout 10m ./kafka"
fi
stop

if want kafka-go; then
	cluster k 9092 9093 9094 1929
	echo "== kafka-go $(go list -m -f '{{.Version}}' github.com/segmentio/kafka-go): client reassignment and ElectLeaders tests"
	run "kafka-go" env KAFKA_VERSION=3.7.0 go test github.com/segmentio/kafka-go \
		-run 'TestClientAlterPartitionReassignments|TestClientListPartitionReassignments|TestClientElectLeaders' -count=1 -v
	stop
fi

if want security; then
	# The security admin APIs of the libraries' own tests, on a cluster
	# with the StandardAuthorizer. The suites connect without credentials
	# (as ANONYMOUS), as their docker environments do, so ACLs default to
	# allow (allow.everyone.if.no.acl.found=true) and the tests' own ACLs
	# do not lock them out.
	extra_sets=(--set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
		--set allow.everyone.if.no.acl.found=true --set super.users=User:admin)
	cluster k 9092 9093 9094 1929
	extra_sets=()
	echo "== kafka-go $(go list -m -f '{{.Version}}' github.com/segmentio/kafka-go): ACL, SCRAM-credential and quota tests"
	run "kafka-go security" noskip env KAFKA_VERSION=3.7.0 go test github.com/segmentio/kafka-go \
		-run '^(TestClientCreateACLs|TestClientDescribeACLs|TestClientDeleteACLs|TestAlterUserScramCredentials|TestDescribeUserScramCredentials|TestClientAlterClientQuotas)$' -count=1 -v
	# confluent-kafka-go's ACL test expects to see only its own ACLs: a
	# fresh cluster.
	stop
	extra_sets=(--set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
		--set allow.everyone.if.no.acl.found=true --set super.users=User:admin)
	cluster c 9092 9093 9094 1929
	extra_sets=()
	# confluent-kafka-go's ACL and SCRAM-credential tests live in its
	# docker-compose suite (integration_test.go, a testify suite that
	# imports testcontainers); the two methods are lifted into plain tests
	# of the same package (lines pinned to $CKGO_VERSION), the rest of the
	# file is dropped as above.
	modsrc "github.com/confluentinc/confluent-kafka-go/v2@$CKGO_VERSION" "$work/ckgo-sec"
	(
		cd "$work/ckgo-sec/kafka"
		{
			printf 'package kafka\n\n// Lifted by samsa scripts/client-suites.sh from integration_test.go.\n\n'
			printf 'import (\n\t"context"\n\t"math/rand"\n\t"reflect"\n\t"sort"\n\t"testing"\n\t"time"\n)\n\n'
			printf 'func samsaTestconf(t *testing.T) {\n\ttestconfInit()\n\tif !testconfRead() {\n\t\tt.Fatal("no testconf.json")\n\t}\n}\n\n'
			awk 'NR>=2169 && NR<=2368' integration_test.go |
				sed 's/^func (its \*IntegrationTestSuite) TestAdminACLs() {/func TestSamsaAdminACLs(t *testing.T) {/; s/^\tt := its.T()$/\tsamsaTestconf(t)/'
			awk 'NR>=3233 && NR<=3356' integration_test.go |
				sed 's/^func (its \*IntegrationTestSuite) TestAdminClient_UserScramCredentials() {/func TestSamsaUserScramCredentials(t *testing.T) {/; s/^\tt := its.T()$/\tsamsaTestconf(t)/'
		} >samsa_security_test.go
		rm integration_test.go
		printf '{"Brokers": "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094", "TopicName": "ckgo-sec", "GroupID": "ckgo-sec-group"}\n' >testconf.json
	)
	echo "== confluent-kafka-go $CKGO_VERSION: TestAdminACLs and TestAdminClient_UserScramCredentials"
	run "confluent-kafka-go security" noskip bash -c "cd '$work/ckgo-sec' && CGO_ENABLED=1 \
		go test -run '^(TestSamsaAdminACLs|TestSamsaUserScramCredentials)\$' -count=1 -v -timeout 10m ./kafka"
	stop
fi

if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "all client suites passed"

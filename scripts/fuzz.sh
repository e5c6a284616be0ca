#!/usr/bin/env bash
# Runs each Go fuzz target in the module for $FUZZTIME (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($FUZZTIME)"
		if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" >/tmp/fuzz-$$.log 2>&1; then
			cat /tmp/fuzz-$$.log
			echo "fuzz: FAIL $pkg $target"
			status=1
		fi
	done
done
rm -f /tmp/fuzz-$$.log
exit $status

#!/bin/sh
# The full measurement of commit-order synchronisation (replay --sync):
# each contended capture (pgbench tpcb-like on one branch row, four pgJDBC
# threads on three hot rows, sysbench oltp_read_write on 100 rows with
# eight threads) is made once and replayed RUNS times (default 10) under
# every mode, and the pgbench capture also at speed 2 and 4 with sync on.
# It prints a Markdown table of the figures and keeps the test's output.
#
#   scripts/sync-fidelity.sh [RUNS]
#
# Needs what the tests need (PostgreSQL 15, pgbench, sysbench, Java and
# the pgJDBC jar: .ci/run installs them). Takes about 20 minutes; the
# figures depend on how busy the machine is, so run it on a quiet one.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-10}
out=${SYNC_FIDELITY_OUT:-sync-fidelity.log}
echo "replaying each contended capture $runs times under every --sync mode (output in $out)" >&2
status=0
PGREHEARSE_SYNC_RUNS=$runs PGREHEARSE_SYNC_SPEEDS=2,4 \
	go test -count=1 -timeout 90m -v -run 'TestSyncContended$' ./replay >"$out" 2>&1 || status=$?
go run ./scripts/syncfigures <"$out"
grep -E '^\s+sync_contended_test.go:[0-9]+: .*(production:|runs with new errors|more than 25%|had errors|fell behind)' "$out" | sed 's/^ *//' >&2 || true
if [ "$status" -ne 0 ]; then
	echo "TestSyncContended failed (exit $status): see $out" >&2
fi
exit "$status"

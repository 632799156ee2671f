#!/usr/bin/env bash
# Replay fidelity and cost of pgrehearse against pgreplay 1.2, side by side
# in one run on the same workload (corpus A: pgbench-like OLTP plus DDL,
# 163k statements in 37 s of log) and fresh throwaway clusters. Each
# replayer gets a new cluster per run; pgreplay gets TIMEOUT seconds.
#
#   RUNS=3 TIMEOUT=180 WORKDIR=/tmp/pgrehearse-rbench scripts/bench-replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
TIMEOUT=${TIMEOUT:-180}
WORKDIR=${WORKDIR:-/tmp/pgrehearse-rbench}
PORT=${PORT:-55990}
mkdir -p "$WORKDIR"
command -v pgreplay >/dev/null || { apt-get update -qq && apt-get install -y -qq pgreplay; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
RUNAS=(); [ "$(id -u)" = 0 ] && RUNAS=(runuser -u postgres --)

go build -o "$WORKDIR/pgrehearse" ./cmd/pgrehearse
gzip -dc testdata/corpus/A-stderr.log.gz >"$WORKDIR/A.log"
"$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/A.pgrw" "$WORKDIR/A.log"

fresh() {
  local d="$WORKDIR/cluster"
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$d" && mkdir -p "$d" && { [ ${#RUNAS[@]} = 0 ] || chown postgres "$d"; }
  "${RUNAS[@]}" "$BIN/initdb" -D "$d/data" -A trust -U postgres >/dev/null
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" -w -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" -l "$d/log" start >/dev/null
}
cpu() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$1"; }
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }

echo "| run | tool | finished | wall s | CPU s | CPU µs/statement | lateness p99 ms | late >100 ms | new errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for run in $(seq "$RUNS"); do
  fresh
  /usr/bin/time -v "$WORKDIR/pgrehearse" replay -q --json --target "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" \
    -o "$WORKDIR/results.jsonl" "$WORKDIR/A.pgrw" >"$WORKDIR/sum.json" 2>"$WORKDIR/time.txt"
  python3 - "$run" "$(wall "$WORKDIR/time.txt")" "$(cpu "$WORKDIR/time.txt")" "$WORKDIR/sum.json" <<'PY'
import json, sys
run, wall, cpu, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = json.load(open(path))
print(f"| {run} | pgrehearse | yes | {wall:.1f} | {cpu:.1f} | {cpu*1e6/s['replayed']:.0f} | {s['lateness_p99_ms']:.1f} | {100*s['late_over_100ms_share']:.2f}% | {s['new_errors']} |")
PY
  fresh
  set +e
  # time measures timeout, which waits for pgreplay: its CPU is counted.
  /usr/bin/time -v timeout "$TIMEOUT" pgreplay -h 127.0.0.1 -p "$PORT" "$WORKDIR/A.log" >"$WORKDIR/pgreplay.out" 2>&1
  rc=$?
  set -e
  behind=$(grep -o 'Execution is .* behind schedule' "$WORKDIR/pgreplay.out" | tail -1)
  fin=yes; [ $rc = 0 ] || fin="no: stopped after ${TIMEOUT} s"
  echo "| $run | pgreplay | $fin | $(wall "$WORKDIR/pgreplay.out") | $(cpu "$WORKDIR/pgreplay.out") | | ${behind:-} | | |"
done
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$WORKDIR/cluster/data" stop -m immediate >/dev/null 2>&1 || true

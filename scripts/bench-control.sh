#!/usr/bin/env bash
# The replayer's CPU per statement without checksums, with checksums, and
# with a control replayed at the same time (checksums on, as --control
# has them by default), on corpus A (pgbench-like OLTP plus DDL, 163k
# statements in 31 s of log). Every replay gets fresh throwaway clusters;
# the modes alternate within each run.
#
#   RUNS=3 WORKDIR=/tmp/pgrehearse-cbench scripts/bench-control.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
WORKDIR=${WORKDIR:-/tmp/pgrehearse-cbench}
PORT=${PORT:-55980}
mkdir -p "$WORKDIR"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
RUNAS=(); [ "$(id -u)" = 0 ] && RUNAS=(runuser -u postgres --)

go build -o "$WORKDIR/pgrehearse" ./cmd/pgrehearse
gzip -dc testdata/corpus/A-stderr.log.gz >"$WORKDIR/A.log"
"$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/A.pgrw" "$WORKDIR/A.log"

# fresh NAME PORT: a new cluster in WORKDIR/NAME listening on PORT.
fresh() {
  local d="$WORKDIR/$1"
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$d" && mkdir -p "$d" && { [ ${#RUNAS[@]} = 0 ] || chown postgres "$d"; }
  "${RUNAS[@]}" "$BIN/initdb" -D "$d/data" -A trust -U postgres >/dev/null
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" -w -o "-p $2 -k /tmp -c listen_addresses=127.0.0.1" -l "$d/log" start >/dev/null
}
stop() { "${RUNAS[@]}" "$BIN/pg_ctl" -D "$WORKDIR/$1/data" stop -m immediate >/dev/null 2>&1 || true; }
cpu() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$1"; }
dsn() { echo "host=127.0.0.1 port=$1 user=postgres dbname=postgres"; }

echo "| run | mode | load avg | wall s | replayer CPU s | statements | CPU µs/statement | CPU µs/statement and cluster | lateness p99 ms | new errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for run in $(seq "$RUNS"); do
  for mode in plain checksums control; do
    fresh cand "$PORT"
    extra=()
    case $mode in
      checksums) extra=(--checksums) ;;
      control) fresh ctl $((PORT + 1)); extra=(--control "$(dsn $((PORT + 1)))" --control-output "$WORKDIR/control.jsonl") ;;
    esac
    # The machine may be shared: the 1-minute load average before each
    # replay says how busy it was.
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -v "$WORKDIR/pgrehearse" replay -q --json --target "$(dsn "$PORT")" "${extra[@]}" \
      -o "$WORKDIR/results.jsonl" "$WORKDIR/A.pgrw" >"$WORKDIR/sum.json" 2>"$WORKDIR/time.txt"
    sides=1; [ "$mode" = control ] && sides=2
    python3 - "$run" "$mode" "$(cpu "$WORKDIR/time.txt")" "$sides" "$WORKDIR/sum.json" "$load" <<'PY'
import json, sys
run, mode, cpu, sides, path, load = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
s = json.load(open(path))
n = s['replayed']
print(f"| {run} | {mode} | {load} | {s['duration_s']:.1f} | {cpu:.1f} | {n} | {cpu*1e6/n:.0f} | {cpu*1e6/(n*sides):.0f} | {s['lateness_p99_ms']:.1f} | {s['new_errors']} |")
PY
    stop cand; stop ctl
  done
done

#!/usr/bin/env bash
# Calibrate on this machine: the shared corpus A (pgbench-like OLTP plus
# DDL, 163k statements in 31 s) against a fresh local PostgreSQL cluster,
# with pgrehearse replay --calibrate. Prints the step table and the plan
# on stderr and keeps the JSON report in $WORKDIR/calibrate.json, the
# figures docs/performance.md quotes.
#
#   STEP=5s WORKDIR=/tmp/pgrehearse-calibrate scripts/calibrate-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR=${WORKDIR:-/tmp/pgrehearse-calibrate}
PORT=${PORT:-55991}
STEP=${STEP:-5s}
MAX_SPEED=${MAX_SPEED:-64}
mkdir -p "$WORKDIR"
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
RUNAS=(); [ "$(id -u)" = 0 ] && RUNAS=(runuser -u postgres --)

go build -o "$WORKDIR/pgrehearse" ./cmd/pgrehearse
"$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/A.pgrw" testdata/corpus/A-stderr.log.gz

d="$WORKDIR/cluster"
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" stop -m immediate >/dev/null 2>&1 || true
rm -rf "$d" && mkdir -p "$d" && { [ ${#RUNAS[@]} = 0 ] || chown postgres "$d"; }
"${RUNAS[@]}" "$BIN/initdb" -D "$d/data" -A trust -U postgres >/dev/null
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" -w -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" -l "$d/log" start >/dev/null
trap '"${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" stop -m immediate >/dev/null 2>&1 || true' EXIT
DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"

# Calibrate replays stretches from the middle of the workload: the target
# must hold what the capture's database held (a clone of production does).
# Here one whole replay makes the corpus's roles, databases and tables.
echo "preparing the target: one whole replay of the corpus (31 s)" >&2
"$WORKDIR/pgrehearse" replay -q --target "$DSN" -o "$WORKDIR/prepare.jsonl" "$WORKDIR/A.pgrw" 2>"$WORKDIR/prepare.txt" || { cat "$WORKDIR/prepare.txt" >&2; exit 1; }

echo "$ pgrehearse replay --calibrate --calibrate-step $STEP --calibrate-max-speed $MAX_SPEED --json --target '$DSN' A.pgrw" >&2
"$WORKDIR/pgrehearse" replay --calibrate --calibrate-step "$STEP" --calibrate-max-speed "$MAX_SPEED" --json \
  --target "$DSN" "$WORKDIR/A.pgrw" >"$WORKDIR/calibrate.json"
echo "JSON report: $WORKDIR/calibrate.json" >&2

#!/usr/bin/env bash
# The replayer's CPU per statement against pgbench's own client on the
# same load, in one run. For each load pgbench runs against a fresh
# throwaway PostgreSQL cluster that logs every statement; its client's CPU
# (user + system, /usr/bin/time) is the reference. The log is parsed and
# replayed at speed 1 onto a fresh cluster holding the same data as the
# one pgbench started from, and the replayer's CPU is read the same way.
#
#   light:     pgbench -M prepared -R LIGHT_RATE -c 8 -T LIGHT_S (throttled)
#   saturated: pgbench -M prepared -c 4 -T SAT_S (unthrottled)
#
# Beside pgbench, scripts/pgxfloor makes the same load from Go (one
# goroutine per connection, GOMAXPROCS=1, nothing recorded), three ways:
# with pgconn as it comes (plain pgx), with pgconn over a socket read and
# written as the replayer's is (the pgx floor), and with no pgconn at all,
# one write and one read per statement (the Go floor: the runtime and the
# kernel alone). These are the floors the replayer stands on.
#
# REPLAY_FLAGS adds flags to every replay (REPLAY_FLAGS='--sync off'
# measures the replay without the commit-order gate).
#
# BASE=<commit> also builds the replayer from that commit and replays the
# same captures with it, alternating with the current tree's, so before
# and after come from one run. Medians over RUNS runs.
#
#   RUNS=3 BASE=e457a59 WORKDIR=/tmp/pgrehearse-cpubench scripts/bench-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
WORKDIR=${WORKDIR:-/tmp/pgrehearse-cpubench}
PORT=${PORT:-55970}
LIGHT_RATE=${LIGHT_RATE:-150}
LIGHT_S=${LIGHT_S:-20}
SAT_S=${SAT_S:-5}
BASE=${BASE:-}
read -r -a rflags <<<"${REPLAY_FLAGS:-}"
mkdir -p "$WORKDIR"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
RUNAS=(); [ "$(id -u)" = 0 ] && RUNAS=(runuser -u postgres --)
PFX='%m [%p] %q%u@%d %c %e %v %x '

go build -o "$WORKDIR/pgrehearse-new" ./cmd/pgrehearse
go build -o "$WORKDIR/pgxfloor" ./scripts/pgxfloor
tools=(new)
if [ -n "$BASE" ]; then
  rm -rf "$WORKDIR/base-src" && mkdir -p "$WORKDIR/base-src"
  git archive "$BASE" | tar -x -C "$WORKDIR/base-src"
  (cd "$WORKDIR/base-src" && go build -o "$WORKDIR/pgrehearse-base" ./cmd/pgrehearse)
  tools=(base new)
fi

stop() { "${RUNAS[@]}" "$BIN/pg_ctl" -D "$WORKDIR/$1/data" stop -m fast >/dev/null 2>&1 || true; }
# start NAME [postgres options...]: start the cluster in WORKDIR/NAME.
start() {
  local d="$WORKDIR/$1"; shift
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$d/data" -w -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 $*" -l "$d/log" start >/dev/null
}
# clone NAME: a fresh cluster in WORKDIR/NAME holding the template's data.
clone() {
  stop "$1"
  rm -rf "$WORKDIR/$1" && mkdir -p "$WORKDIR/$1"
  cp -a "$WORKDIR/template/data" "$WORKDIR/$1/data"
  [ ${#RUNAS[@]} = 0 ] || chown -R postgres "$WORKDIR/$1"
}
cpu() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$1"; }
dsn() { echo "host=127.0.0.1 port=$PORT user=postgres dbname=postgres"; }

# The template: pgbench's tables at scale 1, made once, stopped.
stop template
rm -rf "$WORKDIR/template" && mkdir -p "$WORKDIR/template"
[ ${#RUNAS[@]} = 0 ] || chown postgres "$WORKDIR/template"
"${RUNAS[@]}" "$BIN/initdb" -D "$WORKDIR/template/data" -A trust -U postgres >/dev/null
start template
pgbench -q -i -s 1 -h 127.0.0.1 -p "$PORT" -U postgres postgres >/dev/null 2>&1
stop template

rows="$WORKDIR/rows.tsv"
: >"$rows"
for run in $(seq "$RUNS"); do
  for load in light saturated; do
    case $load in
      light) args=(-R "$LIGHT_RATE" -c 8 -j 2 -T "$LIGHT_S"); fargs=(-R "$LIGHT_RATE" -c 8 -T "${LIGHT_S}s") ;;
      saturated) args=(-c 4 -j 2 -T "$SAT_S"); fargs=(-c 4 -T "${SAT_S}s") ;;
    esac
    # The capture: every statement logged, to stderr with the README's prefix.
    clone src
    start src -c log_statement=all -c "log_line_prefix='$PFX'" -c log_connections=on -c log_disconnections=on
    load_avg=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -v pgbench -n -M prepared "${args[@]}" -h 127.0.0.1 -p "$PORT" -U postgres postgres \
      >"$WORKDIR/pgbench.out" 2>"$WORKDIR/pgbench.time"
    stop src
    tx=$(awk -F': ' '/number of transactions actually processed/ {split($2,a,"/"); print a[1]}' "$WORKDIR/pgbench.out")
    pcpu=$(cpu "$WORKDIR/pgbench.time")
    # The same load from Go alone, three ways, each on a fresh copy of
    # the same data.
    floors=()
    for how in plain -rawio -raw; do
      clone tgt
      start tgt
      f=(); [ "$how" = plain ] || f=("$how")
      floors+=("$("$WORKDIR/pgxfloor" -dsn "$(dsn)" -procs 1 "${f[@]}" "${fargs[@]}" | awk '{print $6}')")
      stop tgt
    done
    rm -f "$WORKDIR/$load.pgrw"
    "$WORKDIR/pgrehearse-new" parse -q -o "$WORKDIR/$load.pgrw" "$WORKDIR/src/log"
    for tool in "${tools[@]}"; do
      clone tgt
      start tgt
      rload=$(cut -d' ' -f1 /proc/loadavg)
      /usr/bin/time -v "$WORKDIR/pgrehearse-$tool" replay -q --json --target "$(dsn)" "${rflags[@]}" \
        -o "$WORKDIR/results-$tool.jsonl" "$WORKDIR/$load.pgrw" >"$WORKDIR/sum.json" 2>"$WORKDIR/replay.time"
      stop tgt
      /usr/bin/python3 - "$run" "$load" "$tool" "$tx" "$pcpu" "$(cpu "$WORKDIR/replay.time")" "$WORKDIR/sum.json" "$load_avg" "$rload" "${floors[@]}" >>"$rows" <<'PY'
import json, sys
run, load, tool, tx, pcpu, rcpu, path, la, rla, fplain, fpgx, fgo = sys.argv[1:13]
s = json.load(open(path))
# pgbench's TPC-B-like script sends 7 statements a transaction.
pst = int(tx) * 7
print("\t".join(map(str, [run, load, tool, pst, float(pcpu), s["replayed"], float(rcpu), s["lateness_p99_ms"], s["new_errors"], la, rla, float(fplain), float(fpgx), float(fgo)])))
PY
    done
  done
done

/usr/bin/python3 - "$rows" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
# µs per statement of CPU (user + system); every ratio is to pgbench's.
print("| run | load | replayer | pgbench stmts | pgbench | Go floor | pgx floor | plain pgx | replayed | replayer | ratio | Go floor ratio | lateness p99 ms | new errors | load avg (pgbench / replay) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
agg = {}
for run, load, tool, pst, pcpu, rst, rcpu, p99, nerr, la, rla, fplain, fpgx, fgo in rows:
    pu = float(pcpu) * 1e6 / int(pst)
    ru = float(rcpu) * 1e6 / int(rst)
    fp, fx, fg = float(fplain), float(fpgx), float(fgo)
    print(f"| {run} | {load} | {tool} | {pst} | {pu:.1f} | {fg:.1f} | {fx:.1f} | {fp:.1f} | {rst} | {ru:.1f} | {ru/pu:.2f} | {fg/pu:.2f} | {float(p99):.1f} | {nerr} | {la} / {rla} |")
    a = agg.setdefault((load, tool), {k: [] for k in "pgxqrtyl"})
    for k, v in zip("pgxqrtyl", (pu, fg, fx, fp, ru, ru / pu, fg / pu, float(p99))):
        a[k].append(v)
print()
print("Medians:")
print()
print("| load | replayer | pgbench | Go floor | pgx floor | plain pgx | replayer | ratio | Go floor ratio | lateness p99 ms |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for (load, tool), a in sorted(agg.items()):
    m = lambda k: statistics.median(a[k])
    print(f"| {load} | {tool} | {m('p'):.1f} | {m('g'):.1f} | {m('x'):.1f} | {m('q'):.1f} | {m('r'):.1f} | {m('t'):.2f} | {m('y'):.2f} | {m('l'):.1f} |")
PY
stop src; stop tgt

#!/usr/bin/env bash
# Parse throughput and memory of pgrehearse against pgreplay 1.2, side by
# side in one run on the same files. Builds ~1 GB logs from the corpus by
# time-shifting copies (scripts/mklog), then times each tool RUNS times,
# alternating, with /usr/bin/time -v. Prints a Markdown table.
#
#   SIZE_MB=1100 RUNS=3 WORKDIR=/tmp/pgrehearse-bench scripts/bench-parse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1100}
RUNS=${RUNS:-3}
WORKDIR=${WORKDIR:-/tmp/pgrehearse-bench}
mkdir -p "$WORKDIR"
command -v pgreplay >/dev/null || { apt-get update -qq && apt-get install -y -qq pgreplay; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }

go build -o "$WORKDIR/pgrehearse" ./cmd/pgrehearse
go build -o "$WORKDIR/mklog" ./scripts/mklog

# name format corpus-file
sets=("A stderr testdata/corpus/A-stderr.log.gz" "B csvlog testdata/corpus/B-csvlog.csv.gz" "C jsonlog testdata/corpus/C-jsonlog.json.gz")
for s in "${sets[@]}"; do
  read -r name format src <<<"$s"
  one=$(gzip -dc "$src" | wc -c)
  for size in "$SIZE_MB" $((SIZE_MB / 4)); do
    copies=$(( (size * 1000000 + one - 1) / one ))
    out="$WORKDIR/$name-$size.log"
    if [ ! -s "$out" ] || [ "$(cat "$out.copies" 2>/dev/null)" != "$copies" ]; then
      "$WORKDIR/mklog" -format "$format" -copies "$copies" -o "$out" "$src"
      echo "$copies" >"$out.copies"
    fi
  done
done

# measure LABEL CMD... -> appends "label seconds maxrss_kb" to results
results="$WORKDIR/results.txt"
: >"$results"
measure() {
  local label=$1; shift
  /usr/bin/time -v "$@" >/dev/null 2>"$WORKDIR/time.txt" || { echo "FAILED: $*"; cat "$WORKDIR/time.txt"; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORKDIR/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORKDIR/time.txt")
  echo "$label $wall $rss" >>"$results"
}

for run in $(seq "$RUNS"); do
  echo "run $run of $RUNS" >&2
  for size in "$SIZE_MB" $((SIZE_MB / 4)); do
    measure "pgreplay A-$size" pgreplay -f -o /dev/null "$WORKDIR/A-$size.log"
    measure "pgrehearse A-$size" "$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/A-$size.pgrw" "$WORKDIR/A-$size.log"
    measure "pgreplay B-$size" pgreplay -f -c -o /dev/null "$WORKDIR/B-$size.log"
    measure "pgrehearse B-$size" "$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/B-$size.pgrw" "$WORKDIR/B-$size.log"
    measure "pgrehearse C-$size" "$WORKDIR/pgrehearse" parse -q -o "$WORKDIR/C-$size.pgrw" "$WORKDIR/C-$size.log"
  done
done

# The generated logs must parse to exactly copies x the corpus counts.
for s in "A 163397" "B 156278" "C 154003"; do
  read -r name per <<<"$s"
  got=$("$WORKDIR/pgrehearse" inspect "$WORKDIR/$name-$SIZE_MB.pgrw" | awk '/"statements":/ {gsub(/[^0-9]/,"",$2); print $2; exit}')
  want=$(( per * $(cat "$WORKDIR/$name-$SIZE_MB.log.copies") ))
  [ "$got" = "$want" ] || { echo "$name: workload has $got statements, want $want"; exit 1; }
done

echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | awk '{print $3}'), $(pgreplay -v 2>&1 | head -n 1)"
echo
python3 - "$results" "$WORKDIR" <<'PY'
import os, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tool, name, wall, rss = line.split()
    rows[tool + " " + name].append((float(wall), int(rss)))
work = sys.argv[2]
def size(label):
    return os.path.getsize(os.path.join(work, label.split()[1] + ".log"))
print("| log | MB | tool | median s | median MB/s | peak RSS MB | workload/log |")
print("|---|---:|---|---:|---:|---:|---:|")
mbs = {}
for label in sorted(rows, key=lambda l: (l.split()[1], l.split()[0])):
    tool, name = label.split()
    walls = [w for w, _ in rows[label]]
    med = statistics.median(walls)
    mb = size(label) / 1e6
    rss = max(r for _, r in rows[label]) / 1024
    ratio = ""
    if tool == "pgrehearse":
        ratio = "%.3f" % (os.path.getsize(os.path.join(work, name + ".pgrw")) / size(label))
    mbs[label] = mb / med
    print(f"| {name} | {mb:.0f} | {tool} | {med:.2f} | {mb/med:.1f} | {rss:.0f} | {ratio} |")
print()
for name in sorted({l.split()[1] for l in rows}):
    a, b = "pgrehearse " + name, "pgreplay " + name
    if a in mbs and b in mbs:
        print(f"- {name}: pgrehearse / pgreplay throughput = {mbs[a]/mbs[b]:.2f}x")
for size_name in sorted({l.split()[1].split('-')[1] for l in rows}):
    c, b = "pgrehearse C-" + size_name, "pgreplay B-" + size_name
    if c in mbs and b in mbs:
        print(f"- jsonlog (pgrehearse) / csvlog (pgreplay), {size_name} MB: {mbs[c]/mbs[b]:.2f}x")
PY

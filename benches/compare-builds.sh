#!/usr/bin/env bash
# Two builds of dnsobs side by side on the replay benchmark's files, in alternating rounds in
# one run: what a change to the hot path bought, measured on a shared, noisy machine.
#
#   benches/compare-builds.sh OLD_BINARY NEW_BINARY
#   BENCH_FILES=rootlike BENCH_ROUNDS=9 BENCH_THREADS="1 2" benches/compare-builds.sh old new
#
# Files: those of replay-vs-peers.sh in BENCH_DATA (default bench-data/; that script makes
# them): big-N-s42.pcap (5,500 clients, "clients5500") and rootlike-N-s42.pcap ("rootlike").
# Each round runs `replay --threads T --format json FILE` with both binaries, the order
# alternating from round to round, and keeps the wall time. It prints per file and thread
# count both medians and the median of the per-round ratios old ÷ new (paired: both runs of a
# round saw the same machine), and checks that both builds report the same queries and
# responses as the file's oracle.
#
# Environment: BENCH_PACKETS (20000000), BENCH_ROUNDS (5), BENCH_THREADS (2), BENCH_FILES
# ("clients5500 rootlike"), BENCH_DATA (bench-data).

set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${BENCH_PACKETS:-20000000}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
DATA=${BENCH_DATA:-bench-data}
FILES=${BENCH_FILES:-clients5500 rootlike}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dnsobs-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for label in $FILES; do
    case $label in
    clients5500) PCAP=$DATA/big-$N-s42.pcap ;;
    rootlike) PCAP=$DATA/rootlike-$N-s42.pcap ;;
    *) echo "unknown file $label (clients5500, rootlike)" >&2; exit 2 ;;
    esac
    [ -f "$PCAP" ] || { echo "$PCAP is missing: run benches/replay-vs-peers.sh once" >&2; exit 1; }
    cat "$PCAP" >/dev/null # into the page cache
    for t in $THREADS; do
        for r in $(seq 1 "$ROUNDS"); do
            if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
            for which in $order; do
                bin=$OLD
                [ "$which" = new ] && bin=$NEW
                s=$(date +%s.%N)
                "$bin" replay --threads "$t" --format json "$PCAP" >"$WORK/$which.json" 2>/dev/null
                e=$(date +%s.%N)
                echo "$label $t $r $which $(echo "$e - $s" | bc)" >>"$WORK/times"
            done
            python3 - "$WORK/old.json" "$WORK/new.json" "${PCAP%.pcap}.oracle.json" <<'EOF'
import json, sys
old, new, oracle = (json.load(open(p)) for p in sys.argv[1:])
def qr(r):
    d = r.get("dns", r)
    return d.get("queries"), d.get("responses")
want = (oracle["queries"], oracle["responses"])
for name, r in (("old", old), ("new", new)):
    if qr(r) != want:
        sys.exit(f"{name}: queries/responses {qr(r)} != oracle {want}")
EOF
        done
    done
done

python3 - "$WORK/times" <<'EOF'
import statistics, sys
from collections import defaultdict
t = defaultdict(dict)
for line in open(sys.argv[1]):
    label, th, r, which, secs = line.split()
    t[(label, th)].setdefault(r, {})[which] = float(secs)
print("| file | threads | rounds | old median | new median | old ÷ new (median of rounds) |")
print("|---|---:|---:|---:|---:|---:|")
for (label, th), rounds in t.items():
    old = [v["old"] for v in rounds.values()]
    new = [v["new"] for v in rounds.values()]
    ratio = statistics.median(v["old"] / v["new"] for v in rounds.values())
    print(f"| {label} | {th} | {len(rounds)} | {statistics.median(old):.2f} s | "
          f"{statistics.median(new):.2f} s | {ratio:.3f}× |")
EOF

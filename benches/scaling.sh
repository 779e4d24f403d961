#!/usr/bin/env bash
# Scaling with work (issue 8, item 4): replay time against packet count, and peak memory
# against file size, on normal (generated) traffic with the default configuration.
#
#   benches/scaling.sh                       # 2 M, 20 M and 40 M packets (3.8 GB, ~6 min to make)
#   SCALE_SIZES="2000000 4000000" benches/scaling.sh
#
# For each size: generates `python3 ../shared/tools/gen_big_pcap.py -n N -s 42` into bench-data/
# (cached, shared with benches/replay-vs-peers.sh), warms the page cache, runs
# `dnsobs replay --threads T --format json FILE` SCALE_RUNS times (default 3) for T = 1 and 2,
# checks frames/queries/responses against the oracle, and reports the median wall time, ns per
# packet, and two memory figures polled from /proc/PID/status every 5 ms:
#   peak RssAnon  heap and stacks: what the tables hold (must not grow with the file)
#   VmHWM         all resident pages, including the memory-mapped capture's page-cache pages
#                 the process touched (grows with the file by construction; not heap)
# Writes the table to bench-data/scaling.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZES=${SCALE_SIZES:-"2000000 20000000 40000000"}
RUNS=${SCALE_RUNS:-3}
DATA=${BENCH_DATA:-bench-data}
SHARED=${BENCH_SHARED:-../shared/tools}
mkdir -p "$DATA"
cargo build --release --quiet --bin dnsobs
DNSOBS=$ROOT/target/release/dnsobs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dnsobs-scale.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for n in $SIZES; do
    pcap=$DATA/big-$n-s42.pcap
    oracle=$DATA/big-$n-s42.oracle.json
    if [ ! -s "$pcap" ] || [ ! -s "$oracle" ]; then
        echo "== generating $n packets into $pcap" >&2
        python3 "$SHARED/gen_big_pcap.py" -n "$n" -s 42 -o "$pcap.tmp" --oracle "$oracle.tmp"
        mv "$oracle.tmp" "$oracle"
        mv "$pcap.tmp" "$pcap"
    fi
done

python3 - "$DNSOBS" "$DATA" "$RUNS" "$WORK" $SIZES <<'EOF'
import json, os, statistics, subprocess, sys, time

dnsobs, data, runs, work, *sizes = sys.argv[1:]
runs = int(runs)

def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def run(pcap, threads, out):
    t0 = time.monotonic()
    with open(out, "wb") as o:
        p = subprocess.Popen([dnsobs, "replay", "--threads", str(threads), "--format", "json", pcap],
                             stdout=o, stderr=subprocess.DEVNULL)
        anon = hwm = 0
        while p.poll() is None:
            anon = max(anon, status_kb(p.pid, "RssAnon"))
            hwm = max(hwm, status_kb(p.pid, "VmHWM"))
            time.sleep(0.005)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"dnsobs failed on {pcap} (exit {p.returncode})")
    return wall, anon, hwm

rows = []
for n in sizes:
    pcap = f"{data}/big-{n}-s42.pcap"
    oracle = json.load(open(f"{data}/big-{n}-s42.oracle.json"))
    with open(pcap, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    size = os.path.getsize(pcap)
    for t in (1, 2):
        walls, anons, hwms = [], [], []
        for i in range(runs):
            out = f"{work}/{n}-{t}.json"
            w, a, h = run(pcap, t, out)
            got = json.load(open(out))
            for k in ("frames", "queries", "responses"):
                if got.get(k) != oracle.get(k):
                    sys.exit(f"MISMATCH {n} packets, --threads {t}, {k}: oracle {oracle.get(k)}, dnsobs {got.get(k)}")
            walls.append(w); anons.append(a); hwms.append(h)
            print(f"== {int(n):,} packets --threads {t} run {i + 1}: {w:.2f} s, RssAnon {a / 1024:.1f} MiB", file=sys.stderr)
        rows.append((int(n), size, t, statistics.median(walls), walls, max(anons), max(hwms)))

base = {t: r for r in rows for t in [r[2]] if r[0] == rows[0][0]}
out = ["| packets | file MB | threads | median s | runs (s) | ns/packet | × time of the smallest | × packets | peak RssAnon MiB | VmHWM MiB |",
       "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
for n, size, t, med, walls, anon, hwm in rows:
    b = base[t]
    out.append(f"| {n:,} | {size / 1e6:,.0f} | {t} | {med:.3f} | {' '.join(f'{w:.2f}' for w in walls)} "
               f"| {1e9 * med / n:.0f} | {med / b[3]:.2f} | {n / b[0]:.0f} | {anon / 1024:.1f} | {hwm / 1024:,.0f} |")
text = "\n".join(out) + "\n\nEvery run's frames, queries and responses equal the oracle's.\n"
print(text)
open(f"{data}/scaling.md", "w").write(text)
EOF

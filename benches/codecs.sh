#!/usr/bin/env bash
# Codecs and parallel decompression (issue 23, item 3): a directory of ten 2 M-packet files per
# codec (plain, gzip, zstd, xz, bzip2, lz4), replayed with 1 and 2 threads.
#
#   benches/codecs.sh          # generate what is missing, then measure
#   benches/codecs.sh gen      # only generate the files
#
# The files: `python3 ../shared/tools/gen_big_pcap.py -n 20000000 -s 42` (cached, the same file
# as benches/scaling.sh's 20 M), cut into ten consecutive 2 M-packet parts (so the parts follow
# each other in time, as a rotated capture does), each compressed by the codec's own command-line
# tool (gzip -6, zstd -3, bzip2 -9 and lz4 -1, their defaults; xz -2 rather than its default -6,
# which takes 4x the CPU to make; -2 output decompresses ~10 % slower than -6 (30 MB of it:
# 0.43 s against 0.38-0.40 s), so the xz rows are if anything pessimistic): BENCH_DATA/codecs/CODEC/
# Making them takes ~15 min of one core (xz and bzip2 are most of it), and ~3.5 GB of disk;
# the tools come from Debian's gzip, zstd, xz-utils, bzip2 and lz4 packages.
#
# Each measurement is `dnsobs replay --format json --threads T DIR`, CODEC_RUNS times (default 3),
# after one warm-up read of the directory into the page cache, each run started once the CPUs
# were 90 % idle for a second (waiting BENCH_IDLE_WAIT s at most, default 120; the runs that
# started on a busy machine are counted in the table's note); the table gives the median wall
# time, packets/s, CPU use (user+sys over wall, from wait4's rusage of the child) and its peak
# RSS (ru_maxrss; it includes the page-cache pages of memory-mapped plain files), and checks
# the frame, query and response counts against the oracle. DNSOBS_BASE (a
# dnsobs binary, e.g. one built from an older commit) adds its rows for the codecs it reads
# (BASE_CODECS, default plain gzip zstd). Writes the table to BENCH_DATA/codecs.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATA=${BENCH_DATA:-$ROOT/../bench-data}
SHARED=${BENCH_SHARED:-../shared/tools}
RUNS=${CODEC_RUNS:-3}
CODECS=${CODECS:-"plain gzip zstd xz bzip2 lz4"}
N=20000000
PARTS=10
mkdir -p "$DATA/codecs"
big=$DATA/big-$N-s42.pcap
oracle=$DATA/big-$N-s42.oracle.json

if [ ! -s "$big" ] || [ ! -s "$oracle" ]; then
    echo "== generating $N packets into $big" >&2
    python3 "$SHARED/gen_big_pcap.py" -n "$N" -s 42 -o "$big.tmp" --oracle "$oracle.tmp"
    mv "$oracle.tmp" "$oracle"
    mv "$big.tmp" "$big"
fi

if [ ! -s "$DATA/codecs/plain/part-$((PARTS - 1)).pcap" ]; then
    echo "== cutting $big into $PARTS parts" >&2
    rm -rf "$DATA/codecs/plain.tmp"
    mkdir -p "$DATA/codecs/plain.tmp"
    python3 - "$big" "$DATA/codecs/plain.tmp" "$PARTS" <<'EOF'
import struct, sys
src, out, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, "rb") as f:
    head = f.read(24)
    assert struct.unpack("<I", head[:4])[0] == 0xA1B2C3D4, "little-endian µs pcap expected"
    data = f.read()
# Record offsets, then equal parts by record count.
offs, at = [], 0
while at < len(data):
    offs.append(at)
    at += 16 + struct.unpack_from("<I", data, at + 8)[0]
per = len(offs) // parts
for k in range(parts):
    a = offs[k * per]
    b = offs[(k + 1) * per] if k + 1 < parts else len(data)
    with open(f"{out}/part-{k}.pcap", "wb") as o:
        o.write(head)
        o.write(data[a:b])
EOF
    rm -rf "$DATA/codecs/plain"
    mv "$DATA/codecs/plain.tmp" "$DATA/codecs/plain"
fi

compress() { # codec, extension, command...
    local codec=$1 ext=$2
    shift 2
    mkdir -p "$DATA/codecs/$codec"
    for f in "$DATA"/codecs/plain/part-*.pcap; do
        local out
        out=$DATA/codecs/$codec/$(basename "$f").$ext
        if [ ! -s "$out" ]; then
            echo "== $codec $out" >&2
            "$@" < "$f" > "$out.tmp"
            mv "$out.tmp" "$out"
        fi
    done
}
compress gzip gz gzip -6 -c
compress zstd zst zstd -3 -q -c
compress xz xz xz -2 -T1 -c
compress bzip2 bz2 bzip2 -9 -c
compress lz4 lz4 lz4 -1 -q -c

if [ "${1:-}" = gen ]; then
    exit 0
fi

if [ -z "${DNSOBS:-}" ]; then
    cargo build --release --quiet --bin dnsobs
    DNSOBS=${CARGO_TARGET_DIR:-$ROOT/target}/release/dnsobs
fi

python3 - "$DNSOBS" "${DNSOBS_BASE:-}" "$DATA" "$RUNS" "$oracle" "${BASE_CODECS:-plain gzip zstd}" \
    $CODECS <<'EOF'
import json, os, statistics, subprocess, sys, time

dnsobs, base, data, runs, oracle, base_codecs, *codecs = sys.argv[1:]
base_codecs = base_codecs.split()
runs = int(runs)
want = json.load(open(oracle))

busy_starts = 0

def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]

def wait_idle():
    """Waits (BENCH_IDLE_WAIT s at most, default 120) until the CPUs were 90 % idle for 1 s."""
    global busy_starts
    deadline = time.monotonic() + float(os.environ.get("BENCH_IDLE_WAIT", "120"))
    while time.monotonic() < deadline:
        t0, i0 = cpu_times()
        time.sleep(1)
        t1, i1 = cpu_times()
        if (i1 - i0) * 100 >= (t1 - t0) * 90:
            return
    busy_starts += 1

def run(binary, inputs, threads):
    """One replay: (wall s, CPU s, peak RSS KiB), its counts checked against the oracle."""
    wait_idle()
    out = open(f"{data}/codecs.out.json", "w+b")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "replay", "--quiet", "--threads", str(threads), "--format",
                          "json"] + inputs, stdout=out, stderr=subprocess.PIPE)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read()
    if p.returncode != 0:
        sys.exit(f"{binary} {inputs[0]}: exit {p.returncode}: {err.decode()[-500:]}")
    out.seek(0)
    r = json.load(out)
    for k in ("frames", "queries", "responses"):
        if r[k] != want[k]:
            sys.exit(f"{inputs[0]}: {k} {r[k]} != oracle {want[k]}")
    # ru_maxrss of this child alone (KiB): its peak RSS, page-cache pages of mapped files
    # included.
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss

rows = []
for codec in codecs:
    d = f"{data}/codecs/{codec}"
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    subprocess.run(["cat"] + [os.path.join(d, f) for f in sorted(os.listdir(d))],
                   stdout=subprocess.DEVNULL, check=True)
    for label, binary in (("this", dnsobs), ("base", base)):
        if not binary or (label == "base" and codec not in base_codecs):
            continue
        for threads in (1, 2):
            # The directory; an older binary that reads no directory gets its files by name.
            inputs = [d] if label == "this" else [os.path.join(d, f) for f in sorted(os.listdir(d))]
            res = [run(binary, inputs, threads) for _ in range(runs)]
            wall = statistics.median(r[0] for r in res)
            cpu = statistics.median(r[1] for r in res)
            peak = statistics.median(r[2] for r in res)
            row = (codec, size, label, threads, wall, want["frames"] / wall, cpu / wall, peak)
            print("%-6s %6.0f MB %-4s t%d  %6.2f s  %5.2f M/s  CPU %3.0f %%  peak %5.0f MiB  "
                  "(runs %s; load %.1f)" %
                  (codec, size / 1e6, label, threads, wall, row[5] / 1e6, 100 * row[6],
                   peak / 1024, " ".join("%.2f" % r[0] for r in res), os.getloadavg()[0]),
                  flush=True)
            rows.append(row)

with open(f"{data}/codecs.md", "w") as f:
    f.write("| codec | size | binary | threads | time (median) | packets/s | CPU | peak RSS | 2t/1t |\n")
    f.write("|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
    t1 = {}
    for codec, size, label, threads, wall, rate, cpu, peak in rows:
        if threads == 1:
            t1[(codec, label)] = rate
        ratio = "%.2f×" % (rate / t1[(codec, label)]) if threads == 2 else ""
        f.write(f"| {codec} | {size / 1e6:.0f} MB | {label} | {threads} | {wall:.2f} s | "
                f"{rate / 1e6:.2f} M | {100 * cpu:.0f} % | {peak / 1024:.0f} MiB | {ratio} |\n")
    f.write(f"\nRuns started on a busy machine (waited up to "
            f"{os.environ.get('BENCH_IDLE_WAIT', '120')} s for 90 % idle): {busy_starts} of "
            f"{len(rows) * runs}\n")
print(open(f"{data}/codecs.md").read())
EOF

#!/usr/bin/env bash
# What the geography costs (issue 22): the root-like replay benchmark of issue 20 with and
# without both MaxMind databases, in alternating rounds in one run, on the same file.
#
#   benches/geo-cost.sh                         # 7 rounds, --threads 2 (the benchmark's)
#   BENCH_THREADS="1 2" BENCH_ROUNDS=5 benches/geo-cost.sh
#
# Files (cached in BENCH_DATA, default bench-data/): the root-like capture of
# replay-vs-peers.sh (`gen_big_pcap.py -n N -s 42 --clients4 1000000 --clients6 300000`) and
# the "realistic" database pair of `benches/make-geo-mmdb.py` (every /24 and /48 of the
# capture's client pools in one of 30,000 random ASes and 250 countries, 150,000 other
# networks: 6 and 7 MB, GeoLite2's size class), made when missing (needs mmdb-writer and
# netaddr from PyPI, installed with pip when absent).
#
# Each round runs `dnsobs replay --format json` without, then with the databases (the order
# alternating from round to round), and keeps wall and CPU (user + system) time. It prints per
# thread count the medians, the median of the per-round ratios (paired: both runs of a round
# saw the same machine), and PASS or MISS against the issue's bound (+10 %); it checks that
# every exact figure is the same with and without the databases (the sketches, keyed by a
# per-process seed, differ from any run to the next), and prints
# the resident memory of the two database mappings at the end of a run (what the OS mapped:
# the pages read).
#
# Environment: BENCH_PACKETS (20000000), BENCH_ROUNDS (7), BENCH_THREADS (2), BENCH_DATA
# (bench-data), BENCH_SHARED (../shared/tools), BENCH_DNSOBS (a built binary; default: build).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${BENCH_PACKETS:-20000000}
ROUNDS=${BENCH_ROUNDS:-7}
THREADS=${BENCH_THREADS:-2}
DATA=${BENCH_DATA:-bench-data}
SHARED=${BENCH_SHARED:-../shared/tools}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dnsobs-geo-cost.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

say() { printf '== %s\n' "$*" >&2; }

PCAP=$DATA/rootlike-$N-s42.pcap
if [ ! -f "$PCAP" ]; then
    [ -f "$SHARED/gen_big_pcap.py" ] || {
        say "$PCAP is missing and $SHARED/gen_big_pcap.py is not there to make it"
        exit 1
    }
    say "generating $PCAP"
    python3 "$SHARED/gen_big_pcap.py" -n "$N" -s 42 --clients4 1000000 --clients6 300000 \
        -o "$PCAP.tmp" --oracle "$DATA/rootlike-$N-s42.oracle.json"
    mv "$PCAP.tmp" "$PCAP"
fi

DB=$DATA/mmdb-realistic
if [ ! -f "$DB/country.mmdb" ] || [ ! -f "$DB/asn.mmdb" ]; then
    python3 -c 'import mmdb_writer, netaddr' 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages mmdb-writer netaddr
    say "making the database pair in $DB"
    mkdir -p "$DB"
    python3 benches/make-geo-mmdb.py "$DB"
fi

if [ -n "${BENCH_DNSOBS:-}" ]; then
    BIN=$BENCH_DNSOBS
else
    say "building dnsobs (release)"
    cargo build --release --quiet
    BIN=$ROOT/target/release/dnsobs
fi
cp "$BIN" "$WORK/dnsobs"
BIN=$WORK/dnsobs
GEO=(--geoip-country "$DB/country.mmdb" --geoip-asn "$DB/asn.mmdb")

cat "$PCAP" >/dev/null # page cache
TIMES=$WORK/times.txt
: >"$TIMES"
run() { # threads label round [args]
    local t=$1 label=$2 round=$3
    shift 3
    /usr/bin/time -f "$t $label $round %e %U %S" -a -o "$TIMES" \
        "$BIN" replay --threads "$t" --format json "$@" "$PCAP" >"$WORK/$label-$t.json"
}
for t in $THREADS; do
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then
            run "$t" without "$r"
            run "$t" with "$r" "${GEO[@]}"
        else
            run "$t" with "$r" "${GEO[@]}"
            run "$t" without "$r"
        fi
        say "threads $t round $r/$ROUNDS: $(tail -2 "$TIMES" | awk '{printf "%s %ss  ", $2, $4}')"
    done
done

# The databases' resident pages at the end of a run with them.
"$BIN" replay --threads 1 --format json "${GEO[@]}" "$PCAP" >/dev/null &
PID=$!
MAPPED=""
while kill -0 "$PID" 2>/dev/null; do
    M=$(awk -v a="$DB/country.mmdb" -v b="$DB/asn.mmdb" '
        /^[0-9a-f]+-[0-9a-f]+ / { f = ($6 == a || $6 == b) }
        f && /^Rss:/ { kb += $2 }
        END { print kb + 0 }' "/proc/$PID/smaps" 2>/dev/null || true)
    [ -n "$M" ] && [ "$M" != 0 ] && MAPPED=$M
    sleep 0.5
done
wait "$PID"

python3 - "$TIMES" "$WORK" "$THREADS" "${MAPPED:-0}" "$DB" <<'EOF'
import json, os, statistics as st, sys
times, work, threads, mapped, db = sys.argv[1], sys.argv[2], sys.argv[3].split(), int(sys.argv[4]), sys.argv[5]
runs = {}
for line in open(times):
    p = line.split()
    if len(p) != 6:
        continue
    t, label, r, wall, user, sys_ = p
    runs.setdefault((t, label), {})[int(r)] = (float(wall), float(user) + float(sys_))
ok = True
print(f"| threads | without | with both databases | median of ratios | CPU without | CPU with | bound +10 % |")
print(f"|---:|---:|---:|---:|---:|---:|---|")
for t in threads:
    a, b = runs[(t, "without")], runs[(t, "with")]
    rounds = sorted(set(a) & set(b))
    wa = st.median(a[r][0] for r in rounds)
    wb = st.median(b[r][0] for r in rounds)
    paired = st.median(b[r][0] / a[r][0] for r in rounds)
    ca = st.median(a[r][1] for r in rounds)
    cb = st.median(b[r][1] for r in rounds)
    verdict = "PASS" if wb / wa <= 1.10 else "MISS"
    print(f"| {t} | {wa:.2f} s | {wb:.2f} s ({(wb / wa - 1) * 100:+.1f} %) | {(paired - 1) * 100:+.1f} % "
          f"| {ca:.2f} s | {cb:.2f} s ({(cb / ca - 1) * 100:+.1f} %) | {verdict} |")
    x = json.load(open(f"{work}/without-{t}.json"))
    y = json.load(open(f"{work}/with-{t}.json"))
    g = y.pop("geo", None)
    x.pop("geo", None)
    # Run facts, and the figures of sketches keyed by a per-process seed (they differ from
    # one run to the next with or without databases).
    for d in (x, y):
        for k in ("file", "dnsobs", "unique_sources_estimate", "ithi", "resolver_hygiene"):
            d.pop(k, None)
    if x != y:
        ok = False
        diff = [k for k in x if x.get(k) != y.get(k)]
        print(f"threads {t}: figures differ with the databases: {diff}")
    if not g or not g.get("countries"):
        ok = False
        print(f"threads {t}: no geography in the report")
    else:
        print(f"threads {t}: {len(g['countries'])} countries, {len(g['asns'])} ASes, "
              f"{g.get('lookups')} database walks")
sizes = sum(os.path.getsize(f"{db}/{f}") for f in ("country.mmdb", "asn.mmdb"))
print(f"databases: {sizes / 1e6:.1f} MB on disk, {mapped / 1024:.1f} MB resident at the end of a run")
sys.exit(0 if ok else 1)
EOF

#!/usr/bin/env bash
# Random-source floods of 1 M, 4 M and 10 M packets (../shared/tools/gen_flood_pcap.py, with the
# truth an exact tool must report), each read by `dnsobs replay --threads 2` from standard input
# (so the peak RSS is heap, not page cache of a mapped file); prints one Markdown table row per
# flood: peak RSS, time, and whether every distinct-source figure equals the truth.
#
#   benches/flood-memory.sh                     # 1 M, 4 M, 10 M
#   FLOOD_SIZES="1000000" benches/flood-memory.sh
#
# The floods are cached in bench-data/ (1.1 GB for 10 M packets). Exit status 1 if a figure
# differs from the truth.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sizes="${FLOOD_SIZES:-1000000 4000000 10000000}"
data="${BENCH_DATA:-bench-data}"
gen="../shared/tools/gen_flood_pcap.py"
mkdir -p "$data"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/dnsobs"
command -v /usr/bin/time >/dev/null || { echo "flood-memory: needs /usr/bin/time (Debian: time)" >&2; exit 2; }

echo "| packets | queries | distinct IPv4 / IPv6 / IPv6 /64 (truth) | peak RSS | replay | run-wide sources equal truth | RSSAC002 day equals truth | flagged exact |"
echo "|---:|---:|---|---:|---:|---|---|---|"
status=0
for n in $sizes; do
    pcap="$data/flood-$n.pcap"
    truth="$data/flood-$n.truth.json"
    if [[ ! -f "$pcap" || ! -f "$truth" ]]; then
        python3 "$gen" "$pcap" "$n" 42 "$truth"
    fi
    out="$(mktemp)"
    err="$(mktemp)"
    /usr/bin/time -f "%M %e" "$bin" replay --threads 2 --format json - <"$pcap" >"$out" 2>"$err"
    read -r rss_kb secs < <(tail -n 1 "$err")
    python3 - "$out" "$truth" "$n" "$rss_kb" "$secs" <<'EOF' || status=1
import json, sys
out, truth, n, rss_kb, secs = sys.argv[1:]
j = json.load(open(out))
t = json.load(open(truth))
ts = t["unique_query_sources"]
day = j["rssac002"]["days"][0]["unique-sources"]
run_ok = j["unique_query_sources"] == ts and j["queries"] == t["queries"]
day_ok = (day["num-sources-ipv4"] == ts["4"] and day["num-sources-ipv6"] == ts["6"]
          and day["num-sources-ipv6-aggregate"] == t["unique_query_sources_ipv6_64"])
exact = j["unique_query_sources_exact"] and j["rssac002"]["days"][0]["unique_sources_exact"]
print(f"| {int(n):,} | {j['queries']:,} | {ts['4']:,} / {ts['6']:,} / "
      f"{t['unique_query_sources_ipv6_64']:,} | {int(rss_kb) / 1024:.1f} MiB | {float(secs):.2f} s "
      f"| {'yes' if run_ok else 'NO'} | {'yes' if day_ok else 'NO'} | {'yes' if exact else 'no'} |")
sys.exit(0 if run_ok and day_ok and exact else 1)
EOF
    rm -f "$out" "$err"
done
exit "$status"

#!/usr/bin/env bash
# Live capture loss curve: dnsobs run (1 and 2 workers) and tcpdump -w /dev/null, fed by tcpreplay
# at increasing rates over a veth pair between two network namespaces of our own (65535 MTU).
#
# usage: benches/live-loss.sh [PCAP] [RATES]
#   PCAP   capture to replay (default: a LOSS_PACKETS (500,000) packet synthetic file in bench-data/,
#          made with ../shared/tools/gen_big_pcap.py; else pcaps/root-mix-v4v6.pcap)
#   RATES  space-separated packets/s, "top" = --topspeed (default "50000 100000 200000 400000 top")
# Needs root, tcpreplay, tcpdump, python3. Prints one row per (tool, workers, rate):
#   offered packets, packets counted, kernel drops reported, and whether counted == offered - drops.
# Everything stays inside namespaces named dnsobs-loss-*; they are deleted on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DNSOBS_BIN:-target/release/dnsobs}
RATES=${2:-"50000 100000 200000 400000 top"}
PCAP=${1:-}
if [ -z "$PCAP" ]; then
    mkdir -p bench-data
    PCAP=bench-data/loss-${LOSS_PACKETS:-500000}.pcap
    if [ ! -s "$PCAP" ] && [ -f ../shared/tools/gen_big_pcap.py ]; then
        python3 ../shared/tools/gen_big_pcap.py -n "${LOSS_PACKETS:-500000}" -s 42 -o "$PCAP" >/dev/null
    fi
    [ -s "$PCAP" ] || PCAP=pcaps/root-mix-v4v6.pcap
fi
[ -x "$BIN" ] || cargo build --release
NS=dnsobs-loss-$$
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    ip netns del "${NS}c" 2>/dev/null || true
    ip netns del "${NS}g" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "${NS}c"; ip netns add "${NS}g"
ip link add cap0 netns "${NS}c" type veth peer name gen0 netns "${NS}g"
ip -n "${NS}c" link set cap0 mtu 65535 up
ip -n "${NS}g" link set gen0 mtu 65535 up
ip -n "${NS}c" link set lo up

# Frames tcpreplay offers that pass dnsobs' default filter (DNS ports and IP fragments).
OFFERED_DNS=$(python3 - "$PCAP" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'rb'); h = f.read(24)
e = '<' if h[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
n = 0
while True:
    r = f.read(16)
    if len(r) < 16: break
    cap = struct.unpack(e + 'IIII', r)[2]; d = f.read(cap)
    et = struct.unpack('>H', d[12:14])[0]; o = 14
    while et in (0x8100, 0x88a8): et = struct.unpack('>H', d[o+2:o+4])[0]; o += 4
    if et == 0x0800:
        ihl = (d[o] & 15) * 4; proto = d[o+9]; frag = struct.unpack('>H', d[o+6:o+8])[0] & 0x3fff
        if frag: n += 1; continue
        l4 = o + ihl
    elif et == 0x86dd:
        proto = d[o+6]; l4 = o + 40
        if proto == 44: n += 1; continue
    else: continue
    if proto in (6, 17) and 53 in struct.unpack('>HH', d[l4:l4+4]): n += 1
print(n)
EOF
)
echo "capture: $PCAP ($OFFERED_DNS frames pass the DNS filter)"
ORACLE=${PCAP%.pcap}.oracle.json
WANT_Q=$( [ -f "$ORACLE" ] && python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['queries'])" "$ORACLE" || echo "?")
echo "oracle queries: $WANT_Q"
printf '%-10s %7s %8s %10s %10s %10s %10s %6s %10s\n' tool workers rate achieved offered counted drops exact queries

scrape() { ip netns exec "${NS}c" python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:10053/metrics').read().decode())"; }
sum() { awk -v p="$1" 'index($0,p)==1 {s+=$NF} END {printf "%d", s}'; }

for rate in $RATES; do
    if [ "$rate" = top ]; then RARG=(--topspeed); else RARG=(--pps "$rate"); fi
    for w in 1 2; do
        ip netns exec "${NS}c" "$BIN" run -i cap0 -w "$w" --listen 127.0.0.1:10053 >/tmp/$NS.log 2>&1 &
        D=$!; PIDS+=("$D")
        for _ in $(seq 50); do scrape >/dev/null 2>&1 && break; sleep 0.1; done
        achieved=$(ip netns exec "${NS}g" tcpreplay -i gen0 "${RARG[@]}" "$PCAP" 2>&1 | awk '/Rated:/ {for (i=1;i<=NF;i++) if ($i ~ /pps/) print int($(i-1))}' | head -1)
        sleep 2
        M=$(scrape)
        queries=$(echo "$M" | sum 'dnsobs_queries_total{')
        counted=$(echo "$M" | sum 'dnsobs_capture_packets_total{')
        drops=$(echo "$M" | sum 'dnsobs_capture_dropped_packets_total{')
        kill -TERM "$D"; wait "$D" || true
        exact=no; [ "$counted" -eq $((OFFERED_DNS - drops)) ] && exact=yes
        printf '%-10s %7s %8s %10s %10s %10s %10s %6s %10s\n' dnsobs "$w" "$rate" "${achieved:-?}" "$OFFERED_DNS" "$counted" "$drops" "$exact" "$queries"
    done
    out=$(ip netns exec "${NS}c" timeout 120 tcpdump -i cap0 -n -w /dev/null \
        '((udp or tcp) and port 53) or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)' 2>&1 &
        T=$!; sleep 1; ip netns exec "${NS}g" tcpreplay -q -i gen0 "${RARG[@]}" "$PCAP" >/dev/null 2>&1; sleep 2; kill -INT $T; wait $T) || true
    got=$(echo "$out" | awk '/packets captured/ {print $1}')
    kdrop=$(echo "$out" | awk '/dropped by kernel/ {print $1}')
    exact=no; [ -n "$got" ] && [ "$got" -eq $((OFFERED_DNS - ${kdrop:-0})) ] && exact=yes
    printf '%-10s %7s %8s %10s %10s %10s %10s %6s %10s\n' tcpdump - "$rate" - "$OFFERED_DNS" "${got:-?}" "${kdrop:-?}" "$exact" -
done

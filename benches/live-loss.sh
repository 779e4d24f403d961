#!/usr/bin/env bash
# Live capture loss curve (issue 8): dnsobs run (1 and 2 workers) and tcpdump -w /dev/null, fed by
# tcpreplay at increasing rates over a veth pair between two network namespaces of our own
# (65535 MTU).
#
# usage: benches/live-loss.sh [PCAP] [RATES]
#   PCAP   capture to replay (default: bench-data/big-$LOSS_PACKETS-s42.pcap, LOSS_PACKETS =
#          2,000,000, made with ../shared/tools/gen_big_pcap.py -s 42 with its oracle and shared
#          with benches/replay-vs-peers.sh; without ../shared, pcaps/root-mix-v4v6.pcap)
#   RATES  space-separated packets/s, "top" = --topspeed (default "50000 100000 200000 400000 top")
# Needs root; installs tcpreplay, tcpdump and iproute2 if missing. Prints one row per (tool,
# workers, rate) and writes the same rows as CSV to $LOSS_CSV (default
# bench-data/loss-<capture>.csv, and draws it into $LOSS_PNG (default docs/loss-curve.png) with
# benches/plot-loss.py):
#   sent      frames tcpreplay sent, and the rate it achieved
#   offered   frames that reached the capture interface (its RX counter) and pass the capture
#             filter, counting a complete IPv4 fragment train once for dnsobs (the kernel
#             reassembles it for its fanout group); frames the veth itself dropped (its backlog
#             full) never reached any tool and are reported apart as veth_drops
#   counted   packets the tool received (dnsobs_capture_packets_total / tcpdump "captured")
#   drops     drops the tool reported (kernel ring full, interface)
#   exact     counted == offered - drops (nothing lost silently)
#   queries   dnsobs_queries_total, and whether it equals the oracle when nothing was dropped
# LOSS_TCPREPLAY_ARGS: extra tcpreplay options, default "-K" (preload the file into memory, so
# the sender does not read the disk: ~190 MB for 2 M packets); set it empty to stream the file.
# Everything stays inside namespaces named dnsobs-loss-*; they are deleted on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DNSOBS_BIN:-target/release/dnsobs}
RATES=${2:-"50000 100000 200000 400000 top"}
PCAP=${1:-}
N=${LOSS_PACKETS:-2000000}
if [ "$(id -u)" -ne 0 ]; then echo "live-loss.sh: needs root (network namespaces)" >&2; exit 1; fi
for p in tcpreplay tcpdump iproute2 python3-matplotlib; do
    dpkg -s "$p" >/dev/null 2>&1 && continue
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
if [ -z "$PCAP" ]; then
    mkdir -p bench-data
    PCAP=bench-data/big-$N-s42.pcap
    if [ ! -s "$PCAP" ] && [ -f ../shared/tools/gen_big_pcap.py ]; then
        python3 ../shared/tools/gen_big_pcap.py -n "$N" -s 42 -o "$PCAP" \
            --oracle "${PCAP%.pcap}.oracle.json" >/dev/null
    fi
    [ -s "$PCAP" ] || PCAP=pcaps/root-mix-v4v6.pcap
fi
CSV=${LOSS_CSV:-bench-data/loss-$(basename "${PCAP%.pcap}").csv}
mkdir -p "$(dirname "$CSV")"
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
# No IPv6 on the pair: no router solicitations or MLD reports mixed into the counters.
for n in c g; do ip netns exec "${NS}$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
ip link add cap0 netns "${NS}c" type veth peer name gen0 netns "${NS}g"
ip -n "${NS}c" link set cap0 mtu 65535 up
ip -n "${NS}g" link set gen0 mtu 65535 up
ip -n "${NS}c" link set lo up

# Frames in the file; those that pass dnsobs' default filter (DNS ports and IP fragments), as
# tcpdump sees them; and as dnsobs sees them: it joins a PACKET_FANOUT group with FLAG_DEFRAG
# (also with one worker), so the kernel hands it each complete IPv4 fragment train as one
# reassembled datagram and holds back incomplete ones.
read -r FRAMES FILE_DNS FILE_DEFRAG < <(python3 - "$PCAP" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'rb'); h = f.read(24)
e = '<' if h[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
n = total = v4frags = 0
trains = {}
while True:
    r = f.read(16)
    if len(r) < 16: break
    cap = struct.unpack(e + 'IIII', r)[2]; d = f.read(cap); total += 1
    et = struct.unpack('>H', d[12:14])[0]; o = 14
    while et in (0x8100, 0x88a8): et = struct.unpack('>H', d[o+2:o+4])[0]; o += 4
    if et == 0x0800:
        ihl = (d[o] & 15) * 4; proto = d[o+9]; frag = struct.unpack('>H', d[o+6:o+8])[0] & 0x3fff
        if frag:
            n += 1; v4frags += 1
            size = struct.unpack('>H', d[o+2:o+4])[0] - ihl
            t = trains.setdefault((d[o+12:o+20], d[o+4:o+6], proto), [0, None])
            t[0] += size
            if not frag & 0x2000: t[1] = (frag & 0x1fff) * 8 + size
            continue
        l4 = o + ihl
    elif et == 0x86dd:
        proto = d[o+6]; l4 = o + 40
        if proto == 44: n += 1; continue
    else: continue
    if proto in (6, 17) and 53 in struct.unpack('>HH', d[l4:l4+4]): n += 1
complete = sum(1 for got, end in trains.values() if end is not None and got == end)
print(total, n, n - v4frags + complete)
EOF
)
echo "capture: $PCAP ($FRAMES frames, $FILE_DNS pass the DNS filter, $FILE_DEFRAG after IPv4 reassembly)"
# Offered frames are derived from the interface's RX counter: exact when every frame passes
# the filter (true of the generated captures); otherwise the frames the veth lost are assumed
# to be DNS ones, and the script says so.
[ "$FRAMES" -eq "$FILE_DNS" ] || echo "note: not every frame passes the filter; 'offered' assumes veth drops hit DNS frames"
ORACLE=${PCAP%.pcap}.oracle.json
WANT_Q=$( [ -f "$ORACLE" ] && python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['queries'])" "$ORACLE" || echo "?")
echo "oracle queries: $WANT_Q"
FMT='%-8s %7s %7s %9s %9s %10s %9s %10s %9s %6s %10s %8s\n'
printf "$FMT" tool workers rate achieved sent veth_drops offered counted drops exact queries q=oracle
echo "tool,workers,rate,achieved_pps,sent,veth_drops,offered,counted,drops,exact,queries,queries_match_oracle" >"$CSV"

scrape() { ip netns exec "${NS}c" python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:10053/metrics').read().decode())"; }
sum() { awk -v p="$1" 'index($0,p)==1 {s+=$NF} END {printf "%d", s}'; }
link_stat() { ip netns exec "${NS}$1" cat "/sys/class/net/$2/statistics/$3"; }

# replay ARGS...: runs tcpreplay, sets SENT, ACHIEVED, VETH_DROPS, OFFERED_RAW (tcpdump's view)
# and OFFERED_DEFRAG (dnsobs' view).
replay() {
    local rx0 tx0 out
    rx0=$(link_stat c cap0 rx_packets); tx0=$(link_stat g gen0 tx_dropped)
    # shellcheck disable=SC2086 # LOSS_TCPREPLAY_ARGS is a list of options
    out=$(ip netns exec "${NS}g" tcpreplay -i gen0 ${LOSS_TCPREPLAY_ARGS--K} "$@" "$PCAP" 2>&1) || true
    SENT=$(echo "$out" | awk '/Successful packets:/ {print $3}')
    ACHIEVED=$(echo "$out" | awk '/Rated:/ {for (i=1;i<=NF;i++) if ($i ~ /pps/) print int($(i-1))}' | head -1)
    local rx=$(( $(link_stat c cap0 rx_packets) - rx0 ))
    VETH_DROPS=$(( $(link_stat g gen0 tx_dropped) - tx0 ))
    OFFERED_RAW=$(( FILE_DNS - (FRAMES - rx) ))
    OFFERED_DEFRAG=$(( FILE_DEFRAG - (FRAMES - rx) ))
}

row() { # tool workers rate counted drops queries qmatch
    local exact=no
    [ -n "$4" ] && [ "$4" -eq $((OFFERED - $5)) ] && exact=yes
    printf "$FMT" "$1" "$2" "$3" "${ACHIEVED:-?}" "${SENT:-?}" "$VETH_DROPS" "$OFFERED" "$4" "$5" "$exact" "$6" "$7"
    echo "$1,$2,$3,${ACHIEVED:-},${SENT:-},$VETH_DROPS,$OFFERED,$4,$5,$exact,$6,$7" >>"$CSV"
}

for rate in $RATES; do
    if [ "$rate" = top ]; then RARG=(--topspeed); else RARG=(--pps "$rate"); fi
    for w in 1 2; do
        ip netns exec "${NS}c" "$BIN" run -i cap0 -w "$w" --listen 127.0.0.1:10053 >/tmp/$NS.log 2>&1 &
        D=$!; PIDS+=("$D")
        for _ in $(seq 50); do scrape >/dev/null 2>&1 && break; sleep 0.1; done
        replay "${RARG[@]}"
        # Workers publish their counters every flush interval (1 s): wait until the totals
        # stop moving (at most 10 s).
        prev=-1
        for _ in $(seq 20); do
            sleep 0.5
            M=$(scrape)
            counted=$(echo "$M" | sum 'dnsobs_capture_packets_total{')
            drops=$(echo "$M" | sum 'dnsobs_capture_dropped_packets_total{')
            [ $((counted + drops)) -eq "$prev" ] && break
            prev=$((counted + drops))
        done
        queries=$(echo "$M" | sum 'dnsobs_queries_total{')
        kill -TERM "$D"; wait "$D" || true
        qm=-; [ "$drops" -eq 0 ] && [ "$WANT_Q" != "?" ] && { qm=no; [ "$queries" -eq "$WANT_Q" ] && qm=yes; }
        OFFERED=$OFFERED_DEFRAG row dnsobs "$w" "$rate" "$counted" "$drops" "$queries" "$qm"
    done
    ip netns exec "${NS}c" timeout 600 tcpdump -i cap0 -n -w /dev/null \
        '((udp or tcp) and port 53) or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)' \
        >/tmp/$NS.tcpdump 2>&1 &
    T=$!; PIDS+=("$T")
    for _ in $(seq 50); do grep -q "listening on" /tmp/$NS.tcpdump 2>/dev/null && break; sleep 0.1; done
    replay "${RARG[@]}"
    sleep 2; kill -INT "$T"; wait "$T" || true
    got=$(awk '/packets captured/ {print $1}' /tmp/$NS.tcpdump)
    kdrop=$(awk '/dropped by kernel/ {print $1}' /tmp/$NS.tcpdump)
    OFFERED=$OFFERED_RAW row tcpdump - "$rate" "${got:-}" "${kdrop:-0}" - -
done
rm -f /tmp/$NS.log /tmp/$NS.tcpdump
echo "rows written to $CSV"
PNG=${LOSS_PNG:-docs/loss-curve.png}
/usr/bin/python3 benches/plot-loss.py "$CSV" "$PNG"

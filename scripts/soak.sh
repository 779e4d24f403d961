#!/usr/bin/env bash
# Soak: `dnsobs run` captures on a veth pair while tcpreplay loops a fixture into it at a
# bounded rate; the daemon's RSS and open fds are sampled every 5 s from /proc and must stay
# flat after warm-up. Documented figures: docs/robustness.md.
#
#   sudo scripts/soak.sh                    # 10 minutes (the documented run)
#   sudo SOAK_SECONDS=60 scripts/soak.sh    # about one minute (CI length)
#
# Environment: SOAK_SECONDS (600), SOAK_PPS (20000), SOAK_PCAP (pcaps/root-mix-v4v6.pcap),
# SOAK_WORKERS (2), SOAK_RSS_MARGIN_KB (4096: allowed RSS growth from the end of warm-up to the
# end), DNSOBS_BIN (target/release/dnsobs, built if missing).
#
# Needs root, ip (iproute2), tcpreplay and curl. Creates its own namespaces dnsobs-soak-<pid>c
# (capture side, cap0) and dnsobs-soak-<pid>g (generator side, gen0), joined by a veth pair
# with MTU 65535; no address is configured and nothing is routed: the fixture's own
# documentation-prefix packets travel from gen0 to cap0 only. Everything it starts is stopped by
# pid and both namespaces are deleted on any exit. Exit status 0 when flat, 1 when RSS grew
# past the margin, fds grew, the daemon died or stopped uncleanly, 2 on a setup error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SECONDS_TOTAL="${SOAK_SECONDS:-600}"
PPS="${SOAK_PPS:-20000}"
PCAP="${SOAK_PCAP:-pcaps/root-mix-v4v6.pcap}"
WORKERS="${SOAK_WORKERS:-2}"
MARGIN_KB="${SOAK_RSS_MARGIN_KB:-4096}"
BIN="${DNSOBS_BIN:-target/release/dnsobs}"
PORT=10063
INTERVAL=5
# Warm-up: a quarter of the run, at least 15 s (tables and recycled aggregates reach their
# working size; the kernel ring fills).
WARMUP=$((SECONDS_TOTAL / 4))
((WARMUP < 15)) && WARMUP=15

die() {
    echo "soak: $*" >&2
    exit 2
}
((EUID == 0)) || die "needs root (network namespaces, veth)"
for t in ip tcpreplay curl; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
done
[[ -f "$PCAP" ]] || die "no such capture: $PCAP"
((SECONDS_TOTAL > WARMUP + 2 * INTERVAL)) || die "SOAK_SECONDS must exceed $((WARMUP + 2 * INTERVAL))"
if [[ ! -x "$BIN" ]]; then
    echo "soak: building $BIN"
    cargo build --release --bin dnsobs
fi

base="dnsobs-soak-$$"
CAP="${base}c"
GEN="${base}g"
work="$(mktemp -d "/tmp/${base}.XXXXXX")"
daemon_pid=""
replay_pid=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "$replay_pid" "$daemon_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    ip netns del "$GEN" 2>/dev/null || true
    ip netns del "$CAP" 2>/dev/null || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$CAP"
ip netns add "$GEN"
ip link add cap0 netns "$CAP" type veth peer name gen0 netns "$GEN"
ip -n "$CAP" link set cap0 mtu 65535 up
ip -n "$GEN" link set gen0 mtu 65535 up
ip -n "$CAP" link set lo up

cat >"$work/dnsobs.toml" <<EOF
[capture]
interfaces = ["cap0"]
workers = $WORKERS

[aggregate]
flush_interval_seconds = 1.0

[export]
listen = "127.0.0.1:$PORT"
EOF

# `ip netns exec` execs the command, so $! is the daemon's pid.
ip netns exec "$CAP" "$BIN" run --config "$work/dnsobs.toml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

scrape() { # path → body on stdout
    ip netns exec "$CAP" curl -fsS --max-time 5 "http://127.0.0.1:$PORT$1"
}
for _ in $(seq 1 150); do
    scrape /healthz >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || {
        cat "$work/daemon.log" >&2
        die "daemon exited at start"
    }
    sleep 0.1
done
scrape /healthz >/dev/null || die "daemon not healthy"

# Bounded load: at most PPS packets a second, for the run's length; stops by itself.
ip netns exec "$GEN" tcpreplay -q -i gen0 --pps "$PPS" --loop 0 --duration "$SECONDS_TOTAL" \
    "$PCAP" >"$work/tcpreplay.log" 2>&1 &
replay_pid=$!

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status"; }
fds() { find "/proc/$daemon_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }

echo "soak: ${SECONDS_TOTAL} s at ${PPS} pps of $PCAP, $WORKERS workers, daemon pid $daemon_pid"
echo "soak: time_s rss_kb fds"
start=$SECONDS
first_rss="" first_fds="" warm_rss="" warm_fds="" max_rss=0
last_rss="" last_fds=""
while ((SECONDS - start < SECONDS_TOTAL)); do
    kill -0 "$daemon_pid" 2>/dev/null || {
        cat "$work/daemon.log" >&2
        echo "soak: FAIL: the daemon died" >&2
        exit 1
    }
    t=$((SECONDS - start))
    last_rss=$(rss_kb)
    last_fds=$(fds)
    echo "soak: $t $last_rss $last_fds"
    [[ -z "$first_rss" ]] && first_rss=$last_rss first_fds=$last_fds
    if ((t >= WARMUP)) && [[ -z "$warm_rss" ]]; then
        warm_rss=$last_rss warm_fds=$last_fds
    fi
    if [[ -n "$warm_rss" ]] && ((last_rss > max_rss)); then
        max_rss=$last_rss
    fi
    sleep "$INTERVAL"
done
wait "$replay_pid" 2>/dev/null || true
replay_pid=""
sleep 2
last_rss=$(rss_kb)
last_fds=$(fds)
((last_rss > max_rss)) && max_rss=$last_rss
echo "soak: $((SECONDS - start)) $last_rss $last_fds (after the load)"

metrics="$(scrape /metrics)"
num() { # series prefix → sum of its samples
    awk -v p="$1" 'index($0, p) == 1 { s += $NF } END { printf "%.0f\n", s }' <<<"$metrics"
}
queries=$(num 'dnsobs_queries_total{')
frames=$(num 'dnsobs_frames_total')
drops=$(num 'dnsobs_capture_dropped_packets_total')
self_rss=$(num 'process_resident_memory_bytes')
self_fds=$(num 'process_open_fds')
tcpreplay_line="$(grep -E 'Actual:' "$work/tcpreplay.log" | head -1 || true)"
stat() { # namespace interface counter
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo "?"
}
link_stats="gen0 tx_packets=$(stat "$GEN" gen0 tx_packets) tx_dropped=$(stat "$GEN" gen0 tx_dropped)"
link_stats+=", cap0 rx_packets=$(stat "$CAP" cap0 rx_packets) rx_dropped=$(stat "$CAP" cap0 rx_dropped)"

kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
final="$(grep -o 'final counts:.*' "$work/daemon.log" || true)"

echo "soak: tcpreplay: ${tcpreplay_line:-?}"
echo "soak: veth: $link_stats"
echo "soak: /metrics: frames=$frames queries=$queries capture_drops=$drops" \
    "process_resident_memory_bytes=$self_rss process_open_fds=$self_fds"
echo "soak: daemon exit status $status; $final"
echo "soak: RSS start ${first_rss} kB, after warm-up (${WARMUP} s) ${warm_rss} kB," \
    "max after warm-up ${max_rss} kB, end ${last_rss} kB (margin ${MARGIN_KB} kB)"
echo "soak: fds start ${first_fds}, after warm-up ${warm_fds}, end ${last_fds}"

fail=0
if ((max_rss > warm_rss + MARGIN_KB)); then
    echo "soak: FAIL: RSS grew by $((max_rss - warm_rss)) kB after warm-up" >&2
    fail=1
fi
if ((last_fds > warm_fds)); then
    echo "soak: FAIL: open fds grew from $warm_fds to $last_fds" >&2
    fail=1
fi
if ((status != 0)) || [[ -z "$final" ]]; then
    echo "soak: FAIL: the daemon did not stop cleanly on SIGTERM" >&2
    fail=1
fi
if [[ "${queries:-0}" == 0 ]]; then
    echo "soak: FAIL: no query counted" >&2
    fail=1
fi
((fail == 0)) && echo "soak: PASS: RSS and fds flat"
exit "$fail"

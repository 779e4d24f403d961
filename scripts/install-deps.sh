#!/usr/bin/env bash
# Installs what dnsobs needs to build and test and is missing, on Debian 12 (bookworm).
#
# Idempotent: it looks first and runs `apt-get update` / `apt-get install` only when something
# is missing, so a second run changes nothing. Runs as root; otherwise through sudo if there is
# one. Rust itself (cargo >= 1.88, with rustfmt and clippy) must come from rustup: Debian 12's
# own rustc is too old for this crate (edition 2024).
#
#   build:  libpcap-dev (the pcap crate links libpcap for live capture), pkg-config, gcc/make
#   tests:  tcpreplay, tcpdump (live-capture tests), prometheus (promtool and the server),
#           iproute2 (network namespaces, veth), python3, zstd, gzip (compressed fixtures),
#           procps (ps/pgrep), systemd (systemd-analyze, to verify systemd/dnsobs.service),
#           Java 17 and a Python venv with pinned duckdb and pyspark (the Parquet read-back test)
#           knot + knot-module-dnstap + knot-dnsutils (knotd writes dnstap, kdig queries it)
#           strace (the daemon writes only into its directories), faketime (libfaketime: the
#           daemon sees today's traffic as a finished day and writes its RSSAC002 files)
set -euo pipefail

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# Each entry: Debian package, then how to tell it is already there: `cmd:NAME` (a command on
# PATH, whoever installed it) or `pkg:NAME[|NAME]` (an installed Debian package).
DEPS=(
    "libpcap-dev      pkg:libpcap-dev|libpcap0.8-dev"
    "pkg-config       cmd:pkg-config"
    "build-essential  cmd:cc cmd:make"
    "tcpreplay        cmd:tcpreplay"
    "tcpdump          cmd:tcpdump"
    "prometheus       cmd:promtool cmd:prometheus"
    "iproute2         cmd:ip"
    "python3          cmd:python3"
    "zstd             cmd:zstd"
    "gzip             cmd:gzip"
    "procps           cmd:ps cmd:pgrep"
    "systemd          cmd:systemd-analyze"
    "chromium         cmd:chromium"
    "tmux             cmd:tmux"
    "curl             cmd:curl"
    "openjdk-17-jre-headless cmd:java"
    "knot             cmd:knotd"
    "knot-module-dnstap pkg:knot-module-dnstap"
    "knot-dnsutils    cmd:kdig"
    "strace           cmd:strace"
    "faketime         cmd:faketime pkg:libfaketime"
    "tshark           cmd:tshark"
)

# The sbin directories hold `ip`; a non-login root shell may not have them on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

pkg_installed() {
    local p
    for p in ${1//|/ }; do
        if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]]; then
            return 0
        fi
    done
    return 1
}

present() { # probes...
    local probe
    for probe in "$@"; do
        case "$probe" in
            cmd:*) command -v "${probe#cmd:}" >/dev/null 2>&1 || return 1 ;;
            pkg:*) pkg_installed "${probe#pkg:}" || return 1 ;;
        esac
    done
}

#------------ Debian packages ---------------------------------------------------

missing=()
for entry in "${DEPS[@]}"; do
    read -r pkg probes <<<"$entry"
    # shellcheck disable=SC2086 # probes are words on purpose
    present $probes || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    say "system packages: all present"
else
    say "system packages missing: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install these by hand: ${missing[*]}"
    SUDO=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run this script as root"
        SUDO=(sudo)
    fi
    log="$(mktemp -t dnsobs-install-deps.XXXXXX.log)"
    # Installing `prometheus` (or `knot`) would start a server on :9090 (or :53); the tests
    # start their own. Unless the machine already has a policy, forbid service starts during the install.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# dnsobs install-deps.sh: no service starts during its install\nexit 101\n' |
            "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        added_policy=1
    fi
    cleanup() {
        if ((added_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
    }
    trap cleanup EXIT
    apt_get() {
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -q -y -o DPkg::Lock::Timeout=600 "$@" >>"$log" 2>&1 || {
            tail -n 30 "$log" >&2
            die "apt-get $1 failed (full log: $log)"
        }
    }
    say "apt-get update"
    apt_get update
    say "apt-get install ${missing[*]}"
    apt_get install --no-install-recommends "${missing[@]}"
    cleanup
    trap - EXIT
    still=()
    for entry in "${DEPS[@]}"; do
        read -r pkg probes <<<"$entry"
        # shellcheck disable=SC2086
        present $probes || still+=("$pkg")
    done
    ((${#still[@]} == 0)) || die "still missing after install: ${still[*]} (log: $log)"
    rm -f "$log"
    say "system packages: installed ${missing[*]}"
fi

#------------ Rust toolchain ----------------------------------------------------

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust >= 1.88 with rustup, then run this script again"
say "rust: $(cargo --version)"

components=()
cargo fmt --version >/dev/null 2>&1 || components+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || components+=(clippy)
if ((${#components[@]} == 0)); then
    say "rust components: rustfmt and clippy present"
else
    command -v rustup >/dev/null 2>&1 || die "missing ${components[*]} and no rustup to add them"
    say "rustup component add ${components[*]}"
    rustup -q component add "${components[@]}" || die "rustup could not add ${components[*]}"
fi

#------------ Python packages for the Parquet read-back test --------------------

# tests/integration/parquet.rs reads the exported files with DuckDB and Spark (local mode) from
# this venv (or from $DNSOBS_PYTHON). Pinned, so every machine reads with the same engines.
# The interpreter: $DNSOBS_BASE_PYTHON, else pyenv's, else Debian's python3.
VENV="${DNSOBS_VENV:-/opt/dnsobs-venv}"
PY_PINS=(duckdb==1.4.4 pyspark==3.5.7 mmdb-writer==0.2.7 netaddr==1.3.0 maxminddb==3.2.0)
venv_ok() {
    "$VENV/bin/python3" - "${PY_PINS[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if all(version(n) == v for n, v in (p.split("==") for p in sys.argv[1:])) else 1)
PY
}
if venv_ok; then
    say "python: $VENV has ${PY_PINS[*]}"
else
    base="${DNSOBS_BASE_PYTHON:-}"
    if [[ -z "$base" ]]; then
        for cand in "$HOME/.pyenv/shims/python3" python3; do
            if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1; then
                base="$cand"
                break
            fi
        done
    fi
    if [[ -z "$base" ]]; then
        # Debian's python3 needs python3-venv for `-m venv` with pip.
        apt_log="$(mktemp -t dnsobs-install-deps.XXXXXX.log)"
        SUDO=()
        ((EUID == 0)) || SUDO=(sudo)
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends python3-venv >>"$apt_log" 2>&1 ||
            die "apt-get install python3-venv failed (log: $apt_log)"
        base=python3
    fi
    say "python: creating $VENV with $("$base" --version 2>&1) and installing ${PY_PINS[*]}"
    "$base" -m venv "$VENV" || die "cannot create the venv $VENV"
    "$VENV/bin/python3" -m pip install -q --disable-pip-version-check "${PY_PINS[@]}" ||
        die "pip install ${PY_PINS[*]} into $VENV failed"
    venv_ok || die "$VENV still lacks ${PY_PINS[*]}"
    say "python: installed ${PY_PINS[*]} into $VENV"
fi

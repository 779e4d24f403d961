#!/usr/bin/env bash
# The test command: everything `cargo test` covers, then a check of the systemd unit.
#
# CI=1 makes the tests that need root, tcpreplay, promtool or the Prometheus server fail when
# these are missing instead of skipping (scripts/install-deps.sh installs them). Run as root
# for the live-capture tests (network namespaces, veth pairs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export CI=1

# The mutation fuzzer runs 10^7 frames in CI (a few seconds); `DNSOBS_FUZZ_CASES=100000000
# cargo test --release fuzz` is the documented long run.
export DNSOBS_FUZZ_CASES="${DNSOBS_FUZZ_CASES:-10000000}"
echo "test: cargo test --release (fuzz cases: $DNSOBS_FUZZ_CASES)"
cargo test --release

# The short soak (issue 7): a minute of tcpreplay into the daemon over a veth pair; RSS and fds
# must stay flat (`scripts/soak.sh` without SOAK_SECONDS is the documented 10-minute run).
echo "test: SOAK_SECONDS=60 scripts/soak.sh"
SOAK_SECONDS=60 scripts/soak.sh

# systemd-analyze verify resolves ExecStart=, so check a copy that runs the binary just built
# instead of /usr/bin/dnsobs. It prints problems (unknown keys, bad values) as warnings and still
# exits 0: any output counts as a failure.
if command -v systemd-analyze >/dev/null 2>&1; then
    echo "test: systemd-analyze verify systemd/dnsobs.service"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    sed "s|^ExecStart=/usr/bin/dnsobs |ExecStart=$PWD/target/release/dnsobs |" \
        systemd/dnsobs.service >"$tmp/dnsobs.service"
    grep -q "^ExecStart=$PWD/target/release/dnsobs run " "$tmp/dnsobs.service" || {
        echo "test: systemd/dnsobs.service has no 'ExecStart=/usr/bin/dnsobs run ...' line" >&2
        exit 1
    }
    out="$(systemd-analyze verify "$tmp/dnsobs.service" 2>&1)" || {
        printf '%s\n' "$out" >&2
        echo "test: systemd-analyze verify failed" >&2
        exit 1
    }
    if [[ -n "$out" ]]; then
        printf '%s\n' "$out" >&2
        echo "test: systemd-analyze verify reported problems" >&2
        exit 1
    fi
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers --dry-run "$PWD/systemd/dnsobs.sysusers" >/dev/null 2>"$tmp/sysusers.err" || {
            cat "$tmp/sysusers.err" >&2
            echo "test: systemd/dnsobs.sysusers is invalid" >&2
            exit 1
        }
    fi
    echo "test: systemd unit ok"
else
    echo "test: systemd-analyze not found: systemd/dnsobs.service not verified"
fi

# The Debian package: scripts/test-deb.sh builds it once from the release binary above (cargo
# build is then a no-op), installs it with dpkg -i, runs /usr/bin/dnsobs --version and
# check-config on the installed config, checks the user and the man pages, and purges it.
echo "test: Debian package (scripts/test-deb.sh)"
deb_start=$SECONDS
scripts/test-deb.sh
echo "test: Debian package ok ($((SECONDS - deb_start)) s)"

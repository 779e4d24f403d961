#!/usr/bin/env bash
# Quick start: install what is missing, build dnsobs, and run the main job (a replay report)
# on a bundled capture. On a fresh Debian 12 machine, as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

echo "quickstart: cargo build --release"
cargo build --release

echo "quickstart: target/release/dnsobs replay pcaps/root-mix-v4v6.pcap"
echo
exec target/release/dnsobs replay pcaps/root-mix-v4v6.pcap

#!/usr/bin/env bash
# Builds the Debian package: target/debian/dnsobs_<version>-1_<arch>.deb (its path is the last
# line printed on stdout).
#
#   1. cargo build --release
#   2. target/release/dnsobs generate man|completions: dnsobs.1, one dnsobs-<subcommand>.1 each,
#      and bash/zsh/fish completions, from the clap definition, into target/assets/
#   3. cargo deb --no-build --strip ([package.metadata.deb] in Cargo.toml; maintainer scripts in
#      packaging/deb/)
#
# cargo-deb is installed with `cargo install cargo-deb --locked` when missing (a few minutes,
# once). Needs dpkg-shlibdeps (dpkg-dev) for the $auto dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

say() { printf 'build-deb: %s\n' "$*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
    say "cargo-deb missing: cargo install cargo-deb --locked (takes a few minutes, once)"
    cargo install cargo-deb --locked >&2
fi

say "cargo build --release"
cargo build --release >&2

say "man pages and completions into target/assets/"
rm -rf target/assets
target/release/dnsobs generate man target/assets/man >&2
target/release/dnsobs generate completions target/assets/completions >&2

# --strip: the release profile keeps line tables (debug = 1) for profiling; the package ships
# a stripped binary (about 4 MB instead of 21).
say "cargo deb --no-build --strip ($(cargo deb --version))"
cargo deb --no-build --strip

#!/usr/bin/env bash
# The Debian package end to end (run by scripts/test.sh after `cargo test --release`, so the
# release build is already there): builds the .deb once (scripts/build-deb.sh), installs it with
# dpkg -i, runs the installed /usr/bin/dnsobs (--version, check-config on the installed
# /etc/dnsobs/dnsobs.toml), checks the user, the conffile, the man page and the completions,
# then purges it and checks its files are gone. The other tests run target/release/dnsobs, not
# /usr/bin/dnsobs, so the package does not affect them.
#
# Needs root and dpkg. Without them it skips, unless CI=1 (then it fails). Refuses to run if a
# dnsobs package is already installed (it would replace and then purge it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { printf 'test-deb: %s\n' "$*"; }
fail() { printf 'test-deb: FAILED: %s\n' "$*" >&2; exit 1; }
skip() {
    [[ "${CI:-}" == 1 ]] && fail "$* (CI=1: not skipping)"
    say "skipped: $*"
    exit 0
}

((EUID == 0)) || skip "not root (dpkg -i needs it)"
command -v dpkg >/dev/null 2>&1 || skip "no dpkg"
if [[ "$(dpkg-query -W -f='${Status}' dnsobs 2>/dev/null)" != "" &&
    "$(dpkg-query -W -f='${Status}' dnsobs 2>/dev/null)" != "unknown ok not-installed" ]]; then
    fail "a dnsobs package is already on this machine ($(dpkg-query -W -f='${Version} ${Status}' dnsobs)): not replacing it (dpkg --purge dnsobs first if a test run was killed)"
fi

deb="$(scripts/build-deb.sh | tail -n 1)"
[[ -f "$deb" ]] || fail "scripts/build-deb.sh printed no package path (got '$deb')"
say "package: $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"
dpkg-deb --field "$deb" Depends | grep -E 'libpcap0\.8(t64)? ' >/dev/null || fail "Depends names no libpcap"

tmp="$(mktemp -d)"
installed=0
cleanup() {
    if ((installed)); then dpkg --purge dnsobs >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

say "dpkg -i"
dpkg -i "$deb"
installed=1

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
out="$(/usr/bin/dnsobs --version)"
say "/usr/bin/dnsobs --version: $out"
[[ "$out" == "dnsobs $version" ]] || fail "expected 'dnsobs $version'"

out="$(/usr/bin/dnsobs check-config /etc/dnsobs/dnsobs.toml)" || fail "check-config: $out"
say "check-config: $out"
cmp -s config/dnsobs.toml /etc/dnsobs/dnsobs.toml || fail "/etc/dnsobs/dnsobs.toml differs from config/dnsobs.toml"
dpkg-query -W -f='${Conffiles}\n' dnsobs | grep '^ /etc/dnsobs/dnsobs.toml ' >/dev/null ||
    fail "/etc/dnsobs/dnsobs.toml is not a conffile"

pw="$(getent passwd dnsobs)" || fail "no user dnsobs"
say "user: $pw"
getent group dnsobs >/dev/null || fail "no group dnsobs"
[[ "$(cut -d: -f7 <<<"$pw")" == */nologin ]] || fail "dnsobs has a login shell"

# Neither enabled nor started (see packaging/deb/postinst).
if [[ -e /etc/systemd/system/multi-user.target.wants/dnsobs.service ]]; then
    fail "dnsobs.service was enabled on install"
fi
pgrep -x -f '/usr/bin/dnsobs run .*' >/dev/null && fail "the daemon was started on install"

# Man pages: a Docker image's dpkg may exclude /usr/share/man (path-exclude); then read them
# from the package itself.
mandir=/usr/share/man/man1
if [[ ! -e "$mandir/dnsobs.1.gz" ]] && grep -qs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    say "dpkg excludes /usr/share/man here: checking the man pages inside the package"
    dpkg-deb -x "$deb" "$tmp/x"
    mandir="$tmp/x/usr/share/man/man1"
fi
for page in dnsobs dnsobs-replay dnsobs-run dnsobs-rssac002 dnsobs-check-config; do
    f="$mandir/$page.1.gz"
    [[ -f "$f" ]] || fail "no man page $f"
    zcat "$f" | grep "^\.TH $page 1 " >/dev/null || fail "$f: no '.TH $page 1' header"
done
zcat "$mandir/dnsobs.1.gz" | grep 'generate' >/dev/null && fail "the hidden generate subcommand is in dnsobs.1"
if command -v man >/dev/null 2>&1; then
    text="$(MANWIDTH=80 man -P cat -l "$mandir/dnsobs.1.gz" 2>/dev/null)" || fail "man -l $mandir/dnsobs.1.gz failed"
    grep -q 'check-config' <<<"$text" || fail "man -l dnsobs.1.gz: no check-config in the text"
    say "man -l dnsobs.1.gz: $(grep -c . <<<"$text") lines"
else
    say "no man command: checked the man pages with zcat only"
fi

for f in /usr/share/bash-completion/completions/dnsobs /usr/share/zsh/vendor-completions/_dnsobs \
    /usr/share/fish/vendor_completions.d/dnsobs.fish /lib/systemd/system/dnsobs.service \
    /usr/lib/sysusers.d/dnsobs.conf; do
    [[ -s "$f" ]] || fail "missing $f"
done
bash -n /usr/share/bash-completion/completions/dnsobs || fail "bash completion: syntax error"
# The README's links into docs/ resolve in the package (read from the .deb: dpkg may be told to
# leave /usr/share/doc out).
contents="$(dpkg-deb -c "$deb")"
for d in README.md docs/metrics.md docs/architecture.md; do
    grep -q "/usr/share/doc/dnsobs/$d\$" <<<"$contents" || fail "the package has no /usr/share/doc/dnsobs/$d"
done

files="$(dpkg-query -L dnsobs | grep -v '^/\.$')"
say "dpkg --purge dnsobs"
dpkg --purge dnsobs
installed=0
[[ "$(dpkg-query -W -f='${Status}' dnsobs 2>/dev/null || true)" =~ ^(|unknown ok not-installed)$ ]] ||
    fail "still known to dpkg after purge: $(dpkg-query -W -f='${Status}' dnsobs)"
left=()
while IFS= read -r f; do
    # Directories shared with other packages (/usr/bin, /usr/share/man/man1...) stay.
    if [[ -e "$f" && ! -d "$f" ]]; then left+=("$f"); fi
done <<<"$files"
[[ -e /etc/dnsobs ]] && left+=(/etc/dnsobs)
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
say "ok: installed, ran, purged ($(wc -l <<<"$files") paths gone)"

//! Privacy of the exports that name a source address (the per-query Parquet table's
//! `source_prefix`, the top-k source prefixes of every report format and of Prometheus): how
//! many leading bits of an address are kept, and whether what is kept is pseudonymised with a
//! key, with the ipcrypt modes of the ipcrypt specification (`ipcrypt-deterministic` and
//! `ipcrypt-pfx`, implemented by the `ipcrypt-rs` crate and checked here against the
//! specification's test vectors).
//!
//! Applied when an export is rendered, never on the hot path. A leaf module: it imports
//! nothing from the rest of dnsobs, so every stage may use it. What each export reveals under
//! each setting is in `docs/privacy.md`.
//!
//! One address `a` of version `v` (IPv4 or IPv6) with the prefix length `n` of its version:
//!
//! * [`Mode::Truncate`] (the default, /24 and /48): `a` masked to `n` bits, as a prefix
//!   ("192.0.2.0/24", "2001:db8:1::/48").
//! * [`Mode::Ipcrypt`]: `a` masked to `n` bits, then encrypted with ipcrypt-deterministic
//!   (AES-128 of the 16-byte address, IPv4 as IPv4-mapped IPv6), rendered as the
//!   specification renders a result: an IPv4 address if it is IPv4-mapped, else an IPv6
//!   address, with no length. /32 and /128 encrypt the whole address; a shorter length
//!   makes one pseudonym per prefix.
//! * [`Mode::IpcryptPfx`]: `a` encrypted with ipcrypt-pfx (prefix-preserving: two addresses
//!   sharing their first `k` bits have encryptions sharing their first `k` bits, and the
//!   encryption's first `k` bits depend only on the address's first `k` bits), then masked to
//!   `n` bits, as a prefix ("151.82.155.0/24"). Masking before encrypting gives the same
//!   result, which is why a top-k table of `n`-bit prefixes can be encrypted as well as the
//!   per-query rows.

mod key;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipcrypt_rs::{Ipcrypt, IpcryptPfx};

pub use key::{KEY_FORBIDDEN_MODE, exposed_mode, read_key};

/// Default IPv4 prefix length kept.
pub const DEFAULT_V4_PREFIX: u8 = 24;
/// Default IPv6 prefix length kept (a site, RFC 6177).
pub const DEFAULT_V6_PREFIX: u8 = 48;
/// IPv4 prefix lengths accepted.
pub const V4_PREFIXES: std::ops::RangeInclusive<u8> = 8..=32;
/// IPv6 prefix lengths accepted.
pub const V6_PREFIXES: std::ops::RangeInclusive<u8> = 16..=128;

/// How addresses are rendered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The prefix in clear.
    #[default]
    Truncate,
    /// The prefix encrypted with ipcrypt-deterministic (16-byte key).
    Ipcrypt,
    /// The address encrypted with ipcrypt-pfx (32-byte key), then truncated.
    IpcryptPfx,
}

impl Mode {
    /// The mode's name in the configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Truncate => "truncate",
            Mode::Ipcrypt => "ipcrypt",
            Mode::IpcryptPfx => "ipcrypt-pfx",
        }
    }

    /// Bytes of key the mode needs (0: none).
    pub fn key_bytes(self) -> usize {
        match self {
            Mode::Truncate => 0,
            Mode::Ipcrypt => Ipcrypt::KEY_BYTES,
            Mode::IpcryptPfx => IpcryptPfx::KEY_BYTES,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why privacy settings or a key were refused.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A prefix length out of range.
    #[error("{key} = {value}: must be from {min} to {max}")]
    Length {
        /// The setting (configuration key or flag).
        key: &'static str,
        /// The value given.
        value: u8,
        /// Shortest accepted.
        min: u8,
        /// Longest accepted.
        max: u8,
    },
    /// An ipcrypt mode without a key file.
    #[error("mode {mode} needs a key file ({key})")]
    NoKey {
        /// The mode.
        mode: Mode,
        /// The key-file setting.
        key: &'static str,
    },
    /// A key file with mode truncate, which uses none (refused rather than ignored, so that
    /// nobody believes the output encrypted).
    #[error("{key} is set but mode truncate uses no key: set the mode to ipcrypt or ipcrypt-pfx")]
    UnusedKey {
        /// The key-file setting.
        key: &'static str,
    },
    /// The key file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Group or others may access the key file.
    #[error(
        "{}: the privacy key is accessible to group or others (mode {mode:o}): chmod 600 it",
        path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a key of the mode's size.
    #[error(
        "{}: mode {mode} needs a key of exactly {want} bytes, or {} hex digits and an optional newline; the file has {len} bytes",
        path.display(), want * 2
    )]
    KeyLength {
        /// The key file.
        path: PathBuf,
        /// The mode.
        mode: Mode,
        /// Bytes needed.
        want: usize,
        /// Bytes in the file.
        len: usize,
    },
    /// An ipcrypt-pfx key whose two 16-byte halves are equal (the specification forbids it).
    #[error("{}: the two 16-byte halves of an ipcrypt-pfx key must differ", path.display())]
    PfxHalves {
        /// The key file.
        path: PathBuf,
    },
}

/// Privacy settings as configured (lengths not yet checked, key not yet read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How addresses are rendered.
    pub mode: Mode,
    /// IPv4 prefix length kept (8..=32).
    pub ipv4_prefix: u8,
    /// IPv6 prefix length kept (16..=128).
    pub ipv6_prefix: u8,
    /// The key file (ipcrypt modes only).
    pub key_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Truncate,
            ipv4_prefix: DEFAULT_V4_PREFIX,
            ipv6_prefix: DEFAULT_V6_PREFIX,
            key_file: None,
        }
    }
}

/// The names of the settings, for error messages (configuration keys or flags).
#[derive(Clone, Copy, Debug)]
pub struct Names {
    /// The IPv4 length's name.
    pub ipv4_prefix: &'static str,
    /// The IPv6 length's name.
    pub ipv6_prefix: &'static str,
    /// The key file's name.
    pub key_file: &'static str,
}

/// The configuration's names.
pub const CONFIG_NAMES: Names = Names {
    ipv4_prefix: "privacy.ipv4_prefix",
    ipv6_prefix: "privacy.ipv6_prefix",
    key_file: "privacy.key_file",
};

impl Settings {
    /// Checks the lengths and whether a key file is given exactly when the mode needs one
    /// (the file is not read).
    pub fn check(&self, names: &Names) -> Result<(), PrivacyError> {
        check_length(names.ipv4_prefix, self.ipv4_prefix, V4_PREFIXES)?;
        check_length(names.ipv6_prefix, self.ipv6_prefix, V6_PREFIXES)?;
        match (self.mode, &self.key_file) {
            (Mode::Truncate, Some(_)) => Err(PrivacyError::UnusedKey {
                key: names.key_file,
            }),
            (Mode::Ipcrypt | Mode::IpcryptPfx, None) => Err(PrivacyError::NoKey {
                mode: self.mode,
                key: names.key_file,
            }),
            _ => Ok(()),
        }
    }
}

fn check_length(
    key: &'static str,
    value: u8,
    r: std::ops::RangeInclusive<u8>,
) -> Result<(), PrivacyError> {
    if r.contains(&value) {
        Ok(())
    } else {
        Err(PrivacyError::Length {
            key,
            value,
            min: *r.start(),
            max: *r.end(),
        })
    }
}

// One per process, behind an `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Cipher {
    Deterministic(Ipcrypt),
    Pfx(IpcryptPfx),
}

/// Privacy settings ready to use: lengths checked, key read. Cheap to clone.
#[derive(Clone)]
pub struct Privacy {
    v4: u8,
    v6: u8,
    cipher: Option<Arc<Cipher>>,
}

impl fmt::Debug for Privacy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        write!(f, "Privacy({})", self.describe())
    }
}

impl Default for Privacy {
    /// Truncation to /24 and /48.
    fn default() -> Self {
        Self {
            v4: DEFAULT_V4_PREFIX,
            v6: DEFAULT_V6_PREFIX,
            cipher: None,
        }
    }
}

impl Privacy {
    /// Checks `s` (see [`Settings::check`]) and reads its key file.
    pub fn load(s: &Settings, names: &Names) -> Result<Self, PrivacyError> {
        s.check(names)?;
        let key = match &s.key_file {
            Some(path) => read_key(path, s.mode)?,
            None => Vec::new(),
        };
        let path = s.key_file.as_deref().unwrap_or(Path::new(""));
        Self::with_key(s.mode, s.ipv4_prefix, s.ipv6_prefix, &key, path)
    }

    /// Privacy from a key already in memory (`key` of [`Mode::key_bytes`] bytes; `path`
    /// names it in errors). Lengths are checked under the configuration's names.
    pub fn with_key(
        mode: Mode,
        v4: u8,
        v6: u8,
        key: &[u8],
        path: &Path,
    ) -> Result<Self, PrivacyError> {
        check_length(CONFIG_NAMES.ipv4_prefix, v4, V4_PREFIXES)?;
        check_length(CONFIG_NAMES.ipv6_prefix, v6, V6_PREFIXES)?;
        let wrong = || PrivacyError::KeyLength {
            path: path.to_owned(),
            mode,
            want: mode.key_bytes(),
            len: key.len(),
        };
        let cipher = match mode {
            Mode::Truncate => None,
            Mode::Ipcrypt => {
                let k: [u8; Ipcrypt::KEY_BYTES] = key.try_into().map_err(|_| wrong())?;
                Some(Cipher::Deterministic(Ipcrypt::new(k)))
            }
            Mode::IpcryptPfx => {
                let k: [u8; IpcryptPfx::KEY_BYTES] = key.try_into().map_err(|_| wrong())?;
                if k[..16] == k[16..] {
                    // IpcryptPfx::new would panic.
                    return Err(PrivacyError::PfxHalves {
                        path: path.to_owned(),
                    });
                }
                Some(Cipher::Pfx(IpcryptPfx::new(k)))
            }
        };
        Ok(Self {
            v4,
            v6,
            cipher: cipher.map(Arc::new),
        })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        match self.cipher.as_deref() {
            None => Mode::Truncate,
            Some(Cipher::Deterministic(_)) => Mode::Ipcrypt,
            Some(Cipher::Pfx(_)) => Mode::IpcryptPfx,
        }
    }

    /// IPv4 prefix length kept.
    pub fn v4_prefix(&self) -> u8 {
        self.v4
    }

    /// IPv6 prefix length kept.
    pub fn v6_prefix(&self) -> u8 {
        self.v6
    }

    /// The settings in words, for file metadata: "IPv4 /24, IPv6 /48" for truncation, with
    /// ", ipcrypt" or ", ipcrypt-pfx" after it otherwise.
    pub fn describe(&self) -> String {
        let mut s = format!("IPv4 /{}, IPv6 /{}", self.v4, self.v6);
        if self.mode() != Mode::Truncate {
            s.push_str(", ");
            s.push_str(self.mode().name());
        }
        s
    }

    /// Renders a source address (`version` 4: the first four bytes of `addr`) truncated to
    /// this privacy's length for its version (see the module documentation).
    pub fn render(&self, version: u8, addr: &[u8; 16]) -> String {
        let len = if version == 6 { self.v6 } else { self.v4 };
        self.render_prefix(version, addr, len)
    }

    /// Renders `addr` truncated to `len` bits (clamped to the version's width), in this
    /// privacy's mode. Used for keys already truncated (the top-k source prefixes).
    pub fn render_prefix(&self, version: u8, addr: &[u8; 16], len: u8) -> String {
        let (ip, len) = masked(version, addr, len);
        match self.cipher.as_deref() {
            None => format!("{ip}/{len}"),
            Some(Cipher::Deterministic(c)) => c.encrypt_ipaddr(ip).to_string(),
            Some(Cipher::Pfx(c)) => {
                let e = c.encrypt_ipaddr(ip);
                let (e, len) = match e {
                    IpAddr::V4(a) => masked(4, &v4_bytes(a), len),
                    IpAddr::V6(a) => masked(6, &a.octets(), len),
                };
                format!("{e}/{len}")
            }
        }
    }

    /// Renders a top-k source key (`[version, length, address bytes…]`, as made by
    /// `aggregate::topk::prefix_key`), with the length the key carries.
    pub fn render_key(&self, key: &[u8]) -> String {
        let (Some(&v), Some(&len)) = (key.first(), key.get(1)) else {
            return String::from("?");
        };
        let mut a = [0u8; 16];
        let bytes = &key[2.min(key.len())..];
        let n = bytes.len().min(16);
        a[..n].copy_from_slice(&bytes[..n]);
        self.render_prefix(v, &a, len)
    }
}

fn v4_bytes(a: Ipv4Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a.octets());
    b
}

/// `addr` masked to `len` bits (clamped to 32 or 128), as an address, and the length used.
fn masked(version: u8, addr: &[u8; 16], len: u8) -> (IpAddr, u8) {
    let width = if version == 6 { 128 } else { 32 };
    let len = len.min(width);
    let mut a = *addr;
    for (i, b) in a.iter_mut().enumerate() {
        let start = (i * 8) as u32;
        let keep = u32::from(len).saturating_sub(start).min(8);
        *b &= if keep == 0 { 0 } else { 0xFFu8 << (8 - keep) };
    }
    let ip = if version == 6 {
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    };
    (ip, len)
}

//============ Testing =======================================================
#[cfg(test)]
mod test {
    use super::*;

    pub(super) fn key(hex_text: &str) -> Vec<u8> {
        key::unhex(hex_text.as_bytes())
    }

    fn ip(s: &str) -> (u8, [u8; 16]) {
        match s.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => (4, v4_bytes(a)),
            IpAddr::V6(a) => (6, a.octets()),
        }
    }

    fn with(mode: Mode, v4: u8, v6: u8, k: &str) -> Privacy {
        Privacy::with_key(mode, v4, v6, &key(k), Path::new("test")).unwrap()
    }

    /// ipcrypt-deterministic's test vectors (the specification's, section "Test vectors"),
    /// through [`Privacy::render`] with whole addresses.
    #[test]
    fn deterministic_vectors() {
        for (k, input, out) in [
            (
                "0123456789abcdeffedcba9876543210",
                "0.0.0.0",
                "bde9:6789:d353:824c:d7c6:f58a:6bd2:26eb",
            ),
            (
                "1032547698badcfeefcdab8967452301",
                "255.255.255.255",
                "aed2:92f6:ea23:58c3:48fd:8b8:74e8:45d8",
            ),
            (
                "2b7e151628aed2a6abf7158809cf4f3c",
                "192.0.2.1",
                "1dbd:c1b9:fff1:7586:7d0b:67b4:e76e:4777",
            ),
        ] {
            let p = with(Mode::Ipcrypt, 32, 128, k);
            let (v, a) = ip(input);
            assert_eq!(p.render(v, &a), out, "{input}");
        }
    }

    /// ipcrypt-pfx's test vectors, through [`Privacy::render`]: whole addresses, then the
    /// prefix-preserving vectors at the lengths they share.
    #[test]
    fn pfx_vectors() {
        let k = "0123456789abcdeffedcba98765432101032547698badcfeefcdab8967452301";
        let p = with(Mode::IpcryptPfx, 32, 128, k);
        for (input, out) in [
            ("0.0.0.0", "151.82.155.134/32"),
            ("255.255.255.255", "94.185.169.89/32"),
            ("192.0.2.1", "100.115.72.131/32"),
            ("2001:db8::1", "c180:5dd4:2587:3524:30ab:fa65:6ab6:f88/128"),
        ] {
            let (v, a) = ip(input);
            assert_eq!(p.render(v, &a), out, "{input}");
        }
        // docs/privacy.md's example: 192.0.2.77 shares 192.0.2.1's /24, so its encryption
        // shares 100.115.72.131's.
        let p24 = with(Mode::IpcryptPfx, 24, 48, k);
        assert_eq!(p24.render(4, &ip("192.0.2.77").1), "100.115.72.0/24");
        let k = "2b7e151628aed2a6abf7158809cf4f3ca9f5ba40db214c3798f2e1c23456789a";
        let whole = with(Mode::IpcryptPfx, 32, 128, k);
        for (input, out, v4, v6, prefix) in [
            ("10.0.0.47", "19.214.210.244/32", 24, 48, "19.214.210.0/24"),
            ("10.0.0.129", "19.214.210.80/32", 24, 48, "19.214.210.0/24"),
            ("10.0.0.234", "19.214.210.30/32", 24, 48, "19.214.210.0/24"),
            ("172.16.5.193", "210.78.229.136/32", 16, 48, "210.78.0.0/16"),
            ("172.16.97.42", "210.78.179.241/32", 16, 48, "210.78.0.0/16"),
            (
                "172.16.248.177",
                "210.78.121.215/32",
                16,
                48,
                "210.78.0.0/16",
            ),
            (
                "2001:db8::a5c9:4e2f:bb91:5a7d",
                "7cec:702c:1243:f70:1956:125:b9bd:1aba/128",
                24,
                64,
                "7cec:702c:1243:f70::/64",
            ),
            (
                "2001:db8::7234:d8f1:3c6e:9a52",
                "7cec:702c:1243:f70:a3ef:c8e:95c1:cd0d/128",
                24,
                64,
                "7cec:702c:1243:f70::/64",
            ),
            (
                "2001:db8::f1e0:937b:26d4:8c1a",
                "7cec:702c:1243:f70:443c:c8e:6a62:b64d/128",
                24,
                64,
                "7cec:702c:1243:f70::/64",
            ),
            (
                "2001:db8:3a5c::e7d1:4b9f:2c8a:f673",
                "7cec:702c:3503:bef:e616:96bd:be33:a9b9/128",
                24,
                32,
                "7cec:702c::/32",
            ),
            (
                "2001:db8:9f27::b4e2:7a3d:5f91:c8e6",
                "7cec:702c:a504:b74e:194a:3d90:b047:2d1a/128",
                24,
                32,
                "7cec:702c::/32",
            ),
            (
                "2001:db8:d8b4::193c:a5e7:8b2f:46d1",
                "7cec:702c:f840:aa67:1b8:e84f:ac9d:77fb/128",
                24,
                32,
                "7cec:702c::/32",
            ),
        ] {
            let (v, a) = ip(input);
            assert_eq!(whole.render(v, &a), out, "{input}");
            let p = with(Mode::IpcryptPfx, v4, v6, k);
            assert_eq!(p.render(v, &a), prefix, "{input}");
            // Masking first gives the same prefix (what the top-k tables rely on).
            let len = if v == 6 { v6 } else { v4 };
            let (m, _) = masked(v, &a, len);
            let (_, m) = ip(&m.to_string());
            assert_eq!(p.render(v, &m), prefix, "{input} masked");
        }
    }

    #[test]
    fn truncation_matches_the_topk_rendering() {
        use crate::aggregate::topk::prefix_key;
        let p = Privacy::default();
        assert_eq!(p.describe(), "IPv4 /24, IPv6 /48");
        for (s, want) in [
            ("192.0.2.77", "192.0.2.0/24"),
            ("198.51.100.255", "198.51.100.0/24"),
            ("2001:db8:aabb:ccdd::1", "2001:db8:aabb::/48"),
            ("::1", "::/48"),
        ] {
            let (v, a) = ip(s);
            let (k, n) = prefix_key(v, &a, 24, 48);
            assert_eq!(p.render(v, &a), want, "{s}");
            assert_eq!(p.render_key(&k[..n]), want, "{s}");
        }
        let p = with(Mode::Truncate, 8, 127, "");
        assert_eq!(p.render(4, &ip("192.0.2.77").1), "192.0.0.0/8");
        assert_eq!(p.render(6, &ip("2001:db8::ffff").1), "2001:db8::fffe/127");
        assert_eq!(p.describe(), "IPv4 /8, IPv6 /127");
    }

    #[test]
    fn deterministic_prefixes_share_a_pseudonym() {
        let p = with(Mode::Ipcrypt, 24, 48, "0123456789abcdeffedcba9876543210");
        assert_eq!(p.describe(), "IPv4 /24, IPv6 /48, ipcrypt");
        let (v, a) = ip("192.0.2.77");
        let (_, b) = ip("192.0.2.200");
        let (_, c) = ip("192.0.3.1");
        let (_, net) = ip("192.0.2.0");
        let whole = with(Mode::Ipcrypt, 32, 128, "0123456789abcdeffedcba9876543210");
        assert_eq!(p.render(v, &a), p.render(v, &b));
        assert_eq!(p.render(v, &a), whole.render(v, &net));
        assert_ne!(p.render(v, &a), p.render(v, &c));
        assert_ne!(whole.render(v, &a), whole.render(v, &b));
    }

    #[test]
    fn settings_are_checked_with_their_names() {
        let names = CONFIG_NAMES;
        let bad = |s: Settings| s.check(&names).unwrap_err().to_string();
        let d = Settings::default();
        assert!(d.check(&names).is_ok());
        for (v4, v6, msg) in [
            (7, 48, "privacy.ipv4_prefix = 7: must be from 8 to 32"),
            (33, 48, "privacy.ipv4_prefix = 33: must be from 8 to 32"),
            (24, 15, "privacy.ipv6_prefix = 15: must be from 16 to 128"),
            (24, 129, "privacy.ipv6_prefix = 129: must be from 16 to 128"),
        ] {
            let s = Settings {
                ipv4_prefix: v4,
                ipv6_prefix: v6,
                ..d.clone()
            };
            assert_eq!(bad(s), msg);
        }
        let s = Settings {
            mode: Mode::Ipcrypt,
            ..d.clone()
        };
        assert_eq!(bad(s), "mode ipcrypt needs a key file (privacy.key_file)");
        let s = Settings {
            key_file: Some("k".into()),
            ..d
        };
        assert!(bad(s).starts_with("privacy.key_file is set but mode truncate"));
    }
}

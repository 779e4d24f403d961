//! The fleet key: a secret shared by every instance of a fleet, read from a file, from which
//! the hash seed and the pseudonymisation of sources in state files derive.
//!
//! Why a shared key: distinct sources add up across instances only as a union, and a union of
//! sets can be counted exactly only if every instance names a source the same way. A keyed
//! pseudonym does that without an address ever leaving an instance: IPv4 addresses, IPv6
//! fingerprints and IPv6 /64 prefixes are written through a keyed permutation (a Feistel
//! network whose rounds are SipHash-2-4 under the key: a bijection, so no two sources share a
//! pseudonym and the union's size is exact), and the per-process hash seed (HyperLogLogs, the
//! IPv6 fingerprints) is derived from the key, so the sketches of several instances merge into
//! exactly the sketch of the whole.

use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};

use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};

/// Fewest bytes of key material accepted (128 bits).
pub const MIN_KEY_BYTES: usize = 16;
/// Most bytes read from a key file.
const MAX_KEY_BYTES: u64 = 4096;
/// Feistel rounds: four make a pseudo-random permutation of a pseudo-random round function
/// (Luby–Rackoff); two more for the 16-bit halves of an IPv4 address.
const ROUNDS: u64 = 6;

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The error (in the message, not chained, so that it is printed once).
        error: std::io::Error,
    },
    /// Others may read or write the file.
    #[error(
        "{}: the fleet key is accessible to others (mode {mode:o}): chmod o-rwx it",
        path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Too little key material.
    #[error(
        "{}: the fleet key has {len} byte(s), fewer than {MIN_KEY_BYTES} (make one with `head -c 32 /dev/urandom > FILE`)",
        path.display()
    )]
    Short {
        /// The key file.
        path: PathBuf,
        /// Bytes found (trailing white space ignored).
        len: usize,
    },
}

/// A fleet key, ready to use.
#[derive(Clone)]
pub struct FleetKey {
    k: (u64, u64),
    /// Names the key in state files without revealing it: states written under another key
    /// are refused when merged.
    pub id: u64,
    /// The hash seed every instance of the fleet uses.
    pub seed: u64,
}

impl std::fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FleetKey {{ id: {:016x} }}", self.id)
    }
}

impl FleetKey {
    /// Reads a key file: refused if others may read or write it, or if it holds fewer than
    /// 16 bytes (a trailing newline or space is not key material).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |error| KeyError::Io {
            path: path.to_owned(),
            error,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        if let Some(mode) = crate::privacy::exposed_mode(&f, 0o007).map_err(io)? {
            return Err(KeyError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = Vec::new();
        f.take(MAX_KEY_BYTES).read_to_end(&mut bytes).map_err(io)?;
        let len = bytes.trim_ascii_end().len();
        if len < MIN_KEY_BYTES {
            return Err(KeyError::Short {
                path: path.to_owned(),
                len,
            });
        }
        Ok(Self::from_bytes(&bytes[..len]))
    }

    /// The key made from `material` (any length; [`FleetKey::load`] asks for 16 bytes).
    pub fn from_bytes(material: &[u8]) -> Self {
        let mut h = SipHasher128::new_with_keys(0x646e_736f_6273_2d6b, 0x6579_2d76_3100_0000);
        h.write(material);
        let k = h.finish128();
        let mut key = Self {
            k: (k.h1, k.h2),
            id: 0,
            seed: 0,
        };
        key.id = key.prf(u64::MAX, 0x6964);
        key.seed = key.prf(u64::MAX - 1, 0x7365_6564);
        key
    }

    /// SipHash-2-4 of `(domain, x)` under the key.
    fn prf(&self, domain: u64, x: u64) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k.0, self.k.1);
        h.write_u64(domain);
        h.write_u64(x);
        h.finish()
    }

    /// The pseudonym of a `bits`-bit value (a bijection of the `bits`-bit values; `bits` is
    /// even, at most 64). `domain` separates the kinds of values.
    fn permute(&self, domain: u64, bits: u32, x: u64) -> u64 {
        let half = bits / 2;
        let mask = if half == 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << half) - 1
        };
        let (mut l, mut r) = ((x >> half) & mask, x & mask);
        for round in 0..ROUNDS {
            let f = self.prf(domain << 8 | round, r) & mask;
            (l, r) = (r, l ^ f);
        }
        l << half | r
    }

    /// The pseudonym of an IPv4 address.
    pub fn ipv4(&self, a: u32) -> u32 {
        // The permutation of 32-bit values yields a 32-bit value.
        self.permute(4, 32, u64::from(a)) as u32
    }

    /// The pseudonym of an IPv6 fingerprint.
    pub fn ipv6(&self, fp: u64) -> u64 {
        self.permute(6, 64, fp)
    }

    /// The pseudonym of an IPv6 /64 prefix.
    pub fn ipv6_64(&self, p: u64) -> u64 {
        self.permute(64, 64, p)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn permutations_are_bijections_and_keyed() {
        let a = FleetKey::from_bytes(b"0123456789abcdef");
        let b = FleetKey::from_bytes(b"0123456789abcdeF");
        assert_ne!(a.id, b.id);
        assert_ne!(a.seed, b.seed);
        // Every 16-bit input of a 16-bit permutation has a distinct image: a bijection.
        let mut seen = vec![false; 1 << 16];
        for x in 0..1u64 << 16 {
            let y = a.permute(9, 16, x) as usize;
            assert!(!seen[y], "{x} collides");
            seen[y] = true;
        }
        let mut same = 0;
        for x in 0..10_000u32 {
            let (pa, pb) = (a.ipv4(x), b.ipv4(x));
            same += u32::from(pa == pb);
            assert_ne!(a.ipv6(u64::from(x)), a.ipv6_64(u64::from(x)));
        }
        assert!(same < 3, "{same} pseudonyms equal under two keys");
        assert_eq!(
            a.ipv4(0xC000_0201),
            FleetKey::from_bytes(b"0123456789abcdef").ipv4(0xC000_0201)
        );
    }

    #[test]
    fn key_files_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dnsobs-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("key");
        std::fs::write(&p, b"0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FleetKey::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("accessible to others") && e.contains("644"),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let k = FleetKey::load(&p).unwrap();
        assert_eq!(k.id, FleetKey::from_bytes(b"0123456789abcdef").id);
        std::fs::write(&p, b"short key\n").unwrap();
        let e = FleetKey::load(&p).unwrap_err().to_string();
        assert!(e.contains("9 byte(s)"), "{e}");
        let e = FleetKey::load(&dir.join("none")).unwrap_err().to_string();
        assert!(e.contains("none"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Key files: read once at start, refused when others may access them.

use std::io::Read;
use std::path::Path;

use super::{Mode, PrivacyError};

/// Permission bits a key file must not have: group and others get nothing.
pub const KEY_FORBIDDEN_MODE: u32 = 0o077;

/// The permission bits of an open file if it has any of `forbidden` (None: it has none, or
/// the platform has no Unix permissions). Shared by every key file dnsobs reads.
pub fn exposed_mode(f: &std::fs::File, forbidden: u32) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata()?.permissions().mode() & 0o777;
        if mode & forbidden != 0 {
            return Ok(Some(mode));
        }
    }
    #[cfg(not(unix))]
    let _ = (f, forbidden);
    Ok(None)
}

/// Reads a key file for `mode`: refused if group or others may access it. A file of exactly
/// [`Mode::key_bytes`] bytes is the key itself; a file of twice as many hex digits (either
/// case), optionally followed by white space such as a newline, is the key in hex.
pub fn read_key(path: &Path, mode: Mode) -> Result<Vec<u8>, PrivacyError> {
    let io = |error| PrivacyError::Io {
        path: path.to_owned(),
        error,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if let Some(m) = exposed_mode(&f, KEY_FORBIDDEN_MODE).map_err(io)? {
        return Err(PrivacyError::Exposed {
            path: path.to_owned(),
            mode: m,
        });
    }
    let mut bytes = Vec::new();
    f.take(4096).read_to_end(&mut bytes).map_err(io)?;
    let want = mode.key_bytes();
    let text = bytes.trim_ascii_end();
    if text.len() == 2 * want && text.iter().all(u8::is_ascii_hexdigit) {
        return Ok(unhex(text));
    }
    // A file of hex digits only is text, never a raw key: the 32 hex digits of a 16-byte key
    // given for ipcrypt-pfx must not pass as 32 raw bytes (a random raw key is all hex digits
    // with probability (22/256)^32).
    if bytes.len() == want && !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Ok(bytes);
    }
    Err(PrivacyError::KeyLength {
        path: path.to_owned(),
        mode,
        want,
        len: bytes.len(),
    })
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// The bytes of hex digits (pairs; checked by the caller).
pub(super) fn unhex(text: &[u8]) -> Vec<u8> {
    text.chunks(2)
        .map(|p| (hex(p[0]) << 4) | hex(p.get(1).copied().unwrap_or(b'0')))
        .collect()
}

//============ Testing =======================================================
#[cfg(test)]
mod test {
    use super::super::test::key;
    use super::super::{CONFIG_NAMES, Privacy, Settings};
    use super::*;

    #[test]
    fn key_files_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dnsobs-privacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("key");
        let write = |bytes: &[u8], mode: u32| {
            let _ = std::fs::remove_file(&p);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let hex16 = "0123456789abcdeffedcba9876543210";
        write(format!("{hex16}\n").as_bytes(), 0o644);
        let e = read_key(&p, Mode::Ipcrypt).unwrap_err().to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains("mode 644"),
            "{e}"
        );
        write(format!("{hex16}\n").as_bytes(), 0o640);
        assert!(
            read_key(&p, Mode::Ipcrypt)
                .unwrap_err()
                .to_string()
                .contains("mode 640")
        );
        write(format!("{}\n", hex16.to_uppercase()).as_bytes(), 0o600);
        assert_eq!(read_key(&p, Mode::Ipcrypt).unwrap(), key(hex16));
        write(&key(hex16), 0o400);
        assert_eq!(read_key(&p, Mode::Ipcrypt).unwrap(), key(hex16));
        // 16 bytes are not an ipcrypt-pfx key.
        let e = read_key(&p, Mode::IpcryptPfx).unwrap_err().to_string();
        assert!(
            e.contains("exactly 32 bytes, or 64 hex digits") && e.contains("has 16 bytes"),
            "{e}"
        );
        // 32 raw bytes: an ipcrypt-pfx key whose halves are equal (refused).
        write(b"0123456789abcdeg0123456789abcdeg", 0o600);
        let s = Settings {
            mode: Mode::IpcryptPfx,
            key_file: Some(p.clone()),
            ..Settings::default()
        };
        let e = Privacy::load(&s, &CONFIG_NAMES).unwrap_err().to_string();
        assert!(e.contains("halves"), "{e}");
        // 32 hex digits without a newline: a 16-byte key for ipcrypt, never 32 raw bytes.
        write(b"0123456789abcdef0123456789abcdef", 0o600);
        let e = read_key(&p, Mode::IpcryptPfx).unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        assert_eq!(read_key(&p, Mode::Ipcrypt).unwrap().len(), 16);
        let s = Settings {
            mode: Mode::Ipcrypt,
            ..s
        };
        let d = Privacy::load(&s, &CONFIG_NAMES).unwrap();
        assert_eq!(d.mode(), Mode::Ipcrypt);
        write(b"too short\n", 0o600);
        let e = Privacy::load(&s, &CONFIG_NAMES).unwrap_err().to_string();
        assert!(
            e.contains("has 10 bytes") && e.contains("exactly 16 bytes"),
            "{e}"
        );
        let e = read_key(&dir.join("none"), Mode::Ipcrypt)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

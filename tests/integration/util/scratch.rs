//! Scratch directories `<base>/<name>-<pid>` (the process id keeps concurrent `cargo test` runs
//! in the same checkout apart), empty when made.

use std::path::{Path, PathBuf};

/// A fresh, empty directory `<base>/<name>-<pid>`, left in place afterwards.
pub fn fresh(base: &Path, name: &str) -> PathBuf {
    let d = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// [`fresh`] in the system's temporary directory (where the daemon tests keep their files:
/// reachable by the daemon's user after a privilege drop, and left for their logs).
pub fn tmp(name: &str) -> PathBuf {
    fresh(&std::env::temp_dir(), name)
}

/// [`fresh`] in Cargo's temporary directory for integration tests (`target/tmp`).
pub fn target(name: &str) -> PathBuf {
    fresh(Path::new(env!("CARGO_TARGET_TMPDIR")), name)
}

/// A scratch directory removed when dropped (also when an assertion fails).
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh `target/tmp/<name>-<pid>`.
    pub fn target(name: &str) -> Self {
        Self(target(name))
    }

    /// A fresh `<system temporary directory>/<name>-<pid>`.
    pub fn tmp(name: &str) -> Self {
        Self(tmp(name))
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

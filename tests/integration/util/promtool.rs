//! promtool (Debian package `prometheus`, scripts/install-deps.sh): whether it runs, running
//! it, and linting an exposition with `promtool check metrics`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether promtool runs.
pub fn installed() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether promtool runs; without it, skip (false) unless CI=1 or CI=true, where it panics.
pub fn required(what: &str) -> bool {
    let ok = installed();
    if !ok {
        super::cannot_run(
            &format!("promtool is not on PATH ({what})"),
            &format!("promtool not on PATH: skipping {what}"),
        );
    }
    ok
}

/// Runs promtool in `dir`; returns stdout and stderr, or what it printed if it failed.
pub fn run(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(format!("promtool {}: {}\n{text}", args.join(" "), o.status))
    }
}

/// `promtool check metrics` on a Prometheus text exposition; if it fails, what it printed
/// (stdout, then stderr).
pub fn check_metrics(text: &str) -> Result<(), String> {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let o = p.wait_with_output().expect("promtool ends");
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

//! `dnsobs check-config`: validate a configuration file and say what it configures.

use std::path::Path;

use crate::config::Config;

use super::ExitStatus;

/// Runs `dnsobs check-config FILE`: one line on stdout if valid, else the error (file, key and
/// reason).
pub fn run(file: &Path) -> anyhow::Result<ExitStatus> {
    let c = Config::load(file)?;
    let tap = if c.raw.capture.dnstap_socket.is_empty() {
        String::new()
    } else {
        format!(", dnstap on {}", c.raw.capture.dnstap_socket)
    };
    let web = match &c.web {
        None => String::new(),
        Some(w) => {
            let users = w.auth.as_ref().map_or(0, |a| a.users());
            format!(" over {}, {users} user(s)", w.scheme())
        }
    };
    println!(
        "{}: valid ({} interface(s), {} worker(s) each{tap}, metrics on {}{web})",
        file.display(),
        c.raw.capture.interfaces.len(),
        c.workers,
        c.listen
    );
    Ok(ExitStatus::Ok)
}

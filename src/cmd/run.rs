//! `dnsobs run`: live capture and the metrics endpoint (the daemon, [`crate::daemon`]).

use crate::config::{Config, ConfigError, RawConfig};

use super::ExitStatus;
use super::cli::RunArgs;

/// Runs the daemon until SIGTERM/SIGINT; SIGHUP reloads the configuration through
/// [`load_config`].
pub fn run(args: RunArgs) -> anyhow::Result<ExitStatus> {
    let config = load_config(&args, false)?;
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Trace)
        .format_target(false)
        .parse_env(env_logger::Env::new().filter("DNSOBS_LOG"))
        .init();
    log::set_max_level(config.log_level);
    log::info!("dnsobs {} starting", env!("CARGO_PKG_VERSION"));
    crate::daemon::run(config, || {
        load_config(&args, true).map_err(|e| e.to_string())
    })?;
    Ok(ExitStatus::Ok)
}

/// Reads the file (if any), applies the command-line overrides, validates (for a `reload`,
/// without reading the privacy key: see [`RawConfig::validate_for_reload`]).
pub fn load_config(args: &RunArgs, reload: bool) -> Result<Config, ConfigError> {
    let path = args.config.clone().unwrap_or_else(|| "(defaults)".into());
    let mut raw = match &args.config {
        Some(p) => RawConfig::read(p)?,
        None => RawConfig::default(),
    };
    if !args.interface.is_empty() {
        raw.capture.interfaces = args.interface.clone();
    }
    if let Some(l) = &args.listen {
        raw.export.listen = l.clone();
    }
    if let Some(w) = args.workers {
        raw.capture.workers = w;
    }
    if let Some(p) = &args.dnstap_socket {
        raw.capture.dnstap_socket = p.clone();
    }
    if let Some(p) = &args.web_config {
        raw.export.web_config = p.display().to_string();
    }
    if reload {
        raw.validate_for_reload(&path)
    } else {
        raw.validate(&path)
    }
}

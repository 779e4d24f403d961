//! Signals: SIGTERM and SIGINT stop the daemon; SIGHUP re-reads the configuration, applies
//! the keys that can change live (BPF filter, log level, the web configuration, which is read
//! again from its file) and records the outcome, and opens the MaxMind DB files again.

use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;
use log::{error, info, warn};

use super::workers::Control;
use super::{Shared, now_secs};
use crate::config::Config;

/// Waits for signals until SIGTERM or SIGINT; handles SIGHUP in between.
pub(super) fn wait_for_signals(
    config: &mut Config,
    reload: &impl Fn() -> Result<Config, String>,
    controls: &[Sender<Control>],
    shared: &Shared,
) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}; stopping");
            return;
        }
    };
    for sig in signals.forever() {
        if sig != SIGHUP {
            info!("signal {sig} received");
            return;
        }
        // The MaxMind DB files are opened again whatever the configuration says (their paths
        // change only with a restart).
        if let Some(live) = &config.aggregate.geo {
            super::merger::geo_reload(live, true);
            shared.status_changed.store(true, Ordering::Relaxed);
        }
        match reload() {
            Err(e) => {
                shared.reload_ok.store(false, Ordering::Relaxed);
                shared.status_changed.store(true, Ordering::Relaxed);
                error!("reload failed, keeping the running configuration: {e}");
            }
            Ok(new) => {
                log::set_max_level(new.log_level);
                if new.bpf_filter != config.bpf_filter {
                    for c in controls {
                        let _ = c.try_send(Control::Filter(new.bpf_filter.clone()));
                    }
                }
                let restart = new.restart_needed(config);
                if !restart.is_empty() {
                    warn!(
                        "reload: changes to {} take effect only after a restart",
                        restart.join(", ")
                    );
                }
                shared.reload_ok.store(true, Ordering::Relaxed);
                shared
                    .reload_time
                    .store(now_secs() as u64, Ordering::Relaxed);
                shared.status_changed.store(true, Ordering::Relaxed);
                info!("configuration reloaded from {}", new.source.display());
                // Only the live keys change the running configuration.
                config.bpf_filter = new.bpf_filter;
                config.raw.capture.bpf_filter = new.raw.capture.bpf_filter;
                config.log_level = new.log_level;
                config.raw.daemon.log_level = new.raw.daemon.log_level;
                // Connections accepted from now on use the web configuration just read.
                shared.web.set(new.web.clone());
                config.web = new.web;
                config.raw.export.web_config = new.raw.export.web_config;
            }
        }
    }
}

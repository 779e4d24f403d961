//! What the commands reading capture files (`replay`, `rssac002`, `ithi`) share: their input
//! flags' validation, the replay with a progress bar, the warnings about the input.

use crate::capture::plan::{Plan, Window};
use crate::decode::tunnel::{self, EncapSet};
use crate::pipeline::{self, FileError, Replay};
use crate::time::iso8601;

use super::ExitStatus;
use super::cli::InputArgs;
use super::progress;

impl InputArgs {
    /// Pipeline settings from the flags (`--threads`, `--ports`, `--since`, `--until`, the
    /// encapsulation flags) and the command's aggregation settings; an error if a flag is invalid.
    pub fn pipeline_settings(
        &self,
        mut aggregate: crate::aggregate::Settings,
    ) -> anyhow::Result<pipeline::Settings> {
        if self.geoip_country.is_some() || self.geoip_asn.is_some() {
            let db = crate::aggregate::geo::GeoDb::open(
                self.geoip_country.as_deref(),
                self.geoip_asn.as_deref(),
                &self.geo_region,
            )?;
            aggregate.geo = Some(std::sync::Arc::new(crate::aggregate::geo::Live::new(db)));
        } else if !self.geo_region.is_empty() {
            anyhow::bail!("--geo-region needs --geoip-country");
        }
        if self.threads == Some(0) {
            anyhow::bail!("--threads must be at least 1");
        }
        if let (Some(s), Some(u)) = (self.since, self.until)
            && s >= u
        {
            anyhow::bail!("--since must be before --until");
        }
        Ok(pipeline::Settings {
            threads: self.threads.unwrap_or(0),
            decode: crate::decode::Settings {
                ports: self.ports.clone(),
                tunnels: self.tunnels()?,
                ..Default::default()
            },
            aggregate,
            window: Window {
                since_ns: self.since,
                until_ns: self.until,
            },
            ..Default::default()
        })
    }

    /// The tunnel settings of `--encapsulations`, `--vxlan-ports` and `--geneve-ports`.
    fn tunnels(&self) -> anyhow::Result<tunnel::Settings> {
        let names: Vec<&String> = self
            .encapsulations
            .iter()
            .filter(|n| *n != "none")
            .collect();
        if names.len() < self.encapsulations.len() && !names.is_empty() {
            anyhow::bail!("--encapsulations: `none` cannot be combined with names");
        }
        let decoded =
            EncapSet::from_names(&names).map_err(|e| anyhow::anyhow!("--encapsulations: {e}"))?;
        let (vxlan, geneve) = (&self.vxlan_ports, &self.geneve_ports);
        tunnel::check_ports(vxlan, &self.ports, ("GENEVE", geneve))
            .map_err(|e| anyhow::anyhow!("--vxlan-ports: {e}"))?;
        tunnel::check_ports(geneve, &self.ports, ("VXLAN", vxlan))
            .map_err(|e| anyhow::anyhow!("--geneve-ports: {e}"))?;
        Ok(tunnel::Settings {
            decoded,
            vxlan_ports: vxlan.clone(),
            geneve_ports: geneve.clone(),
        })
    }

    /// [`pipeline::replay`] of the files (directories expanded, in time order), with a progress
    /// bar on stderr when it is a terminal and not `--quiet`.
    pub fn replay(&self, mut settings: pipeline::Settings) -> Result<Replay, FileError> {
        let plan = Plan::new(&self.files, &settings.window)?;
        let display = progress::start(&plan, self.quiet).map(|(d, p)| {
            settings.progress = Some(p);
            d
        });
        let r = pipeline::replay_plan(plan, &settings);
        if let Some(d) = display {
            d.finish(&r);
        }
        Ok(r)
    }

    /// Warns about the input (unless `--quiet`): files read only in part ("`what` the records
    /// read before it"), files left out, files that overlap in time. [`ExitStatus::Partial`] if
    /// a file was read in part or could not be read.
    pub fn partial_status(&self, r: &Replay, what: &str) -> ExitStatus {
        let warn = |s: String| {
            if !self.quiet {
                eprintln!("dnsobs: warning: {s}");
            }
        };
        let mut status = ExitStatus::Ok;
        for f in r.files() {
            if let Some(w) = &f.warning {
                warn(format!(
                    "{}: {w}; {what} the records read before it",
                    f.path.display()
                ));
                status = ExitStatus::Partial;
            }
        }
        let Some(input) = r.replay_input() else {
            return status;
        };
        let outside = input.skipped.iter().filter(|s| !s.problem).count();
        for s in &input.skipped {
            if s.problem {
                warn(format!("{}: skipped: {}", s.path.display(), s.reason));
                status = ExitStatus::Partial;
            } else if outside <= 10 {
                warn(format!("{}: skipped: {}", s.path.display(), s.reason));
            }
        }
        if outside > 10 {
            warn(format!(
                "{outside} files skipped (no capture, or outside --since/--until)"
            ));
        }
        for o in input.overlaps() {
            let (a, b) = (&input.files[o.earlier], &input.files[o.later]);
            warn(format!(
                "{} (from {}) starts {:.3} s before the end of {} (until {}): the files overlap in time, as captures of two instances would; they are read one after the other, not interleaved",
                b.path.display(),
                b.first_ns.map_or_else(String::new, iso8601),
                o.by_ns as f64 / 1e9,
                a.path.display(),
                a.last_ns.map_or_else(String::new, iso8601),
            ));
        }
        status
    }
}

//! What the commands reading capture files (`replay`, `rssac002`, `ithi`) share: their input
//! flags' validation, the replay with a progress bar, the partial-read warnings.

use crate::decode::tunnel::{self, EncapSet};
use crate::pipeline::{self, FileError, Replay};

use super::ExitStatus;
use super::cli::InputArgs;
use super::progress;

impl InputArgs {
    /// Pipeline settings from the flags (`--threads`, `--ports`, the encapsulation flags) and
    /// the command's aggregation settings; an error if a flag is invalid.
    pub fn pipeline_settings(
        &self,
        aggregate: crate::aggregate::Settings,
    ) -> anyhow::Result<pipeline::Settings> {
        if self.threads == Some(0) {
            anyhow::bail!("--threads must be at least 1");
        }
        Ok(pipeline::Settings {
            threads: self.threads.unwrap_or(0),
            decode: crate::decode::Settings {
                ports: self.ports.clone(),
                tunnels: self.tunnels()?,
                ..Default::default()
            },
            aggregate,
            progress: None,
            queries: None,
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

    /// [`pipeline::replay`] of the files, with a progress bar on stderr when it is a terminal
    /// and not `--quiet`.
    pub fn replay(&self, mut settings: pipeline::Settings) -> Result<Replay, FileError> {
        let display = progress::start(&self.files, self.quiet).map(|(d, p)| {
            settings.progress = Some(p);
            d
        });
        let r = pipeline::replay(&self.files, &settings);
        if let Some(d) = display {
            d.finish(r.as_ref().map_or(&[][..], |r| r.files()));
        }
        r
    }

    /// Warns about files read only in part (unless `--quiet`): "`what` the records read before
    /// it"; [`ExitStatus::Partial`] if there was one.
    pub fn partial_status(&self, r: &Replay, what: &str) -> ExitStatus {
        let mut status = ExitStatus::Ok;
        for f in r.files() {
            if let Some(w) = &f.warning {
                if !self.quiet {
                    eprintln!(
                        "dnsobs: warning: {}: {w}; {what} the records read before it",
                        f.path.display()
                    );
                }
                status = ExitStatus::Partial;
            }
        }
        status
    }
}

//! The `dnsobs` subcommands, one module each; the binary (src/main.rs) only parses the command
//! line ([`cli::Cli`]), calls a module's `run` and exits with the [`ExitStatus`] it returns, or
//! with [`ExitStatus::of_error`] of its error.
//!
//! `dnsobs top` is not here yet: src/top.rs, a module of the binary, runs it.

/// The exit statuses' wording in `--help`, one fragment per status (`exit_status_help!(input)`
/// is "3 an input file could not be read"). A macro expanding to literals, so that the help texts
/// are built with `concat!` (clap's derive wants them `'static`); [`ExitStatus::help`] returns
/// the same fragments and a test checks they begin with [`ExitStatus::code`].
///
/// `exit_status_help!(files " ")` is the statuses every command reading capture files shares,
/// "Exit status: 0 success; 1 other error; 2 bad usage; 3 an input file could not be read"; the
/// literal separates "1 other error;" from "2 bad usage" (a line break in one help text).
macro_rules! exit_status_help {
    (ok) => {
        "0 success"
    };
    (error) => {
        "1 other error"
    };
    (usage) => {
        "2 bad usage"
    };
    (input) => {
        "3 an input file could not be read"
    };
    (partial) => {
        "4 an input file is truncated or corrupt"
    };
    (files $sep:literal) => {
        concat!(
            "Exit status: ",
            exit_status_help!(ok),
            "; ",
            exit_status_help!(error),
            ";",
            $sep,
            exit_status_help!(usage),
            "; ",
            exit_status_help!(input)
        )
    };
}

pub mod check_config;
pub mod cli;
pub mod generate;
mod input;
pub mod ithi;
pub mod merge;
pub mod progress;
pub mod replay;
pub mod rssac002;
pub mod run;

use crate::pipeline;

/// How a command ends: the process's exit status, documented in every `--help` and the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Success.
    Ok = 0,
    /// An error not tied to one input file (output, configuration, internal).
    Error = 1,
    /// Bad usage: clap's own status, returned by clap while parsing (documented here).
    Usage = 2,
    /// An input file could not be read at all (missing, not a capture, unsupported link type,
    /// a directory holding no capture). Nothing is reported.
    Input = 3,
    /// An input file is truncated or corrupt after some records (an archive too), or a file found
    /// in a directory could not be read; the report covers what was read and a warning names
    /// the file.
    Partial = 4,
}

impl ExitStatus {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The status's wording in `--help`, e.g. "3 an input file could not be read".
    pub const fn help(self) -> &'static str {
        match self {
            Self::Ok => exit_status_help!(ok),
            Self::Error => exit_status_help!(error),
            Self::Usage => exit_status_help!(usage),
            Self::Input => exit_status_help!(input),
            Self::Partial => exit_status_help!(partial),
        }
    }

    /// The status of a command that failed with `e`: [`ExitStatus::Input`] when an input file
    /// could not be read ([`pipeline::FileError`]), else [`ExitStatus::Error`].
    pub fn of_error(e: &anyhow::Error) -> Self {
        if e.downcast_ref::<pipeline::FileError>().is_some() {
            Self::Input
        } else {
            Self::Error
        }
    }
}

impl TryFrom<u8> for ExitStatus {
    type Error = u8;

    /// The status with this code; the code back if there is none.
    fn try_from(code: u8) -> Result<Self, u8> {
        [
            Self::Ok,
            Self::Error,
            Self::Usage,
            Self::Input,
            Self::Partial,
        ]
        .into_iter()
        .find(|s| s.code() == code)
        .ok_or(code)
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        Self::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn help_wording_starts_with_the_code() {
        for code in 0..=u8::MAX {
            if let Ok(s) = ExitStatus::try_from(code) {
                assert_eq!(s.code(), code);
                assert!(s.help().starts_with(&format!("{code} ")), "{s:?}");
            }
        }
        assert_eq!(ExitStatus::try_from(5), Err(5));
        let files = exit_status_help!(files " ");
        assert_eq!(
            files,
            "Exit status: 0 success; 1 other error; 2 bad usage; 3 an input file could not be read"
        );
    }

    #[test]
    fn file_errors_are_input_errors() {
        let missing = [std::path::PathBuf::from("/nonexistent/dnsobs-test.pcap")];
        let Err(e) = crate::pipeline::replay(&missing, &Default::default()) else {
            panic!("a missing file was read");
        };
        let e = anyhow::Error::from(e).context("replaying");
        assert_eq!(ExitStatus::of_error(&e), ExitStatus::Input);
        assert_eq!(
            ExitStatus::of_error(&anyhow::anyhow!("no")),
            ExitStatus::Error
        );
    }
}

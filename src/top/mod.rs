//! `dnsobs top`: a live terminal view of a running daemon, like dnstop.
//!
//! A fetcher thread GETs the daemon's `/metrics` every interval (plain HTTP/1.1 over a
//! `TcpStream` with timeouts); the text format is parsed into samples; rates come from the
//! difference of two successive scrapes. The same tables feed the terminal view (ratatui +
//! crossterm) and the one-shot text snapshot of `--once`.
//!
//! By layer: [`scrape`] (HTTP and the text format), [`view`] (what is shown), [`terminal`]
//! (drawing and keys); this module is the command.

mod scrape;
mod terminal;
mod view;

use std::time::Duration;

use anyhow::bail;

use dnsobs::cmd::ExitStatus;
use dnsobs::cmd::cli::TopArgs;
use scrape::{Target, target};
use view::{State, View, header, sections, text};

/// Exit status of `--once` when the daemon could not be reached.
const EXIT_UNREACHABLE: ExitStatus = ExitStatus::Error;

/// `dnsobs top`: `--once` prints a snapshot, otherwise the live terminal view runs until `q`.
pub fn run(args: TopArgs) -> anyhow::Result<ExitStatus> {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        bail!("--interval must be at least 0.1 second");
    }
    let t = target(&args.url)?;
    let interval = Duration::from_secs_f64(args.interval);
    let timeout = interval.clamp(Duration::from_secs(1), Duration::from_secs(5));
    if args.once {
        return Ok(once(&args, &t, timeout));
    }
    terminal::tui(&args, t, interval, timeout)
}

fn once(args: &TopArgs, t: &Target, timeout: Duration) -> ExitStatus {
    let mut state = State::default();
    match scrape::scrape(t, timeout) {
        Ok(s) => state.update(Ok(s)),
        Err(e) => {
            eprintln!("dnsobs top: daemon unreachable at {}: {e:#}", args.url);
            return EXIT_UNREACHABLE;
        }
    }
    let mut all = Vec::new();
    for v in View::ALL {
        all.extend(sections(&state, v, args.rows));
    }
    let lines = header(&state, &args.url, args.interval);
    print!("{}", text(&lines, &all));
    ExitStatus::Ok
}

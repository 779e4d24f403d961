//! The replay progress bar: one line per file on stderr (bytes read, packets/s, ETA), drawn by
//! a thread that samples [`Progress`] ten times a second, so the readers only store a few relaxed
//! atomics every 16,384 records. Shown only when stderr is a terminal and `--quiet` was not
//! given.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::{FileSummary, Progress};

const TICK: Duration = Duration::from_millis(100);

/// A running display; [`Display::finish`] draws the final lines.
pub struct Display {
    stop: mpsc::Sender<Vec<Done>>,
    handle: JoinHandle<()>,
}

/// Starts the display for `files` if stderr is a terminal and not `quiet`; the settings'
/// progress slot to hand to the pipeline comes with it.
pub fn start(files: &[PathBuf], quiet: bool) -> Option<(Display, Arc<Progress>)> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let progress = Arc::new(Progress::new());
    let (stop, rx) = mpsc::channel();
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let p = Arc::clone(&progress);
    let handle = thread::Builder::new()
        .name("progress".into())
        .spawn(move || draw(&names, &p, &rx))
        .ok()?;
    Some((Display { stop, handle }, progress))
}

impl Display {
    /// Stops sampling and prints the final line of every file (also those read between two
    /// samples).
    pub fn finish(self, files: &[FileSummary]) {
        let last = files
            .iter()
            .map(|f| {
                let len = std::fs::metadata(&f.path).ok().map(|m| m.len());
                Done {
                    records: f.records,
                    length: len,
                    elapsed: f.elapsed,
                }
            })
            .collect();
        let _ = self.stop.send(last);
        let _ = self.handle.join();
    }
}

/// What the replay reports of a file at the end.
struct Done {
    records: u64,
    length: Option<u64>,
    elapsed: Duration,
}

struct Bar {
    bar: ProgressBar,
}

fn style(known_length: bool) -> ProgressStyle {
    let t = if known_length {
        "{prefix} [{bar:24}] {bytes}/{total_bytes} {msg} ETA {eta}"
    } else {
        "{prefix} {spinner} {bytes} {msg}"
    };
    template(t)
}

fn template(t: &str) -> ProgressStyle {
    // The templates are constants; a bad one would fail here on every run, never on traffic.
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn open_bar(multi: &MultiProgress, name: &str, length: Option<u64>) -> Bar {
    let bar = multi.add(ProgressBar::new(length.unwrap_or(0)));
    if length.is_none() {
        bar.unset_length();
    }
    bar.set_style(style(length.is_some()));
    bar.set_prefix(name.to_owned());
    Bar { bar }
}

fn rate(records: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    format!("{records} packets, {:.2} M packets/s", rate / 1e6)
}

fn draw(names: &[String], progress: &Progress, stop: &mpsc::Receiver<Vec<Done>>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    // One bar per file, opened when the reader gets to it; a file the reader left is complete
    // (its exact packet count is set at the end, from the replay's summary).
    let mut bars: Vec<Option<Bar>> = names.iter().map(|_| None).collect();
    loop {
        match stop.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(last) => {
                for (i, d) in last.iter().enumerate() {
                    let Some(slot) = bars.get_mut(i) else { break };
                    let b = slot.get_or_insert_with(|| open_bar(&multi, &names[i], d.length));
                    b.bar.set_style(template(if d.length.is_some() {
                        "{prefix} [{bar:24}] {total_bytes} {msg}"
                    } else {
                        "{prefix} {bytes} {msg}"
                    }));
                    if let Some(l) = d.length {
                        b.bar.set_length(l);
                        b.bar.set_position(l);
                    }
                    b.bar.set_message(format!(
                        "{} in {:.2} s",
                        rate(d.records, d.elapsed),
                        d.elapsed.as_secs_f64()
                    ));
                    b.bar.finish();
                }
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let s = progress.snapshot();
        let Some(file) = s.file else { continue };
        for (i, slot) in bars.iter_mut().enumerate().take(file + 1) {
            let len = if i == file { s.length } else { None };
            let b = slot.get_or_insert_with(|| open_bar(&multi, &names[i], len));
            if i < file {
                if let Some(l) = b.bar.length() {
                    b.bar.set_position(l);
                }
                continue;
            }
            if let Some(l) = s.length {
                b.bar.set_length(l);
            }
            b.bar.set_position(s.position);
            b.bar.set_message(rate(s.records, s.elapsed));
        }
    }
}

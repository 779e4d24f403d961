//! The replay progress display on stderr: one line for the whole run (files done, bytes read of
//! the total, packets, packets/s, time left) and one for the file being read, drawn by a thread
//! that samples [`Progress`] ten times a second, so the readers only store a few relaxed atomics
//! every 16,384 records. Shown only when stderr is a terminal and `--quiet` was not given.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::capture::plan::Plan;
use crate::pipeline::{Progress, ProgressSnapshot, Replay};

const TICK: Duration = Duration::from_millis(100);

/// A running display; [`Display::finish`] draws the final line.
pub struct Display {
    stop: mpsc::Sender<Summary>,
    handle: JoinHandle<()>,
}

/// The files of the run, as the display names them.
struct Files {
    names: Vec<String>,
    /// Total input bytes, when every size is known.
    total: Option<u64>,
}

/// The run's totals at the end.
struct Summary {
    files: usize,
    records: u64,
    secs: f64,
}

/// Starts the display for the files of `plan` if stderr is a terminal and not `quiet`; the
/// settings' progress slot to hand to the pipeline comes with it.
pub fn start(plan: &Plan, quiet: bool) -> Option<(Display, Arc<Progress>)> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let progress = Arc::new(Progress::new());
    let (stop, rx) = mpsc::channel();
    let files = Files {
        names: plan
            .inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect(),
        total: plan.total_size(),
    };
    let p = Arc::clone(&progress);
    let handle = thread::Builder::new()
        .name("progress".into())
        .spawn(move || draw(&files, &p, &rx))
        .ok()?;
    Some((Display { stop, handle }, progress))
}

impl Display {
    /// Stops sampling and prints the final line: files, bytes and the exact packet count.
    pub fn finish(self, r: &Replay) {
        let files = r.files();
        let _ = self.stop.send(Summary {
            files: files.len(),
            records: files.iter().map(|f| f.records).sum(),
            secs: r.replay_input().map_or(0.0, |i| i.elapsed.as_secs_f64()),
        });
        let _ = self.handle.join();
    }
}

fn template(t: &str) -> ProgressStyle {
    // The templates are constants; a bad one would fail here on every run, never on traffic.
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn rate(records: u64, secs: f64) -> String {
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    format!("{records} packets, {:.2} M packets/s", rate / 1e6)
}

/// The whole run's line: "files 3/10 [=====>   ] 1.20 GiB/3.40 GiB 6000000 packets, ..., ETA".
fn run_bar(multi: &MultiProgress, files: &Files) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(files.total.unwrap_or(0)));
    bar.set_style(template(if files.total.is_some() {
        "{prefix} [{bar:24}] {bytes}/{total_bytes} {msg} ETA {eta}"
    } else {
        "{prefix} {spinner} {bytes} {msg}"
    }));
    if files.total.is_none() {
        bar.unset_length();
    }
    bar
}

/// The current file's line.
fn file_bar(multi: &MultiProgress) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(0));
    bar.set_style(template(
        "  {prefix} [{bar:24}] {bytes}/{total_bytes} {msg}",
    ));
    bar
}

fn draw(files: &Files, progress: &Progress, stop: &mpsc::Receiver<Summary>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    let run = run_bar(&multi, files);
    let file = file_bar(&multi);
    let n = files.names.len();
    loop {
        match stop.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(end) => {
                file.finish_and_clear();
                if let Some(t) = files.total {
                    run.set_position(t);
                }
                run.set_style(template("{prefix} {total_bytes} {msg}"));
                run.set_prefix(format!("{} files", end.files));
                run.finish_with_message(format!(
                    "{} in {:.2} s",
                    rate(end.records, end.secs),
                    end.secs
                ));
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let s = progress.snapshot();
        update(&run, &file, files, n, &s);
    }
}

/// Draws one sample.
fn update(run: &ProgressBar, file: &ProgressBar, files: &Files, n: usize, s: &ProgressSnapshot) {
    run.set_prefix(format!("files {}/{n}", s.finished));
    run.set_position(s.bytes_done + s.position);
    run.set_message(rate(
        s.records_done + s.records,
        s.run_elapsed.as_secs_f64(),
    ));
    let Some(i) = s.file.filter(|&i| i >= s.finished) else {
        return;
    };
    file.set_prefix(files.names.get(i).cloned().unwrap_or_default());
    file.set_length(s.length.unwrap_or(0));
    file.set_position(s.position);
    file.set_message(rate(s.records, s.elapsed.as_secs_f64()));
}

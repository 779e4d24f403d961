//! The merger thread: adds the workers' flushes into the running total, writes finished
//! RSSAC002 days and Parquet intervals, and publishes a [`Snapshot`] for the exporters.
//!
//! The merger alone owns the total. It publishes a copy at most once per flush interval (and
//! when a reload changed the daemon's status), so a scrape renders a snapshot no older than
//! about two flush intervals without ever waiting for the merger, and the merger never waits for
//! a scrape. The cost is one copy of the total per publish (documented in docs/daemon.md); the
//! copy is made into the snapshot published before, when no scrape still holds it (cleared, then
//! the total merged into it), so publishing allocates nothing in the steady state.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{error, info};

use super::Shared;
use super::workers::Delta;
use crate::aggregate::Aggregate;
use crate::capture::dnstap;
use crate::export::parquet::{self, QueryExport, WriterStats};
use crate::snapshot::{CaptureHealth, DaemonStatus, Input, Snapshot};

/// Where and how the daemon writes RSSAC002 daily documents.
pub(super) struct RssacOut {
    pub(super) dir: PathBuf,
    pub(super) service: String,
    pub(super) grace: Duration,
}

/// How often the merger looks for finished UTC days (cheap: one clock read when nothing is
/// due), so a day is written within a second of its grace ending.
const RSSAC_CHECK: Duration = Duration::from_secs(1);
/// After a failed write, when to retry: often enough to recover soon after space is freed,
/// seldom enough not to flood the log with one error line a second.
const RSSAC_RETRY: Duration = Duration::from_secs(20);

/// Where and how the daemon writes Parquet files.
pub(super) struct ParquetOut {
    /// Root of the per-interval table ("" = off; the per-query table may still be on).
    pub(super) dir: Option<PathBuf>,
    pub(super) node: String,
    pub(super) every: Duration,
    pub(super) grace: Duration,
    /// The per-query writer, told to complete its files at every write, and its figures.
    pub(super) queries: Option<(QueryExport, Arc<Mutex<WriterStats>>)>,
}

/// Where and how the daemon writes day state files, and the days it keeps for them.
pub(super) struct StateOut {
    pub(super) writer: crate::state::Writer,
    pub(super) refresh: Duration,
    pub(super) grace: Duration,
    /// Every worker flush of a day merged, by the day of its first frame (a flush spans about
    /// a second: one across midnight counts for the day it began in, except its RSSAC002
    /// counters and intervals, which keep their own days).
    pub(super) days: std::collections::BTreeMap<u32, Aggregate>,
    pub(super) settings: crate::aggregate::Settings,
}

/// The merger's state.
pub(super) struct Merger {
    pub(super) rx: Receiver<Delta>,
    pub(super) recycle: Vec<Sender<Aggregate>>,
    pub(super) shared: Arc<Shared>,
    pub(super) total: Aggregate,
    pub(super) health: Vec<CaptureHealth>,
    pub(super) dnstap: Option<dnstap::Stats>,
    pub(super) rssac: Option<RssacOut>,
    pub(super) parquet: Option<ParquetOut>,
    pub(super) state: Option<StateOut>,
    /// Least time between two publications.
    pub(super) publish_every: Duration,
    /// The snapshot published before the current one, to be reused.
    pub(super) spare: Option<Arc<Snapshot>>,
    /// The aggregation settings, for a snapshot made from scratch.
    pub(super) settings: crate::aggregate::Settings,
    /// Time between two checks of the MaxMind DB files on disk (zero: none).
    pub(super) geo_check: Duration,
    /// How the snapshot's exports render source addresses.
    pub(super) privacy: crate::privacy::Privacy,
}

impl Merger {
    /// Publishes the current state as the daemon's snapshot.
    pub(super) fn publish(&mut self) {
        let sh = &self.shared;
        let status = DaemonStatus {
            health: self.health.clone(),
            dnstap: self.dnstap.clone(),
            writers: sh.writers(),
            http: sh.web.counts(),
            reload_ok: sh.reload_ok.load(Ordering::Relaxed),
            geo: self
                .settings
                .geo
                .as_deref()
                .map(crate::aggregate::geo::Live::status),
            reload_time: sh.reload_time.load(Ordering::Relaxed),
            start_time: sh.start_time,
        };
        let input = Input::Daemon(Box::new(status));
        // Reuse the snapshot published before unless a scrape still reads it: its tables keep
        // their memory, so the steady state allocates nothing but the `Arc`.
        let next = match self.spare.take().map(Arc::try_unwrap) {
            Some(Ok(mut s)) => {
                s.agg.clear();
                s.agg.merge_summary(&self.total);
                s.input = input;
                s
            }
            _ => {
                let mut agg = Aggregate::new(&self.settings);
                agg.merge_summary(&self.total);
                Snapshot {
                    agg,
                    input,
                    privacy: self.privacy.clone(),
                }
            }
        };
        self.spare = Some(sh.published.swap(Arc::new(next)));
    }

    /// Runs until every worker has gone, then writes what is due and publishes a last time.
    pub(super) fn run(mut self) {
        let mut next_check = Instant::now() + RSSAC_CHECK;
        let mut last_parquet = Instant::now();
        let mut last_state = Instant::now();
        let mut last_publish = Instant::now();
        let mut last_geo_check = Instant::now();
        let mut dirty = false;
        loop {
            match self.rx.recv_timeout(Duration::from_millis(500)) {
                Ok(d) => {
                    self.add(d);
                    dirty = true;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Some(out) = &self.rssac
                && Instant::now() >= next_check
            {
                let ok = rssac002_tick(&mut self.total, &self.shared, out);
                next_check = Instant::now() + if ok { RSSAC_CHECK } else { RSSAC_RETRY };
            }
            if let Some(out) = &self.parquet
                && last_parquet.elapsed() >= out.every
            {
                last_parquet = Instant::now();
                parquet_tick(&mut self.total, &self.shared, out, false);
            }
            if let Some(out) = &mut self.state
                && last_state.elapsed() >= out.refresh
            {
                last_state = Instant::now();
                state_tick(out, &self.shared);
            }
            if let Some(live) = &self.settings.geo
                && !self.geo_check.is_zero()
                && last_geo_check.elapsed() >= self.geo_check
            {
                last_geo_check = Instant::now();
                if geo_reload(live, false) {
                    self.shared.status_changed.store(true, Ordering::Relaxed);
                }
            }
            let changed = self.shared.status_changed.swap(false, Ordering::Relaxed);
            if changed || (dirty && last_publish.elapsed() >= self.publish_every) {
                self.publish();
                last_publish = Instant::now();
                dirty = false;
            }
        }
        // Every worker has flushed: write the days already complete once more, so stopping
        // never loses a finished day (one due, or one whose write failed), and every interval
        // still held, the current one included.
        if let Some(out) = &self.rssac {
            rssac002_tick(&mut self.total, &self.shared, out);
        }
        if let Some(out) = &self.parquet {
            parquet_tick(&mut self.total, &self.shared, out, true);
        }
        if let Some(out) = &mut self.state {
            state_tick(out, &self.shared);
        }
        self.publish();
    }

    /// Adds one flush into the total and hands the emptied aggregate back to its worker.
    fn add(&mut self, mut d: Delta) {
        self.total.merge(&d.agg);
        if let Some(s) = &mut self.state
            && d.agg.frames > 0
        {
            let day = crate::time::day_of(d.agg.first_ns);
            s.days
                .entry(day)
                .or_insert_with(|| Aggregate::new(&s.settings))
                .merge(&d.agg);
        }
        if let Some(h) = self.health.get_mut(d.slot) {
            *h = d.health;
        }
        if let Some(t) = d.dnstap {
            self.dnstap = Some(t);
        }
        d.agg.clear();
        if let Some(tx) = self.recycle.get(d.slot) {
            let _ = tx.try_send(d.agg);
        }
    }
}

/// Reloads the MaxMind DB files: every time (`forced`, on SIGHUP), or if one was replaced on
/// disk. Logs the outcome; true if anything was tried. A file that cannot be opened keeps the
/// databases in force (the workers never see a half-loaded one).
pub(super) fn geo_reload(live: &crate::aggregate::geo::Live, forced: bool) -> bool {
    let r = if forced {
        live.reload().map(|()| true)
    } else {
        live.reload_if_changed()
    };
    match r {
        Ok(false) => false,
        Ok(true) => {
            log::info!(
                "geoip: databases reloaded (generation {})",
                live.generation()
            );
            true
        }
        Err(e) => {
            log::error!("geoip: reload failed, keeping the databases in force: {e}");
            true
        }
    }
}

/// Writes the state of every day held: complete and let go once its grace after midnight has
/// passed, else as a refresh of a running day. A failed write is logged and counted and keeps
/// the day for the next tick; capture is never affected.
fn state_tick(out: &mut StateOut, shared: &Shared) {
    let cutoff = crate::export::rssac002::cutoff_day(crate::time::now_ns(), out.grace);
    let mut done = Vec::new();
    for (day, agg) in &mut out.days {
        let complete = *day < cutoff;
        match out.writer.write(*day, agg, complete) {
            Ok(p) => {
                info!("state: wrote {}", p.display());
                shared.state_files.fetch_add(1, Ordering::Relaxed);
                if complete {
                    done.push(*day);
                }
            }
            Err(e) => {
                shared.state_errors.fetch_add(1, Ordering::Relaxed);
                error!("state: {e}; will retry");
            }
        }
    }
    for day in done {
        out.days.remove(&day);
    }
}

/// Writes the intervals that ended more than `grace` ago. A failed write is logged and counted
/// and puts the rows back for the next tick; capture is never affected.
fn parquet_tick(total: &mut Aggregate, shared: &Shared, out: &ParquetOut, last: bool) {
    if let Some((q, stats)) = &out.queries {
        query_writer_tick(q, stats, shared);
    }
    let Some(dir) = &out.dir else { return };
    let cutoff = if last {
        u64::MAX
    } else {
        SystemTime::now()
            .checked_sub(out.grace)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64)
    };
    geo_parquet_tick(total, shared, out, dir, cutoff);
    let rows = total.series.take_before(cutoff);
    if rows.is_empty() {
        return;
    }
    let interval = total.series.interval_seconds();
    let written =
        parquet::write_intervals(dir, &out.node, interval, &rows).map(|p| (p, rows.len()));
    account(shared, written, || total.series.restore(&rows));
}

/// Counts a Parquet write's files (logged with their number of rows) or its error; after an
/// error `restore` puts the rows back for the next write.
fn account(
    shared: &Shared,
    written: Result<(Vec<std::path::PathBuf>, usize), parquet::ExportError>,
    restore: impl FnOnce(),
) {
    match written {
        Ok((paths, n)) => {
            for p in &paths {
                info!("parquet: wrote {} ({n} rows)", p.display());
            }
            shared
                .parquet_files
                .fetch_add(paths.len() as u64, Ordering::Relaxed);
        }
        Err(e) => {
            shared.parquet_errors.fetch_add(1, Ordering::Relaxed);
            error!("parquet: {e}; will retry at the next write");
            restore();
        }
    }
}

/// Writes the per-interval geography that ended before `cutoff` beside the interval table
/// under `dir`, as [`parquet_tick`] writes that table.
fn geo_parquet_tick(
    total: &mut Aggregate,
    shared: &Shared,
    out: &ParquetOut,
    dir: &std::path::Path,
    cutoff: u64,
) {
    let Some(g) = &mut total.geo else { return };
    let rows = g.intervals.take_before(cutoff);
    if rows.is_empty() {
        return;
    }
    let root = parquet::geo::geo_root(dir);
    let interval = g.intervals.interval_seconds();
    let written =
        parquet::geo::write_geo_intervals(&root, &out.node, interval, &rows, &g.db().regions);
    account(shared, written, || g.intervals.restore(&rows));
}

/// Tells the per-query writer to complete its files and copies its figures. The writer
/// completes files asynchronously: the figures read here include the files of the previous
/// tick's flush (the metrics lag one write interval).
fn query_writer_tick(q: &QueryExport, stats: &Mutex<WriterStats>, shared: &Shared) {
    let s = stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
    q.flush();
    shared
        .parquet_query_files
        .store(s.files.len() as u64, Ordering::Relaxed);
    shared.parquet_query_rows.store(s.rows, Ordering::Relaxed);
    let before = shared
        .parquet_query_errors
        .swap(s.errors, Ordering::Relaxed);
    if s.errors > before
        && let Some(e) = &s.last_error
    {
        error!("parquet: per-query files: {e}");
    }
}

/// Writes every finished UTC day, counting files and failures. A failed write puts the days
/// back, so the next tick retries; capture is never affected. False if a write failed.
fn rssac002_tick(total: &mut Aggregate, shared: &Shared, out: &RssacOut) -> bool {
    use crate::export::rssac002 as y;
    let cutoff = y::cutoff_day(crate::time::now_ns(), out.grace);
    let days = total.rssac002.take_days_before(cutoff);
    if days.is_empty() {
        return true;
    }
    match y::write_days(&out.dir, &out.service, &days, total.rssac002.cap()) {
        Ok(paths) => {
            for p in &paths {
                info!("rssac002: wrote {}", p.display());
            }
            shared
                .rssac002_files
                .fetch_add(paths.len() as u64, Ordering::Relaxed);
            true
        }
        Err(e) => {
            shared.rssac002_errors.fetch_add(1, Ordering::Relaxed);
            error!(
                "rssac002: cannot write into {}: {e}; will retry",
                out.dir.display()
            );
            total.rssac002.restore(days);
            false
        }
    }
}

/// Checks at start that the RSSAC002 directory can be written; a problem is logged and counted,
/// not fatal: capture matters more than a file that can be rewritten from the next day on.
pub(super) fn rssac002_probe(out: &RssacOut, shared: &Shared) {
    let probe = out.dir.join(".dnsobs-write-test");
    let r = std::fs::create_dir_all(&out.dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    if let Err(e) = r {
        // A full file system lets the file be created and refuses its bytes: leave nothing.
        let _ = std::fs::remove_file(&probe);
        shared.rssac002_errors.fetch_add(1, Ordering::Relaxed);
        error!(
            "rssac002: directory {} is not writable: {e}; capture continues",
            out.dir.display()
        );
    }
}

//! `dnsobs run`: live capture on every core, merged counters served on `/metrics`.
//!
//! Threads: one capture worker per (interface, fanout member), each owning its libpcap handle,
//! decoder and [`Aggregate`]; with `capture.dnstap_socket`, one dnstap worker serving every
//! writer on that socket, likewise with its own decoder and aggregate; one merger; one HTTP
//! thread; the main thread waits for signals.
//! No lock is taken per packet: a worker swaps its aggregate for a cleared one from its recycle
//! channel once per flush interval and sends the full one to the merger, which adds it into the
//! total under a mutex that only the merger and scrapes take.

pub mod privileges;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use log::{error, info, warn};

use crate::aggregate::Aggregate;
use crate::capture::dnstap::{self, server as tap};
use crate::capture::live::{Handle, HandleSettings, LiveError};
use crate::config::Config;
use crate::export::http;
use crate::pipeline::Worker;

/// Longest wait between attempts to reopen a failed interface.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

//------------ Shared state --------------------------------------------------

/// Capture health of one worker, as last reported.
#[derive(Clone, Debug, Default)]
pub struct CaptureHealth {
    /// Interface.
    pub iface: String,
    /// Worker index on that interface.
    pub worker: usize,
    /// Packets delivered to the worker.
    pub packets: u64,
    /// Dropped by the kernel (ring full), from `pcap_stats` `ps_drop`.
    pub kernel_drops: u64,
    /// Dropped by the interface or driver, `ps_ifdrop`.
    pub interface_drops: u64,
    /// Capture errors (interface down or gone, read failures).
    pub errors: u64,
    /// Whether the handle is open now.
    pub up: bool,
}

/// What the scrape path reads.
pub struct Shared {
    /// Merged counters of every worker.
    pub total: Mutex<Aggregate>,
    /// One entry per worker.
    pub health: Mutex<Vec<CaptureHealth>>,
    /// Outcome of the last reload (1 ok, 0 failed).
    pub reload_ok: AtomicBool,
    /// Time of the last successful (re)load, seconds since the epoch.
    pub reload_time: AtomicU64,
    /// Process start, seconds since the epoch.
    pub start_time: f64,
    /// RSSAC002 YAML files written.
    pub rssac002_files: AtomicU64,
    /// Failed attempts to write RSSAC002 files (directory missing, full or read-only).
    pub rssac002_errors: AtomicU64,
    /// Per-interval Parquet files written.
    pub parquet_files: AtomicU64,
    /// Failed Parquet writes (either table).
    pub parquet_errors: AtomicU64,
    /// Per-query Parquet files completed.
    pub parquet_query_files: AtomicU64,
    /// Failed per-query Parquet writes.
    pub parquet_query_errors: AtomicU64,
    /// Per-query rows written to Parquet.
    pub parquet_query_rows: AtomicU64,
    /// Per-query rows dropped because the writer was behind.
    pub parquet_query_rows_dropped: AtomicU64,
    /// Counters of the dnstap input, as last flushed (`None`: no dnstap socket configured).
    pub dnstap: Mutex<Option<dnstap::Stats>>,
}

impl Shared {
    /// True when every capture handle is open.
    pub fn capturing(&self) -> bool {
        let h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        !h.is_empty() && h.iter().all(|w| w.up)
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

//------------ Worker thread -------------------------------------------------

/// A worker's flush: its counters since the last one and its capture health.
struct Delta {
    slot: usize,
    agg: Aggregate,
    health: CaptureHealth,
    dnstap: Option<dnstap::Stats>,
}

/// Sends a worker's counters since the last flush to the merger. Never blocks on the packet
/// path: without a recycled aggregate to swap in, the counters keep accumulating until next
/// time. Shared by capture and dnstap workers.
/// Hands the worker's partial per-query batch to the Parquet writer (so rows appear within a
/// write interval) and adds the rows it had to drop to the shared counter.
fn ship_log(worker: &mut Worker, shared: &Shared) {
    if let Some(l) = worker.log.as_mut() {
        l.ship();
        let dropped = std::mem::take(&mut l.dropped);
        if dropped > 0 {
            shared
                .parquet_query_rows_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

fn send_delta(
    worker: &mut Worker,
    slot: usize,
    health: &CaptureHealth,
    dnstap: Option<&dnstap::Stats>,
    channels: (&Sender<Delta>, &Receiver<Aggregate>),
    last: bool,
) {
    let (to_merger, recycle) = channels;
    let spare = if last {
        recycle.recv_timeout(Duration::from_secs(2)).ok()
    } else {
        recycle.try_recv().ok()
    };
    let Some(spare) = spare else { return };
    let mut agg = std::mem::replace(&mut worker.agg, spare);
    // Queries still waiting for their response stay with the worker that will see it.
    worker.agg.latency.take_pending(&mut agg.latency);
    worker.agg.hygiene.take_table(&mut agg.hygiene);
    worker.agg.ithi.take_cache(&mut agg.ithi);
    let delta = Delta {
        slot,
        agg,
        health: health.clone(),
        dnstap: dnstap.cloned(),
    };
    if last {
        let _ = to_merger.send_timeout(delta, Duration::from_secs(2));
    } else if let Err(e) = to_merger.try_send(delta) {
        // The merger is behind: take the counters back, nothing is lost.
        let d = e.into_inner();
        let mut spare = std::mem::replace(&mut worker.agg, d.agg);
        worker.agg.latency.take_pending(&mut spare.latency);
        worker.agg.hygiene.take_table(&mut spare.hygiene);
        worker.agg.ithi.take_cache(&mut spare.ithi);
        worker.agg.merge(&spare);
    }
}

/// Messages to a worker.
enum Control {
    Filter(String),
}

struct CaptureWorker {
    slot: usize,
    settings: HandleSettings,
    handle: Option<Handle>,
    worker: Worker,
    health: CaptureHealth,
    to_merger: Sender<Delta>,
    recycle: Receiver<Aggregate>,
    control: Receiver<Control>,
    stop: Arc<AtomicBool>,
    flush_every: Duration,
    /// Drops counted by handles closed since (a reopened handle starts from zero).
    drops_before: (u64, u64),
    shared: Arc<Shared>,
}

impl CaptureWorker {
    fn run(mut self) {
        let mut last_flush = Instant::now();
        let mut backoff = Duration::from_secs(1);
        let mut next_try = Instant::now();
        let mut since_check = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(h) = self.handle.as_mut() else {
                if Instant::now() >= next_try {
                    self.reopen(&mut backoff, &mut next_try);
                } else {
                    thread::sleep(Duration::from_millis(100));
                }
                self.maybe_flush(&mut last_flush);
                continue;
            };
            match h.next_packet() {
                Ok(Some(pkt)) => {
                    self.health.packets += 1;
                    self.worker.process(&pkt);
                    since_check += 1;
                    if since_check >= 1024 {
                        since_check = 0;
                        self.maybe_flush(&mut last_flush);
                    }
                }
                Ok(None) => self.maybe_flush(&mut last_flush),
                Err(e) => {
                    error!(
                        "interface {}: capture failed: {e}; retrying",
                        self.settings.iface
                    );
                    self.health.errors += 1;
                    self.health.up = false;
                    if let Some(mut h) = self.handle.take() {
                        h.refresh_stats();
                        self.drops_before.0 += h.dropped.0;
                        self.drops_before.1 += h.dropped.1;
                    }
                    backoff = Duration::from_secs(1);
                    next_try = Instant::now() + backoff;
                }
            }
        }
        self.flush(true);
    }

    fn reopen(&mut self, backoff: &mut Duration, next_try: &mut Instant) {
        match Handle::open(&self.settings) {
            Ok(h) => {
                info!(
                    "interface {}: capture reopened (worker {})",
                    self.settings.iface, self.health.worker
                );
                self.handle = Some(h);
                self.health.up = true;
            }
            Err(e) => {
                self.health.errors += 1;
                warn!("{e}; next attempt in {} s", backoff.as_secs());
                *next_try = Instant::now() + *backoff;
                *backoff = (*backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn maybe_flush(&mut self, last: &mut Instant) {
        if last.elapsed() >= self.flush_every {
            *last = Instant::now();
            self.flush(false);
        }
    }

    /// Sends the counters since the last flush to the merger. Never blocks on the packet path:
    /// without a recycled aggregate to swap in, the counters keep accumulating until next time.
    fn flush(&mut self, last: bool) {
        while let Ok(Control::Filter(f)) = self.control.try_recv() {
            self.settings.filter = f;
            if let Some(h) = self.handle.as_mut()
                && let Err(e) = h.set_filter(&self.settings.filter)
            {
                error!("{e}");
            }
        }
        if let Some(h) = self.handle.as_mut() {
            h.refresh_stats();
            self.health.kernel_drops = self.drops_before.0 + h.dropped.0;
            self.health.interface_drops = self.drops_before.1 + h.dropped.1;
        }
        ship_log(&mut self.worker, &self.shared);
        send_delta(
            &mut self.worker,
            self.slot,
            &self.health,
            None,
            (&self.to_merger, &self.recycle),
            last,
        );
    }
}

//------------ dnstap worker -------------------------------------------------

/// Serves the dnstap socket: every writer's frames go through one decoder and one aggregate
/// (so a query and its response, logged separately, meet for latency matching).
struct DnstapWorker {
    slot: usize,
    server: tap::Server,
    worker: Worker,
    health: CaptureHealth,
    to_merger: Sender<Delta>,
    recycle: Receiver<Aggregate>,
    stop: Arc<AtomicBool>,
    flush_every: Duration,
    shared: Arc<Shared>,
}

impl DnstapWorker {
    fn run(mut self) {
        let mut last_flush = Instant::now();
        // Short enough to notice `stop` and flush on time when no writer sends anything.
        let timeout_ms = self.flush_every.as_millis().clamp(10, 100) as i32;
        while !self.stop.load(Ordering::Relaxed) {
            // A message without a timestamp takes the time of the poll round that read it.
            let now = crate::export::rssac002::now_ns();
            let worker = &mut self.worker;
            self.server.poll_once(timeout_ms, &mut |payload, stats| {
                dnstap::on_payload(payload, now, stats, &mut |d| {
                    worker.process_dns(&d.ctx, d.wire);
                });
            });
            if last_flush.elapsed() >= self.flush_every {
                last_flush = Instant::now();
                self.flush(false);
            }
        }
        self.flush(true);
    }

    fn flush(&mut self, last: bool) {
        self.health.packets = self.server.stats.data_frames;
        ship_log(&mut self.worker, &self.shared);
        send_delta(
            &mut self.worker,
            self.slot,
            &self.health,
            Some(&self.server.stats),
            (&self.to_merger, &self.recycle),
            last,
        );
    }
}

//------------ Merger --------------------------------------------------------

/// Where and how the daemon writes RSSAC002 daily documents.
struct RssacOut {
    dir: PathBuf,
    service: String,
    grace: Duration,
}

/// How often the merger looks for finished UTC days (cheap: one clock read and a lock when
/// nothing is due), so a day is written within a second of its grace ending.
const RSSAC_CHECK: Duration = Duration::from_secs(1);
/// After a failed write, when to retry: often enough to recover soon after space is freed,
/// seldom enough not to flood the log with one error line a second.
const RSSAC_RETRY: Duration = Duration::from_secs(20);

/// Where and how the daemon writes Parquet files.
struct ParquetOut {
    /// Root of the per-interval table ("" = off; the per-query table may still be on).
    dir: Option<PathBuf>,
    node: String,
    every: Duration,
    grace: Duration,
    /// The per-query writer, told to complete its files at every write, and its figures.
    queries: Option<(
        crate::export::parquet::QueryExport,
        Arc<Mutex<crate::export::parquet::WriterStats>>,
    )>,
}

fn merge_loop(
    rx: Receiver<Delta>,
    recycle: Vec<Sender<Aggregate>>,
    shared: Arc<Shared>,
    rssac: Option<RssacOut>,
    parquet: Option<ParquetOut>,
) {
    let mut next_check = Instant::now() + RSSAC_CHECK;
    let mut last_parquet = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(mut d) => {
                shared
                    .total
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .merge(&d.agg);
                if let Some(h) = shared
                    .health
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_mut(d.slot)
                {
                    *h = d.health;
                }
                if let Some(t) = d.dnstap {
                    *shared.dnstap.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
                }
                d.agg.clear();
                if let Some(tx) = recycle.get(d.slot) {
                    let _ = tx.try_send(d.agg);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Every worker has flushed: write the days already complete once more, so
                // stopping never loses a finished day (one due, or one whose write failed).
                if let Some(out) = &rssac {
                    rssac002_tick(&shared, out);
                }
                // Stopping: every interval still held goes out, the current one included.
                if let Some(out) = &parquet {
                    parquet_tick(&shared, out, true);
                }
                return;
            }
        }
        if let Some(out) = &rssac
            && Instant::now() >= next_check
        {
            let ok = rssac002_tick(&shared, out);
            next_check = Instant::now() + if ok { RSSAC_CHECK } else { RSSAC_RETRY };
        }
        if let Some(out) = &parquet
            && last_parquet.elapsed() >= out.every
        {
            last_parquet = Instant::now();
            parquet_tick(&shared, out, false);
        }
    }
}

/// Writes the intervals that ended more than `grace` ago (outside the lock). A failed write is
/// logged and counted and puts the rows back for the next tick; capture is never affected.
fn parquet_tick(shared: &Shared, out: &ParquetOut, last: bool) {
    use crate::export::parquet;
    if let Some((q, stats)) = &out.queries {
        // The writer completes files asynchronously: the figures read here include the files
        // of the previous tick's flush (the metrics lag one write interval).
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
    let Some(dir) = &out.dir else { return };
    let cutoff = if last {
        u64::MAX
    } else {
        SystemTime::now()
            .checked_sub(out.grace)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64)
    };
    let (rows, interval) = {
        let mut t = shared.total.lock().unwrap_or_else(PoisonError::into_inner);
        (t.series.take_before(cutoff), t.series.interval_seconds())
    };
    if rows.is_empty() {
        return;
    }
    match parquet::write_intervals(dir, &out.node, interval, &rows) {
        Ok(paths) => {
            for p in &paths {
                info!("parquet: wrote {} ({} rows)", p.display(), rows.len());
            }
            shared
                .parquet_files
                .fetch_add(paths.len() as u64, Ordering::Relaxed);
        }
        Err(e) => {
            shared.parquet_errors.fetch_add(1, Ordering::Relaxed);
            error!("parquet: {e}; will retry at the next write");
            shared
                .total
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .series
                .restore(&rows);
        }
    }
}

/// Writes every finished UTC day (outside the lock), counting files and failures. A failed
/// write puts the days back, so the next tick retries; capture is never affected. False if a
/// write failed.
fn rssac002_tick(shared: &Shared, out: &RssacOut) -> bool {
    use crate::export::rssac002 as y;
    let cutoff = y::cutoff_day(y::now_ns(), out.grace);
    let (days, cap) = {
        let mut t = shared.total.lock().unwrap_or_else(PoisonError::into_inner);
        (t.rssac002.take_days_before(cutoff), t.rssac002.cap())
    };
    if days.is_empty() {
        return true;
    }
    match y::write_days(&out.dir, &out.service, &days, cap) {
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
            shared
                .total
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .rssac002
                .restore(days);
            false
        }
    }
}

/// Checks at start that the RSSAC002 directory can be written; a problem is logged and counted,
/// not fatal: capture matters more than a file that can be rewritten from the next day on.
fn rssac002_probe(out: &RssacOut, shared: &Shared) {
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

//------------ Run -----------------------------------------------------------

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No interface and no dnstap socket configured.
    #[error(
        "no interface to capture on: set capture.interfaces in the config or pass --interface \
         (or set capture.dnstap_socket)"
    )]
    NoInterface,
    /// The dnstap socket could not be set up.
    #[error(transparent)]
    Dnstap(#[from] tap::ServerError),
    /// A capture handle could not be opened.
    #[error(transparent)]
    Capture(#[from] LiveError),
    /// The metrics address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why (printed in the message, not chained, so it appears once).
        error: std::io::Error,
    },
    /// A thread or the HTTP runtime could not be started.
    #[error("cannot start the {what}: {error}")]
    Start {
        /// What.
        what: &'static str,
        /// Why.
        error: std::io::Error,
    },
    /// Switching user failed.
    #[error(transparent)]
    Privileges(#[from] privileges::PrivilegeError),
}

/// Runs until SIGTERM/SIGINT. `reload` re-reads the configuration on SIGHUP.
pub fn run(
    mut config: Config,
    reload: impl Fn() -> Result<Config, String>,
) -> Result<(), StartError> {
    let ifaces = config.raw.capture.interfaces.clone();
    let tap_path = config.raw.capture.dnstap_socket.clone();
    if ifaces.is_empty() && tap_path.is_empty() {
        return Err(StartError::NoInterface);
    }
    // Everything that needs privileges first: the listening socket and the capture handles.
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|error| StartError::Listen {
            addr: config.listen,
            error,
        })?;
    let group_base = (std::process::id() & 0x7FFF) as u16;
    let mut handles = Vec::new();
    for (i, iface) in ifaces.iter().enumerate() {
        for w in 0..config.workers {
            let s = HandleSettings {
                iface: iface.clone(),
                snaplen: config.raw.capture.snaplen,
                buffer_size: config.raw.capture.buffer_size_bytes,
                promiscuous: config.raw.capture.promiscuous,
                filter: config.bpf_filter.clone(),
                fanout_group: Some(group_base.wrapping_add(i as u16)),
            };
            match Handle::open(&s) {
                Ok(h) => handles.push((s, w, h)),
                Err(LiveError::Fanout { iface, source }) if w == 0 => {
                    // No PACKET_FANOUT (an old kernel, a device that refuses it): one handle
                    // and one worker for this interface, without a group.
                    warn!("interface {iface}: PACKET_FANOUT unavailable ({source}): one worker");
                    let s = HandleSettings {
                        fanout_group: None,
                        ..s
                    };
                    let h = Handle::open(&s)?;
                    handles.push((s, w, h));
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    // The dnstap socket too is made before the privilege drop (its directory, e.g. /run, may
    // be root's), then handed to the daemon user so it stays that user's to serve and remove.
    let tap_server = if tap_path.is_empty() {
        None
    } else {
        let c = &config.raw.capture;
        let server = tap::Server::bind(&tap::Settings {
            path: PathBuf::from(&tap_path),
            mode: c.dnstap_socket_mode,
            max_connections: c.dnstap_max_connections,
            max_frame: c.dnstap_max_frame_bytes,
        })?;
        let user = &config.raw.daemon.user;
        // SAFETY: geteuid has no preconditions.
        if !user.is_empty() && unsafe { libc::geteuid() } == 0 {
            let (uid, gid) = privileges::lookup(user)?;
            server.chown(uid, gid)?;
        }
        Some(server)
    };
    if !config.raw.daemon.user.is_empty() {
        privileges::drop_to(&config.raw.daemon.user)?;
    }
    if !ifaces.is_empty() {
        info!(
            "capturing on {} with {} worker(s) each, filter `{}`",
            ifaces.join(", "),
            config.workers,
            config.bpf_filter,
        );
    }
    if let Some(s) = &tap_server {
        info!("dnstap: reading Frame Streams on {}", s.path().display());
    }
    info!("metrics on http://{}/metrics", config.listen);

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        total: Mutex::new(Aggregate::new(&config.aggregate)),
        health: Mutex::new(
            handles
                .iter()
                .map(|(s, w, _)| CaptureHealth {
                    iface: s.iface.clone(),
                    worker: *w,
                    up: true,
                    ..Default::default()
                })
                .chain(tap_server.as_ref().map(|_| dnstap_health()))
                .collect(),
        ),
        reload_ok: AtomicBool::new(true),
        reload_time: AtomicU64::new(now_secs() as u64),
        start_time: now_secs(),
        rssac002_files: AtomicU64::new(0),
        rssac002_errors: AtomicU64::new(0),
        parquet_files: AtomicU64::new(0),
        parquet_errors: AtomicU64::new(0),
        parquet_query_files: AtomicU64::new(0),
        parquet_query_errors: AtomicU64::new(0),
        parquet_query_rows: AtomicU64::new(0),
        parquet_query_rows_dropped: AtomicU64::new(0),
        dnstap: Mutex::new(tap_server.as_ref().map(|_| dnstap::Stats::default())),
    });
    let pq = &config.raw.export.parquet;
    let node = if pq.node.is_empty() {
        crate::export::parquet::default_node()
    } else {
        pq.node.clone()
    };
    // The daemon never waits for the per-query writer: rows it cannot take are counted.
    let (query_export, query_writer) = if pq.queries_directory.is_empty() {
        (None, None)
    } else {
        match crate::export::parquet::QueryExport::start(
            PathBuf::from(&pq.queries_directory),
            node.clone(),
            pq.query_batches,
            false,
        ) {
            Ok((e, w)) => (Some(e), Some(w)),
            Err(e) => {
                shared.parquet_errors.fetch_add(1, Ordering::Relaxed);
                error!("parquet: per-query export off: {e}");
                (None, None)
            }
        }
    };
    let slots = handles.len() + usize::from(tap_server.is_some());
    let (to_merger, from_workers) = bounded::<Delta>(slots * 2);
    let new_recycle = |recycle_tx: &mut Vec<Sender<Aggregate>>| {
        let (rtx, rrx) = bounded::<Aggregate>(2);
        // Two spares per worker, allocated now so flushing never allocates.
        let _ = rtx.send(Aggregate::new(&config.aggregate));
        let _ = rtx.send(Aggregate::new(&config.aggregate));
        recycle_tx.push(rtx);
        rrx
    };
    let mut recycle_tx = Vec::new();
    let mut controls = Vec::new();
    let mut threads = Vec::new();
    let flush_every = Duration::from_secs_f64(config.raw.aggregate.flush_interval_seconds);
    for (slot, (settings, w, h)) in handles.into_iter().enumerate() {
        let rrx = new_recycle(&mut recycle_tx);
        let (ctx, crx) = bounded::<Control>(4);
        controls.push(ctx);
        let cw = CaptureWorker {
            slot,
            health: CaptureHealth {
                iface: settings.iface.clone(),
                worker: w,
                up: true,
                ..Default::default()
            },
            settings,
            handle: Some(h),
            worker: Worker::with_log(&config.decode, &config.aggregate, query_export.as_ref()),
            to_merger: to_merger.clone(),
            recycle: rrx,
            control: crx,
            stop: Arc::clone(&stop),
            flush_every,
            drops_before: (0, 0),
            shared: Arc::clone(&shared),
        };
        let name = format!("capture-{slot}");
        threads.push(
            thread::Builder::new()
                .name(name)
                .spawn(move || cw.run())
                .map_err(|error| StartError::Start {
                    what: "capture threads",
                    error,
                })?,
        );
    }
    if let Some(server) = tap_server {
        let dw = DnstapWorker {
            slot: recycle_tx.len(),
            server,
            worker: Worker::with_log(&config.decode, &config.aggregate, query_export.as_ref()),
            health: dnstap_health(),
            to_merger: to_merger.clone(),
            recycle: new_recycle(&mut recycle_tx),
            stop: Arc::clone(&stop),
            flush_every,
            shared: Arc::clone(&shared),
        };
        threads.push(
            thread::Builder::new()
                .name("dnstap".into())
                .spawn(move || dw.run())
                .map_err(|error| StartError::Start {
                    what: "dnstap thread",
                    error,
                })?,
        );
    }
    drop(to_merger);
    let rssac = (!config.raw.rssac002.directory.is_empty()).then(|| RssacOut {
        dir: PathBuf::from(&config.raw.rssac002.directory),
        service: config.raw.rssac002.service.clone(),
        grace: Duration::from_secs(config.raw.rssac002.grace_seconds),
    });
    if let Some(out) = &rssac {
        rssac002_probe(out, &shared);
    }
    let parquet = (!pq.directory.is_empty() || query_export.is_some()).then(|| ParquetOut {
        dir: (!pq.directory.is_empty()).then(|| PathBuf::from(&pq.directory)),
        node,
        every: Duration::from_secs(pq.write_interval_seconds),
        grace: Duration::from_secs(pq.grace_seconds),
        queries: query_export
            .clone()
            .zip(query_writer.as_ref().map(|w| w.stats_handle())),
    });
    let merger = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("merger".into())
            .spawn(move || merge_loop(from_workers, recycle_tx, shared, rssac, parquet))
            .map_err(|error| StartError::Start {
                what: "merger thread",
                error,
            })?
    };
    let server = http::Server::start(listener, Arc::clone(&shared), &config).map_err(|error| {
        StartError::Start {
            what: "metrics endpoint",
            error,
        }
    })?;

    wait_for_signals(&mut config, &reload, &controls, &shared);

    info!("stopping: draining capture workers");
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = merger.join();
    // Every sender is gone now (workers and merger joined): the writer completes its files.
    drop(query_export);
    if let Some(w) = query_writer {
        let s = w.join();
        info!(
            "parquet: {} query rows in {} file(s)",
            s.rows,
            s.files.len()
        );
        if let Some(e) = s.last_error {
            error!(
                "parquet: {} per-query write failure(s), last: {e}",
                s.errors
            );
        }
    }
    server.stop();
    let t = shared.total.lock().unwrap_or_else(PoisonError::into_inner);
    let drops: u64 = shared
        .health
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|h| h.kernel_drops + h.interface_drops)
        .sum();
    info!(
        "final counts: frames={} dns_messages={} queries={} responses={} malformed={} capture_drops={}",
        t.frames,
        t.dns_messages,
        t.total_queries(),
        t.total_responses(),
        t.total_malformed(),
        drops
    );
    Ok(())
}

/// The health entry of the dnstap worker: "interface" `dnstap`, up while the socket listens.
fn dnstap_health() -> CaptureHealth {
    CaptureHealth {
        iface: "dnstap".into(),
        worker: 0,
        up: true,
        ..Default::default()
    }
}

fn wait_for_signals(
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
        match reload() {
            Err(e) => {
                shared.reload_ok.store(false, Ordering::Relaxed);
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
                info!("configuration reloaded from {}", new.source.display());
                // Only the live keys change the running configuration.
                config.bpf_filter = new.bpf_filter;
                config.raw.capture.bpf_filter = new.raw.capture.bpf_filter;
                config.log_level = new.log_level;
                config.raw.daemon.log_level = new.raw.daemon.log_level;
            }
        }
    }
}

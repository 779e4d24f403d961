//! `dnsobs run`: live capture on every core, merged counters served on `/metrics`.
//!
//! Threads: one capture worker per (interface, fanout member), each owning its libpcap handle,
//! decoder and [`Aggregate`]; one merger; one HTTP thread; the main thread waits for signals.
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
        let spare = if last {
            self.recycle.recv_timeout(Duration::from_secs(2)).ok()
        } else {
            self.recycle.try_recv().ok()
        };
        let Some(spare) = spare else { return };
        let mut agg = std::mem::replace(&mut self.worker.agg, spare);
        // Queries still waiting for their response stay with the worker that will see it.
        self.worker.agg.latency.take_pending(&mut agg.latency);
        self.worker.agg.hygiene.take_table(&mut agg.hygiene);
        self.worker.agg.ithi.take_cache(&mut agg.ithi);
        let delta = Delta {
            slot: self.slot,
            agg,
            health: self.health.clone(),
        };
        if last {
            let _ = self.to_merger.send_timeout(delta, Duration::from_secs(2));
        } else if let Err(e) = self.to_merger.try_send(delta) {
            // The merger is behind: take the counters back, nothing is lost.
            let d = e.into_inner();
            let mut spare = std::mem::replace(&mut self.worker.agg, d.agg);
            self.worker.agg.latency.take_pending(&mut spare.latency);
            self.worker.agg.hygiene.take_table(&mut spare.hygiene);
            self.worker.agg.ithi.take_cache(&mut spare.ithi);
            self.worker.agg.merge(&spare);
        }
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

fn merge_loop(
    rx: Receiver<Delta>,
    recycle: Vec<Sender<Aggregate>>,
    shared: Arc<Shared>,
    rssac: Option<RssacOut>,
) {
    let mut next_check = Instant::now() + RSSAC_CHECK;
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
                return;
            }
        }
        if let Some(out) = &rssac
            && Instant::now() >= next_check
        {
            let ok = rssac002_tick(&shared, out);
            next_check = Instant::now() + if ok { RSSAC_CHECK } else { RSSAC_RETRY };
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
    /// No interface configured.
    #[error("no interface to capture on: set capture.interfaces in the config or pass --interface")]
    NoInterface,
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
    if ifaces.is_empty() {
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
    if !config.raw.daemon.user.is_empty() {
        privileges::drop_to(&config.raw.daemon.user)?;
    }
    info!(
        "capturing on {} with {} worker(s) each, filter `{}`; metrics on http://{}/metrics",
        ifaces.join(", "),
        config.workers,
        config.bpf_filter,
        config.listen
    );

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
                .collect(),
        ),
        reload_ok: AtomicBool::new(true),
        reload_time: AtomicU64::new(now_secs() as u64),
        start_time: now_secs(),
        rssac002_files: AtomicU64::new(0),
        rssac002_errors: AtomicU64::new(0),
    });
    let (to_merger, from_workers) = bounded::<Delta>(handles.len() * 2);
    let mut recycle_tx = Vec::new();
    let mut controls = Vec::new();
    let mut threads = Vec::new();
    let flush_every = Duration::from_secs_f64(config.raw.aggregate.flush_interval_seconds);
    for (slot, (settings, w, h)) in handles.into_iter().enumerate() {
        let (rtx, rrx) = bounded::<Aggregate>(2);
        // Two spares per worker, allocated now so flushing never allocates.
        let _ = rtx.send(Aggregate::new(&config.aggregate));
        let _ = rtx.send(Aggregate::new(&config.aggregate));
        recycle_tx.push(rtx);
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
            worker: Worker::new(&config.decode, &config.aggregate),
            to_merger: to_merger.clone(),
            recycle: rrx,
            control: crx,
            stop: Arc::clone(&stop),
            flush_every,
            drops_before: (0, 0),
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
    drop(to_merger);
    let rssac = (!config.raw.rssac002.directory.is_empty()).then(|| RssacOut {
        dir: PathBuf::from(&config.raw.rssac002.directory),
        service: config.raw.rssac002.service.clone(),
        grace: Duration::from_secs(config.raw.rssac002.grace_seconds),
    });
    if let Some(out) = &rssac {
        rssac002_probe(out, &shared);
    }
    let merger = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("merger".into())
            .spawn(move || merge_loop(from_workers, recycle_tx, shared, rssac))
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

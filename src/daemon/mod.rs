//! `dnsobs run`: live capture on every core, merged counters served on `/metrics`.
//!
//! Threads ([`workers`], [`merger`], [`signals`]): one capture worker per (interface, fanout
//! member), each owning its libpcap handle, decoder and [`Aggregate`]; with
//! `capture.dnstap_socket`, one dnstap worker serving every writer on that socket, likewise
//! with its own decoder and aggregate; one merger, which owns the total, writes RSSAC002 and
//! Parquet files and publishes a [`Snapshot`](crate::snapshot::Snapshot); one HTTP thread
//! rendering the published snapshot; the main thread waits for signals.
//! No lock is taken per packet: a worker swaps its aggregate for a cleared one from its recycle
//! channel once per flush interval and sends the full one to the merger.

mod merger;
pub mod privileges;
mod signals;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded};
use log::{error, info, warn};

use crate::aggregate::Aggregate;
use crate::capture::dnstap::{self, server as tap};
use crate::capture::live::{Handle, HandleSettings, LiveError};
use crate::config::Config;
use crate::export::{http, parquet, web};
use crate::pipeline::Worker;
use crate::snapshot::{Input, Published, Snapshot, WriterCounts};
use merger::{Merger, ParquetOut, RssacOut};
use workers::{CaptureWorker, Control, Delta, DnstapWorker};

pub use crate::snapshot::CaptureHealth;

//------------ Shared state --------------------------------------------------

/// What the threads share besides the channels: the published snapshot, and the counters
/// that threads other than the merger update (file writers, reloads).
pub struct Shared {
    /// The latest snapshot, for the HTTP thread.
    pub published: Arc<Published>,
    /// The web configuration in force (replaced on reload) and the endpoint's refusals.
    pub web: Arc<web::Live>,
    /// Outcome of the last reload (1 ok, 0 failed).
    pub reload_ok: AtomicBool,
    /// Time of the last successful (re)load, seconds since the epoch.
    pub reload_time: AtomicU64,
    /// Set when the reload status changed, so the merger publishes at once.
    pub status_changed: AtomicBool,
    /// Process start, seconds since the epoch.
    pub start_time: f64,
    /// RSSAC002 YAML files written.
    pub rssac002_files: AtomicU64,
    /// Failed attempts to write RSSAC002 files (directory missing, full or read-only).
    pub rssac002_errors: AtomicU64,
    /// Day state files written.
    pub state_files: AtomicU64,
    /// Failed day state writes.
    pub state_errors: AtomicU64,
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
}

impl Shared {
    fn new(published: Arc<Published>, web: Option<Arc<web::Web>>) -> Self {
        let zero = || AtomicU64::new(0);
        Self {
            published,
            web: Arc::new(web::Live::new(web)),
            reload_ok: AtomicBool::new(true),
            reload_time: AtomicU64::new(now_secs() as u64),
            status_changed: AtomicBool::new(false),
            start_time: now_secs(),
            rssac002_files: zero(),
            rssac002_errors: zero(),
            state_files: zero(),
            state_errors: zero(),
            parquet_files: zero(),
            parquet_errors: zero(),
            parquet_query_files: zero(),
            parquet_query_errors: zero(),
            parquet_query_rows: zero(),
            parquet_query_rows_dropped: zero(),
        }
    }

    /// The writers' counters as of now.
    pub fn writers(&self) -> WriterCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriterCounts {
            rssac002_files: get(&self.rssac002_files),
            rssac002_errors: get(&self.rssac002_errors),
            state_files: get(&self.state_files),
            state_errors: get(&self.state_errors),
            parquet_files: get(&self.parquet_files),
            parquet_errors: get(&self.parquet_errors),
            parquet_query_files: get(&self.parquet_query_files),
            parquet_query_errors: get(&self.parquet_query_errors),
            parquet_query_rows: get(&self.parquet_query_rows),
            parquet_query_rows_dropped: get(&self.parquet_query_rows_dropped),
        }
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

//------------ Run -----------------------------------------------------------

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The fleet key of `[state]` was refused.
    #[error("state.key_file: {0}")]
    Key(#[from] crate::state::KeyError),
    /// The state directory could not be made.
    #[error("state.directory: {0}")]
    State(#[from] crate::state::StateError),
    /// The hash seed was fixed before the fleet key was read (a bug).
    #[error("state.key_file: the hash seed was chosen before the key was read")]
    Seed,
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

/// A capture handle opened before the privilege drop: its settings, worker index, handle.
type Opened = (HandleSettings, usize, Handle);

/// Opens every capture handle (one per interface and fanout member).
fn open_handles(config: &Config) -> Result<Vec<Opened>, StartError> {
    let group_base = (std::process::id() & 0x7FFF) as u16;
    let mut handles = Vec::new();
    for (i, iface) in config.raw.capture.interfaces.iter().enumerate() {
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
    Ok(handles)
}

/// The dnstap socket too is made before the privilege drop (its directory, e.g. /run, may be
/// root's), then handed to the daemon user so it stays that user's to serve and remove.
fn open_dnstap(config: &Config) -> Result<Option<tap::Server>, StartError> {
    let c = &config.raw.capture;
    if c.dnstap_socket.is_empty() {
        return Ok(None);
    }
    let server = tap::Server::bind(&tap::Settings {
        path: PathBuf::from(&c.dnstap_socket),
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
    Ok(Some(server))
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

/// The Parquet node name: configured, or the host name.
fn parquet_node(config: &Config) -> String {
    let pq = &config.raw.export.parquet;
    if pq.node.is_empty() {
        parquet::default_node()
    } else {
        pq.node.clone()
    }
}

/// Starts the per-query Parquet writer if configured. The daemon never waits for it: rows it
/// cannot take are counted.
fn start_query_export(
    config: &Config,
    shared: &Shared,
) -> (Option<parquet::QueryExport>, Option<parquet::QueryWriter>) {
    let pq = &config.raw.export.parquet;
    if pq.queries_directory.is_empty() {
        return (None, None);
    }
    match parquet::QueryExport::start(
        PathBuf::from(&pq.queries_directory),
        parquet_node(config),
        pq.query_batches,
        false,
        config.privacy.clone(),
    ) {
        Ok((e, w)) => (Some(e), Some(w)),
        Err(e) => {
            shared.parquet_errors.fetch_add(1, Ordering::Relaxed);
            error!("parquet: per-query export off: {e}");
            (None, None)
        }
    }
}

fn spawn(
    name: String,
    what: &'static str,
    f: impl FnOnce() + Send + 'static,
) -> Result<thread::JoinHandle<()>, StartError> {
    thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(|error| StartError::Start { what, error })
}

/// The worker threads, and what the merger and the signal handler need of them.
struct Workers {
    threads: Vec<thread::JoinHandle<()>>,
    controls: Vec<Sender<Control>>,
    recycle: Vec<Sender<Aggregate>>,
    from_workers: Receiver<Delta>,
    health: Vec<CaptureHealth>,
}

/// Starts one capture worker per handle and the dnstap worker, if any.
fn start_workers(
    config: &Config,
    handles: Vec<Opened>,
    tap_server: Option<tap::Server>,
    query_export: Option<&parquet::QueryExport>,
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
) -> Result<Workers, StartError> {
    let slots = handles.len() + usize::from(tap_server.is_some());
    let (to_merger, from_workers) = bounded::<Delta>(slots * 2);
    let mut w = Workers {
        threads: Vec::new(),
        controls: Vec::new(),
        recycle: Vec::new(),
        from_workers,
        health: Vec::new(),
    };
    // A worker runs for as long as the daemon: it gives an AS counters of its own for life
    // (its source cache refers to them), so the `max_asns` cap is applied where counters meet
    // by AS number (the merger's total), not to each worker's first ASes for good.
    let mut workers_settings = config.aggregate.clone();
    workers_settings.geo_settings.max_asns = crate::aggregate::geo::asns::MAX_SLOTS;
    let workers_settings = workers_settings;
    let recycled = || {
        let (rtx, rrx) = bounded::<Aggregate>(2);
        // Two spares per worker, allocated now so flushing never allocates.
        let _ = rtx.send(Aggregate::new(&workers_settings));
        let _ = rtx.send(Aggregate::new(&workers_settings));
        (rtx, rrx)
    };
    let flush_every = Duration::from_secs_f64(config.raw.aggregate.flush_interval_seconds);
    let worker = || Worker::with_log(&config.decode, &workers_settings, query_export);
    for (slot, (settings, index, h)) in handles.into_iter().enumerate() {
        let (rtx, rrx) = recycled();
        let (ctx, crx) = bounded::<Control>(4);
        let health = CaptureHealth {
            iface: settings.iface.clone(),
            worker: index,
            up: true,
            ..Default::default()
        };
        let cw = CaptureWorker {
            slot,
            health: health.clone(),
            settings,
            handle: Some(h),
            worker: worker(),
            to_merger: to_merger.clone(),
            recycle: rrx,
            kept: None,
            control: crx,
            stop: Arc::clone(stop),
            flush_every,
            drops_before: (0, 0),
            shared: Arc::clone(shared),
        };
        w.threads.push(spawn(
            format!("capture-{slot}"),
            "capture threads",
            move || cw.run(),
        )?);
        w.recycle.push(rtx);
        w.controls.push(ctx);
        w.health.push(health);
    }
    if let Some(server) = tap_server {
        let (rtx, rrx) = recycled();
        let dw = DnstapWorker {
            slot: w.recycle.len(),
            server,
            worker: worker(),
            health: dnstap_health(),
            to_merger,
            recycle: rrx,
            kept: None,
            stop: Arc::clone(stop),
            flush_every,
            shared: Arc::clone(shared),
        };
        w.threads
            .push(spawn("dnstap".into(), "dnstap thread", move || dw.run())?);
        w.recycle.push(rtx);
        w.health.push(dnstap_health());
    }
    Ok(w)
}

/// Reads the fleet key of `[state]`, if configured, and makes its seed the process's.
fn state_key(config: &Config) -> Result<Option<crate::state::FleetKey>, StartError> {
    let s = &config.raw.state;
    if s.directory.is_empty() {
        return Ok(None);
    }
    let key = crate::state::FleetKey::load(Path::new(&s.key_file))?;
    crate::aggregate::sketch::set_process_seed(key.seed).map_err(|_| StartError::Seed)?;
    Ok(Some(key))
}

/// The day state writer of `[state]` (its directory made now, as the daemon's user).
fn state_out(config: &Config, key: crate::state::FleetKey) -> Result<merger::StateOut, StartError> {
    let s = &config.raw.state;
    let node = if s.node.is_empty() {
        parquet_node(config)
    } else {
        s.node.clone()
    };
    Ok(merger::StateOut {
        writer: crate::state::Writer::new(Path::new(&s.directory), &node, key)?.with_parquet(
            (!s.parquet_directory.is_empty()).then(|| PathBuf::from(&s.parquet_directory)),
        ),
        refresh: Duration::from_secs(s.refresh_seconds),
        grace: Duration::from_secs(s.grace_seconds),
        days: std::collections::BTreeMap::new(),
        settings: config.aggregate.clone(),
    })
}

/// Where the merger writes, from the configuration.
fn outputs(
    config: &Config,
    query_export: Option<parquet::QueryExport>,
    query_writer: Option<&parquet::QueryWriter>,
) -> (Option<RssacOut>, Option<ParquetOut>) {
    let r = &config.raw.rssac002;
    let rssac = (!r.directory.is_empty()).then(|| RssacOut {
        dir: PathBuf::from(&r.directory),
        service: r.service.clone(),
        grace: Duration::from_secs(r.grace_seconds),
    });
    let pq = &config.raw.export.parquet;
    let parquet = (!pq.directory.is_empty() || query_export.is_some()).then(|| ParquetOut {
        dir: (!pq.directory.is_empty()).then(|| PathBuf::from(&pq.directory)),
        node: parquet_node(config),
        every: Duration::from_secs(pq.write_interval_seconds),
        grace: Duration::from_secs(pq.grace_seconds),
        queries: query_export.zip(query_writer.map(parquet::QueryWriter::stats_handle)),
    });
    (rssac, parquet)
}

fn log_start(config: &Config, tap_server: Option<&tap::Server>) {
    let ifaces = &config.raw.capture.interfaces;
    if !ifaces.is_empty() {
        info!(
            "capturing on {} with {} worker(s) each, filter `{}`",
            ifaces.join(", "),
            config.workers,
            config.bpf_filter,
        );
    }
    if let Some(s) = tap_server {
        info!("dnstap: reading Frame Streams on {}", s.path().display());
    }
    let scheme = config.web.as_ref().map_or("http", |w| w.scheme());
    let users = config
        .web
        .as_ref()
        .and_then(|w| w.auth.as_ref())
        .map_or(0, web::auth::Auth::users);
    info!(
        "metrics on {scheme}://{}/metrics ({})",
        config.listen,
        if users > 0 {
            format!("basic authentication, {users} user(s)")
        } else {
            "no authentication".to_owned()
        }
    );
    if !config.listen.ip().is_loopback() && (scheme == "http" || users == 0) {
        warn!(
            "metrics exposed beyond loopback without {}: see export.web_config",
            if scheme == "http" {
                "TLS"
            } else {
                "authentication"
            }
        );
    }
}

/// Logs the final counts of the last published snapshot.
fn log_final(shared: &Shared) {
    let s = shared.published.load();
    let t = &s.agg;
    let drops: u64 = s
        .daemon()
        .map(|d| {
            d.health
                .iter()
                .map(|h| h.kernel_drops + h.interface_drops)
                .sum()
        })
        .unwrap_or(0);
    info!(
        "final counts: frames={} dns_messages={} queries={} responses={} malformed={} capture_drops={}",
        t.frames,
        t.dns_messages,
        t.total_queries(),
        t.total_responses(),
        t.total_malformed(),
        drops
    );
}

/// Waits for the per-query writer to complete its files (every sender is gone by then).
fn finish_query_writer(w: parquet::QueryWriter) {
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

/// The merger of `workers`' flushes, with the outputs of the configuration.
fn merger(
    config: &Config,
    rx: Receiver<Delta>,
    recycle: Vec<Sender<Aggregate>>,
    health: Vec<CaptureHealth>,
    has_tap: bool,
    shared: &Arc<Shared>,
    queries: (Option<parquet::QueryExport>, Option<&parquet::QueryWriter>),
) -> Merger {
    let (rssac, parquet) = outputs(config, queries.0, queries.1);
    if let Some(out) = &rssac {
        merger::rssac002_probe(out, shared);
    }
    Merger {
        rx,
        recycle,
        shared: Arc::clone(shared),
        total: Aggregate::new(&config.aggregate),
        health,
        dnstap: has_tap.then(dnstap::Stats::default),
        rssac,
        parquet,
        state: None,
        publish_every: Duration::from_secs_f64(config.raw.aggregate.flush_interval_seconds),
        spare: None,
        settings: config.aggregate.clone(),
        geo_check: Duration::from_secs(config.raw.geoip.check_seconds),
        privacy: config.privacy.clone(),
    }
}

/// Serves `/metrics` and `/healthz` from the published snapshot.
fn start_http(
    config: &Config,
    listener: std::net::TcpListener,
    shared: &Shared,
) -> Result<http::Server, StartError> {
    let limits = http::Limits {
        max_connections: config.raw.export.max_connections,
        header_read_timeout: Duration::from_secs(config.raw.export.header_read_timeout_seconds),
    };
    http::Server::start(
        listener,
        Arc::clone(&shared.published),
        Arc::clone(&shared.web),
        limits,
    )
    .map_err(|error| StartError::Start {
        what: "metrics endpoint",
        error,
    })
}

/// Runs until SIGTERM/SIGINT. `reload` re-reads the configuration on SIGHUP.
pub fn run(
    mut config: Config,
    reload: impl Fn() -> Result<Config, String>,
) -> Result<(), StartError> {
    let c = &config.raw.capture;
    if c.interfaces.is_empty() && c.dnstap_socket.is_empty() {
        return Err(StartError::NoInterface);
    }
    // Before any sketch exists: the fleet key fixes the hash seed (and may be root's alone).
    let key = state_key(&config)?;
    // Everything that needs privileges first: the listening socket and the capture handles.
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|error| StartError::Listen {
            addr: config.listen,
            error,
        })?;
    let handles = open_handles(&config)?;
    let tap_server = open_dnstap(&config)?;
    if !config.raw.daemon.user.is_empty() {
        privileges::drop_to(&config.raw.daemon.user)?;
    }
    log_start(&config, tap_server.as_ref());
    let state_out = key.map(|k| state_out(&config, k)).transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let empty = Snapshot {
        agg: Aggregate::new(&config.aggregate),
        input: Input::Daemon(Box::default()),
        privacy: config.privacy.clone(),
    };
    let shared = Arc::new(Shared::new(
        Arc::new(Published::new(empty)),
        config.web.clone(),
    ));
    let (query_export, query_writer) = start_query_export(&config, &shared);
    let has_tap = tap_server.is_some();
    let w = start_workers(
        &config,
        handles,
        tap_server,
        query_export.as_ref(),
        &shared,
        &stop,
    )?;
    let mut m = merger(
        &config,
        w.from_workers,
        w.recycle,
        w.health,
        has_tap,
        &shared,
        (query_export.clone(), query_writer.as_ref()),
    );
    m.state = state_out;
    m.publish();
    let merger = spawn("merger".into(), "merger thread", move || m.run())?;
    let server = start_http(&config, listener, &shared)?;

    signals::wait_for_signals(&mut config, &reload, &w.controls, &shared);

    info!("stopping: draining capture workers");
    stop.store(true, Ordering::Relaxed);
    for t in w.threads {
        let _ = t.join();
    }
    let _ = merger.join();
    // Every sender is gone now (workers and merger joined): the writer completes its files.
    drop(query_export);
    if let Some(qw) = query_writer {
        finish_query_writer(qw);
    }
    server.stop();
    log_final(&shared);
    Ok(())
}

//! The HTTP endpoint: `/metrics` and `/healthz`, served by hyper (HTTP/1 only) on a
//! current-thread tokio runtime in its own thread, so nothing here can stall capture.
//!
//! Abuse limits: a cap on concurrent connections (further ones are closed at once), a timeout
//! for reading request headers (slowloris), a small header buffer (huge requests get 431),
//! a whole-connection deadline, and request bodies are never read.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, oneshot};

use crate::config::Config;
use crate::daemon::Shared;
use crate::export::prometheus;

/// A whole connection (keep-alive included) may last this long.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Request head buffer (hyper's minimum is 8 KiB).
const MAX_HEAD: usize = 16 << 10;

/// The running server.
pub struct Server {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves on an already bound listener (bound early so a port in use is a start-up error).
    pub fn start(
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        config: &Config,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let registry = Arc::new(daemon_registry(Arc::clone(&shared)));
        let max_conn = config.raw.export.max_connections;
        let header_timeout = Duration::from_secs(config.raw.export.header_read_timeout_seconds);
        let (tx, rx) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                rt.block_on(serve(
                    listener,
                    registry,
                    shared,
                    max_conn,
                    header_timeout,
                    rx,
                ));
            })?;
        Ok(Self {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops accepting and waits for the thread.
    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    max_conn: usize,
    header_timeout: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("metrics endpoint: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(max_conn));
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("metrics endpoint: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream); // over the connection limit
            continue;
        };
        let (registry, shared) = (Arc::clone(&registry), Arc::clone(&shared));
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let r = respond(&req, &registry, &shared);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, conn).await;
            drop(permit);
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn respond(req: &Request<Incoming>, registry: &Registry, shared: &Shared) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let openmetrics = req
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/openmetrics-text"));
            let (body, ctype) = if openmetrics {
                (
                    prometheus::render_openmetrics(registry),
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (
                    prometheus::render_text(registry),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            match body {
                Ok(b) => {
                    let mut r = text(StatusCode::OK, b);
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
                    r
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
            }
        }
        "/healthz" => {
            if shared.capturing() {
                text(StatusCode::OK, "ok: capturing\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "capture is not running on every interface\n",
                )
            }
        }
        "/" => text(StatusCode::OK, "dnsobs: see /metrics and /healthz\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: see /metrics and /healthz\n",
        ),
    }
}

//------------ Daemon families -------------------------------------------------

impl prometheus::Snapshot for Arc<Shared> {
    fn with(&self, f: &mut dyn FnMut(&crate::aggregate::Aggregate) -> fmt::Result) -> fmt::Result {
        let total = self
            .total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&total)
    }
}

/// DNS families plus capture health, reload status and process metrics.
pub fn daemon_registry(shared: Arc<Shared>) -> Registry {
    let mut r = prometheus::registry(Arc::clone(&shared));
    r.register_collector(Box::new(HealthCollector(Arc::clone(&shared))));
    r.register_collector(Box::new(ProcessCollector(shared)));
    r
}

struct HealthCollector(Arc<Shared>);

impl fmt::Debug for HealthCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HealthCollector")
    }
}

impl Collector for HealthCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let health = self
            .0
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let workers: Vec<String> = health.iter().map(|h| h.worker.to_string()).collect();
        let series = |v: &dyn Fn(&crate::daemon::CaptureHealth) -> u64| {
            health
                .iter()
                .zip(&workers)
                .map(|(h, w)| {
                    (
                        vec![("interface", h.iface.as_str()), ("worker", w.as_str())],
                        v(h),
                    )
                })
                .collect::<Vec<_>>()
        };
        prometheus::counters(
            &mut enc,
            "dnsobs_capture_packets",
            "Packets delivered by libpcap to each capture worker.",
            None,
            series(&|h| h.packets),
        )?;
        let mut drops = series(&|h| h.kernel_drops);
        for d in &mut drops {
            d.0.push(("where", "kernel"));
        }
        for (mut labels, v) in series(&|h| h.interface_drops) {
            labels.push(("where", "interface"));
            drops.push((labels, v));
        }
        prometheus::counters(
            &mut enc,
            "dnsobs_capture_dropped_packets",
            "Packets lost before dnsobs saw them: kernel ring full (pcap ps_drop) or interface/driver (ps_ifdrop). \
             dnsobs has no internal queue on the capture path, so there are no other drops.",
            None,
            drops,
        )?;
        prometheus::counters(
            &mut enc,
            "dnsobs_capture_errors",
            "Capture failures (interface down or gone, failed reopen attempts).",
            None,
            series(&|h| h.errors),
        )?;
        prometheus::gauges(
            &mut enc,
            "dnsobs_capture_up",
            "1 while the worker's capture handle is open.",
            None,
            series(&|h| u64::from(h.up))
                .into_iter()
                .map(|(l, v)| (l, v as f64)),
        )?;
        let files = self
            .0
            .rssac002_files
            .load(std::sync::atomic::Ordering::Relaxed);
        let errors = self
            .0
            .rssac002_errors
            .load(std::sync::atomic::Ordering::Relaxed);
        prometheus::counters(
            &mut enc,
            "dnsobs_rssac002_files_written",
            "RSSAC002 YAML documents written.",
            None,
            [(vec![], files)],
        )?;
        prometheus::counters(
            &mut enc,
            "dnsobs_rssac002_write_errors",
            "Failed attempts to write RSSAC002 documents (directory missing, full or read-only).",
            None,
            [(vec![], errors)],
        )?;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let sh = &self.0;
        prometheus::counters(
            &mut enc,
            "dnsobs_parquet_files_written",
            "Parquet files completed by [export.parquet], by table.",
            None,
            [
                (vec![("table", "intervals")], get(&sh.parquet_files)),
                (vec![("table", "queries")], get(&sh.parquet_query_files)),
            ],
        )?;
        prometheus::counters(
            &mut enc,
            "dnsobs_parquet_write_errors",
            "Failed Parquet writes by table (directory missing, full or read-only); interval rows are retried.",
            None,
            [
                (vec![("table", "intervals")], get(&sh.parquet_errors)),
                (vec![("table", "queries")], get(&sh.parquet_query_errors)),
            ],
        )?;
        prometheus::counters(
            &mut enc,
            "dnsobs_parquet_query_rows_written",
            "Per-query rows written to Parquet files.",
            None,
            [(vec![], get(&sh.parquet_query_rows))],
        )?;
        prometheus::counters(
            &mut enc,
            "dnsobs_parquet_query_rows_dropped",
            "Per-query rows not exported because the writer thread was behind (capture never waits for it).",
            None,
            [(vec![], get(&sh.parquet_query_rows_dropped))],
        )?;
        let tap = self
            .0
            .dnstap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(t) = tap {
            encode_dnstap(&mut enc, &t)?;
        }
        let ok = self.0.reload_ok.load(std::sync::atomic::Ordering::Relaxed);
        let t = self
            .0
            .reload_time
            .load(std::sync::atomic::Ordering::Relaxed);
        prometheus::gauges(
            &mut enc,
            "dnsobs_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            None,
            [(vec![], if ok { 1.0 } else { 0.0 })],
        )?;
        prometheus::gauges(
            &mut enc,
            "dnsobs_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration (re)load.",
            None,
            [(vec![], t as f64)],
        )
    }
}

/// The dnstap input's families (only when a dnstap socket is configured). Labels come from
/// fixed tables: bounded cardinality.
fn encode_dnstap(
    enc: &mut DescriptorEncoder<'_>,
    t: &crate::capture::dnstap::Stats,
) -> fmt::Result {
    use crate::capture::dnstap::{MESSAGE_TYPES, Problem};
    prometheus::counters(
        enc,
        "dnsobs_dnstap_connections",
        "dnstap writer connections accepted on the socket.",
        None,
        [(vec![], t.connections_accepted)],
    )?;
    prometheus::counters(
        enc,
        "dnsobs_dnstap_connections_rejected",
        "dnstap connections refused because capture.dnstap_max_connections were open.",
        None,
        [(vec![], t.connections_rejected)],
    )?;
    prometheus::gauges(
        enc,
        "dnsobs_dnstap_connections_open",
        "dnstap writer connections open now.",
        None,
        [(vec![], t.connections_open as f64)],
    )?;
    prometheus::counters(
        enc,
        "dnsobs_dnstap_frames",
        "Frame Streams frames received on the dnstap socket, by kind.",
        None,
        [
            (vec![("kind", "data")], t.data_frames),
            (vec![("kind", "control")], t.control_frames),
        ],
    )?;
    prometheus::counters(
        enc,
        "dnsobs_dnstap_received",
        "Bytes received on the dnstap socket.",
        Some(&prometheus_client::registry::Unit::Bytes),
        [(vec![], t.bytes)],
    )?;
    prometheus::counters(
        enc,
        "dnsobs_dnstap_messages",
        "dnstap messages decoded and counted, by dnstap message type.",
        None,
        MESSAGE_TYPES
            .iter()
            .zip(&t.message_types)
            .skip(1)
            .map(|(l, &v)| (vec![("type", *l)], v)),
    )?;
    prometheus::counters(
        enc,
        "dnsobs_dnstap_errors",
        "dnstap input problems by reason: frame_oversize, protobuf_invalid, not_message, \
         message_type_unknown, no_dns_message and address_invalid skip one frame; the others \
         close the connection.",
        None,
        Problem::ALL
            .iter()
            .map(|p| (vec![("reason", p.label())], t.problems[*p as usize])),
    )
}

/// Standard `process_*` metrics from /proc/self.
struct ProcessCollector(Arc<Shared>);

impl fmt::Debug for ProcessCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessCollector")
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let p = crate::export::process::read();
        let m = enc.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        prometheus_client::encoding::EncodeMetric::encode(
            &prometheus_client::metrics::counter::ConstCounter::new(p.cpu_seconds),
            m,
        )?;
        let g = |enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64| {
            prometheus::gauges(enc, name, help, None, [(vec![], v)])
        };
        g(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.rss_bytes,
        )?;
        g(
            &mut enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.vsize_bytes,
        )?;
        g(
            &mut enc,
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        )?;
        g(
            &mut enc,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            p.max_fds,
        )?;
        g(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            self.0.start_time,
        )
    }
}

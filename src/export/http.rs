//! The HTTP endpoint: `/metrics` and `/healthz`, served by hyper (HTTP/1 only) on a
//! current-thread tokio runtime in its own thread, so nothing here can stall capture.
//!
//! Abuse limits: a cap on concurrent connections (further ones are closed at once), a timeout
//! for reading request headers (slowloris), a small header buffer (huge requests get 431),
//! a whole-connection deadline, and request bodies are never read.

use std::convert::Infallible;
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
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, oneshot};

use crate::export::prometheus;
use crate::snapshot::Published;

/// A whole connection (keep-alive included) may last this long.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Request head buffer (hyper's minimum is 8 KiB).
const MAX_HEAD: usize = 16 << 10;

/// The server's abuse limits (from the `[export]` configuration).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; further ones are closed at once.
    pub max_connections: usize,
    /// Time allowed to read a request's headers.
    pub header_read_timeout: Duration,
}

/// The running server.
pub struct Server {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves on an already bound listener (bound early so a port in use is a start-up error).
    pub fn start(
        listener: std::net::TcpListener,
        published: Arc<Published>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let registry = Arc::new(prometheus::registry(Arc::clone(&published)));
        let (tx, rx) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                rt.block_on(serve(listener, registry, published, limits, rx));
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
    published: Arc<Published>,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("metrics endpoint: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
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
        let (registry, published) = (Arc::clone(&registry), Arc::clone(&published));
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let r = respond(&req, &registry, &published);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
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

fn respond(
    req: &Request<Incoming>,
    registry: &Registry,
    published: &Published,
) -> Response<Full<Bytes>> {
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
            if published.load().capturing() {
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

//! The HTTP endpoint: `/metrics` and `/healthz`, served by hyper (HTTP/1 only) on a
//! current-thread tokio runtime in its own thread, so nothing here can stall capture.
//!
//! Abuse limits: a cap on concurrent connections (further ones are closed at once), a timeout
//! for reading request headers (slowloris), a small header buffer (huge requests get 431),
//! a whole-connection deadline, and request bodies are never read.
//!
//! With a web configuration ([`web`]): TLS (the handshake bounded by the header read timeout;
//! a client speaking plain HTTP gets a 400 and no metrics) and basic authentication on every
//! path (401 with `WWW-Authenticate`). A connection is TLS or not as the configuration in force
//! when it was accepted says; each request is authenticated against the configuration in force
//! when it arrives, so a reload's new passwords apply at once, even on kept-alive connections.
//! Refusals are counted.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

use crate::export::prometheus;
use crate::export::web::{Live, Web};
use crate::snapshot::{AuthFailure, Published, TlsFailure};

/// A whole connection (keep-alive included) may last this long.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Request head buffer (hyper's minimum is 8 KiB).
const MAX_HEAD: usize = 16 << 10;

/// The server's abuse limits (from the `[export]` configuration).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; further ones are closed at once.
    pub max_connections: usize,
    /// Time allowed to read a request's headers, and for a TLS handshake.
    pub header_read_timeout: Duration,
}

/// The running server.
pub struct Server {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves on an already bound listener (bound early so a port in use is a start-up error),
    /// with the web configuration in force in `web`.
    pub fn start(
        listener: std::net::TcpListener,
        published: Arc<Published>,
        web: Arc<Live>,
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
                rt.block_on(serve(listener, registry, published, web, limits, rx));
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
    live: Arc<Live>,
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
        let conn = Conn {
            registry: Arc::clone(&registry),
            published: Arc::clone(&published),
            live: Arc::clone(&live),
            limits,
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, conn.run(stream)).await;
            drop(permit);
        });
    }
}

/// What one connection needs.
struct Conn {
    registry: Arc<Registry>,
    published: Arc<Published>,
    live: Arc<Live>,
    limits: Limits,
}

impl Conn {
    /// Serves the connection, after a TLS handshake if the web configuration has TLS.
    async fn run(self, stream: TcpStream) {
        let Some(acceptor) = self.live.current().and_then(|w| w.tls.clone()) else {
            return self.serve(stream).await;
        };
        let deadline = self.limits.header_read_timeout;
        match tokio::time::timeout(deadline, handshake(stream, &acceptor)).await {
            Err(_) => self.live.count_tls(TlsFailure::Timeout),
            Ok(Err(why)) => self.live.count_tls(why),
            Ok(Ok(tls)) => self.serve(tls).await,
        }
    }

    /// HTTP/1 on `io` until the client closes (or the deadline of the caller).
    async fn serve<S>(self, io: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.limits;
        let conn = Arc::new(self);
        let svc = service_fn(move |req| {
            let conn = Arc::clone(&conn);
            async move { Ok::<_, Infallible>(conn.answer(&req).await) }
        });
        let _ = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(io), svc)
            .await;
    }

    /// The answer to one request: authentication first (every path), then the endpoint; the
    /// configured headers on every answer.
    async fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let web: Option<Arc<Web>> = self.live.current();
        let auth = web.as_ref().and_then(|w| w.auth.as_ref());
        let checked = match auth {
            Some(a) => a.check(req.headers().get(AUTHORIZATION)).await,
            None => Ok(()),
        };
        let mut r = match checked {
            Ok(()) => respond(req, &self.registry, &self.published),
            Err(why) => {
                self.live.count_auth(why);
                refused(why)
            }
        };
        for (name, value) in web.iter().flat_map(|w| &w.headers) {
            r.headers_mut().insert(name.clone(), value.clone());
        }
        r
    }
}

/// The TLS handshake; a client that opens with anything but a TLS handshake record (plain
/// HTTP) gets a 400 in plain text and is closed.
async fn handshake(
    mut stream: TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, TlsFailure> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await.ok() != Some(1) {
        return Err(TlsFailure::Error);
    }
    if first[0] != 0x16 {
        refuse_plain(&mut stream).await;
        return Err(TlsFailure::NotTls);
    }
    acceptor.accept(stream).await.map_err(|e| {
        log::debug!("metrics endpoint: TLS handshake: {e}");
        TlsFailure::Error
    })
}

/// Reads the plain request's head (up to [`MAX_HEAD`]) and answers 400, as Go's servers do.
async fn refuse_plain(stream: &mut TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    while len < buf.len() {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let body = "Client sent an HTTP request to an HTTPS server.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// 401 with the challenge, or 503 when every password check slot stayed busy.
fn refused(why: AuthFailure) -> Response<Full<Bytes>> {
    if why == AuthFailure::Busy {
        let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "too many logins, retry\n");
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"dnsobs\", charset=\"UTF-8\""),
    );
    r
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

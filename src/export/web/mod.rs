//! The web configuration of Prometheus exporters (the exporter-toolkit format): TLS for the
//! metrics endpoint (through rustls), optionally with client certificates, and basic
//! authentication against bcrypt hashes.
//!
//! * [`file`]: the YAML as written, strict (unknown keys are errors);
//! * [`tls`]: the rustls server configuration of `tls_server_config`;
//! * [`auth`]: `basic_auth_users`, checked with a cache and a bound on concurrent bcrypt work.
//!
//! [`Web::load`] reads and checks everything (certificates, key, CA, hashes) so that an
//! invalid file is refused at start-up or on reload with its file, key and reason. The
//! running server takes its [`Web`] from a [`Live`] slot, which a reload replaces.

pub mod auth;
pub mod file;
pub mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use hyper::header::{HeaderName, HeaderValue};

use crate::snapshot::{AuthFailure, HttpCounts, TlsFailure};

//------------ Errors --------------------------------------------------------

/// A web configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// YAML syntax, an unknown key or a value of the wrong type.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// The YAML parser's message (it names the key and the line).
        message: String,
    },
    /// A value of the right type but not usable.
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The error for `key` in `file`.
pub(crate) fn invalid(
    file: &Path,
    key: impl Into<String>,
    reason: impl Into<String>,
) -> WebConfigError {
    WebConfigError::Invalid {
        file: file.to_owned(),
        key: key.into(),
        reason: reason.into(),
    }
}

//------------ Web -----------------------------------------------------------

/// A loaded web configuration.
pub struct Web {
    /// The file it was read from.
    pub source: PathBuf,
    /// TLS, if `tls_server_config` configures it.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Basic authentication, if `basic_auth_users` has users.
    pub auth: Option<auth::Auth>,
    /// Extra response headers (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for Web {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No secrets: the key and the hashes stay out of logs.
        f.debug_struct("Web")
            .field("source", &self.source)
            .field("tls", &self.tls.is_some())
            .field("users", &self.auth.as_ref().map_or(0, auth::Auth::users))
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl Web {
    /// Reads and checks a web configuration file; relative paths in it are relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of the file at `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        let f = file::File::parse(text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = tls::server_config(&f.tls_server_config, dir, path)?
            .map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
        let auth = auth::Auth::new(&f.basic_auth_users, path)?;
        let headers = f.http_server_config.headers(path)?;
        Ok(Self {
            source: path.to_owned(),
            tls,
            auth,
            headers,
        })
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

//------------ Live ----------------------------------------------------------

/// The web configuration in force (replaced on reload) and the failure counters, shared by
/// the HTTP thread, the signal handler and the merger.
#[derive(Debug, Default)]
pub struct Live {
    current: RwLock<Option<Arc<Web>>>,
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    tls_failures: [AtomicU64; TlsFailure::ALL.len()],
}

impl Live {
    /// A slot holding `web`.
    pub fn new(web: Option<Arc<Web>>) -> Self {
        Self {
            current: RwLock::new(web),
            ..Self::default()
        }
    }

    /// The configuration in force (taken once per connection).
    pub fn current(&self) -> Option<Arc<Web>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `web` in force for the connections accepted from now on.
    pub fn set(&self, web: Option<Arc<Web>>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = web;
    }

    /// Counts a refused request.
    pub fn count_auth(&self, why: AuthFailure) {
        self.auth_failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed handshake.
    pub fn count_tls(&self, why: TlsFailure) {
        self.tls_failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as of now.
    pub fn counts(&self) -> HttpCounts {
        HttpCounts {
            auth_failures: self
                .auth_failures
                .each_ref()
                .map(|a| a.load(Ordering::Relaxed)),
            tls_failures: self
                .tls_failures
                .each_ref()
                .map(|a| a.load(Ordering::Relaxed)),
        }
    }
}

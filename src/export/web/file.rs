//! The web configuration file as written: the keys of exporter-toolkit, unknown ones refused
//! by the parser. Keys dnsobs cannot honour are refused by name rather than ignored.

use std::collections::BTreeMap;
use std::path::Path;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::{WebConfigError, invalid};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// `tls_server_config`.
    pub tls_server_config: TlsSection,
    /// `http_server_config`.
    pub http_server_config: HttpSection,
    /// `basic_auth_users`: user name → bcrypt hash.
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    /// `rate_limit` (refused: not supported).
    pub rate_limit: Option<serde_norway::Value>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The server certificate chain, PEM, inline.
    pub cert: Option<String>,
    /// The server key, PEM, inline.
    pub key: Option<String>,
    /// The client CA certificates, PEM, inline.
    pub client_ca: Option<String>,
    /// The server certificate chain, a PEM file.
    pub cert_file: Option<String>,
    /// The server key, a PEM file.
    pub key_file: Option<String>,
    /// `NoClientCert`, `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
    /// The client CA certificates, a PEM file.
    pub client_ca_file: Option<String>,
    /// Oldest TLS version (`TLS10` … `TLS13`; rustls has TLS12 and TLS13).
    pub min_version: Option<String>,
    /// Newest TLS version.
    pub max_version: Option<String>,
    /// Refused: rustls's suites are used.
    pub cipher_suites: Option<serde_norway::Value>,
    /// Refused: rustls's groups are used.
    pub curve_preferences: Option<serde_norway::Value>,
    /// Accepted and ignored (Go ignores it too).
    pub prefer_server_cipher_suites: Option<bool>,
    /// Refused: not supported.
    pub client_allowed_sans: Option<serde_norway::Value>,
}

impl TlsSection {
    /// Whether any key turns TLS on (as exporter-toolkit decides).
    pub fn enabled(&self) -> bool {
        [
            &self.cert,
            &self.key,
            &self.client_ca,
            &self.cert_file,
            &self.key_file,
            &self.client_ca_file,
            &self.client_auth_type,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Accepted; the endpoint speaks HTTP/1.1 whatever it says (Prometheus scrapes with it).
    pub http2: Option<bool>,
    /// Security headers added to every response.
    pub headers: Option<BTreeMap<String, String>>,
}

/// The headers `http_server_config.headers` may set, and the values allowed (None: any).
const HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Content-Security-Policy", None),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-XSS-Protection", None),
    ("Strict-Transport-Security", None),
];

impl HttpSection {
    /// The checked headers.
    pub fn headers(&self, file: &Path) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
        let mut out = Vec::new();
        for (name, value) in self.headers.iter().flatten() {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(name))
            else {
                let names: Vec<&str> = HEADERS.iter().map(|h| h.0).collect();
                return Err(invalid(
                    file,
                    key,
                    format!("not one of {}", names.join(", ")),
                ));
            };
            if let Some(allowed) = allowed
                && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value))
            {
                return Err(invalid(
                    file,
                    key,
                    format!("`{value}` is not one of {}", allowed.join(", ")),
                ));
            }
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(file, key.clone(), e.to_string()))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| invalid(file, key, format!("`{value}` is not a header value")))?;
            out.push((n, v));
        }
        Ok(out)
    }
}

impl File {
    /// Parses YAML text (an empty file is an empty configuration: plain HTTP, no users).
    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        let f: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_norway::from_str::<Option<Self>>(text)
                .map_err(|e| WebConfigError::Parse {
                    file: path.to_owned(),
                    message: e.to_string(),
                })?
                .unwrap_or_default()
        };
        let t = &f.tls_server_config;
        for (set, key, reason) in [
            (
                f.rate_limit.is_some(),
                "rate_limit",
                "not supported by dnsobs (export.max_connections bounds the connections)",
            ),
            (
                t.cipher_suites.is_some(),
                "tls_server_config.cipher_suites",
                "not supported by dnsobs: rustls offers only AEAD suites with forward secrecy",
            ),
            (
                t.curve_preferences.is_some(),
                "tls_server_config.curve_preferences",
                "not supported by dnsobs: rustls chooses among X25519, P-256 and P-384",
            ),
            (
                t.client_allowed_sans.is_some(),
                "tls_server_config.client_allowed_sans",
                "not supported by dnsobs: trust client certificates through client_ca_file",
            ),
        ] {
            if set {
                return Err(invalid(path, key, reason));
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn parse(text: &str) -> Result<File, String> {
        File::parse(text, Path::new("web.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_exporter_format_parses() {
        let f = parse(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS12\n  prefer_server_cipher_suites: true\n\
             http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  alice: $2y$10$abc\n",
        )
        .unwrap();
        assert!(f.tls_server_config.enabled());
        assert_eq!(f.tls_server_config.cert_file.as_deref(), Some("a.crt"));
        assert_eq!(f.basic_auth_users.unwrap()["alice"], "$2y$10$abc");
        let h = f.http_server_config.headers(Path::new("web.yml")).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].1, "deny");
        assert!(!parse("").unwrap().tls_server_config.enabled());
        assert!(!parse("# nothing\n").unwrap().tls_server_config.enabled());
        assert!(
            !parse("basic_auth_users:\n")
                .unwrap()
                .tls_server_config
                .enabled()
        );
    }

    #[test]
    fn unknown_and_unsupported_keys_are_named() {
        let e = parse("tls_server_config:\n  cert_fil: a\n").unwrap_err();
        assert!(e.starts_with("web.yml: ") && e.contains("cert_fil"), "{e}");
        let e = parse("basic_auth:\n  a: b\n").unwrap_err();
        assert!(e.contains("basic_auth"), "{e}");
        let e =
            parse("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n").unwrap_err();
        assert!(
            e.starts_with("web.yml: key `tls_server_config.cipher_suites`: not supported"),
            "{e}"
        );
        let e = parse("rate_limit:\n  burst: 1\n").unwrap_err();
        assert!(e.starts_with("web.yml: key `rate_limit`"), "{e}");
        let e = parse("basic_auth_users: [a]\n").unwrap_err();
        assert!(e.contains("basic_auth_users"), "{e}");
    }

    #[test]
    fn headers_are_checked() {
        let headers = |h: &str| {
            parse(&format!("http_server_config:\n  headers:\n    {h}\n"))
                .unwrap()
                .http_server_config
                .headers(Path::new("web.yml"))
                .map_err(|e| e.to_string())
        };
        assert!(headers("Strict-Transport-Security: max-age=31536000").is_ok());
        let e = headers("X-Frame-Options: allow").unwrap_err();
        assert_eq!(
            e,
            "web.yml: key `http_server_config.headers.X-Frame-Options`: `allow` is not one \
             of deny, sameorigin"
        );
        let e = headers("Server: dnsobs").unwrap_err();
        assert!(e.contains("headers.Server`: not one of"), "{e}");
    }
}

//! TLS scaffolding: a throw-away PKI made by the test (rcgen: a CA, the daemon's certificate
//! for `localhost` and 127.0.0.1, a client certificate, and a client of another CA), and an
//! HTTPS client (rustls) that reports status, headers and body, or why it failed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The PEM files of a test PKI, in one directory (the daemon's are `server.crt` and
/// `server.key`).
pub struct Pki {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// A client certificate and key of the CA.
    pub client: (PathBuf, PathBuf),
    /// A client certificate and key of another CA.
    pub rogue: (PathBuf, PathBuf),
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("CA")
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
    stem: &str,
) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut p = CertificateParams::new(names).expect("params");
    p.distinguished_name.push(DnType::CommonName, stem);
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, issuer).expect("sign");
    let (c, k) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).expect("write cert");
    std::fs::write(&k, key.serialize_pem()).expect("write key");
    (c, k)
}

impl Pki {
    /// Makes the PKI in `dir`: ca.crt, server.{crt,key}, client.{crt,key}, rogue.{crt,key}.
    pub fn new(dir: &Path) -> Self {
        let ca1 = ca("dnsobs test CA");
        let ca2 = ca("another CA");
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca1.pem()).expect("write CA");
        let names = ["localhost", "127.0.0.1"];
        leaf(
            &ca1,
            &names,
            ExtendedKeyUsagePurpose::ServerAuth,
            dir,
            "server",
        );
        Self {
            ca: ca_file,
            client: leaf(
                &ca1,
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
                dir,
                "client",
            ),
            rogue: leaf(&ca2, &[], ExtendedKeyUsagePurpose::ClientAuth, dir, "rogue"),
        }
    }

    /// A client trusting the CA, with the client certificate `identity` if given.
    pub fn client(&self, identity: Option<&(PathBuf, PathBuf)>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).expect("CA file") {
            roots.add(c.expect("CA")).expect("root");
        }
        #[allow(deprecated)] // the ring provider: see src/export/web/tls.rs
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        Arc::new(match identity {
            None => b.with_no_client_auth(),
            Some((c, k)) => {
                let chain = CertificateDer::pem_file_iter(c)
                    .expect("cert")
                    .map(|c| c.expect("cert"))
                    .collect();
                let key = PrivateKeyDer::from_pem_file(k).expect("key");
                b.with_client_auth_cert(chain, key).expect("client cert")
            }
        })
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header lines, as sent.
    pub head: String,
    /// Body.
    pub body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// `Authorization: Basic …` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {b}\r\n")
}

/// GET `path` over TLS from 127.0.0.1:`port` (as `localhost`), with `extra` header lines;
/// the answer, or why there is none (a failed handshake, a refused certificate).
pub fn get(
    config: &Arc<ClientConfig>,
    port: u16,
    path: &str,
    extra: &str,
) -> Result<Answer, String> {
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A peer that closes without close_notify, after its answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    parse(&buf).ok_or_else(|| format!("no HTTP answer ({} bytes)", buf.len()))
}

/// Parses a raw HTTP/1.1 answer (not chunked).
pub fn parse(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// A bcrypt hash of `password` at cost 10 (exporter-toolkit's and htpasswd's usual cost).
pub fn hash(password: &str) -> String {
    bcrypt::hash(password, 10).expect("bcrypt")
}

/// A kept-alive HTTPS connection (`localhost` on 127.0.0.1) for several requests.
pub struct Session(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl Session {
    /// Connects (the handshake happens with the first request).
    pub fn open(config: &Arc<ClientConfig>, port: u16) -> Self {
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::clone(config), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Self(rustls::StreamOwned::new(conn, tcp))
    }

    /// GET `path` with `extra` header lines on this connection; the answer (its body read by
    /// its Content-Length).
    pub fn get(&mut self, path: &str, extra: &str) -> Answer {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
        self.0.write_all(req.as_bytes()).expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.0.read_exact(&mut byte).expect("head");
            head.push(byte[0]);
        }
        let mut a = parse(&head).expect("an HTTP head");
        let len: usize = a
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .expect("Content-Length");
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).expect("body");
        a.body = String::from_utf8_lossy(&body).into_owned();
        a
    }
}

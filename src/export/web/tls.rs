//! `tls_server_config` as a rustls server configuration (the `ring` provider): the
//! certificate chain and key, the client authentication policy, the protocol versions.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::file::TlsSection;
use super::{WebConfigError, invalid};

/// The client authentication policies of exporter-toolkit (Go's `tls.ClientAuthType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified (the client must still prove it holds the key).
    RequireAnyClientCert,
    /// Verified against the client CAs if given.
    VerifyClientCertIfGiven,
    /// Required and verified against the client CAs.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "NoClientCert" => Self::NoClientCert,
            "RequestClientCert" => Self::RequestClientCert,
            // exporter-toolkit keeps the old name too.
            "RequireAnyClientCert" | "RequireClientCert" => Self::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

/// A TLS version of the file, as a number (TLS10 = 10 … TLS13 = 13).
fn version(s: Option<&str>, default: u8) -> Option<u8> {
    Some(match s.unwrap_or("") {
        "" => default,
        "TLS10" => 10,
        "TLS11" => 11,
        "TLS12" => 12,
        "TLS13" => 13,
        _ => return None,
    })
}

/// PEM text: inline (`inline_key`) or read from a file (`file_key`, relative to `dir`).
fn pem(
    inline: Option<&str>,
    path: Option<&str>,
    (inline_key, file_key): (&str, &str),
    dir: &Path,
    file: &Path,
) -> Result<Option<(Vec<u8>, String)>, WebConfigError> {
    match (
        inline.filter(|s| !s.is_empty()),
        path.filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => Err(invalid(
            file,
            format!("tls_server_config.{inline_key}"),
            format!("give either {inline_key} or {file_key}, not both"),
        )),
        (Some(text), None) => Ok(Some((
            text.as_bytes().to_vec(),
            format!("tls_server_config.{inline_key}"),
        ))),
        (None, Some(p)) => {
            let key = format!("tls_server_config.{file_key}");
            let full = dir.join(p);
            let bytes = std::fs::read(&full).map_err(|e| {
                invalid(
                    file,
                    key.clone(),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            Ok(Some((bytes, key)))
        }
        (None, None) => Ok(None),
    }
}

/// The certificates of PEM text (at least one).
fn certificates(
    pem: &[u8],
    key: &str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(file, key, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(file, key, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The rustls server configuration of `t`, or `None` if no key of it turns TLS on.
/// `dir`: where relative paths start (the web configuration file's directory).
pub fn server_config(
    t: &TlsSection,
    dir: &Path,
    file: &Path,
) -> Result<Option<ServerConfig>, WebConfigError> {
    if !t.enabled() {
        return Ok(None);
    }
    let (cert, cert_key) = pem(
        t.cert.as_deref(),
        t.cert_file.as_deref(),
        ("cert", "cert_file"),
        dir,
        file,
    )?
    .ok_or_else(|| {
        invalid(
            file,
            "tls_server_config.cert_file",
            "missing (or give cert)",
        )
    })?;
    let (key, key_key) = pem(
        t.key.as_deref(),
        t.key_file.as_deref(),
        ("key", "key_file"),
        dir,
        file,
    )?
    .ok_or_else(|| invalid(file, "tls_server_config.key_file", "missing (or give key)"))?;
    let chain = certificates(&cert, &cert_key, file)?;
    let private = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| invalid(file, key_key.clone(), format!("no PEM private key: {e}")))?;

    // rustls 0.23.48 deprecates the ring provider because it has no post-quantum key
    // exchange; its X25519 and NIST-curve ECDHE with AEAD suites stay sound, and ring builds
    // with a C compiler alone (aws-lc-rs, which has ML-KEM, is a much heavier C build).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = versions(t, file)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(file, "tls_server_config.min_version", e.to_string()))?;
    let verifier = client_verifier(t, dir, file, &provider)?;
    let mut config = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    }
    .with_single_cert(chain, private)
    .map_err(|e| {
        invalid(
            file,
            key_key,
            format!("does not go with the certificate: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}

/// The protocol versions of `min_version` and `max_version` (rustls has TLS 1.2 and 1.3;
/// TLS10 and TLS11 as a minimum mean TLS 1.2).
fn versions(
    t: &TlsSection,
    file: &Path,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let bad = |key: &str, v: &Option<String>| {
        invalid(
            file,
            format!("tls_server_config.{key}"),
            format!(
                "`{}` is not one of TLS10, TLS11, TLS12, TLS13",
                v.as_deref().unwrap_or("")
            ),
        )
    };
    let min =
        version(t.min_version.as_deref(), 12).ok_or_else(|| bad("min_version", &t.min_version))?;
    let max =
        version(t.max_version.as_deref(), 13).ok_or_else(|| bad("max_version", &t.max_version))?;
    if max < 12 {
        return Err(invalid(
            file,
            "tls_server_config.max_version",
            "rustls speaks TLS12 and TLS13 only",
        ));
    }
    if min > max {
        return Err(invalid(
            file,
            "tls_server_config.min_version",
            "is above max_version",
        ));
    }
    let mut v = Vec::new();
    if min <= 12 {
        v.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        v.push(&rustls::version::TLS13);
    }
    Ok(v)
}

/// The client certificate verifier of `client_auth_type` and the client CAs (`None`: no
/// client certificate asked for).
fn client_verifier(
    t: &TlsSection,
    dir: &Path,
    file: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, WebConfigError> {
    let policy_key = "tls_server_config.client_auth_type";
    let policy = t.client_auth_type.as_deref().unwrap_or("");
    let auth = ClientAuth::parse(policy).ok_or_else(|| {
        invalid(
            file,
            policy_key,
            format!(
                "`{policy}` is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ),
        )
    })?;
    let ca = pem(
        t.client_ca.as_deref(),
        t.client_ca_file.as_deref(),
        ("client_ca", "client_ca_file"),
        dir,
        file,
    )?;
    let any = |mandatory| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyCert {
            mandatory,
            algorithms: provider.signature_verification_algorithms,
        })
    };
    let verified = |allow_none: bool| -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
        let Some((pem, key)) = &ca else {
            return Err(invalid(
                file,
                policy_key,
                format!("{policy} needs client_ca_file (or client_ca)"),
            ));
        };
        let mut roots = RootCertStore::empty();
        for c in certificates(pem, key, file)? {
            roots
                .add(c)
                .map_err(|e| invalid(file, key.clone(), format!("not a CA certificate: {e}")))?;
        }
        let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
        let b = if allow_none {
            b.allow_unauthenticated()
        } else {
            b
        };
        b.build()
            .map_err(|e| invalid(file, key.clone(), e.to_string()))
    };
    Ok(match auth {
        ClientAuth::NoClientCert => {
            if let Some((_, key)) = &ca {
                return Err(invalid(
                    file,
                    key.clone(),
                    "client CAs without a client_auth_type that verifies them \
                     (VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
                ));
            }
            None
        }
        ClientAuth::RequestClientCert => Some(any(false)),
        ClientAuth::RequireAnyClientCert => Some(any(true)),
        ClientAuth::VerifyClientCertIfGiven => Some(verified(true)?),
        ClientAuth::RequireAndVerifyClientCert => Some(verified(false)?),
    })
}

/// RequestClientCert and RequireAnyClientCert: any certificate is taken (as Go does), but
/// the handshake signature is still checked, so the client holds its key.
#[derive(Debug)]
struct AnyCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn policies_and_versions_parse() {
        assert_eq!(ClientAuth::parse(""), Some(ClientAuth::NoClientCert));
        assert_eq!(
            ClientAuth::parse("RequireClientCert"),
            Some(ClientAuth::RequireAnyClientCert)
        );
        assert_eq!(ClientAuth::parse("requireandverifyclientcert"), None);
        assert_eq!(version(None, 12), Some(12));
        assert_eq!(version(Some("TLS13"), 12), Some(13));
        assert_eq!(version(Some("SSL3"), 12), None);
        let f = Path::new("w.yml");
        let t = |min: &str, max: &str| TlsSection {
            min_version: Some(min.into()),
            max_version: Some(max.into()),
            ..TlsSection::default()
        };
        assert_eq!(versions(&t("TLS10", "TLS13"), f).unwrap().len(), 2);
        assert_eq!(versions(&t("TLS13", ""), f).unwrap().len(), 1);
        assert_eq!(versions(&t("", "TLS12"), f).unwrap().len(), 1);
        let e = versions(&t("TLS13", "TLS12"), f).unwrap_err().to_string();
        assert_eq!(
            e,
            "w.yml: key `tls_server_config.min_version`: is above max_version"
        );
        let e = versions(&t("", "TLS11"), f).unwrap_err().to_string();
        assert!(e.contains("max_version"), "{e}");
    }

    #[test]
    fn missing_parts_are_named() {
        let f = Path::new("/nonexistent/w.yml");
        let dir = Path::new("/nonexistent");
        let only_cert = TlsSection {
            cert_file: Some("a.crt".into()),
            ..TlsSection::default()
        };
        let e = server_config(&only_cert, dir, f).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/w.yml: key `tls_server_config.cert_file`: cannot read /nonexistent/a.crt"),
            "{e}"
        );
        let no_key = TlsSection {
            cert: Some("x".into()),
            ..TlsSection::default()
        };
        let e = server_config(&no_key, dir, f).unwrap_err().to_string();
        assert!(e.contains("`tls_server_config.key_file`: missing"), "{e}");
        let junk = TlsSection {
            cert: Some("not pem".into()),
            key: Some("not pem".into()),
            ..TlsSection::default()
        };
        let e = server_config(&junk, dir, f).unwrap_err().to_string();
        assert!(
            e.contains("`tls_server_config.cert`: no PEM certificate"),
            "{e}"
        );
    }
}

//! From a connection record's libpq URL to a tokio-postgres configuration and a TLS
//! connector. The URL is parsed here rather than by tokio-postgres because tokio-postgres
//! knows neither `sslrootcert` nor the verifying `sslmode`s, and because its parse errors are
//! not ours to word: no error made here quotes the URL or any value from it.
//!
//! `sslmode`, decided for a daemon that holds the credential on an agent's behalf:
//! - absent, `verify-full`: TLS, the chain checked against the CA (the record's PEM, else the
//!   URL's `sslrootcert` file, else the system's roots), and the host name checked;
//! - `verify-ca`: the same without the host name check; a CA must be given (not `system`);
//! - `require`: TLS; with a CA given, checked like `verify-ca` (libpq does the same), without
//!   one, not checked at all — only because the URL says so (`sslrootcert=system` is
//!   refused with it, as libpq does);
//! - `disable`: plaintext, only because the URL says so;
//! - `prefer`, `allow`: refused. They fall back to plaintext when the server (or whoever sits
//!   between) declines TLS, which would hand the password to anyone on the path.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{ChannelBinding, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use crate::{QueryError, Target};

/// How the connection is protected, from the URL's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Disable,
    /// TLS without any certificate check (`require` with no CA).
    Encrypt,
    VerifyCa,
    VerifyFull,
}

/// What [`parse`] makes of a target.
pub(crate) struct Connection {
    pub(crate) config: tokio_postgres::Config,
    /// `None`: plaintext (`sslmode=disable`).
    pub(crate) tls: Option<MakeRustlsConnect>,
}

/// A connection record's URL, parsed and checked: where to connect, as whom, and how the
/// connection is protected. Used by [`crate::query`] and by kovra's database proxy, which
/// speaks the protocol itself. No `Debug`: it holds the password.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The database (the user's name when the URL names none).
    pub dbname: String,
    pub password: Option<Zeroizing<String>>,
    /// `None`: plaintext (`sslmode=disable`). Otherwise the client configuration that checks
    /// the server as the URL's `sslmode` says.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub channel_binding: Binding,
    pub application_name: Option<String>,
}

/// The URL's `channel_binding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Disable,
    Prefer,
    Require,
}

/// The parts of a connection URL, checked; no error quotes the URL or a value from it.
pub fn endpoint(target: &Target) -> Result<Endpoint, QueryError> {
    let bad = |why: &str| QueryError::Connect(format!("the connection URL is not usable: {why}"));
    let url = url::Url::parse(target.url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(bad("the scheme is not postgresql://"));
    }
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| Zeroizing::new(c.into_owned()))
            .map_err(|_| bad("a part is not UTF-8 once decoded"))
    };
    let mut user = decode(url.username())?;
    let mut password = match url.password() {
        Some(p) => Some(decode(p)?),
        None => None,
    };
    let mut host = Zeroizing::new(
        url.host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    );
    let mut port = url.port().unwrap_or(5432);
    let mut dbname = decode(url.path().trim_start_matches('/'))?;
    let mut mode = Mode::VerifyFull;
    let mut rootcert = None;
    let mut binding = Binding::Prefer;
    let mut application_name = None;
    // `query_pairs` decodes the values; they stay in zeroized strings.
    for (key, value) in url.query_pairs() {
        let value = Zeroizing::new(value.into_owned());
        match key.as_ref() {
            "sslmode" => {
                mode = match value.as_str() {
                    "disable" => Mode::Disable,
                    "require" => Mode::Encrypt,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    "prefer" | "allow" => {
                        return Err(bad(
                            "sslmode=prefer and sslmode=allow may fall back to plaintext: \
                             say verify-full, verify-ca, require or disable",
                        ));
                    }
                    _ => {
                        return Err(bad(
                            "sslmode is not one of disable, require, verify-ca, verify-full",
                        ));
                    }
                }
            }
            "sslrootcert" => rootcert = Some(value),
            "channel_binding" => {
                binding = match value.as_str() {
                    "disable" => Binding::Disable,
                    "prefer" => Binding::Prefer,
                    "require" => Binding::Require,
                    _ => {
                        return Err(bad(
                            "channel_binding is not one of disable, prefer, require",
                        ));
                    }
                }
            }
            "application_name" => application_name = Some(value.to_string()),
            "user" => user = value,
            "password" => password = Some(value),
            "dbname" => dbname = value,
            "host" => host = value,
            "port" => port = value.parse().map_err(|_| bad("port is not a number"))?,
            // The caller's limits decide the timeout.
            "connect_timeout" => {}
            other => {
                // Only the parameter's name: a value might be a secret.
                return Err(bad(&format!("the parameter {other:?} is not supported")));
            }
        }
    }
    // The URL's own copy of the password, gone before any connection is made.
    drop(Zeroizing::new(String::from(url)));
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if user.is_empty() {
        return Err(bad("no user"));
    }
    let tls = if mode == Mode::Disable {
        None
    } else {
        Some(Arc::new(client_config(
            mode,
            target.ca_pem,
            rootcert.as_deref().map(String::as_str),
        )?))
    };
    let dbname = if dbname.is_empty() {
        user.to_string()
    } else {
        dbname.to_string()
    };
    Ok(Endpoint {
        host: host.to_string(),
        port,
        user: user.to_string(),
        dbname,
        password,
        tls,
        channel_binding: binding,
        application_name,
    })
}

/// The URL's parts as a tokio-postgres configuration and a TLS connector.
pub(crate) fn parse(target: &Target, connect_timeout: Duration) -> Result<Connection, QueryError> {
    let end = endpoint(target)?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&end.host)
        .port(end.port)
        .user(&end.user)
        .dbname(&end.dbname)
        .channel_binding(match end.channel_binding {
            Binding::Disable => ChannelBinding::Disable,
            Binding::Prefer => ChannelBinding::Prefer,
            Binding::Require => ChannelBinding::Require,
        })
        .connect_timeout(connect_timeout)
        .application_name(end.application_name.as_deref().unwrap_or("kovra"));
    if let Some(password) = &end.password {
        config.password(password.as_bytes());
    }
    let Some(tls) = end.tls else {
        config.ssl_mode(SslMode::Disable);
        return Ok(Connection { config, tls: None });
    };
    config.ssl_mode(SslMode::Require);
    Ok(Connection {
        config,
        tls: Some(MakeRustlsConnect::new(Arc::unwrap_or_clone(tls))),
    })
}

/// A rustls client configuration on the ring provider (given here, so no process-wide
/// default is needed) that checks the server as `mode` says.
fn client_config(
    mode: Mode,
    ca_pem: Option<&[u8]>,
    rootcert: Option<&str>,
) -> Result<rustls::ClientConfig, QueryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |e: rustls::Error| QueryError::Tls(e.to_string());
    let roots = match (ca_pem, rootcert) {
        (Some(pem), _) => Some(pem.to_vec()),
        (None, Some("system")) | (None, None) => None,
        (None, Some(path)) => Some(std::fs::read(path).map_err(|e| {
            QueryError::Tls(format!("cannot read the sslrootcert file: {}", e.kind()))
        })?),
    };
    let mode = match (mode, &roots) {
        (Mode::Encrypt, Some(_)) => Mode::VerifyCa,
        // The system's roots vouch for names, not for a private chain: as libpq does, only
        // with the name checked.
        (Mode::Encrypt | Mode::VerifyCa, None) if rootcert == Some("system") => {
            return Err(QueryError::Tls(
                "sslrootcert=system needs sslmode=verify-full".into(),
            ));
        }
        (Mode::VerifyCa, None) => {
            return Err(QueryError::Tls(
                "sslmode=verify-ca needs a CA (the record's, or sslrootcert)".into(),
            ));
        }
        (m, _) => m,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (Mode::Encrypt, _) => Arc::new(Unchecked(provider.clone())),
        (_, None) => {
            Arc::new(rustls_platform_verifier::Verifier::new(provider.clone()).map_err(tls_err)?)
        }
        (_, Some(pem)) => {
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|_| QueryError::Tls("the CA is not PEM".into()))?;
                store
                    .add(cert)
                    .map_err(|e| QueryError::Tls(format!("the CA is not usable: {e}")))?;
            }
            if store.is_empty() {
                return Err(QueryError::Tls("the CA holds no certificate".into()));
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| QueryError::Tls(format!("the CA is not usable: {e}")))?;
            if mode == Mode::VerifyCa {
                Arc::new(AnyName(webpki))
            } else {
                webpki
            }
        }
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `verify-ca`: the chain must lead to the CA; the name in the certificate may be any.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=require` without a CA: encrypted, the certificate not checked (the handshake's
/// signatures still are, so the session key is bound to the certificate presented).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

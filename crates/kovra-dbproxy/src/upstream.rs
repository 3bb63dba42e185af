//! The proxy's leg to the real server: TCP, TLS as the record's `sslmode` says (the checks
//! are kovra-pgquery's), a StartupMessage with the record's user and database, and the
//! password put to use only here — SCRAM-SHA-256 (with channel binding over TLS when the
//! server offers it), MD5 or cleartext (cleartext only over TLS), whichever the server asks
//! for and the URL allows.
//! Then the session's opening messages up to the first ReadyForQuery, for the client.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use kovra_pgquery::{Binding, Endpoint};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{
    ChannelBinding, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramSha256,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use x509_cert::der::Decode;
use zeroize::Zeroizing;

use crate::wire::{self, MAX_UPSTREAM, Message};

/// A byte stream either way: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type Stream = Box<dyn Io>;

/// Why the upstream session could not be opened. No variant carries the URL or a value
/// from it.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the database server: {0}")]
    Unreachable(String),
    #[error("TLS to the database server failed: {0}")]
    Tls(String),
    #[error("the database server refused the stored credentials ({0})")]
    AuthRefused(String),
    #[error("the database server said: {message} (SQLSTATE {code})")]
    Server { code: String, message: String },
    #[error("the database server's answer is not understood: {0}")]
    Protocol(String),
}

impl From<io::Error> for UpstreamError {
    fn from(e: io::Error) -> UpstreamError {
        UpstreamError::Protocol(e.to_string())
    }
}

/// An authenticated upstream session, ready for the client's first query.
pub struct Session {
    pub stream: Stream,
    /// ParameterStatus and NoticeResponse messages, then the ReadyForQuery, as framed bytes
    /// (the BackendKeyData left out: the proxy gives the client its own).
    pub opening: Vec<u8>,
    /// The server's BackendKeyData: the process id and secret a cancel must name.
    pub backend_key: Option<(i32, i32)>,
}

/// TCP (and TLS when the URL asks) to `end`; the server certificate's channel-binding hash
/// when there is one.
pub async fn dial(end: &Endpoint) -> Result<(Stream, Option<Vec<u8>>), UpstreamError> {
    let tcp = TcpStream::connect((end.host.as_str(), end.port))
        .await
        .map_err(|e| UpstreamError::Unreachable(e.kind().to_string()))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = &end.tls else {
        return Ok((Box::new(tcp), None));
    };
    let mut tcp = tcp;
    wire::send(&mut tcp, &wire::packet(wire::SSL_REQUEST, &[])).await?;
    let mut answer = [0u8; 1];
    tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut answer).await?;
    if answer[0] != b'S' {
        return Err(UpstreamError::Tls(
            "the server does not accept TLS connections".into(),
        ));
    }
    let name = ServerName::try_from(end.host.clone())
        .map_err(|_| UpstreamError::Tls("the host is not a valid server name".into()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| UpstreamError::Tls(e.to_string()))?;
    let binding = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|cert| end_point_hash(cert.as_ref()));
    Ok((Box::new(tls), binding))
}

/// `tls-server-end-point` (RFC 5929): the certificate hashed with its signature's hash,
/// SHA-256 for MD5 and SHA-1. `None` for signatures without one (Ed25519, RSA-PSS).
fn end_point_hash(der: &[u8]) -> Option<Vec<u8>> {
    use ring::digest::{SHA256, SHA384, SHA512, digest};
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let algorithm = match cert.signature_algorithm.oid.to_string().as_str() {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => &SHA256,
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &SHA384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &SHA512,
        _ => return None,
    };
    Some(digest(algorithm, der).as_ref().to_vec())
}

/// Open and authenticate a session on `end` with the client's other startup `params`.
pub async fn connect(
    end: &Endpoint,
    params: &[(String, String)],
    timeout: Duration,
) -> Result<Session, UpstreamError> {
    tokio::time::timeout(timeout, async {
        let (mut stream, binding) = dial(end).await?;
        let mut startup = Vec::new();
        for (k, v) in [
            ("user", end.user.as_str()),
            ("database", end.dbname.as_str()),
        ]
        .into_iter()
        .chain(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            startup.extend_from_slice(k.as_bytes());
            startup.push(0);
            startup.extend_from_slice(v.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        wire::send(&mut stream, &wire::packet(wire::PROTOCOL_3, &startup)).await?;
        authenticate(&mut stream, end, binding).await?;
        let (opening, backend_key) = opening(&mut stream).await?;
        Ok(Session {
            stream,
            opening,
            backend_key,
        })
    })
    .await
    .map_err(|_| UpstreamError::Unreachable(format!("no session within {timeout:?}")))?
}

fn refused(message: &Message) -> UpstreamError {
    let (code, text) = wire::error_fields(&message.body);
    if code.starts_with("28") {
        UpstreamError::AuthRefused(text)
    } else {
        UpstreamError::Server {
            code,
            message: text,
        }
    }
}

/// Answer the server's authentication requests until AuthenticationOk.
async fn authenticate(
    stream: &mut Stream,
    end: &Endpoint,
    binding: Option<Vec<u8>>,
) -> Result<(), UpstreamError> {
    let password = || {
        end.password
            .as_ref()
            .map(|p| p.as_bytes())
            .ok_or_else(|| UpstreamError::AuthRefused("the record holds no password".into()))
    };
    let must_bind = end.channel_binding == Binding::Require;
    let unbound = || {
        UpstreamError::AuthRefused(
            "channel_binding=require, and the server offers no SCRAM-SHA-256-PLUS".into(),
        )
    };
    let mut scram: Option<ScramSha256> = None;
    // The server's SCRAM signature checked: it knows the password (or its verifier).
    let mut proven = false;
    loop {
        let m = wire::read_message(stream, MAX_UPSTREAM).await?;
        match m.tag {
            b'R' => {}
            b'E' => return Err(refused(&m)),
            b'N' => continue,
            t => {
                return Err(UpstreamError::Protocol(format!(
                    "message {:?} during authentication",
                    t as char
                )));
            }
        }
        let Some((code, data)) = m.body.split_first_chunk::<4>() else {
            return Err(UpstreamError::Protocol(
                "a short authentication request".into(),
            ));
        };
        match u32::from_be_bytes(*code) {
            // As libpq: once SCRAM started, or when the URL requires channel binding, an
            // AuthenticationOk before a verified SASLFinal is an impostor's.
            0 if scram.is_some() && !proven => {
                return Err(UpstreamError::AuthRefused(
                    "the server ended SCRAM without proving it knows the password".into(),
                ));
            }
            0 if must_bind && !proven => return Err(unbound()),
            0 => return Ok(()),
            3 => {
                if must_bind {
                    return Err(unbound());
                }
                // Over plaintext nothing says who listens at the record's address (on
                // loopback, a same-user agent can bind a stopped database's port): the
                // password itself goes only into TLS.
                if end.tls.is_none() {
                    return Err(UpstreamError::AuthRefused(
                        "the server asks for the password in cleartext over an unencrypted \
                         connection; kovra sends it only over TLS (use sslmode=verify-full, \
                         or SCRAM in pg_hba.conf)"
                            .into(),
                    ));
                }
                let mut body = Zeroizing::new(password()?.to_vec());
                body.push(0);
                wire::send(stream, &wire::frame(b'p', &body)).await?;
            }
            5 => {
                if must_bind {
                    return Err(unbound());
                }
                let salt: [u8; 4] = data
                    .get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| UpstreamError::Protocol("an MD5 request without salt".into()))?;
                let mut body =
                    Zeroizing::new(md5_hash(end.user.as_bytes(), password()?, salt).into_bytes());
                body.push(0);
                wire::send(stream, &wire::frame(b'p', &body)).await?;
            }
            10 => {
                let mut offered = Vec::new();
                let mut rest = data;
                while let Some((name, after)) = wire::cstr(rest) {
                    if name.is_empty() {
                        break;
                    }
                    offered.push(name.to_string());
                    rest = after;
                }
                let plus = offered.iter().any(|m| m == SCRAM_SHA_256_PLUS);
                let (mechanism, cb) = match (&binding, plus, end.channel_binding) {
                    (Some(hash), true, Binding::Prefer | Binding::Require) => (
                        SCRAM_SHA_256_PLUS,
                        ChannelBinding::tls_server_end_point(hash.clone()),
                    ),
                    (_, _, Binding::Require) => return Err(unbound()),
                    (Some(_), _, _) => (SCRAM_SHA_256, ChannelBinding::unrequested()),
                    (None, _, _) if end.tls.is_some() => {
                        (SCRAM_SHA_256, ChannelBinding::unrequested())
                    }
                    (None, _, _) => (SCRAM_SHA_256, ChannelBinding::unsupported()),
                };
                if !offered.iter().any(|m| m == mechanism) {
                    return Err(UpstreamError::AuthRefused(
                        "the server offers no SASL mechanism kovra speaks".into(),
                    ));
                }
                let s = ScramSha256::new(password()?, cb);
                let mut body = mechanism.as_bytes().to_vec();
                body.push(0);
                let first = s.message();
                body.extend_from_slice(&i32::try_from(first.len()).unwrap_or(0).to_be_bytes());
                body.extend_from_slice(first);
                wire::send(stream, &wire::frame(b'p', &body)).await?;
                scram = Some(s);
            }
            11 => {
                let s = scram.as_mut().ok_or_else(|| {
                    UpstreamError::Protocol("SASL continue before SASL started".into())
                })?;
                s.update(data)
                    .map_err(|e| UpstreamError::Protocol(format!("SCRAM: {e}")))?;
                wire::send(stream, &wire::frame(b'p', s.message())).await?;
            }
            12 => {
                let s = scram.as_mut().ok_or_else(|| {
                    UpstreamError::Protocol("SASL final before SASL started".into())
                })?;
                // The server proves it knew the password too.
                s.finish(data).map_err(|_| {
                    UpstreamError::AuthRefused("the server's SCRAM signature is wrong".into())
                })?;
                proven = true;
            }
            other => {
                return Err(UpstreamError::AuthRefused(format!(
                    "the server asks for authentication kovra does not speak (code {other})"
                )));
            }
        }
    }
}

/// The most the session's opening (ParameterStatus and notices) may hold: a real server's is
/// a few hundred bytes.
const MAX_OPENING: usize = 256 * 1024;

/// The server's messages after AuthenticationOk, up to and including ReadyForQuery.
async fn opening(stream: &mut Stream) -> Result<(Vec<u8>, Option<(i32, i32)>), UpstreamError> {
    let mut out = Vec::new();
    let mut key = None;
    loop {
        let m = wire::read_message(stream, MAX_UPSTREAM).await?;
        match m.tag {
            b'K' if m.body.len() == 8 => {
                let b = &m.body;
                key = Some((
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ));
            }
            b'E' => return Err(refused(&m)),
            b'Z' => {
                out.extend_from_slice(&m.frame());
                return Ok((out, key));
            }
            b'S' | b'N' => {
                out.extend_from_slice(&m.frame());
                // Held in the daemon's memory until ReadyForQuery: a server's flood of
                // notices must not grow it without end.
                if out.len() > MAX_OPENING {
                    return Err(UpstreamError::Protocol(
                        "the server's session opening is longer than the proxy accepts".into(),
                    ));
                }
            }
            // A server answering options the proxy never sent: nothing for the client.
            b'v' => {}
            t => {
                return Err(UpstreamError::Protocol(format!(
                    "message {:?} before the session was ready",
                    t as char
                )));
            }
        }
    }
}

/// Ask the server to cancel what backend `pid` runs (a new connection, as the protocol
/// says; TLS when the URL asks for it).
pub async fn cancel(end: &Endpoint, pid: i32, key: i32) -> Result<(), UpstreamError> {
    let (mut stream, _) = dial(end).await?;
    let mut body = pid.to_be_bytes().to_vec();
    body.extend_from_slice(&key.to_be_bytes());
    wire::send(&mut stream, &wire::packet(wire::CANCEL_REQUEST, &body)).await?;
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
    Ok(())
}

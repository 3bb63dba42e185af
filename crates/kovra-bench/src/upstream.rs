//! `egress-upstream`: a loopback HTTPS server for `bench/egress.sh`, standing in for a
//! provider's API. It speaks h2 and HTTP/1.1 (ALPN), answers only requests that carry the
//! real credential (`Authorization: Bearer VALUE`, so a request the proxy did not swap gets
//! `401`), and generates large bodies as they are sent, never holding them in memory.
//!
//! - `GET /v1/ping`: `{"ok":true}`.
//! - `GET /v1/stream?bytes=N`: N bytes of log-like text, one 64 KiB chunk repeated.
//!
//! Every answer has `x-bench-proto` (the HTTP version the upstream saw). It prints its port
//! on the first line of stdout and stops when its stdin closes.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

pub struct Options<'a> {
    pub bind: SocketAddr,
    pub cert: &'a Path,
    pub key: &'a Path,
    /// The credential requests must carry (what the vault holds).
    pub secret_file: &'a Path,
}

/// The size of the repeated chunk of a generated body.
const CHUNK: usize = 64 * 1024;

/// A body of `remaining` bytes, made of one shared chunk handed out again and again.
struct Generated {
    chunk: Bytes,
    remaining: u64,
}

impl Generated {
    fn small(text: &'static [u8]) -> Generated {
        Generated {
            chunk: Bytes::from_static(text),
            remaining: text.len() as u64,
        }
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = this.remaining.min(this.chunk.len() as u64) as usize;
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(this.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// 64 KiB of access-log-like lines from a fixed xorshift stream: printable, no `[`, nothing
/// the proxy's scrubber could take for the value.
fn chunk() -> Bytes {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 /.-_=";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(CHUNK);
    while out.len() < CHUNK {
        if out.len() % 100 == 99 {
            out.push(b'\n');
            continue;
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let i = (state % ALPHABET.len() as u64) as usize;
        out.push(ALPHABET.get(i).copied().unwrap_or(b'.'));
    }
    Bytes::from(out)
}

struct State {
    bearer: Vec<u8>,
    chunk: Bytes,
}

fn query_bytes(query: Option<&str>) -> Option<u64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("bytes="))
        .and_then(|v| v.parse().ok())
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Generated>, Infallible> {
    let proto = match req.version() {
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "other",
    };
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == state.bearer.as_slice());
    let (status, body) = if !authorized {
        (
            StatusCode::UNAUTHORIZED,
            Generated::small(b"{\"ok\":false,\"why\":\"credential\"}\n"),
        )
    } else {
        match req.uri().path() {
            "/v1/ping" => (StatusCode::OK, Generated::small(b"{\"ok\":true}\n")),
            "/v1/stream" => match query_bytes(req.uri().query()) {
                Some(n) => (
                    StatusCode::OK,
                    Generated {
                        chunk: state.chunk.clone(),
                        remaining: n,
                    },
                ),
                None => (
                    StatusCode::BAD_REQUEST,
                    Generated::small(b"{\"ok\":false,\"why\":\"bytes\"}\n"),
                ),
            },
            _ => (StatusCode::NOT_FOUND, Generated::small(b"{\"ok\":false}\n")),
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    h.insert("x-bench-proto", HeaderValue::from_static(proto));
    Ok(resp)
}

fn tls(o: &Options<'_>) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(o.cert)
        .context("reading the certificate")?
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the certificate")?;
    let key = PrivateKeyDer::from_pem_file(o.key).context("reading the key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub fn run(o: &Options<'_>) -> anyhow::Result<()> {
    let secret = std::fs::read_to_string(o.secret_file).context("reading the secret")?;
    let state = Arc::new(State {
        bearer: format!("Bearer {}", secret.trim_end()).into_bytes(),
        chunk: chunk(),
    });
    let acceptor = tls(o)?;
    // Stop when whoever started us closes our stdin (or dies).
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    // One thread: on a small machine the upstream should take as little as it can from the
    // client and the proxy being measured.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(o.bind)
            .await
            .context("binding")?;
        let port = listener.local_addr().context("local address")?.port();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{port}").context("printing the port")?;
        stdout.flush().context("printing the port")?;
        loop {
            let (tcp, _) = listener.accept().await.context("accepting")?;
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| handle(req, state.clone()));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

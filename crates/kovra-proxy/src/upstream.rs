//! The proxy's two upstream clients, each pooled for the proxy's life: HTTPS towards pinned
//! hosts (real roots, or only the test CA with every name routed to the test server), and
//! plain HTTP for forwarding other hosts under `Egress::Open`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::body::Body;
use crate::{ProxyError, TestUpstream};

/// Normal DNS, or every name to the test upstream.
#[derive(Clone)]
pub(crate) struct Resolver {
    test: Option<SocketAddr>,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for Resolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let test = self.test;
        Box::pin(async move {
            if let Some(addr) = test {
                return Ok(vec![addr].into_iter());
            }
            // Port 0: the connector puts the URI's port (or 443/80) in.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(addrs.into_iter())
        })
    }
}

pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector<Resolver>>, Body>;
pub(crate) type PlainClient = Client<HttpConnector, Body>;

fn tls_config(test: Option<&TestUpstream>) -> Result<rustls::ClientConfig, ProxyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Start(format!("TLS setup: {e}")))?;
    let config = match test {
        Some(t) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&t.ca_pem) {
                let cert =
                    cert.map_err(|_| ProxyError::Start("the test CA does not parse".into()))?;
                roots
                    .add(cert)
                    .map_err(|_| ProxyError::Start("the test CA is unusable".into()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| ProxyError::Start(format!("system roots: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

const H2_STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
const H2_MAX_FRAME: u32 = 256 * 1024;

/// The HTTPS client towards pinned hosts. `h2`: offer HTTP/2 by ALPN (for children that
/// speak it to the proxy); otherwise HTTP/1.1 only, which moves a large body with less work
/// than HTTP/2's framing and flow control (bench/results.md, "Egress proxy").
pub(crate) fn https_client(
    test: Option<&TestUpstream>,
    h2: bool,
) -> Result<HttpsClient, ProxyError> {
    let mut http = HttpConnector::new_with_resolver(Resolver {
        test: test.map(|t| t.addr),
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    // Headers and a small body go out as separate writes: with Nagle's algorithm the second
    // waits for the peer's delayed ACK (~40 ms a request).
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(test)?)
        .https_only();
    let https = if h2 {
        builder.enable_all_versions().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    };
    // HTTP/2's default 64 KiB windows make a large download wait on WINDOW_UPDATE round
    // trips; wider windows and frames let a stream run at the link's pace.
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW)
        .http2_max_frame_size(H2_MAX_FRAME)
        .build(https))
}

pub(crate) fn plain_client() -> PlainClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(http)
}

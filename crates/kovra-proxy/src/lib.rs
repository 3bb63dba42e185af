//! The egress proxy. A run's child is given placeholders, never values; its HTTP(S) traffic
//! goes through this proxy (the child's `HTTPS_PROXY`), or to a loopback base URL of this
//! proxy's (`OPENAI_BASE_URL`). Where a placeholder stands in the place its provider's auth
//! spec names, and the request goes to a host that provider pins, the proxy puts the real
//! value on the wire over real TLS. Anywhere else a placeholder is misuse: refused and
//! reported. The daemon hosts the proxy and is its only user; policy stays in the daemon's
//! [`Judge`], which asks the core's `decide`.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::net::SocketAddr;
use std::sync::Arc;

pub use kovra_broker::TestUpstream;
use kovra_broker::registry::{PlaceholderSpec, Provider};
use zeroize::Zeroizing;

/// The per-vault local certificate authority that signs the leaves the proxy presents to a
/// run's child for intercepted hosts. Its key lives sealed in the vault and in daemon memory.
pub struct Ca {
    /// DER of the self-signed CA certificate.
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER of its private key.
    pub key_der: Zeroizing<Vec<u8>>,
}

/// Which tunnels a run may open besides the intercepted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Egress {
    /// Any other `CONNECT` is tunnelled untouched; plain HTTP is forwarded after the
    /// misuse scan.
    #[default]
    Open,
    /// Only hosts of the run's pinned providers; everything else is refused (403).
    PinnedOnly,
}

/// One placeholder of a run and the value it stands for.
pub struct Swap {
    pub placeholder: String,
    pub value: Zeroizing<Vec<u8>>,
    /// The variable the child reads it from (names the value in scrubbed output).
    pub variable: String,
    /// `secret:ENV/GROUP/NAME`, for the audit trail.
    pub coordinate: String,
    pub provider: Provider,
    /// The one host the record was bound with, if any; else any host `provider` allows.
    pub host: Option<String>,
}

/// What one run may do through the proxy.
pub struct RunGrant {
    pub id: u64,
    /// The run's proxy credential (`Proxy-Authorization: Basic kovra:TOKEN`, and the first
    /// segment of its base URLs).
    pub token: Zeroizing<String>,
    pub egress: Egress,
    pub swaps: Vec<Swap>,
}

/// Where a placeholder was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Header(String),
    Path,
    Query,
    Body,
    ConnectTarget,
}

/// A placeholder seen going somewhere it is not pinned to (or in another run's request).
#[derive(Debug, Clone)]
pub struct Misuse {
    /// The run whose credential the request carried, if any.
    pub run: Option<u64>,
    /// The run that owns the placeholder.
    pub owner: u64,
    pub coordinate: String,
    pub variable: String,
    pub host: String,
    pub place: Place,
}

/// One swapped request, once its response head came back.
#[derive(Debug, Clone)]
pub struct Use {
    pub run: u64,
    pub coordinate: String,
    pub host: String,
    pub method: String,
    /// Without the query (it may hold the credential).
    pub path: String,
    pub status: u16,
}

/// The daemon's side: policy and the audit trail.
pub trait Judge: Send + Sync + 'static {
    /// Asked before every swap; `Err(why)` refuses the request (403, `why` in the body).
    fn may_swap(&self, run: u64, swap: &Swap, host: &str) -> Result<(), String>;
    fn misuse(&self, event: &Misuse);
    fn used(&self, event: &Use);
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the egress proxy cannot start: {0}")]
    Start(String),
    #[error("the local certificate authority is unusable: {0}")]
    Ca(String),
}

/// A fresh placeholder of `spec`'s shape.
pub fn mint_placeholder(spec: &PlaceholderSpec) -> String {
    let _ = spec;
    unimplemented!()
}

/// A new CA (ECDSA P-256).
pub fn new_ca() -> Result<Ca, ProxyError> {
    unimplemented!()
}

/// The running proxy: a loopback listener and its own small runtime.
pub struct Proxy {
    _private: Arc<()>,
}

impl Proxy {
    /// Bind `127.0.0.1:0` and serve. `test` routes every upstream name to a loopback test
    /// server trusting only its CA (debug builds only, as in the broker).
    pub fn start(
        ca: Ca,
        test: Option<TestUpstream>,
        judge: Arc<dyn Judge>,
    ) -> Result<Proxy, ProxyError> {
        let _ = (ca, test, judge);
        unimplemented!()
    }

    pub fn addr(&self) -> SocketAddr {
        unimplemented!()
    }

    /// The CA certificate, PEM, for the child's trust bundle.
    pub fn ca_pem(&self) -> String {
        unimplemented!()
    }

    pub fn register(&self, grant: RunGrant) {
        let _ = grant;
        unimplemented!()
    }

    /// The run ended: its placeholders stop working at once.
    pub fn unregister(&self, run: u64) {
        let _ = run;
        unimplemented!()
    }

    /// `http://kovra:TOKEN@127.0.0.1:PORT`, for `HTTPS_PROXY` and friends.
    pub fn proxy_url(&self, token: &str) -> Zeroizing<String> {
        let _ = token;
        unimplemented!()
    }

    /// `http://127.0.0.1:PORT/kovra/TOKEN/PROVIDER` + the provider's `base_url_path`.
    pub fn base_url(&self, token: &str, provider: &Provider) -> Zeroizing<String> {
        let _ = (token, provider);
        unimplemented!()
    }
}

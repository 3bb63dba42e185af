//! The egress proxy. A run's child is given placeholders, never values; its HTTP(S) traffic
//! goes through this proxy (the child's `HTTPS_PROXY`), or to a loopback base URL of this
//! proxy's (`OPENAI_BASE_URL`). Where a placeholder stands in the place its provider's auth
//! spec names, and the request goes to a host that provider pins, the proxy puts the real
//! value on the wire over real TLS. Anywhere else a placeholder is misuse: refused and
//! reported. The daemon hosts the proxy and is its only user; policy stays in the daemon's
//! [`Judge`], which asks the core's `decide`.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod auth;
mod body;
mod ca;
mod forward;
mod peer;
mod placeholder;
mod response;
mod runs;
mod scan;
mod serve;
mod swap;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

pub use ca::new_ca;
pub use placeholder::{derive_placeholder, mint_placeholder};

pub use kovra_broker::TestUpstream;
use kovra_broker::registry::Provider;
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Egress {
    /// Any other `CONNECT` is tunnelled untouched; plain HTTP is forwarded after the
    /// misuse scan.
    #[default]
    Open,
    /// Only hosts of the run's pinned providers; everything else is refused (403).
    PinnedOnly,
    /// Those, and these domains with their subdomains (lower-case, validated).
    Domains(Arc<[String]>),
}

impl Egress {
    /// Whether a host no swap of the run pins may be reached.
    pub fn allows_unpinned(&self, host: &str) -> bool {
        match self {
            Egress::Open => true,
            Egress::PinnedOnly => false,
            Egress::Domains(list) => kovra_core::agent::domain_listed(list.iter(), host),
        }
    }
}

/// A listener the proxy serves besides its own port, bound to one grant: requests without a
/// token are that grant's, and every request through it is also held to that grant's egress
/// (a sandbox's network namespace reaches the proxy only through such a listener). Dropping
/// it stops the listener (and removes its socket file).
pub struct Bound {
    task: tokio::task::JoinHandle<()>,
    path: Option<std::path::PathBuf>,
    port: u16,
}

impl Bound {
    /// The loopback port of a TCP listener (0 for a unix socket).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
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

/// The running proxy: a loopback listener and its own small runtime (two workers on
/// background threads), so the daemon's std threads call it synchronously.
pub struct Proxy {
    shared: Arc<serve::Shared>,
    ca_pem: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Bind `127.0.0.1:0` and serve. `test` routes every upstream name to a loopback test
    /// server trusting only its CA (debug builds only, as in the broker).
    pub fn start(
        ca: Ca,
        test: Option<TestUpstream>,
        judge: Arc<dyn Judge>,
    ) -> Result<Proxy, ProxyError> {
        let minter = ca::Minter::new(&ca)?;
        let ca_pem = ca.cert_pem();
        drop(ca);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kovra-proxy")
            .enable_all()
            .build()
            .map_err(|e| ProxyError::Start(format!("runtime: {e}")))?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| ProxyError::Start(format!("bind 127.0.0.1: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let (listener, https, https_h2, plain) = {
            let _guard = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| ProxyError::Start(e.to_string()))?;
            (
                listener,
                upstream::https_client(test.as_ref(), false)?,
                upstream::https_client(test.as_ref(), true)?,
                upstream::plain_client(),
            )
        };
        let shared = Arc::new(serve::Shared {
            runs: runs::Runs::default(),
            minter,
            judge,
            https,
            https_h2,
            plain,
            addr,
        });
        runtime.spawn(serve::accept_loop(shared.clone(), listener, None));
        Ok(Proxy {
            shared,
            ca_pem,
            runtime: Some(runtime),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The CA certificate, PEM, for the child's trust bundle.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Serve grant `run` on a new unix socket at `path` (mode 0600).
    pub fn listen_unix(&self, path: &std::path::Path, run: u64) -> Result<Bound, ProxyError> {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(path);
        let std_listener = std::os::unix::net::UnixListener::bind(path)
            .map_err(|e| ProxyError::Start(format!("bind {}: {e}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let runtime = self.handle()?;
        let _guard = runtime.enter();
        let listener = tokio::net::UnixListener::from_std(std_listener)
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let task = runtime.spawn(serve::accept_unix(self.shared.clone(), listener, run));
        Ok(Bound {
            task,
            path: Some(path.to_path_buf()),
            port: 0,
        })
    }

    /// Serve grant `run` on `127.0.0.1:port` (0: any free port).
    pub fn listen_tcp(&self, port: u16, run: u64) -> Result<Bound, ProxyError> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| ProxyError::Start(format!("bind 127.0.0.1:{port}: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let port = std_listener
            .local_addr()
            .map_err(|e| ProxyError::Start(e.to_string()))?
            .port();
        let runtime = self.handle()?;
        let _guard = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| ProxyError::Start(e.to_string()))?;
        let task = runtime.spawn(serve::accept_loop(self.shared.clone(), listener, Some(run)));
        Ok(Bound {
            task,
            path: None,
            port,
        })
    }

    fn handle(&self) -> Result<tokio::runtime::Handle, ProxyError> {
        self.runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| ProxyError::Start("the proxy is stopping".into()))
    }

    pub fn register(&self, grant: RunGrant) {
        self.shared.runs.register(grant);
    }

    /// The run ended: its placeholders stop working at once.
    pub fn unregister(&self, run: u64) {
        self.shared.runs.unregister(run);
    }

    /// `http://kovra:TOKEN@127.0.0.1:PORT`, for `HTTPS_PROXY` and friends.
    pub fn proxy_url(&self, token: &str) -> Zeroizing<String> {
        Zeroizing::new(format!("http://kovra:{token}@{}", self.addr()))
    }

    /// `http://127.0.0.1:PORT/kovra/TOKEN/PROVIDER` + the provider's `base_url_path`.
    pub fn base_url(&self, token: &str, provider: &Provider) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "http://{}/kovra/{token}/{}{}",
            self.addr(),
            provider.name,
            provider.placeholder().base_url_path
        ))
    }
}

impl Drop for Proxy {
    /// Stop serving without waiting for open connections; safe from any thread, even inside
    /// another runtime.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_proxy_can_be_shared_between_daemon_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Proxy>();
    }
}

//! `kovra ui`: the web UI the daemon hosts on loopback. A thin surface: every API route is
//! one `kovra_proto::Request`, sent to the daemon through [`Backend`] with surface `web` and
//! the session's origin; the daemon's `decide` does the rest. Nothing here decides policy,
//! opens the store or sees a stored value (the routes never map to `reveal` or `code`).
//!
//! Who may talk to it (`docs/web.md`):
//! - the human who ran `kovra ui` gets a one-time login link (`/login/TOKEN`, 120 s); its
//!   first use trades it for an `HttpOnly; SameSite=Strict` session cookie; the link dies;
//! - a session keeps the origin the daemon observed for the caller of `kovra ui` (an agent
//!   that runs it gets an agent session: origin only tightens); it ends after an idle
//!   timeout, when the vault locks (the [`Backend::epoch`] moves), or when evicted by newer
//!   ones past [`Config::max_sessions`];
//! - every request must name `Host: localhost:PORT` exactly (DNS rebinding), every write must
//!   carry `Origin: http://localhost:PORT` (CSRF), and every response carries a
//!   Content-Security-Policy that allows no inline script and no other origin.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod api;
mod assets;
mod guard;
mod prove;
mod sessions;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use kovra_proto::Origin;
use kovra_proto::{Request, Response};

pub use sessions::Who;

/// The daemon's side of the UI.
pub trait Backend: Send + Sync + 'static {
    /// Answer one request for `who` (surface `web`; `project`: the project a bare
    /// coordinate resolves in first). Blocking: the server calls it on tokio's blocking pool.
    fn call(&self, who: &Who, project: Option<String>, request: Request) -> Response;

    /// A number that changes whenever the vault locks: a session made under another number
    /// is dead, so locking ends every web session.
    fn epoch(&self) -> u64;

    /// A login link was used (`ok`) or refused: for the daemon's audit trail.
    fn login(&self, who: Option<&Who>, ok: bool) {
        let _ = (who, ok);
    }
}

/// Limits of one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// A session unused this long is gone.
    pub idle: Duration,
    /// How long a login link lives.
    pub login_ttl: Duration,
    /// Sessions at once; a new one evicts the least recently used.
    pub max_sessions: usize,
    /// Login links outstanding at once; a new one evicts the oldest.
    pub max_links: usize,
    /// The largest request body accepted (413 beyond it).
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle: Duration::from_secs(15 * 60),
            login_ttl: Duration::from_secs(120),
            max_sessions: 128,
            max_links: 128,
            max_body: 64 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot start the web UI's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot draw random bytes: {0}")]
    Random(String),
}

/// What every handler shares.
pub(crate) struct Shared {
    pub backend: Arc<dyn Backend>,
    pub sessions: sessions::Sessions,
    pub config: Config,
    /// `localhost:PORT`: the only `Host` accepted.
    pub host: String,
    /// `http://localhost:PORT`: the only `Origin` accepted on writes.
    pub origin: String,
}

/// A running UI: a loopback listener on its own small runtime, stopped when dropped.
pub struct Server {
    shared: Arc<Shared>,
    port: u16,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// Listen on 127.0.0.1:`port` (0: a free port the kernel picks) and serve.
    pub fn start(port: u16, backend: Arc<dyn Backend>, config: Config) -> Result<Self, WebError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(8)
            .thread_name("kovra-web")
            .enable_io()
            .enable_time()
            .build()
            .map_err(WebError::Runtime)?;
        let listener = {
            let _enter = runtime.enter();
            let std = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                .map_err(|source| WebError::Bind { port, source })?;
            std.set_nonblocking(true)
                .map_err(|source| WebError::Bind { port, source })?;
            tokio::net::TcpListener::from_std(std)
                .map_err(|source| WebError::Bind { port, source })?
        };
        let port = listener
            .local_addr()
            .map_err(|source| WebError::Bind { port, source })?
            .port();
        let shared = Arc::new(Shared {
            backend,
            sessions: sessions::Sessions::new(&config),
            host: format!("localhost:{port}"),
            origin: format!("http://localhost:{port}"),
            config,
        });
        let app = api::router(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the web UI stopped");
            }
        });
        Ok(Server {
            shared,
            port,
            runtime: Some(runtime),
            stop: Some(stop),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new one-time login link for `who`: `http://localhost:PORT/login/TOKEN`.
    pub fn login_link(&self, who: Who) -> Result<String, WebError> {
        let token = self.shared.sessions.mint_link(who)?;
        Ok(format!("{}/login/{}", self.shared.origin, token.as_str()))
    }

    /// How long a login link lives.
    pub fn login_ttl(&self) -> Duration {
        self.shared.config.login_ttl
    }

    /// Forget every session and link (the UI stays up; new links work).
    pub fn drop_sessions(&self) {
        self.shared.sessions.clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

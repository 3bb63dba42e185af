//! The database proxy. A run whose `.env.refs` asks for a connection
//! (`DATABASE_URL=secret:dev/app/db#url`) gets a URL pointing here, a unix socket in a
//! directory of the daemon's user ([`DbProxy::start_unix`]), with a per-run token where the
//! password would be. The proxy speaks PostgreSQL's protocol to the
//! child (startup, the token as a cleartext password, checked), opens the real session itself
//! (TLS as the record says, SCRAM-SHA-256 with the stored password), then relays bytes both
//! ways. The password never enters the child, its environment or its memory.
//!
//! What else it does, and why:
//! - the client's user and database must be the record's: a token opens one database only;
//! - read-only grants (an agent's runs) open the session with `default_transaction_read_only`
//!   on and drop the client's `options` (which could turn it off at startup). That is a guard
//!   against mistakes, not a boundary: a client can still `SET` it off or `BEGIN READ WRITE`.
//!   The boundary is the record's role (give agents' records a role with only SELECT grants);
//! - the client learns the proxy's own cancel key, never the server's; a CancelRequest
//!   naming it is sent on to the server, so Ctrl-C in `psql` works through the proxy;
//! - revoking a grant (the run ended) closes every connection it opened;
//! - a startup longer than 10,000 bytes (PostgreSQL's bound), a password message longer than
//!   1 KiB, or a client silent for 10 s before its session is open is cut off; at most
//!   [`MAX_CONNECTIONS`] connections are served at once;
//! - the socket is the daemon user's alone (directory 0700, socket 0600, a peer of another uid
//!   closed on): no other local user can reach the proxy, or fill its slots. It is also
//!   cheaper than loopback TCP (bench/dbproxy.sh: 14.6-15.4 µs of daemon CPU per `pgbench -S`
//!   transaction, against 18.3). [`DbProxy::start`] (a loopback port) is kept for this
//!   crate's tests; the daemon does not offer it.
//!
//! Policy is not decided here: the daemon's [`Judge`] asks the core's `decide` before each
//! connection opens upstream, and writes the trail.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod serve;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kovra_pgquery::Endpoint;
use zeroize::Zeroizing;

pub use upstream::UpstreamError;

/// Connections served at once, across all grants.
pub const MAX_CONNECTIONS: usize = 512;

/// What one `#url` line of one run may open.
pub struct Grant {
    pub id: u64,
    /// The password the child's URL carries ([`mint_token`]).
    pub token: Zeroizing<String>,
    /// The record's user and database: the only ones a client may name.
    pub user: String,
    pub database: String,
    /// Where the proxy connects, with the stored password (daemon memory, for the run's life).
    pub endpoint: Endpoint,
    pub read_only: bool,
    /// `secret:ENV/GROUP/NAME`, for messages and the trail.
    pub coordinate: String,
}

/// How one relayed connection went.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub duration: Duration,
    pub to_server: u64,
    pub to_client: u64,
    /// The grant was revoked while the connection was open.
    pub cut: bool,
}

/// The daemon's side: policy and the audit trail.
pub trait Judge: Send + Sync + 'static {
    /// Asked before each connection of `grant` opens upstream; `Err(why)` refuses it.
    fn may_connect(&self, grant: u64) -> Result<(), String>;
    /// A client presented a token no live grant holds, or a user or database other than the
    /// grant's. `grant` is the grant whose token it was, if any.
    fn refused(&self, grant: Option<u64>, why: &str);
    /// The upstream session of an allowed connection could not be opened.
    fn failed(&self, grant: u64, error: &UpstreamError);
    /// An allowed connection ended.
    fn ended(&self, grant: u64, stats: &Stats);
}

#[derive(Debug, thiserror::Error)]
pub enum DbProxyError {
    #[error("the database proxy cannot start: {0}")]
    Start(String),
}

/// A fresh token: 32 random bytes, URL-safe base64, so it sits in a URL's password field
/// without escaping.
pub fn mint_token() -> Result<Zeroizing<String>, DbProxyError> {
    use base64::Engine;
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut()).map_err(|e| DbProxyError::Start(e.to_string()))?;
    Ok(Zeroizing::new(format!(
        "kvdb_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref())
    )))
}

/// Where the proxy listens.
enum Local {
    /// `127.0.0.1:PORT`: any local user can reach it (the token is what keeps them out).
    Loopback(SocketAddr),
    /// `DIR/.s.PGSQL.5432` in a directory of the daemon's user (0700, the socket 0600).
    Unix(PathBuf),
}

/// The name libpq (and Node's `pg`) give the socket in a `host=DIR` directory, for the
/// default port: a URL without a port finds it.
pub const SOCKET_NAME: &str = ".s.PGSQL.5432";

/// The running proxy: a listener and its own small runtime (one worker thread), so the
/// daemon's std threads call it synchronously.
pub struct DbProxy {
    shared: Arc<serve::Shared>,
    local: Local,
    runtime: Option<tokio::runtime::Runtime>,
}

fn runtime() -> Result<tokio::runtime::Runtime, DbProxyError> {
    // One worker: a relay does little per message, and a second worker only adds
    // wake-ups (measured by bench/dbproxy.sh: 1.3 context switches and 14-16 µs of
    // daemon CPU per pgbench transaction, against 2.2 and 16-22 µs with two).
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kovra-dbproxy")
        .enable_all()
        .build()
        .map_err(|e| DbProxyError::Start(format!("runtime: {e}")))
}

fn start_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> DbProxyError {
    let at = format!("{what} {}", path.display());
    move |e| DbProxyError::Start(format!("{at}: {e}"))
}

impl DbProxy {
    /// Bind `127.0.0.1:0` and serve. Any local user can reach the port; [`DbProxy::start_unix`]
    /// is what the daemon uses.
    pub fn start(judge: Arc<dyn Judge>) -> Result<DbProxy, DbProxyError> {
        let runtime = runtime()?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| DbProxyError::Start(format!("bind 127.0.0.1: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| DbProxyError::Start(e.to_string()))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| DbProxyError::Start(e.to_string()))?;
        let listener = {
            let _enter = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| DbProxyError::Start(e.to_string()))?
        };
        let shared = Arc::new(serve::Shared::new(judge));
        runtime.spawn(serve::accept_tcp(listener, Arc::clone(&shared)));
        Ok(DbProxy {
            shared,
            local: Local::Loopback(addr),
            runtime: Some(runtime),
        })
    }

    /// Serve a unix socket, `dir/.s.PGSQL.5432`. `dir` is created 0700 (or must already be
    /// a directory of this user, not a link; it is re-moded 0700), the socket is 0600, and a
    /// peer of another uid is turned away: only the daemon's user reaches the proxy. A unix
    /// socket also costs the kernel much less per message than loopback TCP (bench/dbproxy.sh).
    pub fn start_unix(judge: Arc<dyn Judge>, dir: &Path) -> Result<DbProxy, DbProxyError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let me = nix::unistd::geteuid().as_raw();
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = std::fs::symlink_metadata(dir).map_err(start_error("reading", dir))?;
                if !meta.is_dir() || meta.uid() != me {
                    return Err(DbProxyError::Start(format!(
                        "{} is not a directory of this user",
                        dir.display()
                    )));
                }
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(start_error("setting the mode of", dir))?;
            }
            Err(e) => return Err(start_error("creating", dir)(e)),
        }
        let path = dir.join(SOCKET_NAME);
        // The daemon holds its home's lock: a socket file here is a previous daemon's.
        let _ = std::fs::remove_file(&path);
        let runtime = runtime()?;
        let listener = {
            let _enter = runtime.enter();
            tokio::net::UnixListener::bind(&path).map_err(start_error("binding", &path))?
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(start_error("setting the mode of", &path))?;
        let shared = Arc::new(serve::Shared::new(judge));
        runtime.spawn(serve::accept_unix(listener, me, Arc::clone(&shared)));
        Ok(DbProxy {
            shared,
            local: Local::Unix(dir.to_path_buf()),
            runtime: Some(runtime),
        })
    }

    /// The loopback port, when serving one.
    pub fn port(&self) -> Option<u16> {
        match &self.local {
            Local::Loopback(addr) => Some(addr.port()),
            Local::Unix(_) => None,
        }
    }

    /// The unix socket's directory, when serving one.
    pub fn socket_dir(&self) -> Option<&Path> {
        match &self.local {
            Local::Loopback(_) => None,
            Local::Unix(dir) => Some(dir),
        }
    }

    /// The URL a run's child gets for `grant`: plaintext (the token is all it carries), the
    /// record's user and database. For the unix socket, an empty host and `host=DIR` in the
    /// query, as libpq, psycopg and Node's `pg` read it; a client that knows no `host`
    /// parameter fails rather than reaching another server.
    pub fn url(&self, grant: &Grant) -> Zeroizing<String> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let user = enc(&grant.user);
        let db = enc(&grant.database);
        let token = grant.token.as_str();
        Zeroizing::new(match &self.local {
            Local::Loopback(addr) => format!(
                "postgresql://{user}:{token}@127.0.0.1:{}/{db}?sslmode=disable",
                addr.port()
            ),
            Local::Unix(dir) => {
                const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'/')
                    .remove(b'-')
                    .remove(b'_')
                    .remove(b'.');
                let host =
                    percent_encoding::percent_encode(dir.as_os_str().as_encoded_bytes(), PATH);
                format!("postgresql://{user}:{token}@/{db}?host={host}&sslmode=disable")
            }
        })
    }

    pub fn register(&self, grant: Grant) {
        self.shared.register(grant);
    }

    /// Revoke grant `id`: its token stops working and its open connections are closed.
    pub fn unregister(&self, id: u64) {
        self.shared.unregister(id);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

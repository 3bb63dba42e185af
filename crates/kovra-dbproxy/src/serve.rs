//! One client connection, from its first byte to the relay: the startup the proxy answers
//! itself, the token check, the upstream session, then bytes copied both ways until either
//! side closes or the grant is revoked. Also the cancel keys handed out and what they map to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};

use crate::upstream::{self, Session};
use crate::wire::{self, MAX_PASSWORD, Opening};
use crate::{Grant, Judge, MAX_CONNECTIONS, Stats};

/// How long a client has, from connecting, until its session is open.
const STARTUP_WINDOW: Duration = Duration::from_secs(10);
/// How long the proxy waits for the real server to open a session.
const UPSTREAM_WINDOW: Duration = Duration::from_secs(10);

struct Live {
    grant: Grant,
    stop: watch::Sender<bool>,
}

/// Where a cancel key the proxy handed out leads.
struct CancelTarget {
    live: Arc<Live>,
    pid: i32,
    key: i32,
}

pub struct Shared {
    judge: Arc<dyn Judge>,
    /// By the SHA-256 of the token: a lookup never compares the token itself byte by byte.
    grants: Mutex<HashMap<[u8; 32], Arc<Live>>>,
    cancels: Mutex<HashMap<(i32, i32), CancelTarget>>,
    slots: Arc<Semaphore>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Shared {
    pub fn new(judge: Arc<dyn Judge>) -> Shared {
        Shared {
            judge,
            grants: Mutex::new(HashMap::new()),
            cancels: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }

    pub fn register(&self, grant: Grant) {
        let key = digest(grant.token.as_bytes());
        let (stop, _) = watch::channel(false);
        lock(&self.grants).insert(key, Arc::new(Live { grant, stop }));
    }

    pub fn unregister(&self, id: u64) {
        let gone: Vec<Arc<Live>> = {
            let mut grants = lock(&self.grants);
            let keys: Vec<[u8; 32]> = grants
                .iter()
                .filter(|(_, l)| l.grant.id == id)
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| grants.remove(k)).collect()
        };
        for live in gone {
            let _ = live.stop.send(true);
        }
        lock(&self.cancels).retain(|_, t| t.live.grant.id != id);
    }
}

/// Serve the loopback port.
pub async fn accept_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = sock.set_nodelay(true);
        spawn_client(sock, &shared);
    }
}

/// Serve the unix socket. Its directory (0700) and mode (0600) already keep other users
/// out; a peer of another uid (root, who passes any mode) is still turned away, before it
/// takes a slot.
pub async fn accept_unix(listener: UnixListener, owner: u32, shared: Arc<Shared>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !sock.peer_cred().is_ok_and(|c| c.uid() == owner) {
            tracing::debug!("database proxy: a client of another user was turned away");
            continue;
        }
        spawn_client(sock, &shared);
    }
}

fn spawn_client<S>(sock: S, shared: &Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let Ok(permit) = Arc::clone(&shared.slots).try_acquire_owned() else {
            let mut sock = sock;
            let _ = wire::send(
                &mut sock,
                &wire::fatal(
                    "53300",
                    "kovra's database proxy serves too many connections",
                ),
            )
            .await;
            return;
        };
        serve(sock, &shared).await;
        drop(permit);
    });
}

/// What the startup phase ends with.
enum Opened {
    Session(Arc<Live>, Session),
    /// Done (a cancel request, or a refusal already sent).
    Done,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, shared: &Shared) {
    let opened = match tokio::time::timeout(STARTUP_WINDOW, startup(&mut sock, shared)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "database proxy: a client's startup failed");
            let _ = wire::send(&mut sock, &wire::fatal("08P01", &e.to_string())).await;
            return;
        }
        Err(_) => {
            let _ = wire::send(
                &mut sock,
                &wire::fatal("08P01", "no session opened within 10 seconds"),
            )
            .await;
            return;
        }
    };
    let Opened::Session(live, mut session) = opened else {
        return;
    };
    let id = live.grant.id;
    // The client's cancel key is the proxy's own.
    let mine = session.backend_key.map(|(pid, key)| {
        let mut cancels = lock(&shared.cancels);
        let ours = fresh_key(&cancels);
        cancels.insert(
            ours,
            CancelTarget {
                live: Arc::clone(&live),
                pid,
                key,
            },
        );
        ours
    });
    let mut hello = wire::auth(0, &[]);
    if let Some((pid, key)) = mine {
        let mut body = pid.to_be_bytes().to_vec();
        body.extend_from_slice(&key.to_be_bytes());
        hello.extend_from_slice(&wire::frame(b'K', &body));
    }
    hello.extend_from_slice(&session.opening);
    let started = Instant::now();
    let mut stop = live.stop.subscribe();
    drop(live);
    let mut stats = Stats::default();
    if wire::send(&mut sock, &hello).await.is_ok() {
        tokio::select! {
            // The revocation first: a grant revoked before or while the relay starts must not
            // let one more read of the client's reach the server.
            biased;
            // (The guard `wait_for` returns is not `Send`: dropped inside.)
            () = async { let _ = stop.wait_for(|s| *s).await; } => {
                stats.cut = true;
                let _ = wire::send(
                    &mut sock,
                    &wire::fatal("57P01", "kovra: the run this connection belonged to has ended"),
                )
                .await;
            }
            copied = tokio::io::copy_bidirectional(&mut sock, &mut session.stream) => {
                if let Ok((up, down)) = copied {
                    stats.to_server = up;
                    stats.to_client = down;
                }
            }
        }
    }
    if let Some(k) = mine {
        lock(&shared.cancels).remove(&k);
    }
    stats.duration = started.elapsed();
    // The judge writes the daemon's trail under its lock: off the async workers, so a busy
    // daemon stalls this connection only, never every relay.
    tokio::task::block_in_place(|| shared.judge.ended(id, &stats));
}

/// A cancel key not handed out yet (positive, as a server's process id is).
fn fresh_key(taken: &HashMap<(i32, i32), CancelTarget>) -> (i32, i32) {
    loop {
        let mut raw = [0u8; 8];
        if getrandom::fill(&mut raw).is_err() {
            continue;
        }
        let pid = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]).max(1);
        let key = i32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if !taken.contains_key(&(pid, key)) {
            return (pid, key);
        }
    }
}

/// Startup parameters never sent on: who and where are the grant's; a replication
/// connection is a different protocol; `_pq_.` options are protocol extensions.
fn passed_on(name: &str, read_only: bool) -> bool {
    !(matches!(name, "user" | "database" | "replication")
        || name.starts_with("_pq_.")
        || (read_only && matches!(name, "options" | "default_transaction_read_only")))
}

async fn startup<S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut S,
    shared: &Shared,
) -> std::io::Result<Opened> {
    let mut declined = 0;
    let (minor, params) = loop {
        match wire::read_opening(sock).await? {
            // No TLS on the loopback leg (the URL says sslmode=disable); no GSSAPI.
            Opening::Ssl | Opening::Gssenc if declined < 2 => {
                declined += 1;
                wire::send(sock, b"N").await?;
            }
            Opening::Ssl | Opening::Gssenc => {
                return Err(std::io::Error::other("too many encryption requests"));
            }
            Opening::Cancel { pid, key } => {
                let target = lock(&shared.cancels)
                    .get(&(pid, key))
                    .map(|t| (Arc::clone(&t.live), t.pid, t.key));
                if let Some((live, pid, key)) = target
                    && let Err(e) = upstream::cancel(&live.grant.endpoint, pid, key).await
                {
                    tracing::debug!(error = %e, "database proxy: a cancel did not reach the server");
                }
                return Ok(Opened::Done);
            }
            Opening::Startup { minor, params } => break (minor, params),
        }
    };
    let extensions: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("_pq_."))
        .map(|(k, _)| k.clone())
        .collect();
    if minor > 0 || !extensions.is_empty() {
        wire::send(sock, &wire::negotiate(&extensions)).await?;
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(user) = get("user") else {
        wire::send(
            sock,
            &wire::fatal("28000", "no user name in the startup packet"),
        )
        .await?;
        return Ok(Opened::Done);
    };
    if get("replication").is_some_and(|v| v != "false" && v != "0" && v != "off") {
        wire::send(
            sock,
            &wire::fatal(
                "08P01",
                "kovra's database proxy does not relay replication connections",
            ),
        )
        .await?;
        return Ok(Opened::Done);
    }
    let database = get("database").unwrap_or_else(|| user.clone());
    wire::send(sock, &wire::auth(3, &[])).await?;
    let m = wire::read_message(sock, MAX_PASSWORD).await?;
    let token = match (m.tag, wire::cstr(&m.body)) {
        (b'p', Some((t, []))) => t,
        _ => {
            return Err(std::io::Error::other("expected a password message"));
        }
    };
    let shown: String = user.chars().take(63).filter(|c| !c.is_control()).collect();
    let live = lock(&shared.grants).get(&digest(token.as_bytes())).cloned();
    let Some(live) = live else {
        tokio::task::block_in_place(|| {
            shared.judge.refused(
                None,
                "a token no live run holds (a finished run's, or a guess)",
            )
        });
        let why = format!("password authentication failed for user \"{shown}\"");
        wire::send(sock, &wire::fatal("28P01", &why)).await?;
        return Ok(Opened::Done);
    };
    let grant = &live.grant;
    if user != grant.user || database != grant.database {
        let why = format!(
            "this connection of kovra's opens database \"{}\" as user \"{}\" only ({})",
            grant.database, grant.user, grant.coordinate
        );
        tokio::task::block_in_place(|| shared.judge.refused(Some(grant.id), &why));
        wire::send(sock, &wire::fatal("28000", &why)).await?;
        return Ok(Opened::Done);
    }
    if let Err(why) = tokio::task::block_in_place(|| shared.judge.may_connect(grant.id)) {
        let why = format!(
            "kovra refused the connection to {}: {why}",
            grant.coordinate
        );
        wire::send(sock, &wire::fatal("28000", &why)).await?;
        return Ok(Opened::Done);
    }
    let mut onward: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| passed_on(k, grant.read_only))
        .collect();
    if grant.read_only {
        onward.push(("default_transaction_read_only".into(), "on".into()));
    }
    match upstream::connect(&grant.endpoint, &onward, UPSTREAM_WINDOW).await {
        Ok(session) => Ok(Opened::Session(live, session)),
        Err(e) => {
            tokio::task::block_in_place(|| shared.judge.failed(grant.id, &e));
            let why = format!("kovra could not open {}: {e}", grant.coordinate);
            wire::send(sock, &wire::fatal("08006", &why)).await?;
            Ok(Opened::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::passed_on;

    #[test]
    fn read_only_sessions_drop_what_could_undo_them() {
        assert!(passed_on("application_name", true));
        assert!(!passed_on("options", true));
        assert!(passed_on("options", false));
        assert!(!passed_on("default_transaction_read_only", true));
        assert!(!passed_on("user", false));
        assert!(!passed_on("_pq_.x", false));
    }
}

//! The daemon hosts `kovra ui`, the web UI (`kovra-web`), on loopback, and implements its
//! [`Backend`] over its own request handler: each call from a page becomes one envelope with
//! surface `web` and the session's origin, handled exactly as a socket's request is (the
//! gate, `decide`, the trail). This module never opens the store itself.
//!
//! A web session acts for the caller of `kovra ui` as the daemon saw it: its origin (an
//! agent that runs `kovra ui` gets an agent session), pid and executable. The pid is the one
//! of that `kovra ui` process, for the trail; it may have exited since.
//!
//! One server per daemon, started by the first `kovra ui` and stopped with the daemon.
//! Sessions end when the vault locks: every lock moves the epoch the server checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use kovra_core::audit::AuditEntry;
use kovra_proto::{Context, Envelope, Origin, Request, Response, Surface};
use kovra_web::{Backend, Who};

use crate::handler::{Caller, Daemon};

/// The running UI, if any.
#[derive(Default)]
pub struct WebHost {
    daemon: OnceLock<Weak<Daemon>>,
    running: Mutex<Option<kovra_web::Server>>,
}

impl WebHost {
    /// The daemon the backend serves, once it is shared.
    pub fn adopt(&self, daemon: Weak<Daemon>) {
        let _ = self.daemon.set(daemon);
    }

    /// Serve on 127.0.0.1:`port` unless serving already (then `port` must be the one served,
    /// or absent), and mint a login link for `who`. Returns the link and its lifetime.
    pub fn link(
        &self,
        port: Option<u16>,
        who: Who,
        epoch: Arc<AtomicU64>,
        idle: Duration,
    ) -> Result<(String, Duration), String> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(server), Some(p)) = (running.as_ref(), port)
            && p != 0
            && p != server.port()
        {
            return Err(format!(
                "already serving on port {}; drop --port or give that one",
                server.port()
            ));
        }
        if running.is_none() {
            let Some(daemon) = self.daemon.get() else {
                return Err("the daemon is not serving yet".into());
            };
            let backend = Arc::new(DaemonBackend {
                daemon: daemon.clone(),
                epoch,
            });
            let config = kovra_web::Config {
                idle,
                ..kovra_web::Config::default()
            };
            let server = kovra_web::Server::start(port.unwrap_or(0), backend, config)
                .map_err(|e| e.to_string())?;
            tracing::info!(port = server.port(), "web UI listening on 127.0.0.1");
            // Passkeys are enrolled from, and assertions accepted from, this origin alone.
            if let Some(d) = daemon.upgrade() {
                d.set_web_origin(Some(format!("http://localhost:{}", server.port())))?;
            }
            *running = Some(server);
        }
        let Some(server) = running.as_ref() else {
            return Err("the web UI did not start".into());
        };
        let url = server.login_link(who).map_err(|e| e.to_string())?;
        Ok((url, server.login_ttl()))
    }
}

struct DaemonBackend {
    daemon: Weak<Daemon>,
    /// Bumped by every lock of the vault (`Daemon::lock_epoch`).
    epoch: Arc<AtomicU64>,
}

/// The caller a session's requests come from: the `kovra ui` caller's facts, with a terminal
/// exactly when its origin is the human's, so the daemon observes the same origin again.
fn caller_of(who: &Who) -> Caller {
    Caller {
        peer: crate::os::Peer {
            pid: who.pid,
            uid: who.uid,
        },
        exe: who.exe.clone(),
        tty: who.origin == Origin::Human,
        agent: None,
        namespaces: crate::nsjoin::Namespaces::Own,
    }
}

impl Backend for DaemonBackend {
    fn call(&self, who: &Who, project: Option<String>, request: Request) -> Response {
        let Some(daemon) = self.daemon.upgrade() else {
            return Response::Error(kovra_proto::ErrorReply {
                code: kovra_proto::ErrorCode::Internal,
                message: "the daemon is stopping".into(),
                hint: None,
            });
        };
        let context = Context {
            surface: Surface::Web,
            origin: who.origin,
            scope: None,
            project,
        };
        let (response, delay, _plan) =
            daemon.handle(Envelope::new(context, request), &caller_of(who));
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        response
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn login(&self, who: Option<&Who>, ok: bool) {
        let Some(daemon) = self.daemon.upgrade() else {
            return;
        };
        let entry = AuditEntry {
            action: "ui-login".into(),
            surface: Surface::Web.as_str().into(),
            origin: who.map_or("unknown", |w| w.origin.as_str()).into(),
            decision: if ok { "allow" } else { "deny" }.into(),
            pid: who.map(|w| w.pid),
            exe: who.and_then(|w| w.exe.clone()),
            detail: (!ok).then(|| "a login link used twice, expired or never made".into()),
            ..AuditEntry::default()
        };
        // While locked the trail cannot be written: the login itself still works, and the
        // session's requests are refused as locked until the human unlocks.
        let _ = daemon.audit_outside(entry);
    }
}

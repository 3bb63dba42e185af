//! The daemon hosts kovra's ssh-agent (`kovra ssh-agent`): a socket that `ssh`, `ssh-add`,
//! `ssh-keygen -Y sign` and git talk to as to any agent, served by `kovra-sshagent`, whose
//! [`Backend`] this module implements over the daemon. Keys never leave the daemon: listing
//! and signing go through the gate (`handler::ssh_agent`), which decides each record with
//! the core's `decide`. A signature that needs a proof of presence is parked for the human
//! (`kovra approve ID`) and the ssh connection waits for it, up to [`APPROVAL_WAIT`].
//!
//! One socket per daemon, beside the daemon's own; it stops with the daemon. While the vault
//! is locked it lists no keys and signs nothing: lock and unlock follow the vault's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kovra_proto::Fact;
use kovra_sshagent::ssh_key::{HashAlg, PublicKey, Signature};
use kovra_sshagent::{Backend, Identity, Refusal, Rejected, Session, SignRequest, Signed};

use crate::approvals::Outcome;
use crate::handler::{AgentAsk, AgentSigned, Caller, Daemon};

/// How long an ssh connection waits for the human to approve a parked signature. Shorter
/// than an approval lives (and than sshd's default login grace of 120 s), so a login that
/// gives up leaves no approval standing: the wait withdraws it.
pub const APPROVAL_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(150);

/// The running socket, if any.
#[derive(Default)]
pub struct SshAgentHost {
    daemon: OnceLock<Weak<Daemon>>,
    running: Mutex<Option<Running>>,
}

struct Running {
    server: kovra_sshagent::Server,
    path: PathBuf,
    /// Set when stopping, so a connection waiting for an approval gives up at once.
    stopping: Arc<AtomicBool>,
}

impl SshAgentHost {
    /// The daemon the backend serves, once it is shared (a weak reference: the daemon owns
    /// the host, not the other way round).
    pub fn adopt(&self, daemon: Weak<Daemon>) {
        let _ = self.daemon.set(daemon);
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve on `socket` unless already serving. `Ok(true)` when it started now.
    pub fn start(&self, socket: &Path) -> Result<bool, String> {
        let mut running = self.running();
        if running.is_some() {
            return Ok(false);
        }
        let Some(daemon) = self.daemon.get() else {
            return Err("the daemon is not serving yet".into());
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let backend = Arc::new(DaemonBackend {
            daemon: daemon.clone(),
            stopping: Arc::clone(&stopping),
        });
        let server = kovra_sshagent::Server::start(socket, backend, Default::default())
            .map_err(|e| e.to_string())?;
        tracing::info!(socket = %socket.display(), "ssh-agent listening");
        *running = Some(Running {
            server,
            path: socket.to_path_buf(),
            stopping,
        });
        Ok(true)
    }

    /// Stop serving: close the socket, end its connections. `true` when it was running.
    pub fn stop(&self) -> bool {
        let Some(running) = self.running().take() else {
            return false;
        };
        running.stopping.store(true, Ordering::SeqCst);
        running.server.stop_handle().stop();
        tracing::info!("ssh-agent stopped");
        true
    }

    /// The daemon is exiting: remove the socket file (the process ends its threads), unless
    /// `keep` (a handover: the successor serves it again, [`SshAgentHost::resume`]).
    pub fn forget_socket(&self, keep: bool) {
        if let Some(running) = self.running().as_ref() {
            running.stopping.store(true, Ordering::SeqCst);
            if !keep {
                let _ = std::fs::remove_file(&running.path);
            }
        }
    }

    /// At start: serve `socket` again if a socket file is there (left by the daemon this one
    /// replaced). Whatever else is there is left alone, and a failure is only logged.
    pub fn resume(&self, socket: &Path) {
        let is_socket = std::fs::symlink_metadata(socket)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
        if is_socket && let Err(e) = self.start(socket) {
            tracing::warn!(socket = %socket.display(), error = %e, "cannot serve the ssh-agent socket again");
        }
    }
}

/// The agent crate's view of the daemon.
struct DaemonBackend {
    daemon: Weak<Daemon>,
    stopping: Arc<AtomicBool>,
}

/// The daemon's facts about a process on the agent socket, gathered as for its own socket
/// (`crate::server`): the kernel's pid and uid, the executable and the controlling terminal
/// from /proc. The agent socket is never a profile's.
fn caller_of(c: &kovra_sshagent::Caller) -> Caller {
    Caller {
        peer: crate::os::Peer {
            pid: c.pid,
            uid: c.uid,
        },
        exe: c.exe.as_ref().map(|p| p.display().to_string()),
        tty: crate::os::has_controlling_tty(c.pid),
        agent: None,
        namespaces: crate::nsjoin::Namespaces::Own,
    }
}

fn sha256(key: &kovra_sshagent::ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The server a signature is for: the last bind's host key when that bind is for
/// authentication. When the last bind forwards the agent, the signature is asked from
/// somewhere past that server, for a destination no verified bind names: none.
fn bound_host(session: &Session) -> Option<String> {
    session
        .last()
        .filter(|b| !b.forwarding())
        .map(|b| sha256(b.host_key()))
}

/// Client-supplied text, cut short and on one line, for the human and the trail.
fn said(text: &str) -> String {
    let one_line: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
    one_line
}

/// Where a signature goes, as far as the agent crate established it. A verified bind names
/// the server; a login's user name and an SSHSIG namespace are only what the client said.
fn destination(session: &Session, signed: &Signed) -> Vec<Fact> {
    let fact = |name: &str, value: String, untrusted: bool| Fact {
        name: name.into(),
        value,
        untrusted,
    };
    let mut out = Vec::new();
    if let Some(host) = bound_host(session) {
        out.push(fact("host key", host, false));
    }
    for hop in session.binds().iter().filter(|b| b.forwarding()) {
        out.push(fact("forwarded to", sha256(hop.host_key()), false));
    }
    match signed {
        Signed::Userauth(login) => {
            out.push(fact("login user", said(&login.user), true));
            if session.last().is_none()
                && let Some(host) = &login.host_key
            {
                out.push(fact("host key (unbound)", sha256(host), true));
            }
        }
        Signed::Sshsig { namespace, .. } => {
            out.push(fact("namespace", said(namespace), true));
        }
        _ => out.push(fact("data", "neither a login nor an SSHSIG".into(), false)),
    }
    out
}

impl DaemonBackend {
    /// Wait for the human's decision on a parked signature, without holding the state lock.
    fn wait_for(&self, daemon: &Daemon, id: &str) -> bool {
        let deadline = Instant::now() + APPROVAL_WAIT;
        while Instant::now() < deadline && !self.stopping.load(Ordering::SeqCst) {
            match daemon.approval_outcome(id) {
                Outcome::Approved => return true,
                Outcome::Denied | Outcome::Expired => return false,
                Outcome::Pending => std::thread::sleep(POLL),
            }
        }
        daemon.approval_withdraw(id);
        false
    }
}

impl Backend for DaemonBackend {
    fn identities(&self, caller: &kovra_sshagent::Caller, _session: &Session) -> Vec<Identity> {
        let Some(daemon) = self.daemon.upgrade() else {
            return Vec::new();
        };
        daemon
            .ssh_agent_keys(&caller_of(caller))
            .into_iter()
            .filter_map(|(coordinate, info)| {
                let key = PublicKey::from_openssh(&info.public_key).ok()?;
                Some(Identity {
                    key: key.key_data().clone(),
                    comment: coordinate,
                })
            })
            .collect()
    }

    fn sign(
        &self,
        caller: &kovra_sshagent::Caller,
        session: &Session,
        request: &SignRequest<'_>,
    ) -> Result<Signature, Refusal> {
        let Some(daemon) = self.daemon.upgrade() else {
            return Err(Refusal::Unavailable);
        };
        let caller = caller_of(caller);
        let fingerprint = sha256(request.key);
        let bound = bound_host(session);
        // Only a bound server is remembered: a forwarded or unbound signature has none.
        let note = bound
            .as_ref()
            .map(|host| format!("approved {fingerprint} for {host}"));
        let ask = AgentAsk {
            session_approved: note.as_ref().is_some_and(|n| session.remembers(n)),
            fingerprint,
            data: request.data,
            destination: destination(session, &request.signed),
            bound_host: bound,
            rsa: kovra_core::sshkey::RsaHash::from_agent_flags(request.flags),
        };
        match daemon.ssh_agent_sign(&caller, &ask, false) {
            AgentSigned::Signed(signature) => Ok(signature),
            AgentSigned::Refused(why) => Err(why),
            AgentSigned::Parked(id) => {
                if !self.wait_for(&daemon, &id) {
                    return Err(Refusal::Denied);
                }
                match daemon.ssh_agent_sign(&caller, &ask, true) {
                    AgentSigned::Signed(signature) => {
                        // The human approved this key for this server on this connection:
                        // what `once-per-session` lets stand (policy decides whether it does).
                        if let Some(note) = note {
                            session.remember(note);
                        }
                        Ok(signature)
                    }
                    AgentSigned::Refused(why) => Err(why),
                    AgentSigned::Parked(_) => Err(Refusal::Denied),
                }
            }
        }
    }

    fn rejected(&self, caller: &kovra_sshagent::Caller, why: Rejected) {
        if let Some(daemon) = self.daemon.upgrade() {
            daemon.ssh_agent_refused(&caller_of(caller), &format!("{why:?}"));
        }
    }
}

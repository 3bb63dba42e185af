//! Out-of-band approval. A request that needs a proof of presence but comes from a process
//! without a terminal (an agent) is parked here under a short id. The human sees its facts
//! with `kovra approve`, and `kovra approve ID` (a proof of presence at the human's own
//! terminal) approves exactly that request digest, once. Nothing on disk stands in for it:
//! the state lives in the daemon's memory only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kovra_core::crypto;
use kovra_core::policy::{ProofKind, ProofNeed};
use kovra_proto::{ApprovalView, Fact};

use crate::session_grants::{ParkedRun, SessionGrants};

pub const APPROVAL_TTL: Duration = Duration::from_secs(120);
const MAX_PENDING: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Denied,
}

struct Parked {
    digest: [u8; 32],
    state: State,
    expires: Instant,
    created_unix: u64,
    view: ApprovalView,
    /// The agent profile whose socket the request came through (`None`: the human's).
    agent: Option<String>,
    /// For a run: what a session grant of it would name.
    run: Option<ParkedRun>,
    /// What about the request narrows the proofs that may approve it (`passkey_for`).
    need: ProofNeed,
    /// The kind of proof the approving human gave.
    approved_by: Option<ProofKind>,
}

impl Parked {
    /// The human's socket sees every parked request; a profile's only those parked there.
    fn seen_by(&self, asker: Option<&str>) -> bool {
        asker.is_none() || self.agent.as_deref() == asker
    }
}

#[derive(Default)]
pub struct Approvals {
    parked: HashMap<String, Parked>,
    /// The session grants approvals made; they end with the approvals, at lock.
    pub grants: SessionGrants,
}

/// What `wait` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Approved,
    Denied,
    /// Unknown or expired (expiry is a denial).
    Expired,
}

impl Approvals {
    fn sweep(&mut self) {
        let now = Instant::now();
        self.parked.retain(|_, p| p.expires > now);
    }

    /// Park a request (or find it parked already, by digest) that came through agent
    /// profile `agent`'s socket (`None`: the human's). Returns its id.
    pub fn park(
        &mut self,
        digest: [u8; 32],
        mut view: ApprovalView,
        agent: Option<&str>,
        need: ProofNeed,
    ) -> String {
        self.sweep();
        if let Some((id, _)) = self.parked.iter().find(|(_, p)| {
            p.state == State::Pending && p.digest == digest && p.agent.as_deref() == agent
        }) {
            return id.clone();
        }
        if self.parked.len() >= MAX_PENDING
            && let Some(oldest) = self
                .parked
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
        {
            self.parked.remove(&oldest);
        }
        let id = hex::encode(crypto::random_array::<4>());
        view.id = id.clone();
        let created_unix = kovra_core::store::now();
        view.created = created_unix;
        self.parked.insert(
            id.clone(),
            Parked {
                digest,
                state: State::Pending,
                expires: Instant::now() + APPROVAL_TTL,
                created_unix,
                view,
                agent: agent.map(str::to_string),
                run: None,
                need,
                approved_by: None,
            },
        );
        id
    }

    /// Note what a session grant of parked run `id` would name.
    pub fn set_run(&mut self, id: &str, run: ParkedRun) {
        if let Some(p) = self.parked.get_mut(id) {
            p.run = Some(run);
        }
    }

    /// A pending request's run facts, as `asker` may see it (`None`: not a run).
    pub fn pending_run(&mut self, id: &str, asker: Option<&str>) -> Option<ParkedRun> {
        self.sweep();
        self.parked
            .get(id)
            .filter(|p| p.state == State::Pending && p.seen_by(asker))
            .and_then(|p| p.run.clone())
    }

    /// Pending requests, oldest first, with seconds left: every one for the human's socket
    /// (`asker` `None`), only its own for an agent profile's.
    pub fn pending(&mut self, asker: Option<&str>) -> Vec<ApprovalView> {
        self.sweep();
        let now = Instant::now();
        let mut out: Vec<ApprovalView> = self
            .parked
            .values()
            .filter(|p| p.state == State::Pending && p.seen_by(asker))
            .map(|p| ApprovalView {
                expires_in: p.expires.saturating_duration_since(now).as_secs(),
                ..p.view.clone()
            })
            .collect();
        out.sort_by_key(|v| v.created);
        out
    }

    /// A pending request as `asker` may see it (see [`Approvals::pending`]).
    pub fn view(&mut self, id: &str, asker: Option<&str>) -> Option<ApprovalView> {
        self.sweep();
        self.parked
            .get(id)
            .filter(|p| p.state == State::Pending && p.seen_by(asker))
            .map(|p| p.view.clone())
    }

    /// What about a pending request narrows the proofs that may approve it.
    pub fn need(&self, id: &str) -> ProofNeed {
        self.parked.get(id).map(|p| p.need).unwrap_or_default()
    }

    /// Decide a pending request (approved with a proof of kind `by`). `false` when it is
    /// unknown, expired or already decided.
    pub fn decide(&mut self, id: &str, approve: bool, by: Option<ProofKind>) -> bool {
        self.sweep();
        match self.parked.get_mut(id) {
            Some(p) if p.state == State::Pending => {
                p.approved_by = by;
                p.state = if approve {
                    State::Approved
                } else {
                    State::Denied
                };
                true
            }
            _ => false,
        }
    }

    pub fn outcome(&mut self, id: &str) -> Outcome {
        self.sweep();
        match self.parked.get(id).map(|p| p.state) {
            Some(State::Pending) => Outcome::Pending,
            Some(State::Approved) => Outcome::Approved,
            Some(State::Denied) => Outcome::Denied,
            None => Outcome::Expired,
        }
    }

    /// Consume an approval for this exact digest (single use), sent through the same socket
    /// it was parked from (`agent`: the profile's, `None`: the human's). The human approved
    /// what that socket asked: the profile the approval names, and where its run starts.
    /// Also returns the kind of proof the approval was given with.
    pub fn take_approved(
        &mut self,
        digest: &[u8; 32],
        agent: Option<&str>,
    ) -> Option<(String, Option<ProofKind>)> {
        self.sweep();
        let id = self
            .parked
            .iter()
            .find(|(_, p)| {
                p.state == State::Approved
                    && crypto::mac_eq(&p.digest, digest)
                    && p.agent.as_deref() == agent
            })
            .map(|(id, _)| id.clone())?;
        let by = self.parked.remove(&id).and_then(|p| p.approved_by);
        Some((id, by))
    }

    /// When the approval was asked for (for the audit trail).
    pub fn created(&self, id: &str) -> Option<u64> {
        self.parked.get(id).map(|p| p.created_unix)
    }

    pub fn clear(&mut self) {
        self.parked.clear();
        self.grants.clear();
    }
}

/// The requester's process and its ancestors, from /proc: pid, executable, and command line.
/// Command lines are the requester's own words and are shown fenced as untrusted.
/// Each command line goes through `scrub` (the vault's values masked) before it is cut to
/// length, so no part of a value survives the cut.
pub fn process_chain(pid: u32, scrub: &dyn Fn(&str) -> String) -> Vec<Fact> {
    let mut out = Vec::new();
    let mut current = pid;
    for depth in 0..5 {
        if current <= 1 {
            break;
        }
        let exe = crate::os::exe_of(current)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "?".into());
        let cmdline = std::fs::read(format!("/proc/{current}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let label = if depth == 0 {
            "requester".to_string()
        } else {
            format!("parent {depth}")
        };
        out.push(Fact {
            name: label,
            value: format!("pid {current} {exe}"),
            untrusted: false,
        });
        let mut cmdline = scrub(&cmdline);
        if cmdline.chars().count() > 160 {
            cmdline = cmdline.chars().take(160).collect::<String>() + "…";
        }
        out.push(Fact {
            name: "  command line".into(),
            value: cmdline,
            untrusted: true,
        });
        current = parent_of(current).unwrap_or(0);
    }
    out
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = kovra_proto::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Tell the human something waits for them, where a desktop notifier exists.
pub fn notify(id: &str, action: &str) {
    notify_desktop(
        "kovra: approval needed",
        &format!("{action} — run `kovra approve {id}` in your terminal"),
    );
}

/// Each use of a medium record is made visible (the audit trail has it too).
pub fn notify_medium_use(action: &str, coordinate: &str) {
    #[cfg(test)]
    MEDIUM_NOTICES.with(|n| n.borrow_mut().push(format!("{action} {coordinate}")));
    notify_desktop(
        "kovra: medium secret used",
        &format!("{action} {coordinate}"),
    );
}

/// A placeholder went towards a host its record is not pinned to: refused, and shown.
pub fn notify_placeholder_misuse(coordinate: &str, host: &str) {
    notify_desktop(
        "kovra: placeholder misuse refused",
        &format!("{coordinate} was sent towards {host}, which it is not pinned to"),
    );
}

/// A canary record was used (`what` says how and by whom): refused as missing, and shown.
pub fn notify_canary_tripped(coordinate: &str, what: &str) {
    notify_desktop(
        "kovra: canary record tripped",
        &format!("{coordinate}: {what}; refused as if missing"),
    );
}

/// An agent asked for a value: the human adds it with the command given.
pub fn notify_value_request(command: &str) {
    notify_desktop("kovra: a value is requested", &format!("run `{command}`"));
}

/// The daemon found its socket or lock file replaced and stopped.
pub fn notify_socket_replaced(what: &str) {
    notify_desktop(
        "kovra: daemon stopped (socket replaced)",
        &format!(
            "{what}; another process may be relaying kovra's socket — check before typing a passphrase"
        ),
    );
}

fn notify_desktop(title: &str, body: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("notify-send").is_file()))
        .unwrap_or(false);
    if found {
        let _ = std::process::Command::new("notify-send")
            .args([title, body])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

#[cfg(test)]
thread_local! {
    /// The medium-use notices this thread gave, as `action coordinate` (for the gate tests).
    pub(crate) static MEDIUM_NOTICES: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

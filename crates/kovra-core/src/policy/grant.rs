//! Session grants, against approval fatigue: the human approving a parked run may say "this
//! very run, for N minutes" (`kovra approve ID --grant 15m`), and the same run then goes
//! through without a new approval until the grant expires or is revoked. A grant is made
//! only by an approval that carried a proof, lives only in the daemon's memory, and lets
//! through only what it names.
//!
//! What a grant names, and why: a run is its command line (argv), its directory, its refs
//! file's path and the SHA-256 of that file's content, under the socket it came through,
//! plus the digest of the whole request (the executable's content, the environment a
//! protected child gets, values or placeholders, the egress policy; see
//! `kovra_proto::digest`). The refs file is named by its content, not by the coordinates it
//! resolved to: the content also fixes which variable each value lands in and which lines
//! exist, it is known before anything is resolved (matching never touches the store), and
//! an edited refs file is another run than the one the human read.
//!
//! What a grant may stand in for is decided here too ([`grant_stands_in`]), and [`decide`]
//! reads it through [`Presence::Granted`]: only an injection of a non-production record.
//! Reveal, export, edits, queries, signatures and brokered calls each still need their proof,
//! and so does every production record.
//!
//! [`decide`]: super::decide
//! [`Presence::Granted`]: super::Presence::Granted

use std::collections::BTreeSet;

use super::{Decision, Reason, Request};
use crate::model::Operation;

/// A grant asked for without a duration lasts this long.
pub const DEFAULT_GRANT_MINUTES: u32 = 15;
/// The longest grant: a working day's stretch, never "until I remember to revoke it".
pub const MAX_GRANT_MINUTES: u32 = 8 * 60;

/// The facts of one run, as the daemon saw the request (nothing read from the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunFacts<'a> {
    pub argv: &'a [String],
    pub cwd: &'a str,
    /// The refs file's path as the client sent it (`None`: the default `.env.refs`).
    pub refs_path: Option<&'a str>,
    /// SHA-256 of the refs file's content (of nothing, when none was sent).
    pub refs_sha256: [u8; 32],
    /// The request's digest (what a proof or an approval is bound to).
    pub digest: [u8; 32],
    /// The agent profile whose socket the run came through (`None`: the human's socket).
    pub socket: Option<&'a str>,
}

/// What a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantKind {
    /// This very run, again: the same command in the same directory with the same refs.
    Run {
        argv: Vec<String>,
        cwd: String,
        refs_path: Option<String>,
        refs_sha256: [u8; 32],
        digest: [u8; 32],
        socket: Option<String>,
    },
    /// An agent profile may have these coordinates injected, into any run it starts.
    Profile {
        profile: String,
        coordinates: BTreeSet<String>,
    },
}

/// One grant: what it covers and until when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub kind: GrantKind,
    pub expires: u64,
}

impl Grant {
    /// Whether this grant is still in force at `now`.
    pub fn live(&self, now: u64) -> bool {
        now < self.expires
    }

    /// Whether this run falls under this grant at `now`: a run grant whose every fact is
    /// the run's own. A profile grant covers coordinates, not runs (see
    /// [`Grant::covers_injection`]).
    pub fn covers_run(&self, run: &RunFacts<'_>, now: u64) -> bool {
        let GrantKind::Run {
            argv,
            cwd,
            refs_path,
            refs_sha256,
            digest,
            socket,
        } = &self.kind
        else {
            return false;
        };
        self.live(now)
            && argv.as_slice() == run.argv
            && cwd == run.cwd
            && refs_path.as_deref() == run.refs_path
            && *refs_sha256 == run.refs_sha256
            && *digest == run.digest
            && socket.as_deref() == run.socket
    }

    /// Whether injecting `coordinate` into a run started through profile `socket`'s socket
    /// falls under this grant at `now`. The human's own socket is never covered by a
    /// profile grant.
    pub fn covers_injection(&self, socket: Option<&str>, coordinate: &str, now: u64) -> bool {
        let GrantKind::Profile {
            profile,
            coordinates,
        } = &self.kind
        else {
            return false;
        };
        self.live(now) && socket == Some(profile.as_str()) && coordinates.contains(coordinate)
    }
}

/// Whether a grant covering this request may stand in for its proof: an injection (the
/// value goes into a process kovra starts, never onto a screen), and never a production
/// record's (each production use is attended), never a canary's (it trips first anyway).
/// `inject-only` records are injected, so a grant may cover them; they are never revealed,
/// granted or not.
pub fn grant_stands_in(req: &Request<'_>) -> bool {
    req.operation == Operation::Inject && !req.production && !req.canary
}

/// What an approval asking for a grant says about the parked request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantSpecFacts {
    /// The parked request is a run (the only thing a grant covers).
    pub run: bool,
    /// Some record the run would inject is in a production environment.
    pub production: bool,
    pub minutes: u32,
    /// The grant asked for is a profile's (the coordinates, for any run of the profile).
    pub for_profile: bool,
    /// The parked request came through an agent profile's socket.
    pub through_profile: bool,
}

/// Whether an approval may also make the grant it asks for. The approval itself is decided
/// as any approval (`VaultOperation::ApproveRequest`: a proof, the whole vault in scope);
/// this says what a grant may cover at all.
pub fn decide_grant(spec: GrantSpecFacts) -> Decision {
    if !spec.run {
        Decision::Deny(Reason::GrantNeedsRun)
    } else if spec.for_profile && !spec.through_profile {
        Decision::Deny(Reason::GrantNeedsProfile)
    } else if spec.production {
        Decision::Deny(Reason::GrantNeverProduction)
    } else if spec.minutes == 0 || spec.minutes > MAX_GRANT_MINUTES {
        Decision::Deny(Reason::GrantDurationOutOfRange)
    } else {
        Decision::Allow
    }
}

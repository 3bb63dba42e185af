//! The standing rules of kovra's ssh-agent (`agent.toml`) as facts of a signature, and what
//! they do to its decision. Two sources speak: the file itself, which an agent can write,
//! and the state of it the human accepted with a proof (sealed in the vault). The file may
//! only narrow; only the accepted state can loosen, and never past a production key's proof.
//!
//! Kept apart from [`super::decide`]'s `Sign` arm so the arm stays one call and the rules
//! can be read (and reviewed) in one place.

use serde::{Deserialize, Serialize};

use super::{Decision, Reason, Request};

/// How often the human confirms signatures with a key. Ordered from loosest to strictest,
/// so the stricter of two is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confirm {
    /// Signs unattended.
    Never,
    /// The first signature on an agent connection (one `ssh` invocation) for a bound server
    /// is approved; later ones with the same key for the same server on it are not asked.
    OncePerSession,
    /// Every signature is approved.
    EverySignature,
}

impl Confirm {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirm::Never => "never",
            Confirm::OncePerSession => "once-per-session",
            Confirm::EverySignature => "every-signature",
        }
    }

    /// A key's mode when no rule names it: every signature for a high or production key
    /// (`protected`), none for a low or medium one.
    pub fn default_for(protected: bool) -> Confirm {
        if protected {
            Confirm::EverySignature
        } else {
            Confirm::Never
        }
    }
}

/// What one source of rules says about one key. `None`: it says nothing about that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyRuleFacts<'a> {
    pub confirm: Option<Confirm>,
    /// The server host keys (`SHA256:…`) the key may sign for; an empty list: none.
    pub hosts: Option<&'a [String]>,
}

/// The standing rules that apply to one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StandingRules<'a> {
    /// The accepted state's rule for the key (nothing without an accepted state).
    pub accepted: KeyRuleFacts<'a>,
    /// The file's rule for the key (nothing without a file).
    pub file: KeyRuleFacts<'a>,
    /// The agent connection asking already had a signature with this key, for this bound
    /// server, approved by the human and made. Counts only under `once-per-session`, and
    /// only for a bound session.
    pub session_approved: bool,
}

/// The confirmation a key gets: the stricter of the accepted state's (the key's default
/// when it says nothing) and the file's. The file alone therefore never loosens, and a
/// production key is never left without a proof (at least once per session).
pub fn confirm_mode(rules: &StandingRules<'_>, protected: bool, production: bool) -> Confirm {
    let accepted = rules
        .accepted
        .confirm
        .unwrap_or(Confirm::default_for(protected));
    let mode = accepted.max(rules.file.confirm.unwrap_or(Confirm::Never));
    if production {
        mode.max(Confirm::OncePerSession)
    } else {
        mode
    }
}

/// The `Sign` decision once the record's own host restriction passed: the standing rules'
/// host lists (each present list must hold the bound server), then the confirmation mode.
pub(super) fn sign(req: &Request<'_>, protected: bool, proven: bool) -> Decision {
    let rules = req.destination.map(|d| d.rules).unwrap_or_default();
    let bound = req.destination.and_then(|d| d.bound);
    for hosts in [rules.accepted.hosts, rules.file.hosts]
        .into_iter()
        .flatten()
    {
        match bound {
            None => return Decision::Deny(Reason::SignNeedsBoundHost),
            Some(b) if !hosts.iter().any(|h| h == b) => {
                return Decision::Deny(Reason::SignHostNotAllowed);
            }
            Some(_) => {}
        }
    }
    let reason = if protected {
        Reason::SignNeedsPresence
    } else {
        Reason::SignConfirmedByRule
    };
    match confirm_mode(&rules, protected, req.production) {
        Confirm::Never => Decision::Allow,
        _ if proven => Decision::Allow,
        // A forwarded or unbound signature has no server to remember the approval for.
        Confirm::OncePerSession if rules.session_approved && bound.is_some() => Decision::Allow,
        _ => Decision::NeedsProof(reason),
    }
}

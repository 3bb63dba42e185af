//! The rules the daemon applies around [`decide`](super::decide): what a record is born
//! with, what a package may bring in, when a fallback is refused, which line of a run is
//! enforced, and which request is parked for a human. Pure functions of facts, each with
//! a law in `tests/policy_laws.rs`, so no surface spells a rule of its own.

use super::{Decision, Delivery, DeliveryChoice, Presence, Reason, RecordFacts};
use crate::coord::Coordinate;
use crate::model::{Metadata, Origin, RecordKind, Sensitivity};
use crate::totp::TotpParams;

/// The longest description a record keeps, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 1024;

/// Production records are at least high: `sensitivity`, raised to high in production.
pub fn production_floor(sensitivity: Sensitivity, production: bool) -> Sensitivity {
    if production {
        sensitivity.max(Sensitivity::High)
    } else {
        sensitivity
    }
}

/// The sensitivity a record is born with (`add`, `generate`, `rollback` restoring an old
/// one, `receive`): what was asked for (medium when nothing was), at the production floor.
pub fn birth_sensitivity(requested: Option<Sensitivity>, production: bool) -> Sensitivity {
    production_floor(requested.unwrap_or(Sensitivity::Medium), production)
}

/// What a record's name decides about it, beside what is stored with it: the provider it
/// is pinned to (bound, or claimed by its key) and whether the agent profile at hand opted
/// its coordinate or group in to values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameFacts<'a> {
    pub pinned: Option<&'a str>,
    pub value_opt_in: bool,
}

/// What a move (`mv`, `rename`) needs beyond a delete at `from` and a create at `to`: a new
/// name that changes the provider (a claim lost, gained or swapped) or newly falls under the
/// profile's value opt-ins loosens where the value goes, so it needs a proof of presence.
pub fn relocation(from: NameFacts<'_>, to: NameFacts<'_>, presence: Presence) -> Decision {
    let loosens = from.pinned != to.pinned || (to.value_opt_in && !from.value_opt_in);
    if loosens && presence != Presence::Proven {
        Decision::NeedsProof(Reason::MoveLoosensNeedsPresence)
    } else {
        Decision::Allow
    }
}

/// Whether a run may start at all. Under an agent profile it starts only inside a boundary:
/// for a caller in other namespaces than the daemon's (a sandbox), which the daemon starts
/// the child in. From the daemon's own namespaces (an MCP server a client started beside its
/// sandbox, a shell outside any) the child would have the whole machine, whatever the
/// program: so such a run is refused, secrets or not.
pub fn run_allowed(under_profile: bool, contained: bool) -> Decision {
    if under_profile && !contained {
        Decision::Deny(super::Reason::AgentRunNotContained)
    } else {
        Decision::Allow
    }
}

/// Whether a refs line's `| fallback` is refused: production values come from the vault
/// or not at all.
pub fn fallback_refused(has_fallback: bool, production: bool) -> bool {
    has_fallback && production
}

/// Whether one line of a run must be enforced (refused or proven) given the run's
/// [`Decision::worst`]: a refusal always; a missing record unless the line falls back;
/// a needed proof only when nothing is refused outright, so a refused run never asks a
/// human for a proof first.
pub fn line_enforced(line: Decision, worst: Decision, has_fallback: bool) -> bool {
    match line {
        Decision::Unaddressable => !has_fallback,
        Decision::Deny(_) => true,
        Decision::NeedsProof(_) => matches!(worst, Decision::NeedsProof(_)),
        Decision::Allow => false,
    }
}

/// How a run delivers a record: a record pinned to a provider goes to an agent's run as a
/// placeholder unless the agent asks for the value (which `decide` then guards with a proof);
/// a human's run gets the value unless they ask for placeholders or made them the default.
/// An unpinned record has nothing a placeholder could be swapped towards: always the value.
pub fn delivery_for(
    pinned: bool,
    origin: Origin,
    asked: DeliveryChoice,
    placeholders_by_default: bool,
) -> Delivery {
    match (pinned, asked) {
        (false, _) => Delivery::Value,
        (true, DeliveryChoice::Values) => Delivery::Value,
        (true, DeliveryChoice::Placeholders) => Delivery::Placeholder,
        (true, DeliveryChoice::Default) => {
            if origin == Origin::Agent || placeholders_by_default {
                Delivery::Placeholder
            } else {
                Delivery::Value
            }
        }
    }
}

/// Whether a request that needs a proof is also parked for a human to approve out of band:
/// only an agent's (a human at a terminal answers the challenge), and never the approval
/// of a parked request itself, which is the attended step.
pub fn parks_for_approval(decision: Decision, origin: Origin, approving: bool) -> bool {
    matches!(decision, Decision::NeedsProof(_)) && origin == Origin::Agent && !approving
}

/// What a package offers for one record (kovra-share's record, as facts).
#[derive(Debug, Clone, Copy)]
pub struct Offered<'a> {
    pub sensitivity: Sensitivity,
    pub revealable: bool,
    pub description: &'a str,
    pub totp: Option<TotpParams>,
}

/// The metadata a received record is written with. A package never weakens what the vault
/// holds: the sensitivity is at least the offered one, the replaced record's and the
/// production floor; a record becomes revealable only if the package says so, it is not
/// inject-only, and the record it replaces was revealable too. A provider pin is never
/// imported (the store keeps a replaced record's own). The description is cut to
/// [`DESCRIPTION_MAX_CHARS`]; a replaced record keeps its creation time.
pub fn imported_metadata(
    coordinate: Coordinate,
    offered: Offered<'_>,
    existing: Option<&Metadata>,
    production: bool,
    now: u64,
) -> Metadata {
    let floor = existing.map_or(offered.sensitivity, |o| {
        o.sensitivity.max(offered.sensitivity)
    });
    let sensitivity = birth_sensitivity(Some(floor), production).max(floor);
    Metadata {
        coordinate,
        sensitivity,
        revealable: offered.revealable
            && sensitivity != Sensitivity::InjectOnly
            && existing.is_none_or(|o| o.revealable),
        description: offered
            .description
            .chars()
            .take(DESCRIPTION_MAX_CHARS)
            .collect(),
        created: existing.map_or(now, |o| o.created),
        updated: now,
        version: 0,
        totp: offered.totp,
        provider: None,
        provider_host: None,
        ssh_key: None,
        database: None,
    }
}

/// Which part of a record a `.env.refs` line injects. For an SSH key record: the public
/// key by default, the private key when the line asks for it
/// (`secret:dev/ssh/deploy#private`). `#url` asks for a database connection record as a URL
/// of kovra's database proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyPart {
    #[default]
    Public,
    Private,
    Url,
}

/// The facts an injection of a record is decided on. A secret or TOTP record is injected
/// as it is. An SSH key record's public key is public: decided as a low, revealable record
/// (the production floor still applies through the request). Its private key is decided at
/// least as high, whatever the record says, and as not revealable: an identity that can
/// sign for its owner is never handed out more freely than a high secret.
pub fn injected_facts(facts: RecordFacts, part: KeyPart) -> RecordFacts {
    match (facts.kind, part) {
        (RecordKind::SshKey, KeyPart::Public) => RecordFacts {
            sensitivity: Sensitivity::Low,
            revealable: true,
            ..facts
        },
        (RecordKind::SshKey, KeyPart::Private) => RecordFacts {
            sensitivity: facts.sensitivity.max(Sensitivity::High),
            revealable: false,
            ..facts
        },
        _ => facts,
    }
}

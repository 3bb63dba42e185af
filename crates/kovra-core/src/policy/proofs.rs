//! Which kinds of proof of presence answer a request. The decision that a request needs a
//! proof is `decide`'s; this says what may answer it, from the request's facts and the
//! user's narrowing (`config.toml`: `proof_kinds`, `passkey_for`). The daemon asks here and
//! never re-derives it.

use serde::{Deserialize, Serialize};

/// One kind of proof of presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProofKind {
    /// A MAC from the typed passphrase (`crate::proof`).
    Passphrase,
    /// A two-factor (TOTP) code.
    Code,
    /// A WebAuthn assertion from an enrolled passkey (`crate::passkey`).
    Passkey,
}

/// A set of proof kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofKinds {
    pub passphrase: bool,
    pub code: bool,
    pub passkey: bool,
}

impl ProofKinds {
    pub const ALL: ProofKinds = ProofKinds {
        passphrase: true,
        code: true,
        passkey: true,
    };
    pub const PASSKEY_ONLY: ProofKinds = ProofKinds {
        passphrase: false,
        code: false,
        passkey: true,
    };

    pub fn has(self, kind: ProofKind) -> bool {
        match kind {
            ProofKind::Passphrase => self.passphrase,
            ProofKind::Code => self.code,
            ProofKind::Passkey => self.passkey,
        }
    }
}

/// What about a request can make a passkey the only answer: a high-sensitivity record, a
/// production environment, or a change that could undo the rule (removing a passkey).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofNeed {
    pub high: bool,
    pub production: bool,
}

impl ProofNeed {
    /// The stricter of two needs (a request on several records needs what each needs).
    pub fn join(self, other: ProofNeed) -> ProofNeed {
        ProofNeed {
            high: self.high || other.high,
            production: self.production || other.production,
        }
    }
}

/// The user's narrowing of proofs: which kinds count at all, and for which requests only a
/// passkey does (`passkey_for`: the `high` and `production` fields of a [`ProofNeed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRules {
    pub kinds: ProofKinds,
    pub passkey_for: ProofNeed,
}

impl Default for ProofRules {
    fn default() -> Self {
        ProofRules {
            kinds: ProofKinds::ALL,
            passkey_for: ProofNeed::default(),
        }
    }
}

/// The kinds that may answer a request with `need`. `passkey_for` makes a passkey the only
/// answer for what it names, but only once a passkey is enrolled: with none, the rule waits
/// (the other kinds still count) so a human who has not enrolled one yet is not locked out
/// of their own records; enrolling one switches it on.
pub fn accepted_proofs(rules: &ProofRules, need: ProofNeed, passkey_enrolled: bool) -> ProofKinds {
    let named =
        (need.high && rules.passkey_for.high) || (need.production && rules.passkey_for.production);
    if named && passkey_enrolled && rules.kinds.passkey {
        ProofKinds::PASSKEY_ONLY
    } else {
        rules.kinds
    }
}

/// Whether a request that needs a proof is parked for out-of-band approval because only a
/// passkey can answer it (`available`: the kinds that could answer right now) and the
/// requester's terminal cannot give one: the human then approves it in the Web UI with the
/// passkey. Approving is never parked (as in [`super::parks_for_approval`]).
pub fn parks_for_passkey(
    decision: super::Decision,
    approving: bool,
    available: ProofKinds,
) -> bool {
    matches!(decision, super::Decision::NeedsProof(_))
        && !approving
        && available.passkey
        && !available.passphrase
        && !available.code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(high: bool, production: bool) -> ProofRules {
        ProofRules {
            kinds: ProofKinds::ALL,
            passkey_for: ProofNeed { high, production },
        }
    }

    const HIGH: ProofNeed = ProofNeed {
        high: true,
        production: false,
    };
    const PROD: ProofNeed = ProofNeed {
        high: false,
        production: true,
    };
    const LOW: ProofNeed = ProofNeed {
        high: false,
        production: false,
    };

    #[test]
    fn passkey_for_narrows_only_what_it_names() {
        let r = rules(true, false);
        assert_eq!(accepted_proofs(&r, HIGH, true), ProofKinds::PASSKEY_ONLY);
        assert_eq!(accepted_proofs(&r, PROD, true), ProofKinds::ALL);
        assert_eq!(accepted_proofs(&r, LOW, true), ProofKinds::ALL);
        let r = rules(true, true);
        assert_eq!(accepted_proofs(&r, PROD, true), ProofKinds::PASSKEY_ONLY);
        assert_eq!(
            accepted_proofs(&r, LOW.join(PROD), true),
            ProofKinds::PASSKEY_ONLY
        );
    }

    #[test]
    fn without_an_enrolled_passkey_the_rule_waits() {
        assert_eq!(
            accepted_proofs(&rules(true, true), HIGH, false),
            ProofKinds::ALL
        );
    }

    #[test]
    fn only_a_passkey_parks_a_terminals_request() {
        use super::super::{Decision, Reason};
        let needs = Decision::NeedsProof(Reason::RevealNeedsPresence);
        let only = ProofKinds::PASSKEY_ONLY;
        assert!(parks_for_passkey(needs, false, only));
        assert!(
            !parks_for_passkey(needs, true, only),
            "approving is never parked"
        );
        assert!(!parks_for_passkey(needs, false, ProofKinds::ALL));
        assert!(!parks_for_passkey(Decision::Allow, false, only));
        let none = ProofKinds {
            passkey: false,
            ..only
        };
        assert!(!parks_for_passkey(needs, false, none));
    }

    #[test]
    fn proof_kinds_narrow_everything() {
        let r = ProofRules {
            kinds: ProofKinds::PASSKEY_ONLY,
            passkey_for: ProofNeed::default(),
        };
        assert_eq!(accepted_proofs(&r, LOW, false), ProofKinds::PASSKEY_ONLY);
        let no_passkey = ProofKinds {
            passkey: false,
            ..ProofKinds::ALL
        };
        let r = ProofRules {
            kinds: no_passkey,
            passkey_for: ProofNeed {
                high: true,
                production: true,
            },
        };
        // A rule naming a kind the file refused cannot widen back to it.
        assert_eq!(accepted_proofs(&r, HIGH, true), no_passkey);
    }
}

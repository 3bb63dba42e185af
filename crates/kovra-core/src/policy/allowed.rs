//! The token a value read needs. Only [`authorize`] mints an [`Allowed`], and only when
//! [`decide`] allows the very request, for one coordinate, one vault and one operation. The
//! store's guarded reads take the token and read exactly what it names, so no path reads a
//! value that the one decision did not allow, and a token for one thing does nothing else.
//! The daemon's own settings are no record of any scope: they have their own accessor
//! (`UnlockedStore::read_setting`).

use super::{Decision, Request, Scope, decide};
use crate::coord::{Coordinate, Pin};
use crate::model::{Operation, Sensitivity, VaultName};

/// What the daemon must do alongside an allowed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Obligations {
    /// Tell the human (a desktop notification) that a medium record was used.
    pub notify_medium_use: bool,
}

impl Obligations {
    /// Medium records are used without a proof, but not unseen: revealing or injecting one
    /// notifies the human. Low records are not worth a notice; high and production ones
    /// already took a proof.
    pub fn of(req: &Request<'_>) -> Obligations {
        Obligations {
            notify_medium_use: matches!(
                req.operation,
                Operation::Reveal | Operation::Inject | Operation::Sign
            ) && req
                .record
                .is_some_and(|r| r.sensitivity == Sensitivity::Medium),
        }
    }
}

/// Proof that [`decide`] allowed one operation on one record. It has no public
/// constructor, no `Clone`, no `Default` and no `Deserialize`: [`authorize`] is the only
/// way to get one.
#[derive(Debug)]
pub struct Allowed {
    vault: VaultName,
    coordinate: Coordinate,
    operation: Operation,
    obligations: Obligations,
}

/// Decide `req` about `coordinate` and, when allowed, mint the token. The coordinate must
/// be the one the request's facts describe (its environment, and a `secret://global/` pin
/// only in the global vault); otherwise nothing is minted, as if absent.
pub fn authorize(
    req: &Request<'_>,
    coordinate: &Coordinate,
    scope: &Scope,
) -> Result<Allowed, Decision> {
    let pinned_elsewhere = coordinate.pin() == Pin::Global && *req.vault != VaultName::Global;
    if coordinate.env() != req.env || pinned_elsewhere {
        return Err(Decision::Unaddressable);
    }
    match decide(req, scope) {
        Decision::Allow => Ok(Allowed {
            vault: req.vault.clone(),
            coordinate: coordinate.unpinned(),
            operation: req.operation,
            obligations: Obligations::of(req),
        }),
        refused => Err(refused),
    }
}

impl Allowed {
    pub fn vault(&self) -> &VaultName {
        &self.vault
    }

    /// The vault-relative coordinate (unpinned).
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    pub fn obligations(&self) -> Obligations {
        self.obligations
    }

    /// Whether the store may hand out the plaintext: the operations that use a value
    /// (`Update` for a rollback, which rewrites an old value without showing it; `Sign`,
    /// which hands out only a signature made with it).
    pub fn reads_value(&self) -> bool {
        matches!(
            self.operation,
            Operation::Reveal
                | Operation::Inject
                | Operation::Broker
                | Operation::Code
                | Operation::Export
                | Operation::DotenvExport
                | Operation::Update
                | Operation::Sign
                | Operation::Query
                | Operation::QueryWrite
        )
    }

    /// Whether the store may take a fingerprint (which can confirm a guess).
    pub fn fingerprints(&self) -> bool {
        self.operation == Operation::Fingerprint
    }
}

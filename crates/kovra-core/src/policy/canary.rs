//! Canary records: realistic fakes a human plants (`kovra canary create`) so that whoever
//! uses one gives themselves away. What counts as a use is decided here, once.

use crate::model::{Operation, Origin};

/// Whether `operation` on a canary trips it: everything that opens, hands out, sends or
/// derives from the value. Reading metadata and the human's changes (edit, overwrite,
/// delete, move, pin) do not: a canary must answer them as any record would, or it would
/// stand out.
pub fn trips_canary(operation: Operation) -> bool {
    match operation {
        Operation::Fingerprint
        | Operation::Inject
        | Operation::Reveal
        | Operation::Code
        | Operation::Broker
        | Operation::Export
        | Operation::DotenvExport
        | Operation::Sign
        | Operation::Query
        | Operation::QueryWrite => true,
        Operation::Metadata
        | Operation::Create
        | Operation::Update
        | Operation::Delete
        | Operation::ChangeSensitivity
        | Operation::ChangeRevealable
        | Operation::EditDescription
        | Operation::Bind
        | Operation::RequestValue
        | Operation::Import => false,
    }
}

/// Whether the audit trail shows an entry of `action` to a reader of `origin`. The trail's
/// canary entries (planted, listed, tripped) name canaries, so an agent never reads them;
/// a canary's own record entries are a plain record's (`add`, and `not-found` refusals).
pub fn audit_shows(action: &str, origin: Origin) -> bool {
    origin == Origin::Human || !action.starts_with("canary-")
}

//! The redactor for what comes back from outside kovra (a brokered ssh command's output, a
//! query's rows): every value of every vault, not only the one used, since a server often
//! holds copies of credentials, some of them outside the caller's scope. Those are masked
//! under a name that says nothing of them (`[kovra:redacted]`), the others by coordinate.

use std::sync::Arc;

use kovra_core::model::VaultName;
use kovra_redact::Redactor;

use super::Gate;
use crate::error::GateError;

impl Gate<'_> {
    /// Built once per value set and kept until the vault locks (`crate::redactors`).
    pub(super) fn scrubber(&mut self) -> Result<Arc<Redactor>, GateError> {
        let mut secrets = Vec::new();
        for v in self.store.vaults()? {
            if v == VaultName::System {
                continue;
            }
            for (coord, value) in self.store.values_to_scrub(&v)? {
                let env = coord.env();
                let name = if self.info.scope.addresses(&v, env, self.production(env)) {
                    coord.to_string()
                } else {
                    "redacted".to_string()
                };
                secrets.push((name, value));
            }
        }
        Ok(self.redactors.claim().get(&secrets))
    }
}

//! `kovra confirm TEXT`: a script's own step, approved by the human with a proof. The
//! daemon reads and changes nothing; it decides (`VaultOperation::Confirm`: only a proof
//! answers), shows the text as the requester's words, and writes the trail.

use kovra_core::policy::VaultOperation;
use kovra_proto::{ErrorCode, Fact, Reply};

use super::Gate;
use crate::error::GateError;

/// In characters: enough for a sentence naming a deploy, short enough to read.
const MAX_TEXT: usize = 500;

impl Gate<'_> {
    pub(super) fn confirm(&mut self, text: &str) -> Result<Reply, GateError> {
        let invalid = |why: &str| {
            GateError::new(ErrorCode::InvalidArgument, format!("confirm: {why}"))
                .hint("say in one line what the human confirms, e.g. kovra confirm \"deploy v1.4 to production\"")
        };
        if text.trim().is_empty() {
            return Err(invalid("the text is empty"));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(invalid(&format!(
                "the text is longer than {MAX_TEXT} characters"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid(
                "the text holds a control character (one line, no escapes)",
            ));
        }
        // A script may have put anything in the text: the approver, the approvals list and
        // the trail get it with any of the vault's values masked.
        let redactor = self.scrubber()?;
        let shown = String::from_utf8_lossy(&redactor.redact_all(text.as_bytes())).into_owned();
        // What the approver reads, fenced as the requester's own words.
        self.facts.push(Fact {
            name: "asks you to confirm".into(),
            value: shown.clone(),
            untrusted: true,
        });
        self.facts.push(Fact {
            name: "note".into(),
            value: "nothing is read or changed: the script continues only if you approve".into(),
            untrusted: false,
        });
        self.vault_gate(VaultOperation::Confirm, "confirm")?;
        let mut entry = self.info.entry("confirm", None, None, "allow");
        entry.reason = Some("proof-of-presence".into());
        entry.detail = Some(shown);
        self.store.audit(entry)?;
        Ok(Reply::Done {
            message: "confirmed".into(),
        })
    }
}

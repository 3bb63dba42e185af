//! The hooks' scans (`kovra hook pre-commit`, `prompt`, `tool-output`): every value of the
//! vault in its encodings (the redaction engine) and well-known key formats
//! (`kovra_core::keyformats`), answered with places and coordinates only. A value outside the
//! caller's scope is reported as `redacted`: that a leak exists is never hidden, which one
//! it is stays in scope.

use kovra_core::keyformats;
use kovra_core::policy::{Reason, VaultOperation};
use kovra_proto::{ErrorCode, Reply, ScanFinding, ScanReply, ScanRequest};

use super::Gate;
use crate::error::GateError;

/// What one request may carry in all (the frame limit is 1 MiB; the CLI sends batches).
const MAX_TEXTS: usize = 10_000;

/// Kept while the vault is locked, written at the next unlock (bounded).
pub(crate) const MAX_PENDING_BYPASSES: usize = 64;

impl Gate<'_> {
    pub(super) fn scan(&mut self, req: &ScanRequest) -> Result<Reply, GateError> {
        if req.texts.len() > MAX_TEXTS {
            return Err(GateError::new(
                ErrorCode::BadRequest,
                format!("a scan carries at most {MAX_TEXTS} texts"),
            ));
        }
        self.vault_gate(VaultOperation::ScanForValues, "scan")?;
        let redactor = self.scrubber()?;
        let mut findings = Vec::new();
        let mut bytes = 0u64;
        for t in &req.texts {
            bytes += t.text.len() as u64;
            let mut spans: Vec<(usize, &str, String)> = redactor
                .find(t.text.as_bytes())
                .into_iter()
                .map(|f| (f.start, "vault-value", f.name.to_string()))
                .collect();
            for hit in keyformats::scan(&t.text) {
                // A vault value that also has a known format is reported once, as the value.
                if !spans.iter().any(|(s, _, _)| *s == hit.start) {
                    spans.push((hit.start, "key-format", hit.kind.to_string()));
                }
            }
            spans.sort_by_key(|(s, _, _)| *s);
            for (start, kind, what) in spans {
                let before = &t.text.as_bytes()[..start];
                let line_index = before.iter().filter(|&&b| b == b'\n').count();
                let line_start = before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let column = String::from_utf8_lossy(&before[line_start..])
                    .chars()
                    .count()
                    + 1;
                findings.push(ScanFinding {
                    label: t.label.clone(),
                    line: t
                        .first_line
                        .saturating_add(u32::try_from(line_index).unwrap_or(u32::MAX)),
                    column: u32::try_from(column).unwrap_or(u32::MAX),
                    kind: kind.into(),
                    what,
                });
            }
        }
        // A canary's value seen in a scan trips it, as any use would; the requester is told
        // what it would be told of a real record's value.
        for f in findings.iter().filter(|f| f.kind == "vault-value") {
            if let Some(vault) = self.canaries.vault_of(&f.what) {
                let mut e = self.info.entry("canary-tripped", None, None, "deny");
                e.coordinate = Some(f.what.clone());
                e.vault = Some(vault);
                e.reason = Some(Reason::CanaryTripped.code().into());
                let purpose: String = req.purpose.chars().take(32).collect();
                e.detail = Some(format!(
                    "its value was seen in a {purpose} scan ({}:{})",
                    f.label, f.line
                ));
                self.store.audit(e)?;
                crate::approvals::notify_canary_tripped(
                    &f.what,
                    &format!("value seen in a {purpose} scan"),
                );
            }
        }
        let mut entry = self.info.entry("scan", None, None, "allow");
        let mut named: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        entry.detail = Some(format!(
            "{}: {bytes} bytes, {} finding(s){}",
            req.purpose.chars().take(32).collect::<String>(),
            findings.len(),
            if named.is_empty() {
                String::new()
            } else {
                format!(": {}", named.join(", "))
            }
        ));
        self.store.audit(entry)?;
        Ok(Reply::Scan(Box::new(ScanReply { findings, bytes })))
    }

    pub(super) fn scan_bypass(&mut self, purpose: &str, place: &str) -> Result<Reply, GateError> {
        let mut entry = self.info.entry("scan-bypass", None, None, "allow");
        entry.detail = Some(bypass_detail(purpose, place));
        self.store.audit(entry)?;
        Ok(Reply::Done {
            message: "the bypass is on the trail".into(),
        })
    }
}

/// What the trail says of a bypass (the place is the requester's words: cut and one line).
pub(crate) fn bypass_detail(purpose: &str, place: &str) -> String {
    let clean =
        |s: &str, n: usize| -> String { s.chars().filter(|c| !c.is_control()).take(n).collect() };
    format!(
        "{} scan bypassed in {}",
        clean(purpose, 32),
        clean(place, 200)
    )
}

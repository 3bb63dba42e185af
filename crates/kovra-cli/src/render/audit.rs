//! The audit trail for a person: one aligned line per entry (number, time, action, decision,
//! record or vault), then an indented line with the rest: why, what was handed to which
//! program, and who asked. Both fit the width; `--wide` keeps every cell whole.

use kovra_core::audit::AuditEntry;

use super::human::time;
use super::line;
use super::width::{fit, pad};
use crate::error::CliError;

/// Where the second line starts, under the action column's left edge.
const INDENT: &str = "        ";
/// The record or vault column never gets narrower than this.
const TARGET_MIN: usize = 20;

pub(super) fn entries(entries: &[AuditEntry], width: Option<usize>) -> Result<(), CliError> {
    if entries.is_empty() {
        eprintln!("kovra: no audit entries match");
        return Ok(());
    }
    for l in lines(entries, width) {
        line(&l)?;
    }
    Ok(())
}

fn lines(entries: &[AuditEntry], width: Option<usize>) -> Vec<String> {
    let seq_w = entries
        .iter()
        .map(|e| e.seq.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let action_w = column(entries.iter().map(|e| e.action.as_str()), "ACTION");
    let decision_w = column(entries.iter().map(|e| e.decision.as_str()), "DECISION");
    // seq, two spaces, a 20-character time, two spaces, action, two, decision, two.
    let fixed = seq_w + 2 + 20 + 2 + action_w + 2 + decision_w + 2;
    let target_w = width.map(|w| w.saturating_sub(fixed).max(TARGET_MIN));
    let mut out = vec![format!(
        "{:>seq_w$}  {}  {}  {}  RECORD OR VAULT",
        "SEQ",
        pad("TIME", 20),
        pad("ACTION", action_w),
        pad("DECISION", decision_w),
    )];
    for e in entries {
        let target = e
            .coordinate
            .as_deref()
            .or(e.vault.as_deref())
            .unwrap_or("-");
        out.push(format!(
            "{:>seq_w$}  {}  {}  {}  {}",
            e.seq,
            time(e.time),
            pad(&fit(&e.action, None), action_w),
            pad(&fit(&e.decision, None), decision_w),
            fit(target, target_w),
        ));
        let rest = width.map(|w| w.saturating_sub(INDENT.len()));
        out.push(format!("{INDENT}{}", fit(&second_line(e), rest)));
    }
    out
}

/// The widest of the values and the heading.
fn column<'a>(values: impl Iterator<Item = &'a str>, heading: &str) -> usize {
    values
        .map(|v| v.chars().count())
        .chain([heading.len()])
        .max()
        .unwrap_or(0)
}

/// Why (the reason), what (the detail: a count, a version, `VAR into /usr/bin/prog`) and
/// who asked (surface/origin, process, executable, agent profile).
fn second_line(e: &AuditEntry) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &e.reason {
        parts.push(format!("reason: {r}"));
    }
    if let Some(d) = &e.detail {
        parts.push(d.clone());
    }
    let mut who = format!("by {}/{}", e.surface, e.origin);
    if let Some(p) = e.pid {
        who.push_str(&format!(" pid {p}"));
    }
    if let Some(x) = &e.exe {
        who.push_str(&format!(" {x}"));
    }
    if let Some(a) = &e.agent {
        who.push_str(&format!(" agent {a}"));
    }
    parts.push(who);
    parts.join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn inject() -> AuditEntry {
        AuditEntry {
            seq: 12,
            time: 1_795_400_000,
            action: "inject".into(),
            coordinate: Some(format!("secret:dev/{}/TOKEN", "a".repeat(90))),
            surface: "cli".into(),
            origin: "human".into(),
            decision: "needs-proof".into(),
            reason: Some("executable-not-allowlisted".into()),
            pid: Some(4242),
            exe: Some("/usr/local/bin/kovra".into()),
            detail: Some("API_TOKEN into /usr/bin/python3".into()),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn every_line_fits_and_columns_align() {
        let e = [
            inject(),
            AuditEntry {
                seq: 3,
                action: "list".into(),
                decision: "allow".into(),
                ..inject()
            },
        ];
        for w in [80, 100, 120] {
            let ls = lines(&e, Some(w));
            assert!(ls.iter().all(|l| l.chars().count() <= w), "{ls:#?}");
            // The record column starts at the same place on every first line.
            let starts: Vec<usize> = [&ls[0], &ls[1], &ls[3]]
                .iter()
                .map(|l| l.find("RECORD").or_else(|| l.find("secret:")).unwrap())
                .collect();
            assert!(starts.windows(2).all(|p| p[0] == p[1]), "{ls:#?}");
        }
    }

    #[test]
    fn the_program_and_variable_are_shown_and_wide_cuts_nothing() {
        let ls = lines(&[inject()], None);
        assert!(ls[1].contains(&"a".repeat(90)));
        assert!(ls[2].contains("API_TOKEN into /usr/bin/python3"));
        assert!(ls[2].contains("reason: executable-not-allowlisted"));
        assert!(ls[2].contains("pid 4242"));
        assert!(!ls.iter().any(|l| l.contains('…')));
        let narrow = lines(&[inject()], Some(80));
        assert!(narrow[1].ends_with('…'));
    }
}

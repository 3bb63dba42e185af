//! The audit trail for a person: one aligned line per entry (number, time, action, decision,
//! record or vault), then an indented line with the rest: why, what was handed to which
//! program, and who asked. Both fit the width; `--wide` keeps every cell whole.

use std::fmt::Write as _;
use std::io::{self, Write};

use kovra_core::audit::AuditEntry;

use super::human::time;
use super::width::{fit, fit_into, pad};
use crate::error::CliError;

/// Where the second line starts, under the action column's left edge.
const INDENT: &str = "        ";
/// The record or vault column never gets narrower than this.
const TARGET_MIN: usize = 20;

pub(super) fn entries(entries: &[AuditEntry], width: Option<usize>) -> Result<(), CliError> {
    let mut trail = Trail::new();
    for e in entries {
        trail.push(e);
    }
    print(&trail, width)
}

/// A trail on stdout, or a note on stderr when it has no entries.
pub(super) fn print(trail: &Trail, width: Option<usize>) -> Result<(), CliError> {
    if trail.rows.is_empty() {
        eprintln!("kovra: no audit entries match");
        return Ok(());
    }
    super::buffered(|out| trail.write(out, width))
}

/// A trail gathered for print. Its columns are as wide as their widest cell, so every entry
/// must be in before the first line goes out; a streamed trail keeps each entry as the text
/// it prints (one string, and where each piece ends), not as a parsed entry: at 100,000
/// entries, parsed ones took three times the memory.
pub(super) struct Trail {
    text: String,
    rows: Vec<Row>,
    seq_w: usize,
    action_w: usize,
    decision_w: usize,
}

/// One entry: its number and time, and where its action, decision, record or vault, and
/// second line end in the trail's text.
struct Row {
    seq: u64,
    time: u64,
    ends: [usize; 4],
}

impl Trail {
    pub(super) fn new() -> Self {
        Trail {
            text: String::new(),
            rows: Vec::new(),
            seq_w: 3,
            action_w: "ACTION".len(),
            decision_w: "DECISION".len(),
        }
    }

    pub(super) fn push(&mut self, e: &AuditEntry) {
        let target = e
            .coordinate
            .as_deref()
            .or(e.vault.as_deref())
            .unwrap_or("-");
        self.text.push_str(&e.action);
        let action = self.text.len();
        self.text.push_str(&e.decision);
        let decision = self.text.len();
        self.text.push_str(target);
        let target = self.text.len();
        second_line(e, &mut self.text);
        self.rows.push(Row {
            seq: e.seq,
            time: e.time,
            ends: [action, decision, target, self.text.len()],
        });
        self.seq_w = self
            .seq_w
            .max(e.seq.checked_ilog10().unwrap_or(0) as usize + 1);
        self.action_w = self.action_w.max(e.action.chars().count());
        self.decision_w = self.decision_w.max(e.decision.chars().count());
    }

    /// A header, then two lines per entry, each cut to `width`.
    fn write(&self, out: &mut impl Write, width: Option<usize>) -> io::Result<()> {
        let (seq_w, action_w, decision_w) = (self.seq_w, self.action_w, self.decision_w);
        // seq, two spaces, a 20-character time, two spaces, action, two, decision, two.
        let fixed = seq_w + 2 + 20 + 2 + action_w + 2 + decision_w + 2;
        let target_w = width.map(|w| w.saturating_sub(fixed).max(TARGET_MIN));
        let rest = width.map(|w| w.saturating_sub(INDENT.len()));
        writeln!(
            out,
            "{:>seq_w$}  {}  {}  {}  RECORD OR VAULT",
            "SEQ",
            pad("TIME", 20),
            pad("ACTION", action_w),
            pad("DECISION", decision_w),
        )?;
        let mut line = String::new();
        let mut start = 0;
        for row in &self.rows {
            let [action, decision, target, second] = row.ends.map(|end| {
                let piece = &self.text[start..end];
                start = end;
                piece
            });
            line.clear();
            let _ = write!(
                line,
                "{:>seq_w$}  {}  {}  {}  ",
                row.seq,
                time(row.time),
                pad(&fit(action, None), action_w),
                pad(&fit(decision, None), decision_w),
            );
            fit_into(target, target_w, &mut line);
            line.push('\n');
            line.push_str(INDENT);
            fit_into(second, rest, &mut line);
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

/// Why (the reason), what (the detail: a count, a version, `VAR into /usr/bin/prog`) and
/// who asked (surface/origin, process, executable, agent profile), appended to `out`.
fn second_line(e: &AuditEntry, out: &mut String) {
    if let Some(r) = &e.reason {
        let _ = write!(out, "reason: {r}; ");
    }
    if let Some(d) = &e.detail {
        let _ = write!(out, "{d}; ");
    }
    let _ = write!(out, "by {}/{}", e.surface, e.origin);
    if let Some(p) = e.pid {
        let _ = write!(out, " pid {p}");
    }
    if let Some(x) = &e.exe {
        let _ = write!(out, " {x}");
    }
    if let Some(a) = &e.agent {
        let _ = write!(out, " agent {a}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn lines(entries: &[AuditEntry], width: Option<usize>) -> Vec<String> {
        let mut trail = Trail::new();
        for e in entries {
            trail.push(e);
        }
        let mut out = Vec::new();
        trail.write(&mut out, width).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

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

    #[test]
    fn columns_widen_to_the_longest_number_action_and_decision() {
        let e = [
            AuditEntry {
                seq: 7,
                time: 0,
                action: "list".into(),
                decision: "allow".into(),
                coordinate: None,
                vault: Some("global".into()),
                reason: None,
                detail: None,
                pid: None,
                exe: None,
                ..inject()
            },
            AuditEntry {
                seq: 12_345,
                time: 60,
                ..inject()
            },
        ];
        let got = lines(&e, None);
        let want = [
            "  SEQ  TIME                  ACTION  DECISION     RECORD OR VAULT",
            "    7  1970-01-01T00:00:00Z  list    allow        global",
            "        by cli/human",
        ];
        assert_eq!(got[..3], want);
        assert!(
            got[3].starts_with("12345  1970-01-01T00:01:00Z  inject  needs-proof  secret:dev/"),
            "{got:#?}"
        );
        assert_eq!(
            got[4],
            "        reason: executable-not-allowlisted; API_TOKEN into /usr/bin/python3; \
             by cli/human pid 4242 /usr/local/bin/kovra"
        );
    }
}

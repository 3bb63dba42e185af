//! `kovra ssh-agent --rules` and `--accept`: the ssh-agent's standing rules (`agent.toml`)
//! as the daemon reads them. The CLI never reads the file: `--accept` sends back the
//! SHA-256 the daemon showed, so the proof covers exactly the rules that were shown.

use kovra_core::sshkey::agentrules::{AgentRules, KeyRule};
use kovra_proto::{AgentRulesReport, ErrorCode, Reply, Request};

use crate::error::CliError;
use crate::render::Renderer;
use crate::session::Session;

fn report_of(reply: &Reply) -> Result<&AgentRulesReport, CliError> {
    match reply {
        Reply::SshAgentRules(r) => Ok(r),
        _ => Err(CliError::new(ErrorCode::Internal, "unexpected reply", None)),
    }
}

/// A file the daemon cannot use is an error: the agent offers nothing until it is fixed.
fn usable(report: &AgentRulesReport) -> Result<(), CliError> {
    match &report.file_error {
        Some(why) => Err(CliError::new(
            ErrorCode::AgentRulesInvalid,
            format!("{why}; until it is fixed the ssh-agent offers no key and signs nothing"),
            ErrorCode::AgentRulesInvalid.hint(),
        )),
        None => Ok(()),
    }
}

/// `--rules`.
pub fn show(s: &mut Session, out: &Renderer) -> Result<(), CliError> {
    let reply = s.call(Request::SshAgentRules)?;
    usable(report_of(&reply)?)?;
    out.reply(&reply)
}

/// `--accept`: show what changes, then store the file's rules with a proof.
pub fn accept(s: &mut Session, out: &Renderer) -> Result<(), CliError> {
    let shown = s.call(Request::SshAgentRules)?;
    let report = report_of(&shown)?;
    usable(report)?;
    let Some(sha256) = report.file_sha256.clone() else {
        return Err(CliError::new(
            ErrorCode::AgentRulesInvalid,
            format!("there is no {} to accept", report.path),
            Some("write the rules there first (`kovra ssh-agent --help` shows the format)"),
        ));
    };
    if report.changes.is_empty() {
        eprintln!("kovra: {} is already the accepted state", report.path);
    } else {
        eprintln!("kovra: accepting {} changes:", report.path);
        for c in &report.changes {
            eprintln!("  {c}");
        }
    }
    out.reply(&s.call(Request::SshAgentAccept {
        sha256,
        proof: None,
    })?)
}

fn names(set: Option<&std::collections::BTreeSet<String>>) -> String {
    match set {
        None => "all".into(),
        Some(s) if s.is_empty() => "none".into(),
        Some(s) => s.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

fn key_line(selector: &str, rule: &KeyRule) -> String {
    let mut out = format!(
        "  key {selector}: confirm {}",
        rule.confirm.map_or("default", |c| c.as_str())
    );
    match &rule.hosts {
        None => {}
        Some(h) if h.is_empty() => out.push_str(", hosts none"),
        Some(h) => out.push_str(&format!(", hosts {}", h.join(", "))),
    }
    out
}

fn rules_text(title: &str, rules: &AgentRules, out: &mut String) {
    out.push_str(&format!("{title}:\n"));
    out.push_str(&format!("  projects: {}\n", names(rules.projects.as_ref())));
    out.push_str(&format!(
        "  environments: {}\n",
        names(rules.environments.as_ref())
    ));
    for (selector, rule) in &rules.keys {
        out.push_str(&key_line(selector, rule));
        out.push('\n');
    }
}

/// The human rendering of a rules reply.
pub fn human(report: &AgentRulesReport) -> String {
    let mut out = String::new();
    if report.accepted_now {
        out.push_str(&format!("accepted {}\n", report.path));
    }
    match (&report.file_sha256, &report.file_error) {
        (Some(sha), _) => out.push_str(&format!("file: {} (sha256 {sha})\n", report.path)),
        (None, Some(why)) => out.push_str(&format!("file: unusable: {why}\n")),
        (None, None) => out.push_str(&format!("file: none ({} does not exist)\n", report.path)),
    }
    match &report.accepted {
        Some(a) => rules_text("accepted", a, &mut out),
        None => out.push_str("accepted: none\n"),
    }
    if let Some(f) = &report.file {
        rules_text("in the file", f, &mut out);
    }
    match &report.effective {
        Some(e) => rules_text("effective", e, &mut out),
        None => out.push_str("effective: nothing is offered\n"),
    }
    out.push_str(
        "  (a key's confirmation is the stricter of both; the file alone never loosens a high or production key, and a production key is always confirmed at least once per session)\n",
    );
    if !report.accepted_now && !report.changes.is_empty() {
        out.push_str("not yet accepted (`kovra ssh-agent --accept`):\n");
        for c in &report.changes {
            out.push_str(&format!("  {c}\n"));
        }
    }
    out
}

//! Guards where leaks happen: the git pre-commit hook (`kovra hooks install`, `kovra hook
//! pre-commit`) and Claude Code's prompt and tool-output hooks (`kovra hook prompt`,
//! `kovra hook tool-output`, written by `kovra setup`). The daemon does the matching: the
//! texts go to it, places and coordinates come back, never a value.
//!
//! The pre-commit hook fails closed: without a scan (the vault locked, no daemon) the commit
//! stops, and `KOVRA_HOOK_BYPASS=1` lets it through on purpose, on the trail. The prompt and
//! tool-output hooks are nets for an interactive session and fail open (a locked vault must
//! not stop every prompt); they say so.

mod diff;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use kovra_proto::{ErrorCode, Reply, Request, ScanFinding, ScanRequest, ScanText};

use crate::error::CliError;
use crate::session::Session;

/// Text per request: well under the daemon's 1 MiB request frame once JSON-escaped.
const BATCH_BYTES: usize = 384 * 1024;

const BYPASS: &str = "KOVRA_HOOK_BYPASS";

/// Send `texts` in batches; all findings, or the first error.
fn scan(
    s: &mut Session,
    purpose: &str,
    texts: Vec<ScanText>,
) -> Result<Vec<ScanFinding>, CliError> {
    let mut findings = Vec::new();
    let mut batch: Vec<ScanText> = Vec::new();
    let mut size = 0;
    let mut send = |batch: Vec<ScanText>, s: &mut Session| -> Result<(), CliError> {
        let reply = s.call(Request::Scan(Box::new(ScanRequest {
            purpose: purpose.into(),
            texts: batch,
        })))?;
        match reply {
            Reply::Scan(r) => {
                findings.extend(r.findings);
                Ok(())
            }
            _ => Err(CliError::new(ErrorCode::Internal, "unexpected reply", None)),
        }
    };
    for t in texts {
        for piece in split(t) {
            if size + piece.text.len() > BATCH_BYTES && !batch.is_empty() {
                send(std::mem::take(&mut batch), s)?;
                size = 0;
            }
            size += piece.text.len();
            batch.push(piece);
        }
    }
    if !batch.is_empty() {
        send(batch, s)?;
    }
    Ok(findings)
}

/// A text longer than a batch, cut at line ends (a value never spans lines in a diff).
fn split(t: ScanText) -> Vec<ScanText> {
    if t.text.len() <= BATCH_BYTES {
        return vec![t];
    }
    let mut out = Vec::new();
    let mut first_line = t.first_line;
    let mut piece = String::new();
    let mut lines_in_piece = 0u32;
    for line in t.text.split('\n') {
        if !piece.is_empty() && piece.len() + line.len() + 1 > BATCH_BYTES {
            out.push(ScanText {
                label: t.label.clone(),
                first_line,
                text: std::mem::take(&mut piece),
            });
            first_line += lines_in_piece;
            lines_in_piece = 0;
        }
        if lines_in_piece > 0 {
            piece.push('\n');
        }
        piece.push_str(line);
        lines_in_piece += 1;
    }
    out.push(ScanText {
        label: t.label,
        first_line,
        text: piece,
    });
    out
}

fn describe(f: &ScanFinding) -> String {
    let what = match (f.kind.as_str(), f.what.as_str()) {
        ("vault-value", "redacted") => "a value of the vault (outside your scope)".to_string(),
        ("vault-value", coord) => format!("the value of {coord}"),
        (_, format) => format!("a credential in a well-known format ({format})"),
    };
    format!("{}:{}:{}: {what}", f.label, f.line, f.column)
}

fn git(args: &[&str]) -> Result<String, CliError> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| CliError::new(ErrorCode::IoError, format!("cannot run git: {e}"), None))?;
    if !out.status.success() {
        return Err(CliError::new(
            ErrorCode::IoError,
            format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            None,
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Record an intended bypass (best effort: with no daemon to tell, say so).
fn bypass(project: Option<String>, purpose: &str, place: &str) {
    let noted = Session::new(project).and_then(|mut s| {
        s.call(Request::ScanBypass {
            purpose: purpose.into(),
            place: place.into(),
        })
    });
    match noted {
        Ok(_) => {
            eprintln!("kovra: {BYPASS}=1: the {purpose} scan was skipped; that is on the trail")
        }
        Err(e) => eprintln!(
            "kovra: {BYPASS}=1: the {purpose} scan was skipped, and kovra could not record it ({})",
            e.message
        ),
    }
}

/// `kovra hook pre-commit`: exit 0 lets the commit through, 1 stops it.
pub fn pre_commit(project: Option<String>) -> Result<u8, CliError> {
    let top = git(&["rev-parse", "--show-toplevel"])?.trim().to_string();
    if std::env::var(BYPASS).is_ok_and(|v| v == "1") {
        bypass(project, "pre-commit", &top);
        return Ok(0);
    }
    let diff = git(&[
        "diff",
        "--cached",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--unified=0",
        "--diff-filter=ACMRT",
    ])?;
    let texts = diff::added(&diff);
    if texts.is_empty() {
        return Ok(0);
    }
    let findings = Session::new(project).and_then(|mut s| scan(&mut s, "pre-commit", texts));
    match findings {
        Ok(f) if f.is_empty() => Ok(0),
        Ok(f) => {
            eprintln!("kovra: this commit would add secrets:");
            for x in &f {
                eprintln!("  {}", describe(x));
            }
            eprintln!(
                "kovra: remove them (a `.env.refs` line `NAME=secret:…` gives a program the value at run time); \
                 for a false alarm, commit with {BYPASS}=1 (it goes on the trail)"
            );
            Ok(1)
        }
        Err(e) => {
            eprintln!(
                "kovra: the pre-commit scan could not run: {} ({}); the commit is stopped",
                e.message,
                e.code.as_str()
            );
            eprintln!(
                "kovra: unlock the vault (`kovra unlock`) and commit again, or commit without the scan with {BYPASS}=1 (it goes on the trail)"
            );
            Ok(1)
        }
    }
}

/// Claude Code's hook input on stdin, as JSON.
fn hook_input() -> Option<serde_json::Value> {
    let mut raw = String::new();
    std::io::stdin()
        .take(16 << 20)
        .read_to_string(&mut raw)
        .ok()?;
    serde_json::from_str(&raw).ok()
}

/// `kovra hook prompt` (UserPromptSubmit): exit 2 blocks a prompt that holds a known value
/// or a well-known key format; Claude Code shows the reason to the user.
pub fn prompt(project: Option<String>) -> Result<u8, CliError> {
    let Some(text) = hook_input().and_then(|v| v["prompt"].as_str().map(str::to_string)) else {
        eprintln!("kovra: the prompt hook got no prompt; it was let through");
        return Ok(0);
    };
    let texts = vec![ScanText {
        label: "prompt".into(),
        first_line: 1,
        text,
    }];
    match Session::new(project).and_then(|mut s| scan(&mut s, "prompt", texts)) {
        Ok(f) if f.is_empty() => Ok(0),
        Ok(f) => {
            eprintln!("kovra: this prompt was not sent: it holds secrets:");
            for x in &f {
                eprintln!("  {}", describe(x));
            }
            eprintln!(
                "kovra: keep values out of the chat: `kovra add secret:ENV/GROUP/NAME` stores one (at a hidden prompt), and the agent uses it by name"
            );
            Ok(2)
        }
        Err(e) => {
            eprintln!(
                "kovra: the prompt was not scanned ({}); it was let through",
                e.message
            );
            Ok(0)
        }
    }
}

/// `kovra hook tool-output` (PostToolUse): a tool's output that holds a known value is
/// flagged to the agent (`decision: block` with the reason), which cannot undo what it saw
/// but is told not to repeat it.
pub fn tool_output(project: Option<String>) -> Result<u8, CliError> {
    let Some(input) = hook_input() else {
        return Ok(0);
    };
    let response = &input["tool_response"];
    let text = match response.as_str() {
        Some(s) => s.to_string(),
        None => response.to_string(),
    };
    let tool = input["tool_name"].as_str().unwrap_or("tool").to_string();
    let texts = vec![ScanText {
        label: format!("{tool} output"),
        first_line: 1,
        text,
    }];
    match Session::new(project).and_then(|mut s| scan(&mut s, "tool-output", texts)) {
        Ok(f) if f.is_empty() => Ok(0),
        Ok(f) => {
            let places: Vec<String> = f.iter().map(describe).collect();
            let reason = format!(
                "kovra: the {tool} output holds secrets ({}). Do not repeat, store or send them; use them through kovra (`kovra run`, the MCP tools) by name.",
                places.join("; ")
            );
            println!(
                "{}",
                serde_json::json!({"decision": "block", "reason": reason})
            );
            Ok(0)
        }
        Err(_) => Ok(0),
    }
}

/// The hook `kovra hooks install` writes, calling this very executable.
fn hook_script(exe: &Path) -> String {
    let quoted = exe.display().to_string().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n# kovra: scan the staged changes for the vault's values and well-known key formats.\n\
         # To commit without the scan once: KOVRA_HOOK_BYPASS=1 git commit ... (on the trail)\n\
         exec '{quoted}' hook pre-commit\n"
    )
}

/// `kovra hooks install [--force]`: the git pre-commit hook of the repository here.
pub fn install(force: bool) -> Result<PathBuf, CliError> {
    let dir = PathBuf::from(git(&["rev-parse", "--git-path", "hooks"])?.trim());
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map_err(|e| CliError::new(ErrorCode::IoError, e.to_string(), None))?
            .join(dir)
    };
    let path = dir.join("pre-commit");
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(ErrorCode::IoError, e.to_string(), None))?;
    let script = hook_script(&exe);
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing != script
        && !force
    {
        return Err(CliError::new(
            ErrorCode::AlreadyExists,
            format!("{} already exists and is not kovra's", path.display()),
            Some("call `kovra hook pre-commit` from it yourself, or replace it with --force"),
        ));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::new(ErrorCode::IoError, format!("{}: {e}", dir.display()), None))?;
    let tmp = dir.join(".pre-commit.kovra.tmp");
    std::fs::write(&tmp, script)
        .map_err(|e| CliError::new(ErrorCode::IoError, format!("{}: {e}", tmp.display()), None))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::new(ErrorCode::IoError, format!("{}: {e}", path.display()), None))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_line_ends_with_their_numbers() {
        let line = "x".repeat(1000);
        let text = vec![line.as_str(); 1000].join("\n");
        let pieces = split(ScanText {
            label: "f".into(),
            first_line: 7,
            text,
        });
        assert!(pieces.len() > 1);
        let mut expect = 7;
        for p in &pieces {
            assert_eq!(p.first_line, expect);
            assert!(p.text.len() <= BATCH_BYTES);
            expect += p.text.split('\n').count() as u32;
        }
        assert_eq!(expect, 1007);
    }
}

//! Rendering replies. stdout carries data only; confirmations and warnings go to stderr.
//! With --json, stdout holds exactly one JSON document.

use std::io::{IsTerminal, Write};
use std::time::{Duration, UNIX_EPOCH};

use kovra_proto::{Listing, RecordView, Reply};
use serde_json::json;

use crate::error::CliError;

pub fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn stdout_line(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(output_error)
}

/// A closed pipe (`kovra list | head`) is a quiet success, as for any Unix filter.
fn output_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    CliError::new("output", e.to_string(), None)
}

pub fn json(value: &serde_json::Value) -> Result<(), CliError> {
    stdout_line(&serde_json::to_string_pretty(value).unwrap_or_default())
}

pub fn error(e: &CliError, as_json: bool) {
    if e.reported {
        return;
    }
    if as_json {
        let doc = json!({"error": {"code": e.code, "message": e.message, "hint": e.hint}});
        let _ = json(&doc);
    } else {
        // One write, so the lines arrive together (a terminal reader never sees half).
        let mut text = format!("kovra: error: {}\n", e.message);
        if let Some(h) = &e.hint {
            text.push_str(&format!("  hint: {h}\n"));
        }
        text.push_str(&format!("  code: {}\n", e.code));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// A new second-factor seed: the URI and, where it renders, a QR code to scan.
pub fn two_factor_setup(uri: &str) {
    eprintln!("kovra: add this account to your authenticator app (scan the code or copy the URI).");
    eprintln!("kovra: it is shown once; anyone who sees it can produce your codes.");
    if let Ok(qr) = qrcode::QrCode::new(uri.as_bytes()) {
        use qrcode::render::unicode::Dense1x2;
        let image = qr
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build();
        println!("{image}");
    }
    println!("{uri}");
}

fn record_lines(r: &RecordView) -> String {
    let totp = r.totp.map_or(String::new(), |t| {
        format!(
            "\ntotp:        {}, {} digits, {}s",
            t.algorithm.as_str(),
            t.digits,
            t.period
        )
    });
    let provider = r.provider.as_ref().map_or(String::new(), |p| {
        format!(
            "\nprovider:    {p}{}",
            r.provider_host
                .as_ref()
                .map_or(String::new(), |h| format!(" (host {h})"))
        )
    });
    format!(
        "coordinate:  {}\nvault:       {}\nsensitivity: {}{}\nrevealable:  {}\ndescription: {}\nversion:     {}\ncreated:     {}\nupdated:     {}{provider}",
        r.coordinate,
        r.vault,
        r.sensitivity,
        if r.production { " (production)" } else { "" },
        r.revealable,
        r.description,
        r.version,
        time(r.created),
        time(r.updated)
    ) + &totp
}

fn listing_table(l: &Listing) -> String {
    let mut rows = vec![[
        "COORDINATE".to_string(),
        "VAULT".into(),
        "SENSITIVITY".into(),
        "REVEALABLE".into(),
        "VERSION".into(),
        "DESCRIPTION".into(),
    ]];
    for r in &l.records {
        rows.push([
            r.coordinate.clone(),
            r.vault.clone(),
            format!(
                "{}{}",
                r.sensitivity,
                if r.production { "/prod" } else { "" }
            ),
            if r.revealable {
                "yes".into()
            } else {
                "no".into()
            },
            r.version.to_string(),
            r.description.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 5 {
                        c.clone()
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Print a reply. Returns an error where the reply itself reports a failure (a withheld
/// record, a broken audit chain), so the exit code says so.
pub fn reply(reply: &Reply, as_json: bool) -> Result<(), CliError> {
    match reply {
        Reply::Revealed { coordinate, value } => {
            let bytes = value.expose();
            if as_json {
                let doc = match std::str::from_utf8(bytes) {
                    Ok(s) => json!({"coordinate": coordinate, "value": s}),
                    Err(_) => {
                        json!({"coordinate": coordinate, "value_base64": serde_json::to_value(value).unwrap_or_default()})
                    }
                };
                return json(&doc);
            }
            let mut out = std::io::stdout().lock();
            let tty = out.is_terminal();
            out.write_all(bytes)
                .and_then(|_| if tty { out.write_all(b"\n") } else { Ok(()) })
                .map_err(output_error)
        }
        Reply::Code {
            coordinate,
            code,
            starts_in,
            valid_for,
        } => {
            if *starts_in > 0 {
                // The next step's code: show it only once it is the current one.
                std::thread::sleep(std::time::Duration::from_secs(*starts_in));
            }
            let code = String::from_utf8_lossy(code.expose()).into_owned();
            if as_json {
                return json(
                    &json!({"kind": "code", "coordinate": coordinate, "code": code, "valid_for": valid_for}),
                );
            }
            stdout_line(&code)
        }
        // The token belongs on the terminal only (`share.rs`); a generic rendering never shows it.
        Reply::Shared { package_id, .. } => Err(CliError::new(
            "internal",
            format!("package {package_id} must be rendered by the share command"),
            None,
        )),
        other if as_json => {
            // One document, always: a failure the reply carries is embedded in it.
            let mut doc = serde_json::to_value(other).unwrap_or_default();
            let failure = integrity(other);
            if let (Err(e), Some(map)) = (&failure, doc.as_object_mut()) {
                map.insert(
                    "error".into(),
                    json!({"code": e.code, "message": e.message, "hint": e.hint}),
                );
            }
            json(&doc)?;
            failure.map_err(CliError::already_reported)
        }
        Reply::TwoFactorState { state } => stdout_line(&format!("two-factor: {state}")),
        Reply::TwoFactorSetup { uri } => {
            two_factor_setup(&String::from_utf8_lossy(uri.expose()));
            Ok(())
        }
        Reply::Status(s) => {
            stdout_line(&format!(
                "home:        {}\nsocket:      {}\ndaemon:      running (pid {})\nvault:       {}\nlocked:      {}",
                s.home,
                s.socket,
                s.daemon_pid,
                if s.initialized {
                    s.vault_id.clone().unwrap_or_else(|| "initialised".into())
                } else {
                    "not initialised (run `kovra init`)".into()
                },
                if s.unlocked { "no" } else { "yes" }
            ))?;
            if let Some(n) = s.records {
                stdout_line(&format!("records:     {n}"))?;
            }
            if let Some(p) = &s.projects {
                stdout_line(&format!(
                    "projects:    {}",
                    if p.is_empty() {
                        "-".into()
                    } else {
                        p.join(", ")
                    }
                ))?;
            }
            match s.locks_in_secs {
                Some(t) => stdout_line(&format!(
                    "idle lock:   in {t}s (timeout {}s)",
                    s.idle_timeout_secs
                ))?,
                None => stdout_line(&format!("idle lock:   {}s", s.idle_timeout_secs))?,
            }
            stdout_line(&format!(
                "production:  {}",
                s.production_environments.join(", ")
            ))?;
            stdout_line(if s.passphrase_proofs {
                "proofs:      passphrase or two-factor code"
            } else {
                "proofs:      two-factor code only (unlocked with a passphrase from a file or descriptor)"
            })
        }
        Reply::Done { message } => {
            eprintln!("kovra: {message}");
            Ok(())
        }
        Reply::HandedOver { .. } | Reply::Verified { .. } => Ok(()),
        Reply::Written {
            coordinate,
            vault,
            version,
        } => {
            eprintln!("kovra: stored {coordinate} in {vault} (version {version})");
            Ok(())
        }
        Reply::Record(r) => stdout_line(&record_lines(r)),
        Reply::Records(l) => {
            if l.records.is_empty() {
                eprintln!("kovra: no records");
            } else {
                stdout_line(&listing_table(l))?;
            }
            integrity(reply)
        }
        Reply::History {
            coordinate,
            versions,
        } => {
            stdout_line(&format!("history of {coordinate}"))?;
            for v in versions {
                stdout_line(&format!(
                    "  v{:<4} {}  {:<11} revealable={:<5} {}",
                    v.version,
                    time(v.updated),
                    v.sensitivity.as_str(),
                    v.revealable,
                    v.description
                ))?;
            }
            Ok(())
        }
        Reply::Fingerprint { fingerprint, .. } => stdout_line(fingerprint),
        Reply::Audit { entries } => {
            for e in entries {
                stdout_line(&format!(
                    "{:>6}  {}  {:<14} {:<14} {:<40} {}/{}  pid={} {}",
                    e.seq,
                    time(e.time),
                    e.action,
                    match &e.reason {
                        Some(r) => format!("{}:{r}", e.decision),
                        None => e.decision.clone(),
                    },
                    e.coordinate
                        .clone()
                        .or_else(|| e.vault.clone())
                        .unwrap_or_else(|| "-".into()),
                    e.surface,
                    e.origin,
                    e.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    e.exe.clone().unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        Reply::AuditVerified(r) => {
            if r.ok {
                stdout_line(&format!(
                    "audit trail verified: {} entries, chain intact",
                    r.entries
                ))
            } else {
                integrity(reply)
            }
        }
        Reply::RunReady { .. } | Reply::Exited { .. } => Ok(()),
        Reply::Approvals { pending } => {
            if pending.is_empty() {
                eprintln!("kovra: no request is waiting for approval");
            }
            for view in pending {
                stdout_line(approval(view).trim_end())?;
            }
            Ok(())
        }
        Reply::ApprovalState { id, state } => {
            eprintln!("kovra: request {id} {state}");
            Ok(())
        }
        Reply::SecretRequests { pending } => {
            if pending.is_empty() {
                eprintln!("kovra: no open value requests");
            }
            for r in pending {
                let project = r
                    .vault
                    .strip_prefix("project:")
                    .map_or(String::new(), |p| format!(" --project {p}"));
                stdout_line(&format!(
                    "{}  {}  requested {} by {}\n    \"{}\" (the requester's words)\n    add it: kovra add{project} {}",
                    r.coordinate,
                    r.vault,
                    time(r.requested),
                    r.by,
                    r.description,
                    r.coordinate
                ))?;
            }
            Ok(())
        }
        Reply::Api(_)
        | Reply::Providers { .. }
        | Reply::Identity { .. }
        | Reply::SenderUnknown { .. }
        | Reply::Received { .. } => {
            // Rendered by `api.rs`, which knows the command's flags.
            stdout_line(&serde_json::to_string(reply).unwrap_or_default())
        }
        Reply::Allowlist { entries } => {
            if entries.is_empty() {
                eprintln!("kovra: the allowlist is empty");
            }
            for e in entries {
                stdout_line(&format!(
                    "{}  {}  added {}",
                    e.sha256,
                    e.path,
                    time(e.added)
                ))?;
            }
            Ok(())
        }
        Reply::Doctor {
            findings,
            errors,
            warnings,
        } => {
            for f in findings {
                stdout_line(&format!("{}: {} [{}]", f.level, f.message, f.kind))?;
            }
            stdout_line(&format!("{errors} error(s), {warnings} warning(s)"))?;
            integrity(reply)
        }
        Reply::Projects { projects } => {
            for p in projects {
                stdout_line(p)?;
            }
            Ok(())
        }
    }
}

/// One parked request, for the human deciding it. Text the requester chose is quoted and
/// escaped, and marked as theirs, so it cannot pose as kovra's own words.
pub fn approval(view: &kovra_proto::ApprovalView) -> String {
    let mut out = format!(
        "request {}: {} ({} via {}), expires in {}s\n",
        view.id, view.action, view.origin, view.surface, view.expires_in
    );
    for f in &view.facts {
        if f.untrusted {
            out.push_str(&format!(
                "  {:<20} {:?}   <- the requester's own text\n",
                format!("{}:", f.name),
                f.value
            ));
        } else {
            out.push_str(&format!("  {:<20} {}\n", format!("{}:", f.name), f.value));
        }
    }
    out.push_str(&format!(
        "  approve: kovra approve {}    refuse: kovra deny {}\n",
        view.id, view.id
    ));
    out
}

/// Failures a successful reply can carry.
fn integrity(reply: &Reply) -> Result<(), CliError> {
    match reply {
        Reply::Records(l) if l.tampered > 0 || l.missing > 0 => Err(CliError::new(
            "record-tampered",
            format!(
                "{} record(s) failed authentication and {} record(s) are missing; they were withheld",
                l.tampered, l.missing
            ),
            Some("the vault file was changed outside kovra; restore it from a backup"),
        )),
        Reply::Doctor { errors, .. } if *errors > 0 => Err(CliError::new(
            "doctor-found-errors",
            format!("{errors} error(s) in the refs file"),
            Some("fix the lines named above; `kovra list` shows what exists"),
        )),
        Reply::AuditVerified(r) if !r.ok => Err(CliError::new(
            "audit-broken",
            format!(
                "the audit trail does not verify: {}",
                r.problem
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "unknown problem".into())
            ),
            Some("the trail was edited outside kovra; keep this vault file for investigation"),
        )),
        _ => Ok(()),
    }
}

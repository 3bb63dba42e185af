//! The human printer: text for a person. Data goes to stdout, one write per line or block;
//! confirmations and notes go to stderr.

use kovra_proto::ErrorCode;
use std::io::{IsTerminal, Write};
use std::time::{Duration, UNIX_EPOCH};

use kovra_proto::{RecordView, Reply};
use zeroize::Zeroizing;

use super::table::Table;
use super::width::fit;
use super::{View, integrity, json, line, secret_line, write_stdout};
use crate::error::CliError;

pub(super) fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// `kovra: error: …` with its hint and code, in one write so the lines arrive together (a
/// terminal reader never sees half).
pub(super) fn error(e: &CliError) {
    let mut text = format!("kovra: error: {}\n", e.message);
    if let Some(h) = &e.hint {
        text.push_str(&format!("  hint: {h}\n"));
    }
    text.push_str(&format!("  code: {}\n", e.code));
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A new second-factor seed: the URI and, where it renders, a QR code to scan. Shown in
/// both modes: it is the one chance to enrol, not a reply.
/// The URI stays bytes and the rendered code is wiped: no plain `String` copy of the seed.
pub fn two_factor_setup(uri: &[u8]) -> Result<(), CliError> {
    two_factor_warning();
    if let Ok(qr) = qrcode::QrCode::new(uri) {
        use qrcode::render::unicode::Dense1x2;
        let image = Zeroizing::new(
            qr.render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build(),
        );
        secret_line(image.as_bytes())?;
    }
    secret_line(uri)
}

fn two_factor_warning() {
    eprintln!("kovra: add this account to your authenticator app (scan the code or copy the URI).");
    eprintln!("kovra: it is shown once; anyone who sees it can produce your codes.");
}

/// A listing's table on stdout, or a note on stderr when it has no rows.
pub(super) fn print_table(table: &Table, width: Option<usize>) -> Result<(), CliError> {
    if table.is_empty() {
        eprintln!("kovra: no records");
        return Ok(());
    }
    super::buffered(|out| table.write(out, width))
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
    let key = r.ssh_key.as_ref().map_or(String::new(), |k| {
        let hosts = if k.hosts.is_empty() {
            String::new()
        } else {
            format!("\nsigns for:   {}", k.hosts.join(", "))
        };
        format!(
            "\nkey:         {} {}\npublic key:  {}{hosts}",
            k.algorithm, k.fingerprint, k.public_key
        )
    });
    format!(
        "coordinate:  {}\nkind:        {}\nvault:       {}\nsensitivity: {}{}\nrevealable:  {}\ndescription: {}\nversion:     {}\ncreated:     {}\nupdated:     {}{provider}",
        r.coordinate,
        r.kind,
        r.vault,
        r.sensitivity,
        if r.production { " (production)" } else { "" },
        r.revealable,
        r.description,
        r.version,
        time(r.created),
        time(r.updated)
    ) + &totp
        + &key
        + &r.database.as_ref().map_or(String::new(), database_lines)
}

/// A connection record's metadata, one field a line; the password only as `sealed`.
fn database_lines(db: &kovra_core::dbconn::DbConnInfo) -> String {
    let hosts: Vec<String> = db
        .hosts
        .iter()
        .map(|h| match h.host.as_deref() {
            None => format!("(local socket), port {}", h.port),
            Some(s) if s.starts_with('/') => format!("{s} (socket), port {}", h.port),
            Some(s) if s.contains(':') => format!("[{s}]:{}", h.port),
            Some(s) => format!("{s}:{}", h.port),
        })
        .collect();
    let mut out = format!(
        "\nengine:      {}\nhost:        {}",
        db.engine,
        hosts.join(", ")
    );
    let mut field = |name: &str, v: Option<&str>| {
        if let Some(v) = v {
            out.push_str(&format!("\n{name:<12} {v}"));
        }
    };
    field("database:", db.database.as_deref());
    field("user:", db.user.as_deref());
    field("sslmode:", db.sslmode.as_deref());
    field(
        "password:",
        Some(if db.password { "sealed" } else { "none" }),
    );
    for (k, v) in &db.params {
        field("param:", Some(&format!("{k}={v}")));
    }
    out
}

pub(super) fn show(view: &View<'_>, width: Option<usize>) -> Result<(), CliError> {
    match *view {
        View::Reply(r) => reply(r, width),
        View::Offline {
            home,
            socket,
            initialized,
        } => line(&format!(
            "home:        {}\nsocket:      {}\ndaemon:      not running (starts on first use)\nvault:       {}",
            home.display(),
            socket.display(),
            if initialized {
                "initialised, locked"
            } else {
                "not initialised (run `kovra init`)"
            }
        )),
        View::Api { reply, include } => super::api::api(reply, include),
        View::Providers(providers) => super::api::providers(providers, width),
        View::Provider(p) => super::api::provider(p),
        View::Identity {
            recipient,
            signing_key,
            fingerprint,
            created,
        } => {
            if created {
                eprintln!("kovra: created this vault's sharing identity");
            }
            line(&format!(
                "recipient:   {recipient}\nsigning key: {signing_key}\nfingerprint: {fingerprint}"
            ))
        }
        View::Sealed {
            file,
            package_id,
            environment,
            records,
            expires,
            recipient,
        } => {
            // Names only, so the sender sees exactly what left; never a value.
            let listed: String = records.iter().map(|c| format!("\n  {c}")).collect();
            line(&format!(
                "package:   {}\nid:        {package_id}\nrecords:   {} of {environment}{listed}\nrecipient: {recipient}\nexpires:   {}",
                file.display(),
                records.len(),
                time(expires)
            ))
        }
        View::Received {
            package_id,
            sender,
            environment,
            imported,
            vault,
        } => {
            eprintln!(
                "kovra: received package {package_id} from {sender}: {} record(s) of {environment} into {vault}",
                imported.len()
            );
            for c in imported {
                line(c)?;
            }
            Ok(())
        }
        View::SystemChecks(checks) => super::text(&crate::commands::system_check::human(checks)),
        // Written to a file, the proposal is not repeated: the command says where it went.
        View::Scaffold(p) if p.written.is_some() => Ok(()),
        View::Scaffold(p) => super::text(&p.refs),
    }
}

fn reply(reply: &Reply, width: Option<usize>) -> Result<(), CliError> {
    match reply {
        Reply::Revealed { value, .. } => {
            write_stdout(value.expose(), false, ErrorCode::Output)?;
            if std::io::stdout().is_terminal() {
                write_stdout(b"\n", false, ErrorCode::Output)?;
            }
            Ok(())
        }
        Reply::Code { code, .. } => secret_line(code.expose()),
        Reply::Shared { package_id, .. } => Err(super::unprintable_package(package_id)),
        Reply::TwoFactorState { state } => line(&format!("two-factor: {state}")),
        Reply::PasskeyCreation { ceremony, .. } => line(&format!(
            "passkey enrolment {ceremony} started: finish it in the browser (`kovra ui`)"
        )),
        Reply::PasskeyEnrolled { id, name } => line(&format!("passkey {id} ({name}) enrolled")),
        Reply::Passkeys { passkeys } => {
            if passkeys.is_empty() {
                eprintln!("kovra: no passkey is enrolled; enrol one in the browser (`kovra ui`)");
            }
            for p in passkeys {
                let used = p.last_used.map_or_else(|| "never".to_string(), time);
                line(&format!(
                    "{}  {}  enrolled {}  last used {used}",
                    p.id,
                    p.name,
                    time(p.created)
                ))?;
            }
            Ok(())
        }
        Reply::Agents { agents } => super::agents::agents(agents, width),
        Reply::AgentEnv {
            variables,
            skipped,
            egress_port,
            ..
        } => super::agents::agent_env(variables, skipped, *egress_port),
        // Consumed by `kovra sandbox`, never shown.
        Reply::SandboxReady(_) => Ok(()),
        // Only `kovra recovery-kit` shows a kit, and only on a terminal or into its --out.
        Reply::RecoveryKit { .. } => Err(CliError::new(
            ErrorCode::Internal,
            "a recovery kit must be rendered by the recovery-kit command",
            None,
        )),
        // `2fa enable` shows its seed with `two_factor_setup` (and its QR code); a reply
        // rendered generically shows the URI alone, so the front program (`crate::front`),
        // which renders replies, links no QR code renderer.
        Reply::UiLink { url, expires_in } => {
            eprintln!("kovra: open this link in your browser; it works once, for {expires_in} s:");
            secret_line(url.expose())
        }
        Reply::TwoFactorSetup { uri } => {
            two_factor_warning();
            secret_line(uri.expose())
        }
        Reply::Status(s) => {
            line(&format!(
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
            if let Some(a) = &s.agent {
                line(&format!(
                    "agent:       {a} (this socket decides everything under that profile)"
                ))?;
            }
            if let Some(n) = s.records {
                line(&format!("records:     {n}"))?;
            }
            if let Some(p) = &s.projects {
                line(&format!(
                    "projects:    {}",
                    if p.is_empty() {
                        "-".into()
                    } else {
                        p.join(", ")
                    }
                ))?;
            }
            match s.locks_in_secs {
                Some(t) => line(&format!(
                    "idle lock:   in {t}s (timeout {}s)",
                    s.idle_timeout_secs
                ))?,
                None => line(&format!("idle lock:   {}s", s.idle_timeout_secs))?,
            }
            line(&format!(
                "production:  {}",
                s.production_environments.join(", ")
            ))?;
            line(if s.passphrase_proofs {
                "proofs:      passphrase or two-factor code"
            } else {
                "proofs:      two-factor code only (the passphrase came from a file or descriptor)"
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
        Reply::Record(r) => line(&record_lines(r)),
        Reply::Records(l) => {
            print_table(&Table::of(&l.records), width)?;
            integrity(reply)
        }
        Reply::Usage {
            coordinate,
            refs,
            last_used,
            last_by,
        } => {
            let last = match (last_used, last_by) {
                (Some(t), Some(by)) => format!("last used {} by {by}", time(*t)),
                _ => "not used since the daemon started".into(),
            };
            line(&format!("{coordinate}: {last}"))?;
            for r in refs {
                line(&format!("  {} (as {}) {}", r.path, r.var, time(r.time)))?;
            }
            Ok(())
        }
        Reply::History {
            coordinate,
            versions,
        } => {
            line(&format!("history of {coordinate}"))?;
            let current = versions.iter().map(|v| v.version).max();
            for v in versions {
                let mark = if Some(v.version) == current { '*' } else { ' ' };
                line(&fit(
                    &format!(
                        "{mark} v{:<4} {}  {:<11} revealable={:<5} {}",
                        v.version,
                        time(v.updated),
                        v.sensitivity.as_str(),
                        v.revealable,
                        v.description
                    ),
                    width,
                ))?;
            }
            line("(* current; `kovra rollback COORD VERSION` restores another)")
        }
        Reply::Fingerprint { fingerprint, .. } => line(fingerprint),
        Reply::PublicKey {
            coordinate,
            key,
            vault,
            version,
        } => {
            if let (Some(vault), Some(version)) = (vault, version) {
                eprintln!(
                    "kovra: made {coordinate} ({}, {}) in the {vault} vault, version {version}; the private key stays in the vault",
                    key.algorithm, key.fingerprint
                );
            }
            line(&key.public_key)
        }
        Reply::Signed { signature, .. } => line(signature.trim_end()),
        Reply::SshAgent { socket, .. } => line(socket),
        Reply::SshHostKey {
            address,
            port,
            algorithm,
            fingerprint,
        } => line(&format!("{address}:{port} {algorithm} {fingerprint}")),
        Reply::SshHosts { hosts } => {
            if hosts.is_empty() {
                eprintln!(
                    "kovra: no ssh hosts; `kovra ssh-host add NAME ADDRESS --user U` adds one"
                );
            }
            for h in hosts {
                let pins: Vec<&str> = h.host_keys.iter().map(|k| k.fingerprint.as_str()).collect();
                line(&format!(
                    "{}  {}@{}:{}{}\n    host key {}\n    key {}  timeout {}s  output cap {} B\n    agents may run: {}",
                    h.name,
                    h.users.join(","),
                    h.address,
                    h.port,
                    if h.production { "  production" } else { "" },
                    pins.join(", "),
                    h.key.as_deref().unwrap_or("(none: give --key)"),
                    h.timeout_secs,
                    h.output_cap,
                    if h.commands.is_empty() {
                        "nothing unattended".to_string()
                    } else {
                        h.commands.join(" | ")
                    }
                ))?;
            }
            Ok(())
        }
        Reply::SshAgentRules(r) => super::text(&crate::commands::agent_rules::human(r)),
        Reply::Audit { entries } => super::audit::entries(entries, width),
        // A stream's head: its command prints the pages (`Renderer::records_stream`).
        Reply::RecordsStream { total, .. } => line(&format!("{total} records")),
        Reply::AuditStream { total } => line(&format!("{total} audit entries")),
        Reply::AuditVerified(r) => {
            if r.ok {
                line(&format!(
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
                line(approval(view).trim_end())?;
            }
            Ok(())
        }
        Reply::ApprovalState { id, state } => {
            eprintln!("kovra: request {id} {state}");
            Ok(())
        }
        Reply::Grants { grants } => super::grants::list(grants),
        Reply::GrantMade { approval, grant } => super::grants::made(approval, grant),
        Reply::SecretRequests { pending } => {
            if pending.is_empty() {
                eprintln!("kovra: no open value requests");
            }
            for r in pending {
                let project = r
                    .vault
                    .strip_prefix("project:")
                    .map_or(String::new(), |p| format!(" --project {p}"));
                let quoted = format!("\"{}\" (the requester's words)", r.description);
                line(&format!(
                    "{}\n    {}\n    add it: kovra add{project} {}",
                    fit(
                        &format!(
                            "{}  {}  requested {} by {}",
                            r.coordinate,
                            r.vault,
                            time(r.requested),
                            r.by
                        ),
                        width
                    ),
                    fit(&quoted, width.map(|w| w.saturating_sub(4))),
                    r.coordinate
                ))?;
            }
            Ok(())
        }
        Reply::Api(_)
        | Reply::Ssh(_)
        | Reply::Query(_)
        | Reply::Scan(_)
        | Reply::Imported(_)
        | Reply::Exported(_)
        | Reply::SshOutput { .. }
        | Reply::Providers { .. }
        | Reply::Identity { .. }
        | Reply::SenderUnknown { .. }
        | Reply::Received { .. } => {
            // Rendered by their commands, which know the flags; this is only a fallback.
            line(&json::compact(reply))
        }
        Reply::Allowlist { entries } => {
            if entries.is_empty() {
                eprintln!("kovra: the allowlist is empty");
            }
            // Path first (what a person looks for), the 64-digit pin on its own line.
            for e in entries {
                let added = format!("  added {}", time(e.added));
                let room = width.map(|w| w.saturating_sub(added.len()));
                line(&format!(
                    "{}{added}\n  sha256:{}",
                    fit(&e.path, room),
                    e.sha256
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
                line(&format!("{}: {} [{}]", f.level, f.message, f.kind))?;
            }
            line(&format!("{errors} error(s), {warnings} warning(s)"))?;
            integrity(reply)
        }
        Reply::Projects { projects } => {
            for p in projects {
                line(p)?;
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
    // Never cut here: a person decides on these facts, and a requester could pad a command
    // line to push its telling part past an ellipsis. Long values wrap instead.
    let width = super::width::columns(false);
    for f in &view.facts {
        let marker = if f.untrusted {
            "   <- the requester's own text"
        } else {
            ""
        };
        out.push_str(&fact_lines(f, marker, width));
    }
    out.push_str(&format!(
        "  approve: kovra approve {}    refuse: kovra deny {}\n",
        view.id, view.id
    ));
    // A run may be granted for a while (never a production one: the daemon says so).
    if view.facts.iter().any(|f| f.name == "command") {
        out.push_str(&format!(
            "  or let the same run through for a while: kovra approve {} --grant 15m\n",
            view.id
        ));
    }
    out
}

/// One fact for a person to decide on, labelled and wrapped. Control characters (a carriage
/// return, an escape sequence) could redraw what the person reads: every fact shows them
/// escaped, the requester's own text quoted too.
pub(super) fn fact_lines(f: &kovra_proto::Fact, marker: &str, width: Option<usize>) -> String {
    let label = format!("  {:<20} ", format!("{}:", f.name));
    let value = if f.untrusted {
        format!("{:?}", f.value)
    } else {
        f.value
            .chars()
            .flat_map(char::escape_debug)
            .collect::<String>()
    };
    wrap_fact(&label, &value, marker, width)
}

/// `label` and `value`, wrapped at spaces onto lines indented under the value column, then
/// `marker` where it fits (else on a line of its own). A word longer than a line stays whole
/// (a path or a coordinate must remain one piece to read and copy), and joining the lines
/// with single spaces gives `value` back: nothing is cut.
pub(super) fn wrap_fact(label: &str, value: &str, marker: &str, width: Option<usize>) -> String {
    const INDENT: usize = 23;
    let Some(width) = width else {
        return format!("{label}{value}{marker}\n");
    };
    let indent = " ".repeat(INDENT);
    let mut rows: Vec<String> = vec![String::new()];
    let mut room = width.saturating_sub(label.chars().count());
    for (i, word) in value.split(' ').enumerate() {
        let last = rows.last_mut().map_or(0, |r| r.chars().count());
        let need = word.chars().count() + usize::from(i > 0);
        if i > 0 && last + need > room {
            rows.push(word.to_string());
            room = width.saturating_sub(INDENT);
        } else if let Some(r) = rows.last_mut() {
            if i > 0 {
                r.push(' ');
            }
            r.push_str(word);
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push_str(if i == 0 { label } else { &indent });
        out.push_str(r);
        if i + 1 < rows.len() {
            out.push('\n');
        }
    }
    if !marker.is_empty() {
        let last = rows.last().map_or(0, |r| r.chars().count());
        if last + marker.len() > room {
            out.push('\n');
            out.push_str(&indent);
            out.push_str(marker.trim_start());
        } else {
            out.push_str(marker);
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_fact_wraps_at_spaces_and_keeps_every_character() {
        let label = format!("  {:<20} ", "command:");
        let marker = "   <- the requester's own text";
        let value = format!("python3 -c {} rm -rf ~ /a/long/path", "word ".repeat(30));
        let text = wrap_fact(&label, &value, marker, Some(80));
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .map(|l| l[label.len()..].trim_end_matches(marker))
            .filter(|l| !l.starts_with("<- "))
            .collect();
        assert_eq!(rows.join(" "), value, "{text}");
        assert!(text.contains("the requester's own text"), "{text}");
        // A word longer than a line is never split.
        let long = "x".repeat(120);
        let text = wrap_fact(&label, &format!("a {long}"), "", Some(80));
        assert!(text.contains(&long), "{text}");
    }
}

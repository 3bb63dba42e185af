//! Carrying out a decided brokered ssh command (or a host pin) outside the daemon's state
//! lock: the host may take seconds to answer, and other requests keep flowing meanwhile.
//! The connection is `kovra-sshclient`'s (russh, in this process): the key stays in the
//! daemon's memory, the host key is checked against the pin before any signature, and the
//! output is scrubbed of every value the caller's scope reaches before it leaves. The outcome is
//! audited before it is returned.

use std::sync::Arc;
use std::time::Duration;

use kovra_core::audit::AuditEntry;
use kovra_core::secret::SecretBytes;
use kovra_core::sshhost::SshHost;
use kovra_proto::{ErrorCode, Reply, Response, SshReply};
use kovra_redact::Redactor;
use kovra_sshclient::{Limits, SshError, Stream, Target};
use zeroize::Zeroizing;

use crate::error::GateError;
use crate::handler::Daemon;

/// How long the handshake (connect, key exchange, login) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// One decided command. Dropped (and the key wiped) when it is done.
pub struct SshPlan {
    pub host_name: String,
    pub address: String,
    pub port: u16,
    /// The one host key fingerprint the connection may accept.
    pub pinned: String,
    pub user: String,
    /// The OpenSSH private key text of the record that logs in.
    pub key: SecretBytes,
    pub key_coordinate: String,
    pub command: String,
    pub timeout: Duration,
    pub output_cap: usize,
    /// Every value the caller's scope reaches, in its encodings.
    pub redactor: Arc<Redactor>,
    /// The `ssh-result` entry, completed with the outcome.
    pub audit: AuditEntry,
    /// The client asked for the output as it comes (`SshRequest::stream`).
    pub stream: bool,
}

/// Where a streamed command's scrubbed output goes as it comes: `false` once the client is
/// gone (the rest is then dropped; the command still runs to its end or its timeout).
pub type Sink<'a> = &'a mut dyn FnMut(bool, &[u8]) -> bool;

/// A host to pin once it shows the key the human accepted.
pub struct PinPlan {
    pub host: SshHost,
    /// The `ssh-host-add` entry, written with the host.
    pub audit: AuditEntry,
}

fn refused(e: GateError) -> Response {
    e.into_response()
}

fn from_ssh(e: &SshError, host: &str) -> GateError {
    match e {
        SshError::HostKeyChanged { seen } => GateError::new(
            ErrorCode::SshHostKeyChanged,
            format!(
                "host {host} presented the key {} ({}), which is not the one pinned for it: nothing was sent",
                seen.fingerprint, seen.algorithm
            ),
        ),
        SshError::Unreachable(why) => GateError::new(
            ErrorCode::SshUnreachable,
            format!("cannot reach host {host}: {why}"),
        ),
        SshError::AuthRefused => GateError::new(
            ErrorCode::SshAuthRefused,
            format!("host {host} refused the key"),
        ),
        SshError::Timeout => {
            GateError::new(ErrorCode::SshTimeout, format!("host {host}: timed out"))
        }
        SshError::BadKey(why) => GateError::new(
            ErrorCode::SshKeyInvalid,
            format!("the key cannot log in: {why}"),
        ),
        SshError::Protocol(why) => {
            GateError::new(ErrorCode::SshFailed, format!("host {host}: {why}"))
        }
    }
}

/// Pin a host: connect, and write it only if it presents exactly the accepted key.
pub fn pin(daemon: &Daemon, plan: PinPlan) -> Response {
    let PinPlan { host, mut audit } = plan;
    let Some(accepted) = host.host_keys.first().map(|k| k.fingerprint.clone()) else {
        return refused(GateError::new(ErrorCode::Internal, "no host key to pin"));
    };
    let seen = match kovra_sshclient::scan(&host.address, host.port, CONNECT_TIMEOUT) {
        Ok(seen) => seen,
        Err(e) => return refused(from_ssh(&e, &host.name)),
    };
    if seen.fingerprint != accepted {
        audit.decision = "refused".into();
        audit.reason = Some("host-key-changed".into());
        audit.detail = Some(format!(
            "host {} {}:{} presented {}, accepted {accepted}",
            host.name, host.address, host.port, seen.fingerprint
        ));
        daemon.audit_outcome(audit);
        return refused(GateError::new(
            ErrorCode::SshHostKeyChanged,
            format!(
                "host {} now presents the key {} ({}), not the {accepted} you accepted: nothing was pinned",
                host.name, seen.fingerprint, seen.algorithm
            ),
        ));
    }
    match daemon.ssh_host_commit(host, &seen.algorithm, audit) {
        Ok(reply) => ok(reply),
        Err(e) => refused(e),
    }
}

/// Run the command and answer with its scrubbed output: in the final reply, or through
/// `sink` as it comes when one is given.
pub fn execute(daemon: &Daemon, plan: SshPlan, mut sink: Option<Sink<'_>>) -> Response {
    let SshPlan {
        host_name,
        address,
        port,
        pinned,
        user,
        key,
        key_coordinate,
        command,
        timeout,
        output_cap,
        redactor,
        mut audit,
        stream: _,
    } = plan;
    let key_text = match std::str::from_utf8(key.expose()) {
        Ok(text) => Zeroizing::new(text.to_string()),
        Err(_) => {
            return refused(GateError::new(
                ErrorCode::SshKeyInvalid,
                format!("{key_coordinate} does not hold an OpenSSH private key"),
            ));
        }
    };
    drop(key);
    let target = Target {
        host: address.clone(),
        port,
        user: user.clone(),
    };
    let limits = Limits {
        connect_timeout: CONNECT_TIMEOUT,
        run_timeout: timeout,
        output_cap,
    };
    let mut stdout = redactor.stream();
    let mut stderr = redactor.stream();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Bytes the command wrote, counted before scrubbing (the trail's figures).
    let (mut out_bytes, mut err_bytes) = (0usize, 0usize);
    // Set when the client stopped taking the stream: the rest is dropped, the reply says so.
    let mut open = true;
    let mut pass = |is_err: bool, buf: &mut Vec<u8>, sink: &mut Option<Sink<'_>>| {
        if let Some(send) = sink.as_mut()
            && !buf.is_empty()
        {
            if open {
                open = send(is_err, buf);
            }
            buf.clear();
        }
    };
    let result = kovra_sshclient::exec(
        &target,
        std::slice::from_ref(&pinned),
        &key_text,
        &command,
        &limits,
        &mut |stream, chunk| match stream {
            Stream::Stdout => {
                out_bytes += chunk.len();
                stdout.push(chunk, &mut out);
                pass(false, &mut out, &mut sink);
            }
            Stream::Stderr => {
                err_bytes += chunk.len();
                stderr.push(chunk, &mut err);
                pass(true, &mut err, &mut sink);
            }
        },
    );
    drop(key_text);
    // Cut by the cap or the timeout, a held-back tail may be the start of a value that the
    // rest would have completed: it is masked, not let out as if the stream had ended there.
    let cut = matches!(&result, Ok(o) if o.truncated) || matches!(&result, Err(SshError::Timeout));
    for (stream, buf) in [(&mut stdout, &mut out), (&mut stderr, &mut err)] {
        if cut && stream.held() > 0 {
            let mut tail = Vec::new();
            stream.finish(&mut tail);
            buf.extend_from_slice(b"[kovra:cut]");
        } else {
            stream.finish(buf);
        }
    }
    pass(false, &mut out, &mut sink);
    pass(true, &mut err, &mut sink);
    let dropped = !open;
    match result {
        Ok(outcome) => {
            audit.detail = Some(format!(
                "host {host_name} exit {} stdout_bytes {} stderr_bytes {}{}",
                outcome
                    .exit_status
                    .map_or_else(|| "none".to_string(), |s| s.to_string()),
                out_bytes,
                err_bytes,
                if outcome.truncated || dropped {
                    " truncated"
                } else {
                    ""
                }
            ));
            daemon.audit_outcome(audit);
            ok(Reply::Ssh(Box::new(SshReply {
                host: host_name,
                user,
                key: key_coordinate,
                exit_status: outcome.exit_status,
                exit_signal: outcome.exit_signal.map(signal_name),
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
                truncated: outcome.truncated || dropped,
                duration_ms: u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
            })))
        }
        Err(e) => {
            let error = from_ssh(&e, &host_name);
            audit.decision = if matches!(e, SshError::HostKeyChanged { .. }) {
                "refused".into()
            } else {
                "error".into()
            };
            audit.reason = Some(error.code().as_str().to_string());
            audit.detail = Some(format!(
                "host {host_name} {address}:{port}: {}",
                error.message()
            ));
            daemon.audit_outcome(audit);
            refused(error)
        }
    }
}

/// A signal's name as the server gave it, if it looks like one (`TERM`, `KILL`, a custom
/// `NAME@domain`); anything else is `OTHER`: the server chooses this text.
fn signal_name(name: String) -> String {
    let plain = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"+@._-".contains(&b));
    if plain { name } else { "OTHER".into() }
}

fn ok(reply: Reply) -> Response {
    Response::Ok {
        reply: Box::new(reply),
    }
}

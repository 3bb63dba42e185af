//! SSH key records: `keygen`, `pubkey`, `sign` and `add --ssh-key`. The private key comes
//! from a hidden prompt or stdin (as every value does) and goes only to the daemon; `sign`
//! sends the daemon the file's SHA-512, never the file.

use std::io::Read;
use std::path::PathBuf;

use kovra_core::model::Sensitivity;
use kovra_proto::{ErrorCode, Reply, Request, Secret};
use sha2::Digest;

use super::coord;
use crate::cli::{Command, PassphraseSource};
use crate::error::CliError;
use crate::input;
use crate::render::Renderer;
use crate::session::Session;

/// How many lines a pasted key may have (an RSA 4096 key has about 50).
const MAX_KEY_LINES: usize = 200;

pub fn run(s: &mut Session, command: Command, out: &Renderer) -> Result<(), CliError> {
    let reply = match command {
        Command::Keygen(args) => s.call(Request::Keygen {
            coordinate: coord(&args.coordinate)?,
            key_type: args.key_type,
            sensitivity: args.sensitivity,
            description: args.description,
            hosts: args.hosts,
        })?,
        Command::Pubkey { coordinate } => s.call(Request::PublicKey {
            coordinate: coord(&coordinate)?,
        })?,
        Command::Sign(args) => {
            if args.namespace.is_empty() {
                return Err(CliError::new(
                    ErrorCode::NamespaceInvalid,
                    "--namespace is empty",
                    ErrorCode::NamespaceInvalid.hint(),
                ));
            }
            let sha512 = hash(args.file.as_ref())?;
            s.call(Request::Sign {
                coordinate: coord(&args.coordinate)?,
                namespace: args.namespace,
                sha512,
                proof: None,
            })?
        }
        Command::SshAgent(args) if args.rules => return super::agent_rules::show(s, out),
        Command::SshAgent(args) if args.accept => return super::agent_rules::accept(s, out),
        Command::SshAgent(args) => {
            let reply = s.call(Request::SshAgent { stop: args.stop })?;
            return ssh_agent_lines(&reply, args.csh, out);
        }
        _ => {
            return Err(CliError::new(
                ErrorCode::Internal,
                "not an SSH key command",
                None,
            ));
        }
    };
    out.reply(&reply)
}

/// `ssh-agent`: the lines a shell evaluates, like `ssh-agent -s`/`-c` print (a document with
/// `--json`). The path is quoted only if it needs it, which a runtime directory never does.
fn ssh_agent_lines(reply: &Reply, csh: bool, out: &Renderer) -> Result<(), CliError> {
    let Reply::SshAgent { socket, running } = reply else {
        return Err(CliError::new(ErrorCode::Internal, "unexpected reply", None));
    };
    if out.is_json() {
        return out.reply(reply);
    }
    let quoted = if socket
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        socket.clone()
    } else {
        format!("'{}'", socket.replace('\'', "'\\''"))
    };
    let text = match (running, csh) {
        (true, false) => format!("SSH_AUTH_SOCK={quoted}; export SSH_AUTH_SOCK;"),
        (true, true) => format!("setenv SSH_AUTH_SOCK {quoted};"),
        (false, false) => "unset SSH_AUTH_SOCK;".to_string(),
        (false, true) => "unsetenv SSH_AUTH_SOCK;".to_string(),
    };
    crate::render::line(&text)
}

/// What `add --ssh-key` was given besides the key.
pub struct Import {
    pub coordinate: String,
    pub sensitivity: Option<Sensitivity>,
    pub description: Option<String>,
    pub revealable: bool,
    pub totp: bool,
    pub provider: Option<String>,
    pub from_stdin: bool,
    pub passphrase_file: Option<PathBuf>,
    pub hosts: Vec<String>,
}

/// `add COORD --ssh-key`: read the key, and its passphrase when it has one, and send both.
pub fn add(s: &mut Session, import: Import) -> Result<Reply, CliError> {
    let value = read_key(&import.coordinate, import.from_stdin)?;
    let key_passphrase = passphrase(&value, import.passphrase_file)?;
    s.call(Request::Add {
        coordinate: import.coordinate,
        value,
        sensitivity: import.sensitivity,
        description: import.description,
        revealable: import.revealable,
        totp: import.totp,
        provider: import.provider,
        ssh_key: true,
        key_passphrase,
        hosts: import.hosts,
        database: None,
    })
}

/// The key: all of stdin with `--stdin`, else pasted at a hidden prompt, line by line up to
/// its `-----END …-----` line (or an empty line).
fn read_key(coordinate: &str, from_stdin: bool) -> Result<Secret, CliError> {
    if from_stdin || !input::has_tty() {
        return input::value(coordinate, from_stdin);
    }
    eprintln!(
        "kovra: paste the OpenSSH private key for {coordinate}; it is not echoed, and ends at its -----END line (or an empty line)"
    );
    input::tty_paste("key (hidden): ", &key_complete)
}

/// Whether a pasted key is whole: its `-----END` line arrived, or an empty line after some
/// text, or more lines than any key has.
fn key_complete(text: &[u8]) -> bool {
    let Some(body) = text.strip_suffix(b"\n") else {
        return false;
    };
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let last = lines.next_back().unwrap_or_default();
    let before = lines.clone().count();
    last.starts_with(b"-----END")
        || (last.is_empty() && lines.any(|l| !l.is_empty()))
        || before >= MAX_KEY_LINES
}

/// A protected key's passphrase: from `--key-passphrase-file`, else a hidden prompt.
fn passphrase(key: &Secret, file: Option<PathBuf>) -> Result<Option<Secret>, CliError> {
    if !kovra_core::sshkey::is_encrypted(key.expose()) {
        return Ok(None);
    }
    if file.is_none() && !input::has_tty() {
        return Err(CliError::new(
            ErrorCode::SshKeyPassphraseNeeded,
            "the key is protected by a passphrase, and there is no terminal to ask for it",
            Some("pass --key-passphrase-file PATH (its first line is the passphrase)"),
        ));
    }
    let source = PassphraseSource {
        passphrase_file: file,
        passphrase_fd: None,
    };
    input::passphrase(&source, "passphrase of the SSH key (hidden): ", false).map(Some)
}

/// The SHA-512 of a file or of stdin, read in blocks (a file of any size).
fn hash(file: Option<&PathBuf>) -> Result<String, CliError> {
    let unreadable = |what: &str, e: std::io::Error| {
        CliError::new(
            ErrorCode::InputUnreadable,
            format!("cannot read {what}: {e}"),
            None,
        )
    };
    let mut hasher = sha2::Sha512::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (what, mut reader): (String, Box<dyn Read>) = match file {
        Some(path) => (
            path.display().to_string(),
            Box::new(
                std::fs::File::open(path)
                    .map_err(|e| unreadable(&path.display().to_string(), e))?,
            ),
        ),
        None => ("standard input".into(), Box::new(std::io::stdin().lock())),
    };
    loop {
        let n = reader.read(&mut buf).map_err(|e| unreadable(&what, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::key_complete;

    #[test]
    fn a_paste_ends_at_its_end_line_or_an_empty_line() {
        assert!(!key_complete(b""));
        assert!(!key_complete(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(!key_complete(b"-----BEGIN X-----\nAAAA\n-----END X-----"));
        assert!(key_complete(b"-----BEGIN X-----\nAAAA\n-----END X-----\n"));
        assert!(key_complete(
            b"-----BEGIN X-----\r\nAAAA\r\n-----END X-----\r\n"
        ));
        assert!(key_complete(b"not a key\n\n"));
        // Enter before anything was pasted is not the end.
        assert!(!key_complete(b"\n"));
        assert!(key_complete(
            "x\n".repeat(super::MAX_KEY_LINES + 1).as_bytes()
        ));
    }
}

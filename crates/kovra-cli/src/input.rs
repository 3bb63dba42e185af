//! Where passphrases and values come from: a hidden prompt on the controlling terminal,
//! a file, a file descriptor, or stdin. Never argv, never an environment variable's value.

use kovra_proto::ErrorCode;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kovra_proto::Secret;
use zeroize::Zeroizing;

use crate::cli::{CodeSource, PassphraseSource};
use crate::error::CliError;

/// The controlling terminal, opened for a prompt or for what must reach only a person.
/// Without one (a pipe, cron, an agent's tool call) the open fails with a bare "No such
/// device or address (os error 6)"; this says instead what needed the terminal (`to`, as
/// in "this needs a terminal to …") and how to do without one (`hint`).
pub fn terminal(to: &str, hint: &str) -> Result<std::fs::File, CliError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            let why = match e.raw_os_error() {
                // ENXIO: no controlling terminal; ENOENT: no /dev/tty at all (a container).
                Some(6) | Some(2) => "this process has no controlling terminal".to_string(),
                _ => format!("/dev/tty cannot be opened: {e}"),
            };
            CliError::new(
                ErrorCode::NoTerminal,
                format!("this needs a terminal to {to}, and {why}"),
                Some(hint),
            )
        })
}

/// Whether this process has a controlling terminal to prompt on.
pub fn has_tty() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

fn first_line(mut bytes: Zeroizing<Vec<u8>>) -> Secret {
    if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
        bytes.truncate(end);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Secret::new(std::mem::take(&mut *bytes))
}

fn read_all(r: impl Read, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    read_wiped(r, None).map_err(|e| {
        CliError::new(
            ErrorCode::InputUnreadable,
            format!("cannot read {what}: {e}"),
            None,
        )
    })
}

/// Read `r` to its end, or through the first `stop` byte, leaving no unwiped copy behind:
/// the buffer grows by moving into a larger wiped one, never by a reallocation that would
/// abandon the old bytes, and nothing else buffers the reads.
fn read_wiped(r: impl Read, stop: Option<u8>) -> std::io::Result<Zeroizing<Vec<u8>>> {
    read_until(r, &|chunk: &[u8], _: &[u8]| {
        stop.is_some_and(|b| chunk.contains(&b))
    })
}

/// Read until end of input or until `done(last chunk, everything so far)`.
fn read_until(
    mut r: impl Read,
    done: &dyn Fn(&[u8], &[u8]) -> bool,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(1024));
    let mut chunk = Zeroizing::new([0u8; 1024]);
    loop {
        let n = match r.read(&mut chunk[..]) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.len() + n > buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((buf.len() + n) * 2));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk[..n]);
        if done(&chunk[..n], &buf) {
            return Ok(buf);
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::new(
            ErrorCode::PassphraseUnreadable,
            format!("cannot read the passphrase file {}: {e}", path.display()),
            Some("check the path given by --passphrase-file or KOVRA_PASSPHRASE_FILE"),
        )
    })?;
    if let Ok(meta) = file.metadata()
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "kovra: warning: {} is readable by other users; chmod 600 it",
            path.display()
        );
    }
    Ok(first_line(read_all(file, "the passphrase file")?))
}

/// Read a passphrase for `init`/`unlock`/`passwd` from the first source that is set.
pub fn passphrase(src: &PassphraseSource, prompt: &str, confirm: bool) -> Result<Secret, CliError> {
    let secret = if let Some(path) = &src.passphrase_file {
        read_file(path)?
    } else if let Some(fd) = src.passphrase_fd {
        // Through /proc so no unsafe fd adoption is needed.
        let path = format!("/proc/self/fd/{fd}");
        let file = std::fs::File::open(&path).map_err(|e| {
            CliError::new(
                ErrorCode::PassphraseUnreadable,
                format!("cannot read file descriptor {fd}: {e}"),
                Some("pass an open, readable descriptor"),
            )
        })?;
        first_line(read_all(file, "the passphrase descriptor")?)
    } else if has_tty() {
        let first = tty_prompt(prompt)?;
        if confirm {
            let again = tty_prompt("repeat the passphrase: ")?;
            if first.expose() != again.expose() {
                return Err(CliError::new(
                    ErrorCode::PassphraseMismatch,
                    "the two passphrases differ",
                    Some("run the command again"),
                ));
            }
        }
        first
    } else {
        return Err(CliError::new(
            ErrorCode::NoPassphraseSource,
            "no terminal to prompt for the passphrase",
            Some("use --passphrase-file PATH, --passphrase-fd N or KOVRA_PASSPHRASE_FILE"),
        ));
    };
    if secret.is_empty() {
        return Err(CliError::new(
            ErrorCode::PassphraseEmpty,
            "the passphrase is empty",
            None,
        ));
    }
    Ok(secret)
}

/// A two-factor code from a file, a descriptor or a prompt on the terminal.
pub fn code(src: &CodeSource) -> Result<Secret, CliError> {
    let passphrase_like = PassphraseSource {
        passphrase_file: src.code_file.clone(),
        passphrase_fd: src.code_fd,
    };
    if src.code_file.is_none() && src.code_fd.is_none() && !has_tty() {
        return Err(CliError::new(
            ErrorCode::NoCodeSource,
            "no terminal to prompt for the two-factor code",
            Some("use --code-file PATH or --code-fd N"),
        ));
    }
    let code = passphrase(&passphrase_like, "two-factor code: ", false).map_err(|e| {
        CliError::new(
            ErrorCode::CodeUnreadable,
            e.message.replace("passphrase", "code"),
            None,
        )
    })?;
    Ok(Secret::new(code.expose().trim_ascii().to_vec()))
}

/// A hidden prompt on the controlling terminal. Echo is turned off *before* the prompt is
/// shown, so an answer typed ahead of it is never echoed either.
pub fn tty_prompt(prompt: &str) -> Result<Secret, CliError> {
    let mut line = tty_read(prompt, &|chunk: &[u8], _: &[u8]| chunk.contains(&b'\n'))?;
    if let Some(end) = line.iter().position(|&b| b == b'\n') {
        line.truncate(end);
    }
    while line.last().is_some_and(|&b| b == b'\r' || b == b'\n') {
        line.pop();
    }
    Ok(Secret::new(std::mem::take(&mut *line)))
}

/// A hidden prompt for text of several lines (a pasted key), read with echo off until
/// `done(everything so far)`: one terminal setting for the whole paste, so no line of it is
/// flushed away between two prompts.
pub fn tty_paste(prompt: &str, done: &dyn Fn(&[u8]) -> bool) -> Result<Secret, CliError> {
    let text = tty_read(prompt, &|_: &[u8], all: &[u8]| done(all))?;
    Ok(Secret::from(text))
}

fn tty_read(
    prompt: &str,
    done: &dyn Fn(&[u8], &[u8]) -> bool,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    use std::io::Write;
    use std::os::fd::AsFd;
    let no_tty = |e: &dyn std::fmt::Display| {
        CliError::new(
            ErrorCode::NoTerminal,
            format!("cannot prompt on the terminal: {e}"),
            None,
        )
    };
    let what = prompt.trim_end().trim_end_matches(':');
    let tty = terminal(
        &format!("ask for the {what}"),
        "run it yourself in a terminal, or give the answer from a file (see the command's --help)",
    )?;
    let saved = termios::tcgetattr(tty.as_fd()).map_err(|e| no_tty(&e))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    termios::tcsetattr(tty.as_fd(), SetArg::TCSAFLUSH, &quiet).map_err(|e| no_tty(&e))?;
    let result = (|| {
        let mut out = &tty;
        out.write_all(prompt.as_bytes())?;
        out.flush()?;
        read_until(&tty, done)
    })();
    let _ = termios::tcsetattr(tty.as_fd(), SetArg::TCSANOW, &saved);
    result.map_err(|e| no_tty(&e))
}

/// A record's value: from stdin with --stdin, else a hidden prompt.
pub fn value(coordinate: &str, from_stdin: bool) -> Result<Secret, CliError> {
    let value = if from_stdin {
        let mut bytes = read_all(std::io::stdin().lock(), "standard input")?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Secret::new(std::mem::take(&mut *bytes))
    } else if has_tty() {
        tty_prompt(&format!("value for {coordinate} (hidden): "))?
    } else {
        return Err(CliError::new(
            ErrorCode::NoValueSource,
            "no terminal to prompt for the value",
            Some("pipe the value in and pass --stdin"),
        ));
    };
    if value.is_empty() {
        return Err(CliError::new(
            ErrorCode::EmptyValue,
            format!("no value was given for {coordinate}"),
            Some("standard input was empty or closed; pipe the value in with --stdin"),
        ));
    }
    Ok(value)
}

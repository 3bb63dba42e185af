//! The kovra daemon's SSH client for brokered commands (`kovra ssh HOST -- COMMAND`, the MCP
//! `ssh` tool): connect to a host, refuse it unless its host key is pinned, log in with a key
//! the daemon holds in memory, run one command, and hand back its output and exit status.
//!
//! Why in process (russh) rather than the `ssh` binary: the key never leaves the daemon's
//! non-dumpable memory — there is no agent socket another local process could use, no child
//! process it could ptrace, and no `~/.ssh/config` or `known_hosts` an agent could write to
//! redirect the connection. The host key check is this crate's own callback against the
//! daemon's pins.
//!
//! What this crate does *not* do: decide whether a command may run, on which host, or as
//! whom. That is policy, decided by `kovra_core::decide` in the daemon before it calls
//! [`exec`]; any host, loopback included, is connected to as asked.
//!
//! The API is blocking because the daemon serves requests on plain threads; each call runs
//! its own current-thread tokio runtime and leaves nothing running when it returns. Called
//! from inside a tokio runtime it refuses (an error, not tokio's panic): use `spawn_blocking`.
//!
//! What this build takes (russh 0.65, see the workspace `Cargo.toml`):
//! - client keys: ed25519, ECDSA (P-256/384/521) and RSA, which signs with rsa-sha2-512 or
//!   rsa-sha2-256 (whichever the server lists, 512 first), never `ssh-rsa`'s SHA-1; other
//!   types are refused before connecting ([`SshError::BadKey`]);
//! - host keys: ed25519, ECDSA and RSA with SHA-2 signatures; a server offering none of them
//!   (or only `ssh-rsa`) fails the key exchange ([`SshError::Protocol`]). No host
//!   certificates: a pin is a key's fingerprint;
//! - AEAD ciphers only, and curve25519, its ML-KEM-768 hybrid or P-256 for the key exchange
//!   (`session::config` says why).
//!
//! A panic inside russh on a hostile server's input stays in the runtime's task and comes
//! back as an error, not a crash of the daemon thread.

mod hostkey;
mod session;

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

pub use hostkey::HostKey;

/// Where to connect and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name or address; names resolve through the system resolver.
    pub host: String,
    pub port: u16,
    /// The remote account the key logs in to.
    pub user: String,
}

/// Bounds on one [`exec`], so a slow or chatty host cannot hold a daemon thread or its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// From the TCP connect to a successful login (resolution, key exchange, host key check
    /// and authentication together): past it, [`SshError::Timeout`].
    pub connect_timeout: Duration,
    /// From the exec request until the remote command has exited and the channel is closed:
    /// past it the command is sent a SIGTERM request, the channel and connection are closed,
    /// and the call returns [`SshError::Timeout`]. The remote command may outlive that: the
    /// test sshd (OpenSSH 9.2, no pty) left a `sleep` running until it ended by itself.
    pub run_timeout: Duration,
    /// Bytes of each stream (stdout and stderr separately) handed to the output callback;
    /// later bytes are read and dropped, and [`Outcome::truncated`] is set. Reading on keeps
    /// the command from blocking on a full pipe, so it still runs to its end.
    pub output_cap: usize,
}

/// Which of the remote command's streams a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The command's exit status, when the server sent one (OpenSSH does on a normal exit).
    /// With `exit_signal` also `None`, the channel closed without saying how the command
    /// ended (the connection dropped, or a server that does not report): `ssh` exits 255 then.
    pub exit_status: Option<u32>,
    /// The signal's name without `SIG` (`"TERM"`, `"KILL"`, …) when the command was killed.
    pub exit_signal: Option<String>,
    /// Some output was dropped because a stream passed [`Limits::output_cap`].
    pub truncated: bool,
    /// The whole call, from the TCP connect to the channel's close.
    pub elapsed: Duration,
}

/// Why an [`exec`] or [`scan`] failed. No variant carries key material: the private key is
/// never formatted, and messages from the SSH library are about the protocol, not the key.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The server presented a host key whose fingerprint is not among the pins; nothing was
    /// signed for it. `seen` is what it presented (its signature over the key exchange
    /// verified), for the user to compare out of band before re-pinning.
    #[error("the host key of the server ({}) is not the pinned one", seen.fingerprint)]
    HostKeyChanged { seen: HostKey },
    /// No TCP connection: the name did not resolve, or the connect failed.
    #[error("cannot reach the host: {0}")]
    Unreachable(String),
    /// The server refused the key (not in the account's `authorized_keys`, or the account
    /// does not exist).
    #[error("the server refused the key")]
    AuthRefused,
    /// A [`Limits`] timeout passed.
    #[error("timed out")]
    Timeout,
    /// The private key could not be used: not OpenSSH text, passphrase-protected, or of a
    /// type this client cannot sign with. The reason is a fixed phrase, never the key's text.
    #[error("the private key cannot be used: {0}")]
    BadKey(&'static str),
    /// The SSH conversation failed after the TCP connection was made.
    #[error("ssh protocol error: {0}")]
    Protocol(String),
}

/// First contact with a host: connect, take its host key (after the server has proved it
/// holds it by signing the key exchange), and disconnect without authenticating. The daemon
/// shows the fingerprint to the user, who pins it.
pub fn scan(host: &str, port: u16, timeout: Duration) -> Result<HostKey, SshError> {
    runtime()?.block_on(session::scan(host, port, timeout))
}

/// Connect to `target`, refuse it unless its host key's fingerprint (`SHA256:…`, as
/// `ssh-keygen -l` prints it) is in `pinned`, log in with `key` (an unencrypted OpenSSH
/// private key), run `command`, pass its output to `on_output` as it arrives, and return how
/// it ended.
///
/// The pin is checked during the key exchange, before authentication, so a host that is not
/// pinned never receives a signature from `key`. `key` is parsed into russh's key type,
/// held only for this call, and dropped (zeroized) before it returns.
///
/// A non-zero exit status is an [`Outcome`], not an error: errors are about reaching the
/// command, not about what it did.
pub fn exec(
    target: &Target,
    pinned: &[String],
    key: &Zeroizing<String>,
    command: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> Result<Outcome, SshError> {
    let key = session::parse_key(key)?;
    runtime()?.block_on(session::exec(
        target, pinned, key, command, limits, on_output,
    ))
}

/// A runtime for one call: current-thread, so the call's tasks run on the calling thread
/// only while it waits, and dropping it at the end cancels whatever the SSH library left.
fn runtime() -> Result<tokio::runtime::Runtime, SshError> {
    // tokio panics on a `block_on` inside another runtime's thread; say so instead.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(SshError::Protocol(
            "called from inside an async runtime (use spawn_blocking)".into(),
        ));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| SshError::Protocol(format!("cannot start the I/O runtime: {e}")))
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

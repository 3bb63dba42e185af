//! kovra-daemon is the key holder: the one process where the unlocked key and plaintext
//! live. It checks who connects, gates every request through the core's `decide`, writes
//! the audit trail, and locks on request, on idle and on termination. It never sends
//! plaintext over its socket except as the reply to an allowed reveal.
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agents;
pub mod approvals;
pub mod broker;
pub mod config;
mod error;
pub mod fdreader;
pub mod handler;
pub mod nsjoin;
pub mod os;
pub mod passkey;
pub mod pool;
pub mod program;
pub mod proof;
pub mod queryexec;
mod recordlock;
pub mod redactors;
pub mod relay;
pub mod run;
pub mod server;
pub mod session_grants;
pub mod slots;
pub mod sshagent;
pub mod sshexec;
pub mod stream;
pub mod usage;
pub mod web;

pub use handler::Daemon;
pub use server::{ServeError, serve};

/// Log to stderr (the autostarted daemon's stderr is `daemon.log` in the state directory,
/// `Paths::log_file`).
/// `KOVRA_LOG` sets the filter, e.g. `KOVRA_LOG=debug`.
///
/// A log line that cannot be written is dropped. The subscriber's own report of such a
/// failure is off: it goes to stderr with `eprintln!`, which panics when stderr is the very
/// thing that fails (a full disk, a closed pipe), and a panic in the signal thread would
/// leave the daemon running unlocked, deaf to SIGTERM.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KOVRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    // The log usually goes to a file (daemon.log): colour codes only on a terminal.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .log_internal_errors(false)
        .try_init();
}

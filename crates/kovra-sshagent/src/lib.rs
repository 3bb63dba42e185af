//! The OpenSSH agent protocol, served for the kovra daemon (`kovra ssh-agent`).
//!
//! This crate owns the socket side of an SSH agent: framing, decoding requests and encoding
//! replies (with `ssh-agent-lib`'s protocol types), verifying `session-bind@openssh.com`
//! messages, and a bounded blocking server that only serves the daemon's own user. It owns
//! no keys and decides nothing: listing keys, signing and every policy decision happen in
//! the daemon behind [`Backend`], which receives the facts gathered here ([`Caller`],
//! [`Session`], [`Signed`]). It must never parse a private key a client sends (adding keys
//! is refused by message number), never print data it is asked to sign or a lock
//! passphrase, and never depend on the daemon.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo<B: kovra_sshagent::Backend + 'static>(backend: Arc<B>) -> Result<(), kovra_sshagent::ServeError> {
//! let server = kovra_sshagent::Server::start(
//!     std::path::Path::new("/run/user/1000/kovra/agent.sock"),
//!     backend,
//!     kovra_sshagent::Config::default(),
//! )?;
//! // … later, from any thread:
//! server.stop_handle().stop();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod backend;
mod dispatch;
mod frame;
mod peer;
mod pool;
mod server;
mod session;
mod signed;

pub use backend::{Backend, Caller, Identity, Passphrase, Refusal, Rejected, SignRequest};
pub use dispatch::{SESSION_BIND, respond};
pub use frame::{FrameError, MAX_FRAME, read_frame, write_frame};
pub use server::{Config, ServeError, Server, StopHandle};
pub use session::{Bind, BindError, MAX_BINDS, MAX_NOTES, Session};
pub use signed::{Signed, Userauth};
/// The protocol crate, and through it `ssh_key` 0.6, whose types the [`Backend`] speaks.
pub use ssh_agent_lib;
pub use ssh_agent_lib::ssh_key;

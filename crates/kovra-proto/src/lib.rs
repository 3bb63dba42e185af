//! The daemon wire: versioned requests and replies as JSON inside capped, length-prefixed
//! frames (see `docs/protocol.md`). Types and framing only: no sockets are opened here.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod digest;
pub mod error_code;
pub mod frame;
pub mod paths;
pub mod procfs;
pub mod secret;
pub mod wire;

pub use error_code::ErrorCode;
pub use secret::Secret;
pub use wire::*;

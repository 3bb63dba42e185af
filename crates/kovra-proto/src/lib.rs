//! The daemon wire: versioned requests and replies as JSON inside capped, length-prefixed
//! frames (see `docs/protocol.md`). Types and framing only: no sockets are opened here.
#![forbid(unsafe_code)]

pub mod digest;
pub mod frame;
pub mod paths;
pub mod procfs;
pub mod secret;
pub mod wire;

pub use secret::Secret;
pub use wire::*;

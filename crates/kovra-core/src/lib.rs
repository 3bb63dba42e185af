//! kovra-core owns the model, coordinates, crypto, the sealed store, the one policy
//! decision and the audit chain. It opens no socket, reads no environment variable and
//! prints nothing: surfaces and the daemon sit on top of it.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agent;
pub mod audit;
pub mod childenv;
pub mod coord;
pub mod crypto;
pub mod dbconn;
pub mod dotenv;
pub mod dotenvx;
pub mod envrefs;
pub mod keyformats;
pub mod model;
mod opencheck;
pub mod passkey;
pub mod policy;
pub mod proof;
pub mod recovery;
pub mod secret;
pub mod sshhost;
pub mod sshkey;
pub mod store;
pub mod totp;
mod xchacha;

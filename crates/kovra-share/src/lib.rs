//! Sharing packages: what `kovra share` seals and `kovra receive` opens (`docs/sharing.md`).
//!
//! A package is standard age twice: the outer layer to the recipient's key, the inner layer
//! to a one-time token (age scrypt), and inside a manifest signed by the sender's identity.
//! Nothing here touches the vault or decides policy: the daemon does both.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
pub mod identity;
pub mod package;
pub mod token;

pub use error::ShareError;
pub use identity::{Identity, PublicIdentity, Recipient};
pub use package::{Manifest, PackageRecord, Sender};
pub use token::Token;

//! The bodies of kovra's fuzz targets, one public function per target.
//!
//! Each function takes the fuzzer's bytes, feeds them to one parser the way its real caller
//! does, and asserts what must hold of the result. Invalid input is never a failure: only a
//! panic inside the code under test, or a broken property, is. The `fuzz/` crate (nightly,
//! cargo-fuzz) calls these functions, and `tests/regressions.rs` replays the committed
//! corpus and every regression through them on stable, so `cargo test` keeps them honest.
//!
//! This crate is test code: a failing `assert!` is how it reports a bug.
#![forbid(unsafe_code)]

mod bytes;
mod coordinate;
mod dbconn;
mod envrefs;
mod frame;
mod provider;
mod redactor;
mod share;
mod sshagent;
mod totp;

pub use coordinate::coordinate;
pub use dbconn::dbconn;
pub use envrefs::envrefs;
pub use frame::{frame_request, frame_response};
pub use provider::provider;
pub use redactor::redactor;
pub use share::share;
pub use sshagent::sshagent_request;
pub use totp::totp;

/// A target's body: the fuzzer's bytes in, a panic out when a property fails.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/NAME.rs` and the corpus directories spell it.
pub const TARGETS: &[(&str, Target)] = &[
    ("coordinate", coordinate),
    ("dbconn", dbconn),
    ("envrefs", envrefs),
    ("frame_request", frame_request),
    ("frame_response", frame_response),
    ("provider", provider),
    ("redactor", redactor),
    ("share", share),
    ("sshagent_request", sshagent_request),
    ("totp", totp),
];

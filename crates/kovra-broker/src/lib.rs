//! The broker: kovra makes the credentialed call itself, so the credential never leaves the
//! daemon except on the wire to a host its provider pins.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod call;
pub mod error;
pub mod ratelimit;
pub mod registry;
pub mod rules;

pub use call::{Broker, Outcome, TestUpstream};
pub use error::BrokerError;
pub use registry::{Auth, Provider, Registry};
pub use rules::{CallerRequest, Checked};

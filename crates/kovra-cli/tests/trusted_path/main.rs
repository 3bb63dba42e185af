//! Regression tests for issue 11, "trusted path": the agent must not be able to stand
//! between the human and the daemon. Each test attacks the real `kovra` binary as a
//! same-user, non-root agent would (THREAT-MODEL.md); as root they re-run themselves as the
//! user `kovra-test` (see `nonroot`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../cli/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../cli/leak.rs"]
mod leak;

mod common;
mod nonroot;

mod homelock;
mod hooks;
mod proof_kind;
mod ptrace;
mod relay;
mod ssh_agent;
mod ssh_broker;
mod symlink;

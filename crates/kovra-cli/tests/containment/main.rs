//! End-to-end tests of containment (issue 14, "What it must show"): an agent inside
//! `kovra sandbox`, on an agent profile's socket, or in Anthropic's sandbox runtime `srt`
//! wired by `kovra setup --sandbox`, attacks the real `kovra` binary and daemon as a
//! same-user program would (THREAT-MODEL.md). Every test plants canary values (records, a
//! `.env` file, `~/.ssh`, the daemon's and another process's environment) and asserts that
//! none appears in anything the contained programs printed or could read from `/proc`.
//!
//! As root, each test body re-runs as the non-root user `kovra-test` (`nonroot`): root could
//! read everything and hide the difference between a defence that holds and one that does
//! not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../cli/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../cli/leak.rs"]
mod leak;
#[allow(dead_code)]
#[path = "../trusted_path/nonroot.rs"]
mod nonroot;
#[allow(dead_code)]
#[path = "../cli/upstream.rs"]
mod upstream;

mod lab;

mod agent_socket;
mod injection;
mod review;
mod sandbox;
mod srt;

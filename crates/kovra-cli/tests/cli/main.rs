//! Integration tests: the real `kovra` binary against temporary vault homes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod leak;
mod upstream;

mod agent_socket_client;
mod approval;
mod bad_input;
mod basics;
mod broker;
mod canary;
mod canary_records;
mod concurrency;
mod crash;
mod dbproxy;
mod doctor;
mod faults;
mod first_hour;
mod front;
mod help;
mod lifecycle;
mod mcp;
mod mcp_inspector;
mod peer;
mod postgres;
mod proof;
mod query;
mod relocate;
mod run;
mod setup;
mod setup_clients;
mod setup_scope;
mod sharing;
mod ssh;
mod ssh_agent;
mod ssh_agent_rules;
mod sshkey;
mod tables;
mod tamper;
mod totp;
mod unlock_prompt;
mod xdg;

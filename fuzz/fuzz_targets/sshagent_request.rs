#![no_main]
//! See `kovra_fuzz::sshagent_request` for what this target asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kovra_fuzz::sshagent_request(data));

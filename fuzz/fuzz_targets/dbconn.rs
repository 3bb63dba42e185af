#![no_main]
//! See `kovra_fuzz::dbconn` for what this target asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kovra_fuzz::dbconn(data));

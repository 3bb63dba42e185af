#![no_main]
//! See `kovra_fuzz::coordinate` for what this target asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kovra_fuzz::coordinate(data));

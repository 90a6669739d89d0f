//! zoo.cfg text through Config::from_str and the values derived from a config.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringkeeper::fuzzing::config(data));

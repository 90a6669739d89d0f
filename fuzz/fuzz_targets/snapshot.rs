//! A snapshot file through the reader and tree restore.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringkeeper::fuzzing::snapshot(data));

//! A client connection's bytes: connect frame, then request frames, through decode, prep, apply, reads and watches.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringkeeper::fuzzing::request(data));

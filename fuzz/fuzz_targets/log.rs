//! Log segments through recovery (framing, txn decoding, torn tails), then replay.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringkeeper::fuzzing::log(data));

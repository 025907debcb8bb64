//! Placement's `Connect` stream: a `HostMessage` decoded, its `Register` validated into a
//! table entry.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = weft_placement::fuzzing::register(bytes);
});

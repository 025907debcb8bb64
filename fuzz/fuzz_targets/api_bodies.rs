//! weftd's Dapr API bodies: a state transaction, a reminder (parsed, then checked and resolved
//! as the host registers it) and a timer, each read from the same bytes.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use weft_sidecar::fuzzing;

fuzz_target!(|body: &[u8]| {
    let _ = fuzzing::state_transaction(body);
    if let Ok(reminder) = fuzzing::reminder_body(body) {
        let _ = weft_runtime::fuzzing::schedule(&reminder, SystemTime::now());
    }
    let _ = fuzzing::timer_body(body);
});

//! Duration and time parsers: the reminders' due time, period (`R<n>/`) and TTL (ISO 8601, Go,
//! RFC 3339) resolved at several clocks, and weftd's Go durations.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use weft_runtime::fuzzing;

fuzz_target!(|input: &[u8]| {
    // Lines: due time, period, TTL of one reminder, registered now.
    let _ = fuzzing::reminder_strings(input);
    let text = String::from_utf8_lossy(input);
    let nows = [
        SystemTime::UNIX_EPOCH,
        SystemTime::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 64),
    ];
    for moment in [fuzzing::due_time(&text), fuzzing::ttl(&text)]
        .into_iter()
        .flatten()
    {
        for now in nows {
            let _ = fuzzing::resolve_ms(moment, now);
        }
    }
    let _ = fuzzing::period(&text);
    let _ = weft_sidecar::fuzzing::go_duration(&text);
});

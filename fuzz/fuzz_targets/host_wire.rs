//! The host-to-host wire: `Invoke/Call` and `Invoke/Service` requests and replies, failures,
//! `grpc-timeout` and `traceparent`, decoded and converted as the hosts do.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| weft_runtime::fuzzing::host_wire(input));

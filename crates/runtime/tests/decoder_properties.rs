//! The runtime's decoders of network bytes (reminder times, the host-to-host wire) never panic,
//! on arbitrary bytes and on near-valid inputs, and read what a well-behaved peer writes as it
//! meant it. The same entry points (`weft_runtime::fuzzing`) run under libFuzzer in `fuzz/`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use weft_runtime::fuzzing::{self, proto_messages as proto};
use weft_runtime::reminder::Moment;
use weft_runtime::{ErrorKind, Reminder};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

/// Milliseconds since the Unix epoch, as registration counts them.
fn ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// `d` as Go's `time.Duration.String()` writes it: `72h3m0.5s`, `1.5µs`, `0s`.
fn go_string(d: Duration) -> String {
    fn fraction(n: u128, scale: u128, unit: &str) -> String {
        let (whole, rest) = (n / scale, n % scale);
        if rest == 0 {
            return format!("{whole}{unit}");
        }
        let width = usize::try_from(scale.ilog10()).unwrap();
        let digits = format!("{rest:0width$}");
        format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
    }
    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".to_owned(),
        1..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => fraction(nanos, 1_000, "µs"),
        1_000_000..1_000_000_000 => fraction(nanos, 1_000_000, "ms"),
        _ => {
            let secs = d.as_secs();
            let (h, m) = (secs / 3_600, secs / 60 % 60);
            let mut out = String::new();
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            let s = u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos());
            out + &fraction(s, 1_000_000_000, "s")
        }
    }
}

/// A duration of up to ~31,000 years, at nanosecond resolution.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..1_000_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..1_000_000).prop_map(Duration::from_nanos),
        (0u64..100_000).prop_map(Duration::from_secs),
    ]
}

/// Text that is almost a duration or a time: valid tokens, wrong tokens, huge numbers.
fn near_duration() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{10,40}",
        "[0-9]{0,4}\\.[0-9]{0,12}",
        "[.,]+"
    ];
    let go_unit = prop_oneof![
        Just("ns"),
        Just("us"),
        Just("µs"),
        Just("μs"),
        Just("ms"),
        Just("s"),
        Just("m"),
        Just("h"),
        Just("d"),
        Just(""),
        Just("é"),
    ];
    let iso_unit = prop_oneof![
        Just("W"),
        Just("D"),
        Just("T"),
        Just("H"),
        Just("M"),
        Just("S"),
        Just("Y"),
        Just("")
    ];
    let go = proptest::collection::vec((number.clone(), go_unit), 1..6)
        .prop_map(|parts| parts.into_iter().map(|(n, u)| n + u).collect::<String>());
    let iso = proptest::collection::vec((number, iso_unit), 0..6).prop_map(|parts| {
        "P".to_owned() + &parts.into_iter().map(|(n, u)| n + u).collect::<String>()
    });
    let prefix = prop_oneof![
        Just(""),
        Just("-"),
        Just("+"),
        Just(" "),
        Just("R"),
        Just("R3/"),
        Just("R0/"),
        Just("R99999999999/"),
    ];
    let rfc = "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{2}:[0-9]{2}|[+-]é:00|)";
    prop_oneof![
        (prefix.clone(), go).prop_map(|(p, s)| p.to_owned() + &s),
        (prefix, iso).prop_map(|(p, s)| p.to_owned() + &s),
        rfc.prop_map(|s| s),
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn reminder_times_never_panic_on_arbitrary_text(text in ".{0,64}") {
        let _ = fuzzing::due_time(&text);
        let _ = fuzzing::ttl(&text);
        let _ = fuzzing::period(&text);
    }

    #[test]
    fn reminder_times_never_panic_on_near_valid_text(text in near_duration()) {
        for moment in [fuzzing::due_time(&text), fuzzing::ttl(&text)].into_iter().flatten() {
            for now in [UNIX_EPOCH, SystemTime::now(), UNIX_EPOCH + Duration::from_secs(1 << 40)] {
                let _ = fuzzing::resolve_ms(moment, now);
            }
        }
        if let Ok((period, repetitions)) = fuzzing::period(&text) {
            prop_assert!(!period.is_zero(), "{text:?}: a zero period was accepted");
            prop_assert_ne!(repetitions, Some(0), "{:?}: R0 was accepted", text);
        }
    }

    /// Whatever the text, a delay is never resolved to a due time before the registration.
    #[test]
    fn a_delay_never_resolves_before_now(text in near_duration(), ago in 0u64..4_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(ago);
        if let Ok(Moment::After(d)) = fuzzing::due_time(&text) {
            match fuzzing::resolve_ms(Moment::After(d), now) {
                Some(due) => prop_assert!(due >= ms(now), "{text:?} is due before now"),
                None => prop_assert!(now.checked_add(d).is_none_or(ms_overflows)),
            }
        }
    }

    #[test]
    fn go_durations_read_back_as_go_writes_them(d in any_duration()) {
        let text = go_string(d);
        prop_assert_eq!(fuzzing::due_time(&text).ok(), Some(Moment::After(d)), "{}", text);
        prop_assert_eq!(fuzzing::ttl(&text).ok(), Some(Moment::After(d)), "{}", text);
        // A period reads back too, unless it is under the floor (which also refuses zero).
        let expected = (d >= weft_runtime::actor::MIN_PERIOD).then_some((d, None));
        prop_assert_eq!(fuzzing::period(&text).ok(), expected, "{}", text);
        let now = SystemTime::now();
        let due = fuzzing::resolve_ms(Moment::After(d), now).unwrap();
        prop_assert!(due >= ms(now));
        prop_assert_eq!(due, ms(now + d));
    }

    #[test]
    fn iso_durations_read_back(
        w in 0u64..1_000, d in 0u64..1_000, h in 0u64..100_000, m in 0u64..100_000,
        s in 0u64..100_000, milli in 0u32..1_000, reps in 0u32..100,
    ) {
        let mut text = format!("P{w}W{d}D");
        text.push_str(&format!("T{h}H{m}M{s}.{milli:03}S"));
        let expected = Duration::from_secs(w * 7 * 86_400 + d * 86_400 + h * 3_600 + m * 60 + s)
            + Duration::from_millis(u64::from(milli));
        prop_assert_eq!(fuzzing::due_time(&text).ok(), Some(Moment::After(expected)), "{}", text);
        let repeated = format!("R{reps}/{text}");
        match fuzzing::period(&repeated) {
            Ok(p) => prop_assert_eq!(p, (expected, Some(reps))),
            Err(e) => {
                prop_assert!(reps == 0 || expected.is_zero(), "{repeated:?}: {e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            }
        }
    }

    #[test]
    fn rfc3339_times_read_back(secs in 86_400u64..253_402_214_400, nanos in 0u32..1_000_000_000,
                               offset_minutes in -1_439i64..1_440) {
        let at = UNIX_EPOCH + Duration::new(secs, nanos);
        let utc = humantime::format_rfc3339_nanos(at).to_string();
        prop_assert_eq!(fuzzing::due_time(&utc).ok(), Some(Moment::At(at)), "{}", utc);
        // The same instant as local time at an offset: local = UTC + offset.
        let shift = Duration::from_secs(offset_minutes.unsigned_abs() * 60);
        let local = if offset_minutes >= 0 { at + shift } else { at - shift };
        let local = humantime::format_rfc3339_nanos(local).to_string();
        let sign = if offset_minutes >= 0 { '+' } else { '-' };
        let (oh, om) = (offset_minutes.abs() / 60, offset_minutes.abs() % 60);
        let text = format!("{}{sign}{oh:02}:{om:02}", local.trim_end_matches('Z'));
        prop_assert_eq!(fuzzing::ttl(&text).ok(), Some(Moment::At(at)), "{}", text);
    }

    #[test]
    fn reminder_strings_never_panic(input in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = fuzzing::reminder_strings(&input);
    }

    /// A reminder built from the three strings either is refused or resolves to a schedule
    /// that starts no earlier than its registration and ends after it starts.
    #[test]
    fn reminder_schedules_are_consistent(due in near_duration(), period in near_duration(),
                                         ttl in near_duration(), delay in any_duration()) {
        let now = SystemTime::now();
        let mut reminder = Reminder::new("r").due(delay);
        for (text, set) in [
            (&due, Reminder::try_due_time as fn(Reminder, &str) -> _),
            (&period, Reminder::try_period),
            (&ttl, Reminder::try_ttl),
        ] {
            match set(reminder.clone(), text) {
                Ok(r) => reminder = r,
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument),
            }
        }
        if let Ok((next_due, expires, period_ms)) = fuzzing::schedule(&reminder, now) {
            if let Some(expires) = expires {
                prop_assert!(expires > next_due);
            }
            prop_assert_ne!(period_ms, Some(0));
        }
    }
}

fn ms_overflows(t: SystemTime) -> bool {
    t.duration_since(UNIX_EPOCH)
        .is_ok_and(|d| u64::try_from(d.as_millis()).is_err())
}

// ---- the host-to-host wire ----

fn text_or_junk() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        3 => ".{0,16}".prop_map(|s: String| (s.into_bytes(), true)),
        1 => proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| { let ok = std::str::from_utf8(&b).is_ok(); (b, ok) }),
    ]
}

fn call_request() -> impl Strategy<Value = proto::CallRequest> {
    let key = (".{0,8}", ".{0,8}").prop_map(|(actor_type, actor_id)| proto::ActorKey {
        actor_type,
        actor_id,
    });
    let chain = proptest::option::of(
        (any::<u64>(), proptest::collection::vec(key, 0..8))
            .prop_map(|(id, path)| proto::CallChain { id, path }),
    );
    let codec = prop_oneof![Just(0), Just(1), any::<i32>()];
    let hops = prop_oneof![0u32..3, Just(u32::MAX), any::<u32>()];
    (
        (".{0,12}", ".{0,12}", ".{0,12}"),
        proptest::collection::vec(any::<u8>(), 0..32),
        codec,
        hops,
        any::<u64>(),
        chain,
        proptest::collection::hash_map(".{0,8}", ".{0,8}", 0..4),
    )
        .prop_map(
            |(
                (actor_type, actor_id, method),
                payload,
                codec,
                hop_count,
                table_version,
                chain,
                metadata,
            )| {
                proto::CallRequest {
                    actor_type,
                    actor_id,
                    method,
                    payload: payload.into(),
                    codec,
                    hop_count,
                    table_version,
                    chain,
                    metadata,
                }
            },
        )
}

/// A service request and whether every text field in it is UTF-8.
fn service_request() -> impl Strategy<Value = (proto::ServiceRequest, bool)> {
    let header = (text_or_junk(), text_or_junk());
    (
        proptest::collection::vec(text_or_junk(), 7),
        proptest::collection::vec(header, 0..4),
        proptest::collection::vec(any::<u8>(), 0..32),
        any::<u64>(),
    )
        .prop_map(|(fields, headers, body, timeout_micros)| {
            let mut utf8 = fields[2..].iter().all(|(_, ok)| *ok);
            let headers = headers
                .into_iter()
                .map(|((name, a), (value, b))| {
                    utf8 &= a && b;
                    proto::Header {
                        name: name.into(),
                        value: value.into(),
                    }
                })
                .collect();
            let f = |i: usize| Bytes::from(fields[i].0.clone());
            let request = proto::ServiceRequest {
                app_id: f(0),
                namespace: f(1),
                method: f(2),
                verb: f(3),
                query: f(4),
                headers,
                body: body.into(),
                caller_app_id: f(5),
                traceparent: f(6),
                timeout_micros,
            };
            (request, utf8)
        })
}

fn failure() -> impl Strategy<Value = proto::Failure> {
    (
        prop_oneof![0u32..18, any::<u32>()],
        ".{0,16}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        any::<u64>(),
        prop_oneof![100u32..600, any::<u32>()],
    )
        .prop_map(
            |(kind, message, app_error, table_version, status)| proto::Failure {
                kind,
                message,
                app_error: app_error.map(Bytes::from),
                table_version,
                status,
            },
        )
}

/// `bytes` with one byte changed and cut at `cut` (both as fractions of its length).
fn mutate(mut bytes: Vec<u8>, at: usize, value: u8, cut: usize) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] = value;
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn host_wire_never_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..128)) {
        fuzzing::host_wire(&input);
    }

    #[test]
    fn call_requests_convert_as_sent(call in call_request()) {
        let bytes = call.encode_to_vec();
        match fuzzing::call_request(b"", &bytes) {
            Ok(hops) => {
                prop_assert!(call.codec == 0 || call.codec == 1);
                prop_assert_eq!(hops, call.hop_count.saturating_add(1));
            }
            Err(e) => {
                prop_assert!(call.codec != 0 && call.codec != 1);
                prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            }
        }
    }

    #[test]
    fn damaged_call_requests_never_panic(call in call_request(), at in any::<usize>(),
                                         value in any::<u8>(), cut in any::<usize>(),
                                         timeout in proptest::collection::vec(any::<u8>(), 0..10)) {
        let bytes = mutate(call.encode_to_vec(), at, value, cut);
        let _ = fuzzing::call_request(&timeout, &bytes);
        fuzzing::host_wire(&bytes);
    }

    #[test]
    fn service_requests_are_refused_exactly_when_a_text_field_is_not_utf8(
        (request, utf8) in service_request(), at in any::<usize>(),
    ) {
        let bytes = request.encode_to_vec();
        match fuzzing::service_request(&bytes) {
            Ok(timeout) => {
                prop_assert!(utf8);
                let expected = (request.timeout_micros != 0)
                    .then(|| Duration::from_micros(request.timeout_micros));
                prop_assert_eq!(timeout, expected);
            }
            Err(e) => {
                prop_assert!(!utf8, "{e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            }
        }
        let mutated = mutate(bytes, at, 0xff, usize::MAX);
        let _ = fuzzing::service_request(&mutated);
    }

    /// A known error code keeps its kind across the wire and back; an unknown one is Internal.
    #[test]
    fn failure_codes_survive_the_wire(f in failure()) {
        let bytes = f.encode_to_vec();
        let (_, back) = fuzzing::failure(&bytes).unwrap();
        if (1..=16).contains(&f.kind) {
            prop_assert_eq!(back, f.kind);
        } else {
            prop_assert_eq!(back, 12, "unknown code {} is not Internal", f.kind);
        }
        let reply = proto::CallReply { result: Some(proto::call_reply::Result::Failure(f.clone())) };
        prop_assert!(fuzzing::call_reply(&reply.encode_to_vec()).is_err());
        let reply = proto::ServiceReply { result: Some(proto::service_reply::Result::Failure(f)) };
        prop_assert!(fuzzing::service_reply(&reply.encode_to_vec()).is_err());
    }

    #[test]
    fn service_replies_decode_as_sent(status in any::<u32>(),
                                      headers in proptest::collection::vec((text_or_junk(), text_or_junk()), 0..4),
                                      body in proptest::collection::vec(any::<u8>(), 0..16)) {
        let utf8 = headers.iter().all(|((_, a), (_, b))| *a && *b);
        let response = proto::ServiceResponse {
            status,
            headers: headers
                .into_iter()
                .map(|((name, _), (value, _))| proto::Header { name: name.into(), value: value.into() })
                .collect(),
            body: body.into(),
        };
        let reply = proto::ServiceReply { result: Some(proto::service_reply::Result::Response(response)) };
        match fuzzing::service_reply(&reply.encode_to_vec()) {
            Ok(got) => {
                prop_assert!(utf8);
                prop_assert_eq!(got, u16::try_from(status).unwrap_or(500));
            }
            Err(_) => prop_assert!(!utf8),
        }
    }

    #[test]
    fn grpc_timeouts_read_back(n in 0u64..100_000_000, unit in prop_oneof![
        Just(("H", 3_600_000_000_000u128)), Just(("M", 60_000_000_000)), Just(("S", 1_000_000_000)),
        Just(("m", 1_000_000)), Just(("u", 1_000)), Just(("n", 1)),
    ]) {
        let value = format!("{n}{}", unit.0);
        let nanos = u128::from(n) * unit.1;
        let expected = Duration::new(
            u64::try_from(nanos / 1_000_000_000).unwrap(),
            u32::try_from(nanos % 1_000_000_000).unwrap(),
        );
        prop_assert_eq!(fuzzing::grpc_timeout(value.as_bytes()), Some(expected));
    }

    #[test]
    fn grpc_timeouts_never_panic(value in proptest::collection::vec(any::<u8>(), 0..12)) {
        let _ = fuzzing::grpc_timeout(&value);
    }

    #[test]
    fn traceparents_read_back(trace in "[0-9a-f]{32}", parent in "[0-9a-f]{16}", flags in "[0-9a-f]{2}") {
        let header = format!("00-{trace}-{parent}-{flags}");
        let zero = trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0');
        prop_assert_eq!(fuzzing::traceparent(&header), (!zero).then(|| header.clone()));
    }

    #[test]
    fn traceparents_never_panic(value in "[0-9a-fA-F \t-]{0,64}|.{0,64}") {
        let _ = fuzzing::traceparent(&value);
    }
}

#[test]
fn go_string_matches_go() {
    // Values from Go's time.Duration.String() documentation and tests.
    for (d, s) in [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1), "1ns"),
        (Duration::from_nanos(1_100), "1.1µs"),
        (Duration::from_micros(2_200), "2.2ms"),
        (Duration::from_millis(3_300), "3.3s"),
        (Duration::from_secs(4 * 60 + 5), "4m5s"),
        (Duration::from_millis(4 * 60_000 + 5_001), "4m5.001s"),
        (
            Duration::from_millis(5 * 3_600_000 + 6 * 60_000 + 7_001),
            "5h6m7.001s",
        ),
        (Duration::from_secs(3_600), "1h0m0s"),
    ] {
        assert_eq!(go_string(d), s);
    }
}

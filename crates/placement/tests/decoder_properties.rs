//! Placement's decoder of a host's stream messages never panics, on arbitrary bytes and on
//! damaged encodings, and accepts a `Register` exactly when the protocol's rules do. The same
//! entry point (`weft_placement::fuzzing::register`) runs under libFuzzer in `fuzz/`.

use proptest::prelude::*;
use prost::Message;
use weft_placement::fuzzing;
use weft_placement::proto::host_message::Body;
use weft_placement::proto::{Ack, Heartbeat, HostMessage, Leave, Register};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

/// A host id around the 256-byte limit, or short, or empty.
fn host_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9-]{1,16}",
        "[a-z]{250,260}",
        "é{126,130}",
        ".{0,8}",
    ]
}

fn register() -> impl Strategy<Value = Register> {
    (
        host_id(),
        ".{0,8}",
        prop_oneof![Just(String::new()), ".{0,8}"],
        prop_oneof![Just(String::new()), "[a-z0-9.]{1,12}:[0-9]{1,5}", ".{0,8}"],
        proptest::collection::vec(
            prop_oneof![Just(String::new()), "[a-c]{1,2}", ".{0,6}"],
            0..6,
        ),
    )
        .prop_map(
            |(host_id, app_id, namespace, address, actor_types)| Register {
                host_id,
                app_id,
                namespace,
                address,
                actor_types,
            },
        )
}

fn encode(body: Body) -> Vec<u8> {
    HostMessage { body: Some(body) }.encode_to_vec()
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = fuzzing::register(&bytes);
    }

    #[test]
    fn a_register_is_accepted_exactly_when_it_follows_the_rules(r in register()) {
        let valid = !r.host_id.is_empty()
            && r.host_id.len() <= 256
            && !r.address.is_empty()
            && r.actor_types.iter().all(|t| !t.is_empty());
        match fuzzing::register(&encode(Body::Register(r.clone()))) {
            Ok(Some((entry, namespace, types))) => {
                prop_assert!(valid, "{r:?} was accepted");
                prop_assert_eq!(&entry.host_id, &r.host_id);
                prop_assert_eq!(&entry.address, &r.address);
                prop_assert_eq!(&entry.app_id, &r.app_id);
                let expected_ns = if r.namespace.is_empty() { "default" } else { r.namespace.as_str() };
                prop_assert_eq!(namespace.as_str(), expected_ns);
                let mut expected: Vec<String> = r.actor_types.clone();
                expected.sort();
                expected.dedup();
                prop_assert_eq!(types, expected);
            }
            Ok(None) => prop_assert!(false, "a Register decoded as another message"),
            Err(reason) => {
                prop_assert!(!valid, "{r:?} was refused: {reason}");
                prop_assert!(reason.starts_with("register."), "{reason}");
            }
        }
    }

    #[test]
    fn damaged_registers_never_panic(r in register(), at in any::<usize>(), value in any::<u8>(),
                                     cut in any::<usize>()) {
        let mut bytes = encode(Body::Register(r));
        let i = at % bytes.len();
        bytes[i] = value;
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = fuzzing::register(&bytes);
    }

    #[test]
    fn other_messages_pass_and_unknown_ack_phases_are_refused(round in any::<u64>(), phase in any::<i32>(),
                                                             seq in any::<u64>()) {
        let ack = fuzzing::register(&encode(Body::Ack(Ack { round, phase })));
        prop_assert_eq!(ack.is_ok(), (1..=3).contains(&phase));
        prop_assert_eq!(fuzzing::register(&encode(Body::Heartbeat(Heartbeat { seq }))), Ok(None));
        prop_assert_eq!(fuzzing::register(&encode(Body::Leave(Leave {}))), Ok(None));
    }
}

#[test]
fn a_message_without_a_body_is_refused() {
    assert!(fuzzing::register(&[]).is_err());
}

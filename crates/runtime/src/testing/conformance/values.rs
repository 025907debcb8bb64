//! Checks of plain reads and writes: absent keys, values as written, bulk reads, flush.

use bytes::Bytes;

use super::support::{bulk_get, bytes, get, set, transact, value_and_etag, Keys};
use crate::state::{Condition, Operation, StateStore, Versioned};

/// Reading a key that was never written gives `None`, not an error.
pub async fn absent_key_reads_none(store: &dyn StateStore) {
    let keys = Keys::new("absent_key_reads_none");
    assert_eq!(get(store, &keys.key("never-written")).await, None);
}

/// A write's returned ETag and value are what the next read sees.
pub async fn set_then_get_returns_value_and_etag(store: &dyn StateStore) {
    let keys = Keys::new("set_then_get");
    let a = keys.key("a");
    let etag = set(store, &a, bytes(b"hello"), Condition::Absent).await;
    assert_eq!(
        get(store, &a).await,
        Some(Versioned {
            value: bytes(b"hello"),
            etag
        })
    );

    let b = keys.key("b");
    let etag_b = set(store, &b, bytes(b"unconditional"), Condition::Any).await;
    assert_eq!(
        value_and_etag(store, &b).await,
        Some((bytes(b"unconditional"), etag_b))
    );
    // The other key is untouched.
    assert_eq!(get(store, &a).await.map(|v| v.etag), Some(etag));
}

/// `bulk_get` answers one entry per requested key, in request order, `None` for absent keys.
pub async fn bulk_get_keeps_order_and_reports_absent_keys(store: &dyn StateStore) {
    let keys = Keys::new("bulk_get");
    let (a, b, missing) = (keys.key("a"), keys.key("b"), keys.key("missing"));
    let etag_a = set(store, &a, bytes(b"A"), Condition::Any).await;
    let etag_b = set(store, &b, bytes(b"B"), Condition::Any).await;

    let got = bulk_get(store, &[b.clone(), missing.clone(), a.clone(), b.clone()]).await;
    let va = Versioned {
        value: bytes(b"A"),
        etag: etag_a,
    };
    let vb = Versioned {
        value: bytes(b"B"),
        etag: etag_b,
    };
    assert_eq!(got, vec![Some(vb.clone()), None, Some(va), Some(vb)]);

    assert!(bulk_get(store, &[]).await.is_empty());
}

/// Values are opaque bytes: empty values, non-UTF-8 bytes and values around the size of an
/// 8-byte header come back exactly as written.
pub async fn empty_and_binary_values_round_trip(store: &dyn StateStore) {
    let keys = Keys::new("binary_values");
    let all_bytes: Vec<u8> = (0..=u8::MAX).collect();
    let big: Vec<u8> = (0..64 * 1024_u32)
        .map(|i| i.to_le_bytes()[0] ^ 0xa5)
        .collect();
    let values = [
        Bytes::new(),
        bytes(&[0]),
        bytes(&[0xff]),
        bytes(&[0xc3, 0x28, 0xa0, 0xa1]), // invalid UTF-8
        bytes(&[0, 0, 0, 0, 0, 0, 0]),
        bytes(&[0, 0, 0, 0, 0, 0, 0, 0]),
        bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Bytes::from(all_bytes),
        Bytes::from(big),
    ];

    for (i, value) in values.iter().enumerate() {
        let key = keys.key(&format!("set-{i}"));
        let etag = set(store, &key, value.clone(), Condition::Absent).await;
        let got = get(store, &key).await;
        assert_eq!(
            got.as_ref().map(|v| &v.value),
            Some(value),
            "value {i} via set"
        );
        assert_eq!(got.map(|v| v.etag), Some(etag));
    }

    let ops = values
        .iter()
        .enumerate()
        .map(|(i, value)| Operation::Set {
            key: keys.key(&format!("transact-{i}")),
            value: value.clone(),
            condition: Condition::Absent,
        })
        .collect::<Vec<_>>();
    let tx_keys = ops.iter().map(|op| op.key().clone()).collect::<Vec<_>>();
    let etags = transact(store, ops).await;
    let got = bulk_get(store, &tx_keys).await;
    for (i, value) in values.iter().enumerate() {
        assert_eq!(
            got[i].as_ref().map(|v| &v.value),
            Some(value),
            "value {i} via transact"
        );
        assert_eq!(got[i].as_ref().map(|v| v.etag), etags[i]);
    }
}

/// `flush` succeeds after writes.
pub async fn flush_succeeds(store: &dyn StateStore) {
    let keys = Keys::new("flush");
    set(store, &keys.key("a"), bytes(b"a"), Condition::Any).await;
    if let Err(e) = store.flush().await {
        panic!("{store:?}: flush failed: {e}");
    }
}

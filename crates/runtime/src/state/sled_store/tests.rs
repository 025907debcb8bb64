use super::*;

fn key(name: &str) -> StateKey {
    StateKey::actor("app", "type", "id", name)
}

#[tokio::test]
async fn value_and_etag_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let (a, b) = (key("a"), key("b"));

    let store = SledStore::open(&path).unwrap();
    let etag_a = store
        .set(&a, Bytes::from_static(b"kept"), Condition::Absent)
        .await
        .unwrap();
    let etag_b = store
        .set(&b, Bytes::from_static(b"gone"), Condition::Absent)
        .await
        .unwrap();
    store.delete(&b, Condition::Matches(etag_b)).await.unwrap();
    drop(store);

    let store = SledStore::open(&path).unwrap();
    let read = store.get(&a).await.unwrap();
    assert_eq!(
        read,
        Some(Versioned {
            value: Bytes::from_static(b"kept"),
            etag: etag_a
        })
    );
    assert_eq!(store.get(&b).await.unwrap(), None);

    // ETags handed out before the restart are not handed out again.
    let recreated = store
        .set(&b, Bytes::from_static(b"new"), Condition::Absent)
        .await
        .unwrap();
    assert!(
        recreated > etag_b,
        "etag {recreated} after restart, {etag_b} before"
    );
    let next_a = store
        .set(&a, Bytes::from_static(b"v2"), Condition::Matches(etag_a))
        .await
        .unwrap();
    assert!(next_a > etag_a);
}

#[tokio::test]
async fn undecodable_bytes_are_a_corrupt_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path().join("state")).unwrap();
    let (short, zero) = (key("short"), key("zero-etag"));
    store
        .db()
        .insert(short.as_bytes(), &[1_u8, 2, 3][..])
        .unwrap();
    store.db().insert(zero.as_bytes(), &[0_u8; 8][..]).unwrap();

    for k in [&short, &zero] {
        let err = store.get(k).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert_eq!(err.key(), Some(k));

        let err = store
            .bulk_get(&[key("absent"), k.clone()])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert_eq!(err.key(), Some(k));

        // A condition cannot be checked against bytes without an ETag.
        for condition in [Condition::Absent, Condition::Matches(ETag::new(1))] {
            let err = store.set(k, Bytes::new(), condition).await.unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
            assert_eq!(err.key(), Some(k));
        }
        let err = store
            .transact(vec![Operation::Delete {
                key: k.clone(),
                condition: Condition::Absent,
            }])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    }

    // An unconditional write replaces the corrupt bytes; an unconditional delete removes them.
    let etag = store
        .set(&short, Bytes::from_static(b"fixed"), Condition::Any)
        .await
        .unwrap();
    assert_eq!(store.get(&short).await.unwrap().map(|v| v.etag), Some(etag));
    store.delete(&zero, Condition::Any).await.unwrap();
    assert_eq!(store.get(&zero).await.unwrap(), None);
}

#[tokio::test]
async fn from_db_uses_the_default_tree_and_debug_hides_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("state")).unwrap();
    let store = SledStore::from_db(db);
    let etag = store
        .set(
            &key("secret"),
            Bytes::from_static(b"hunter2"),
            Condition::Any,
        )
        .await
        .unwrap();

    let raw = store.db().get(key("secret").as_bytes()).unwrap().unwrap();
    assert_eq!(&raw[..ETAG_LEN], &etag.as_u64().to_be_bytes());
    assert_eq!(&raw[ETAG_LEN..], b"hunter2");
    assert!(!format!("{store:?}").contains("hunter2"));
}

#[test]
fn sled_corruption_is_permanent_and_its_io_errors_are_transient() {
    let corrupt = backend("get", None, sled::Error::Corruption { at: None, bt: () });
    assert_eq!(corrupt.kind(), StoreErrorKind::Corrupt, "{corrupt}");
    assert!(!corrupt.is_transient());
    let io = backend(
        "get",
        None,
        sled::Error::Io(std::io::Error::other("disk unplugged")),
    );
    assert_eq!(io.kind(), StoreErrorKind::Backend, "{io}");
    assert!(io.is_transient());
}

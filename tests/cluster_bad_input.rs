//! Garbage sent to a host's invoke port gets an error, never a panic: the host keeps serving.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{Counter, TestHost, TestPlacement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::testing::RawClient;
use weft::{ErrorKind, MemoryStore, StateStore};

/// Panics of this process, on any thread or runtime (tokio catches a task's panic, so the
/// task's owner may never see it; the panic hook runs all the same). This file holds one test,
/// so every panic counted is this test's.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in [`PANICS`], then runs the hook that was installed before.
fn count_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
}

/// What the host must do with a garbage connection within [`ANSWER_WITHIN`].
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Close it (EOF or reset), whatever it sends first.
    Close,
    /// Send something, or close it.
    Answer,
}

/// How long the host has to answer or close a garbage connection.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_invoke_port_and_bad_calls_do_not_hurt_the_host() {
    count_panics();
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let host = TestHost::start("host-a", &placement.url, Arc::clone(&store), |b| {
        b.actor::<Counter>().method("ping", |_r| async {
            Ok::<_, weft::Error>(weft::ServiceResponse::ok("pong"))
        })
    })
    .await;
    host.ready().await;
    let address = host.handle.address().unwrap().to_owned();

    // Not HTTP/2 at all, then HTTP/2 prefaces followed by bad frames. The write side stays
    // open: the host must act on what it got, not on our EOF.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let cases: [(&str, Vec<u8>, Expect); 4] = [
        (
            "HTTP/1.1",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Expect::Close,
        ),
        (
            "binary junk",
            b"\x00\x01\x02\x03\xff\xfe\xfd".to_vec(),
            Expect::Close,
        ),
        (
            // A payload of 5 bytes: SETTINGS come in 6-byte entries (FRAME_SIZE_ERROR).
            "a malformed SETTINGS frame",
            [
                &preface[..],
                b"\x00\x00\x05\x04\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05",
            ]
            .concat(),
            Expect::Close,
        ),
        (
            // An unknown frame type, which HTTP/2 says to ignore: the host may keep the
            // connection, but it answers (its SETTINGS).
            "an unknown frame type",
            [
                &preface[..],
                b"\x00\x00\x04\x99\xff\xff\xff\xff\xff\x01\x02\x03\x04",
            ]
            .concat(),
            Expect::Answer,
        ),
    ];
    for (what, garbage, expect) in cases {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(&garbage).await.unwrap();
        let mut answer = Vec::new();
        // A reset (`Err`) counts as closed.
        let done = match expect {
            Expect::Close => tokio::time::timeout(ANSWER_WITHIN, stream.read_to_end(&mut answer))
                .await
                .map(drop),
            Expect::Answer => tokio::time::timeout(ANSWER_WITHIN, stream.read_buf(&mut answer))
                .await
                .map(drop),
        };
        assert!(
            done.is_ok(),
            "{what}: the host did not {expect:?} the connection within {ANSWER_WITHIN:?} \
             (it sent {answer:?})"
        );
    }

    // The invoke port still serves a well-formed call, on a new connection.
    let pong = tokio::time::timeout(
        ANSWER_WITHIN,
        RawClient::plain().call(&address, "shop", "default", "ping", "test", &[]),
    )
    .await
    .expect("a normal call after the garbage is answered in time")
    .expect("a normal call after the garbage succeeds");
    assert_eq!(&pong.body()[..], b"pong");

    // Bad calls through the real path: unknown type, bad id.
    let err = host
        .handle
        .call("NoSuchType", "x", "get", bytes::Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = host
        .handle
        .call("Counter", "", "get", bytes::Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = host
        .handle
        .call(
            "Counter",
            "c",
            "incr",
            bytes::Bytes::from_static(b"\xff\xff\xff"),
        )
        .await;
    // `incr` takes no arguments: trailing garbage is tolerated or refused, never a panic.
    if let Err(e) = err {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }

    // Still serving.
    assert_eq!(
        host.handle.actor::<Counter>("alive").incr().await.unwrap(),
        1
    );
    host.stop().await;
    placement.stop().await;
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a task panicked (see above)"
    );
}

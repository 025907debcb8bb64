//! Garbage sent to a host's invoke port gets an error, never a panic: the host keeps serving.

mod support;

use std::sync::Arc;

use support::{Counter, TestHost, TestPlacement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::{ErrorKind, MemoryStore, StateStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_invoke_port_and_bad_calls_do_not_hurt_the_host() {
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let host = TestHost::start("host-a", &placement.url, Arc::clone(&store), |b| {
        b.actor::<Counter>()
    })
    .await;
    host.ready().await;
    let address = host.handle.address().unwrap().to_owned();

    // Not HTTP/2 at all, then an HTTP/2 preface followed by nonsense frames.
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"\x00\x01\x02\x03\xff\xfe\xfd"[..],
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x99\xff\xff\xff\xff\xff\x01\x02\x03\x04"[..],
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut sink = Vec::new();
        // The host answers or closes; either way it must not hang us forever.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut sink),
        )
        .await;
    }

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
}

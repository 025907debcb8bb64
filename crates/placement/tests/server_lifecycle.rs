//! Starting and stopping: bound addresses, config and bind errors, freed ports.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{FakeHost, Seen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;
use weft_placement::{ErrorKind, PlacementConfig, PlacementServer};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn an_invalid_config_is_refused_before_binding() {
    let config = PlacementConfig::default().replication_factor(0);
    let err = weft_placement::start(config, any(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("replication_factor"), "{err}");
}

#[tokio::test]
async fn a_busy_port_is_a_bind_error() {
    let first = support::start(PlacementConfig::default()).await;
    let err = weft_placement::start(PlacementConfig::default(), first.grpc_addr(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bind);
    assert!(
        err.to_string().contains(&first.grpc_addr().to_string()),
        "{err}"
    );
    first.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_frees_both_ports() {
    let first = support::start(PlacementConfig::default()).await;
    let (grpc, http) = (first.grpc_addr(), first.http_addr().unwrap());
    assert_ne!(grpc.port(), 0);
    assert_eq!(first.grpc_uri(), format!("http://{grpc}"));
    timeout(support::WAIT, first.shutdown())
        .await
        .unwrap()
        .unwrap();
    let second = weft_placement::start(PlacementConfig::default(), grpc, Some(http))
        .await
        .unwrap();
    assert_eq!(second.grpc_addr(), grpc);
    assert_eq!(second.http_addr(), Some(http));
    second.shutdown().await.unwrap();
}

/// A free loopback address: bound, read and released. `serve_with_shutdown` binds its own
/// listeners and does not say where, so the test chooses the ports.
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind(any())
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET /healthz` over plain HTTP/1.1, within [`support::WAIT`]: the status line.
async fn healthz(addr: SocketAddr) -> String {
    let exchange = async {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = timeout(support::WAIT, exchange).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn serve_with_shutdown_serves_until_signalled_then_stops() {
    let (grpc, http) = (free_addr(), free_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(
        PlacementServer::builder()
            .config(PlacementConfig::default().startup_grace(Duration::ZERO))
            .grpc_addr(grpc)
            .http_addr(http)
            .serve_with_shutdown(async {
                let _ = stopped.await;
            }),
    );

    // Serving before the signal: a host registers and gets its snapshot (the fake host retries
    // its connection until the server listens), and `/healthz` answers.
    let mut host = FakeHost::connect(
        &format!("http://{grpc}"),
        support::register("h1", "default", &["t"]),
    )
    .await;
    host.snapshot().await;
    assert_eq!(healthz(http).await, "HTTP/1.1 200 OK");
    assert!(
        !serving.is_finished(),
        "serve_with_shutdown returned before its signal"
    );

    stop.send(())
        .expect("serve_with_shutdown still waits for its signal");
    timeout(support::WAIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Stopped: neither port takes connections any more, and the host's stream ended (after
    // the orders of a round that may have been in flight).
    assert!(
        TcpStream::connect(grpc).await.is_err(),
        "gRPC still accepts connections after shutdown"
    );
    assert!(
        TcpStream::connect(http).await.is_err(),
        "HTTP still accepts connections after shutdown"
    );
    loop {
        match host.next().await {
            Seen::Order(_) => continue,
            Seen::Ended(_) => break,
            other => panic!("expected the stream to end, saw {other:?}"),
        }
    }
}

//! The limits of `weft_http::serve` against real sockets on loopback: idle sockets, half-sent
//! headers, a full server, and requests that take their time.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weft_http::Limits;

async fn start(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(weft_http::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// A GET over a new connection: the status line's code, or `None` if the connection closed
/// (or nothing came) first.
async fn get_status(addr: SocketAddr, path: &str, limit: Duration) -> Option<u16> {
    let attempt = async {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        socket.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response);
        text.split(' ').nth(1)?.parse().ok()
    };
    tokio::time::timeout(limit, attempt).await.ok().flatten()
}

/// Whether the server closes `socket` within `limit` (reads until EOF or a reset).
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_thousands_of_idle_and_partial_connections_are_open() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections: 256,
    };
    let (addr, _stop) = start(limits).await;
    let mut held = Vec::new();
    for i in 0..3000 {
        let Ok(mut socket) = TcpStream::connect(addr).await else {
            continue;
        };
        if i % 2 == 0 {
            // Half a request head, never finished.
            let _ = socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                .await;
        }
        held.push(socket);
    }
    assert!(held.len() >= 2900, "opened {} connections", held.len());
    for _ in 0..5 {
        let status = get_status(addr, "/healthz", Duration::from_secs(5)).await;
        assert_eq!(
            status,
            Some(200),
            "healthz with 3000 idle and partial sockets held open"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_is_closed_after_the_header_read_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        max_connections: 16,
    };
    let (addr, _stop) = start(limits).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    // One byte at a time, slower than the timeout allows for the whole head.
    for b in b"GET /healthz HTTP/1.1\r\nHo" {
        if socket.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_millis(400) {
            break;
        }
    }
    assert!(closed_within(&mut socket, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_but_a_slow_request_is_answered() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        max_connections: 16,
    };
    let (addr, _stop) = start(limits).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    // The handler takes 1.5 s, five times the idle timeout, with no byte on the wire.
    let status = get_status(addr, "/slow", Duration::from_secs(10)).await;
    assert_eq!(status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_with_every_connection_busy_a_new_connection_is_closed() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_connections: 2,
    };
    let (addr, _stop) = start(limits).await;
    let busy: Vec<_> = (0..2)
        .map(|_| tokio::spawn(get_status(addr, "/slow", Duration::from_secs(10))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get_status(addr, "/healthz", Duration::from_secs(3)).await,
        None,
        "a third connection is closed while both slots serve requests"
    );
    for b in busy {
        assert_eq!(
            b.await.unwrap(),
            Some(200),
            "requests in flight are not evicted"
        );
    }
    assert_eq!(
        get_status(addr, "/healthz", Duration::from_secs(3)).await,
        Some(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_until_shutdown_and_then_stops() {
    let (addr, stop) = start(Limits::default()).await;
    assert_eq!(
        get_status(addr, "/healthz", Duration::from_secs(3)).await,
        Some(200)
    );
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(addr).await.is_err() || {
            get_status(addr, "/healthz", Duration::from_secs(1))
                .await
                .is_none()
        }
    );
}

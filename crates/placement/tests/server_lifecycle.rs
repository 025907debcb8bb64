//! Starting and stopping: bound addresses, config and bind errors, freed ports.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::timeout;
use weft_placement::{ErrorKind, PlacementConfig, PlacementServer};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn an_invalid_config_is_refused_before_binding() {
    let config = PlacementConfig {
        replication_factor: 0,
        ..PlacementConfig::default()
    };
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

#[tokio::test]
async fn serve_with_shutdown_returns_once_signalled() {
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(
        PlacementServer::builder()
            .grpc_addr(any())
            .http_addr(any())
            .serve_with_shutdown(async {
                let _ = stopped.await;
            }),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    timeout(support::WAIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

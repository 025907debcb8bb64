//! `GET /placement/state` and `GET /healthz`.

mod support;

use std::net::SocketAddr;

use serde_json::{json, Value};
use support::{register, start, FakeHost, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use weft_placement::{PlacementConfig, PlacementState};

/// A plain HTTP/1.1 GET; returns the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = timeout(WAIT, exchange).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn healthz_answers_ok() {
    let placement = start(PlacementConfig::default()).await;
    let (status, _) = get(placement.http_addr().unwrap(), "/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = get(placement.http_addr().unwrap(), "/nope").await;
    assert_eq!(status, 404);
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn placement_state_lists_hosts_and_tables_in_dapr_shape() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();
    let (status, body) = get(placement.http_addr().unwrap(), "/placement/state").await;
    assert_eq!(status, 200);
    let empty: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        empty,
        json!({"hostList": [], "tableVersion": 0, "tables": []})
    );

    let mut b = FakeHost::connect(&uri, register("b", "", &["Cart", "Order"])).await;
    b.snapshot().await;
    b.round().await;
    let mut a = FakeHost::connect(&uri, register("a", "shop", &["Cart"])).await;
    a.snapshot().await;
    a.round().await;
    let state = timeout(WAIT, placement.wait_for_state(|s| s.tables.len() == 3))
        .await
        .unwrap();

    let (status, body) = get(placement.http_addr().unwrap(), "/placement/state").await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    // Sorted by namespace, then id.
    let host = &json["hostList"][0];
    assert_eq!(host["name"], "b.test:7000");
    assert_eq!(host["id"], "b");
    assert_eq!(host["appId"], "app-b");
    assert_eq!(host["namespace"], "default");
    assert_eq!(host["actorTypes"], json!(["Cart", "Order"]));
    assert!(host["updatedAt"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(json["hostList"][1]["namespace"], "shop");
    assert_eq!(json["hostList"][1]["id"], "a");
    let table = &json["tables"][0];
    assert_eq!(table["namespace"], "default");
    assert_eq!(table["actorType"], "Cart");
    assert_eq!(table["hosts"], json!(["b"]));
    let max = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["version"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(json["tableVersion"].as_u64().unwrap(), max);

    let parsed: PlacementState = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, state);
    placement.shutdown().await.unwrap();
}

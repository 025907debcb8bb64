//! Bad input is rejected or ignored, never fatal: placement keeps serving everyone else.

mod support;

use std::time::Duration;

use support::{client, message, register, start, FakeHost, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use weft_placement::proto::host_message::Body as HostBody;
use weft_placement::proto::placement_message::Body;
use weft_placement::proto::{Ack, Heartbeat, HostMessage, Phase, PlacementMessage};
use weft_placement::{PlacementConfig, RunningPlacement};

/// Opens a stream, sends `first`, and returns the response stream and the sender.
async fn open(
    placement: &RunningPlacement,
    first: HostMessage,
) -> (Streaming<PlacementMessage>, mpsc::Sender<HostMessage>) {
    let mut client = client(&placement.grpc_uri()).await;
    let (tx, rx) = mpsc::channel(8);
    tx.send(first).await.unwrap();
    let response = client.connect(ReceiverStream::new(rx)).await.unwrap();
    (response.into_inner(), tx)
}

/// The next message that is not a member list (the service registry, sent on every
/// membership change) nor a lease (the answer to every heartbeat): not what these tests look at.
async fn next_message(
    inbound: &mut Streaming<PlacementMessage>,
) -> Result<Option<PlacementMessage>, tonic::Status> {
    loop {
        let m = inbound.message().await;
        if let Ok(Some(PlacementMessage {
            body: Some(Body::Members(_) | Body::Lease(_)),
        })) = m
        {
            continue;
        }
        return m;
    }
}

/// Expects a `Rejected` whose reason contains `why`, then the stream ending with
/// `INVALID_ARGUMENT`.
async fn expect_rejected(inbound: &mut Streaming<PlacementMessage>, why: &str) {
    let mut next = timeout(WAIT, next_message(inbound)).await.unwrap();
    if let Ok(Some(PlacementMessage {
        body: Some(Body::Snapshot(_)),
    })) = next
    {
        next = timeout(WAIT, next_message(inbound)).await.unwrap();
    }
    match next {
        Ok(Some(PlacementMessage {
            body: Some(Body::Rejected(rejected)),
        })) => assert!(rejected.reason.contains(why), "reason: {}", rejected.reason),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let end = timeout(WAIT, next_message(inbound)).await.unwrap();
    let status = end.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains(why), "status: {status:?}");
}

/// Placement still accepts and serves a well-behaved host.
async fn still_serving(placement: &RunningPlacement, host_id: &str) {
    let mut host = FakeHost::connect(&placement.grpc_uri(), register(host_id, "", &["Cart"])).await;
    host.snapshot().await;
    host.round().await;
}

#[tokio::test]
async fn a_first_message_other_than_register_is_rejected() {
    let placement = start(PlacementConfig::default()).await;
    let (mut inbound, _tx) = open(
        &placement,
        message(HostBody::Heartbeat(Heartbeat::default())),
    )
    .await;
    expect_rejected(
        &mut inbound,
        "first message must be Register, got Heartbeat",
    )
    .await;

    let ack = Ack {
        round: 1,
        phase: Phase::Lock.into(),
    };
    let (mut inbound, _tx) = open(&placement, message(HostBody::Ack(ack))).await;
    expect_rejected(&mut inbound, "got Ack").await;

    let (mut inbound, _tx) = open(&placement, HostMessage { body: None }).await;
    expect_rejected(&mut inbound, "without a known body").await;
    still_serving(&placement, "good").await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stream_that_never_registers_is_rejected_after_the_faulty_host_timeout() {
    let config = PlacementConfig::default().faulty_host_timeout(Duration::from_millis(200));
    let placement = start(config).await;
    let mut client = client(&placement.grpc_uri()).await;
    let (_tx, rx) = mpsc::channel::<HostMessage>(1);
    let response = client.connect(ReceiverStream::new(rx)).await.unwrap();
    expect_rejected(&mut response.into_inner(), "no Register within 200ms").await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_invalid_register_is_rejected() {
    let placement = start(PlacementConfig::default()).await;
    let cases = [
        (register("", "", &["Cart"]), "host_id is empty"),
        (register(&"h".repeat(300), "", &[]), "at most 256"),
        (
            {
                let mut r = register("h", "", &[]);
                r.address.clear();
                r
            },
            "address is empty",
        ),
        (register("h", "", &["Cart", ""]), "empty name"),
    ];
    for (bad, why) in cases {
        let (mut inbound, _tx) = open(&placement, message(HostBody::Register(bad))).await;
        expect_rejected(&mut inbound, why).await;
    }
    assert!(placement.snapshot().host_list.is_empty());
    still_serving(&placement, "good").await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_register_on_a_stream_is_rejected_and_removes_the_host() {
    let placement = start(PlacementConfig::default()).await;
    let first = message(HostBody::Register(register("twice", "", &["Cart"])));
    let (mut inbound, tx) = open(&placement, first).await;
    let again = message(HostBody::Register(register("twice", "", &["Cart"])));
    tx.send(again).await.unwrap();
    expect_rejected(&mut inbound, "Register was already received").await;
    timeout(
        WAIT,
        placement.wait_for_state(|s| s.host("twice").is_none()),
    )
    .await
    .unwrap();
    still_serving(&placement, "good").await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_for_unknown_rounds_or_phases_are_ignored() {
    let placement = start(PlacementConfig::default()).await;
    let mut host = FakeHost::connect(&placement.grpc_uri(), register("a", "", &["Cart"])).await;
    host.snapshot().await;
    host.round().await;

    let first = message(HostBody::Register(register("acker", "", &[])));
    let (mut inbound, tx) = open(&placement, first).await;
    let snapshot = timeout(WAIT, next_message(&mut inbound))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(snapshot.body, Some(Body::Snapshot(_))));
    for (round, phase) in [(999, Phase::Lock as i32), (1, 0), (1, 42)] {
        tx.send(message(HostBody::Ack(Ack { round, phase })))
            .await
            .unwrap();
    }
    tx.send(HostMessage { body: None }).await.unwrap();
    // Still connected and quiet: nothing was rejected.
    let quiet = timeout(Duration::from_millis(300), next_message(&mut inbound)).await;
    assert!(quiet.is_err(), "expected silence, got {quiet:?}");
    assert!(placement.snapshot().host("acker").is_some());
    host.assert_quiet(Duration::from_millis(100)).await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_bytes_on_the_grpc_port_do_not_hurt_placement() {
    let placement = start(PlacementConfig::default()).await;
    let mut socket = TcpStream::connect(placement.grpc_addr()).await.unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\xff\xff\xff\xff\xff\x00garbage")
        .await
        .unwrap();
    let mut sink = Vec::new();
    // The server closes the connection (or we give up waiting); either way it must live on.
    let _ = timeout(Duration::from_secs(2), socket.read_to_end(&mut sink)).await;
    drop(socket);

    let mut socket = TcpStream::connect(placement.grpc_addr()).await.unwrap();
    socket.write_all(&[0xde, 0xad, 0xbe, 0xef]).await.unwrap();
    drop(socket);
    still_serving(&placement, "good").await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_register_past_the_bounds_is_rejected_with_the_bound_named() {
    let placement = start(PlacementConfig::default()).await;
    let many: Vec<String> = (0..20_000).map(|i| format!("Type{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let long_name = "T".repeat(1025);
    let cases = [
        (register("h-many", "", &many), "at most 1024 per host"),
        (
            register("h-long", "", &[long_name.as_str()]),
            "--max-name-bytes",
        ),
        (
            weft_placement::proto::Register {
                address: format!("127.0.0.1:1{}", "0".repeat(600)),
                ..register("h-addr", "", &["Cart"])
            },
            "--max-address-bytes",
        ),
        (
            weft_placement::proto::Register {
                app_id: "a".repeat(2000),
                ..register("h-app", "", &["Cart"])
            },
            "register.app_id",
        ),
    ];
    for (register, why) in cases {
        let (mut inbound, _tx) = open(&placement, message(HostBody::Register(register))).await;
        expect_rejected(&mut inbound, why).await;
    }
    // Nothing of theirs was kept: no table names their types.
    let state = placement.snapshot();
    assert!(
        state.host_list.iter().all(|h| !h.id.starts_with("h-")),
        "{:?}",
        state.host_list
    );
    still_serving(&placement, "good").await;
}

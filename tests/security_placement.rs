//! Host-to-placement mutual TLS: placement serves with a workload certificate; hosts with
//! identities register over mTLS and find each other through the placement registry; a
//! plain-text host cannot register.

mod security_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use security_support::{backend, Counter, Pki, TRUST_DOMAIN};
use weft::{ClusterConfig, Host};
use weft_placement::PlacementServer;

const LIMIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_register_with_placement_over_mtls_and_plain_text_hosts_cannot() {
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    // Placement with a renewed workload identity, as a process embedding it would run it.
    let placement_identity = pki.identity_in("weft-system", "weft-placement").await;
    scenario(&pki, placement_identity.tls_server_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_serves_mtls_with_a_fixed_certificate_as_the_binary_does() {
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    // What `weft-sentry issue` writes and `weft-placement --tls-cert` reads.
    let id = "spiffe://weft.test/ns/weft-system/weft-placement"
        .parse()
        .unwrap();
    let (cert, key) = pki
        .ca
        .issue_key_and_cert(&id, Duration::from_secs(3600))
        .unwrap();
    let tls = weft_placement::sentry::verify::mtls_server_config(
        &cert,
        &key,
        &pki.bundle_pem,
        TRUST_DOMAIN,
    )
    .unwrap();
    scenario(&pki, tls).await;
}

async fn scenario(pki: &Pki, tls: std::sync::Arc<rustls::ServerConfig>) {
    let placement = PlacementServer::builder()
        .grpc_addr("127.0.0.1:0".parse().unwrap())
        .tls(tls)
        .start()
        .await
        .expect("placement starts");
    let uri = format!("http://{}", placement.grpc_addr());

    let counter = Arc::new(Counter::default());
    let _backend = backend(Host::builder(), Arc::clone(&counter))
        .security(pki.identity("backend").await)
        .cluster(ClusterConfig::new("backend-1", uri.clone()))
        .start()
        .expect("backend starts");
    let frontend = Host::builder()
        .app_id("frontend")
        .security(pki.identity("frontend").await)
        .cluster(ClusterConfig::new("frontend-1", uri.clone()))
        .start()
        .expect("frontend starts");
    let _intruder = Host::builder()
        .app_id("intruder")
        .cluster(ClusterConfig::new("intruder-1", uri.clone()))
        .start()
        .expect("intruder starts");

    // The frontend finds the backend through the registry placement disseminates.
    let start = Instant::now();
    let answer = loop {
        match frontend
            .handle()
            .invoke("backend", "whoami", Bytes::new())
            .await
        {
            Ok(answer) => break answer,
            Err(e) => {
                assert!(start.elapsed() < LIMIT, "no call through the registry: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(String::from_utf8(answer.to_vec())
        .unwrap()
        .starts_with(&format!("spiffe://{TRUST_DOMAIN}/ns/default/frontend|")));

    // Give the plain-text host as long again as the others needed, plus its reconnect backoff.
    tokio::time::sleep(start.elapsed() + Duration::from_secs(1)).await;
    let mut ids: Vec<String> = placement
        .snapshot()
        .host_list
        .into_iter()
        .map(|h| h.id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["backend-1", "frontend-1"],
        "only mTLS hosts registered"
    );
    placement.shutdown().await.expect("placement stops");
}

/// The first reply placement sends a registering stream, skipping the registry and leases.
async fn first_reply(
    replies: &mut tonic::Streaming<weft_placement::proto::PlacementMessage>,
) -> Result<weft_placement::proto::placement_message::Body, tonic::Status> {
    use weft_placement::proto::placement_message::Body;
    loop {
        let next = tokio::time::timeout(LIMIT, replies.message())
            .await
            .expect("placement answers in time")?;
        match next.and_then(|m| m.body) {
            Some(Body::Members(_) | Body::Lease(_)) => continue,
            Some(body) => return Ok(body),
            None => return Err(tonic::Status::cancelled("stream ended")),
        }
    }
}

/// A placement serving mTLS with its workload identity from `pki`, and its URI. The cluster's
/// first placement: no earlier leases to wait out.
async fn mtls_placement(pki: &Pki) -> (weft_placement::RunningPlacement, String) {
    let placement_identity = pki.identity_in("weft-system", "weft-placement").await;
    let placement = PlacementServer::builder()
        .config(weft_placement::PlacementConfig::default().startup_grace(Duration::ZERO))
        .grpc_addr("127.0.0.1:0".parse().unwrap())
        .tls(placement_identity.tls_server_config())
        .start()
        .await
        .expect("placement starts");
    let uri = format!("http://{}", placement.grpc_addr());
    (placement, uri)
}

fn register(host_id: &str, app_id: &str, types: &[&str]) -> weft_placement::proto::Register {
    weft_placement::proto::Register {
        host_id: host_id.to_owned(),
        app_id: app_id.to_owned(),
        namespace: "default".to_owned(),
        address: "127.0.0.1:9".to_owned(),
        actor_types: types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_a_host_registers_only_as_its_certificates_app_and_host_id() {
    use weft_placement::proto::placement_message::Body;
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    let (placement, uri) = mtls_placement(&pki).await;
    let backend = pki.identity("backend").await;
    let rogue = pki.identity("rogue").await;

    // The real backend registers under its own app.
    let (_backend_tx, mut backend_replies) = weft_runtime::testing::placement_stream(
        &uri,
        &backend,
        register("backend-1", "backend", &["Counter"]),
    )
    .await
    .expect("backend connects");
    assert!(matches!(
        first_reply(&mut backend_replies).await,
        Ok(Body::Snapshot(_))
    ));

    // A valid certificate of another app cannot claim the backend's app (and its actors)...
    let (_tx, mut replies) = weft_runtime::testing::placement_stream(
        &uri,
        &rogue,
        register("rogue-1", "backend", &["Counter"]),
    )
    .await
    .expect("rogue connects");
    match first_reply(&mut replies).await {
        Ok(Body::Rejected(r)) => assert!(r.reason.contains("may register app"), "{}", r.reason),
        other => panic!("a Register as another app must be rejected, got {other:?}"),
    }
    // ...nor take over the backend's host id under its own app.
    let (_tx, mut replies) = weft_runtime::testing::placement_stream(
        &uri,
        &rogue,
        register("backend-1", "rogue", &["Counter"]),
    )
    .await
    .expect("rogue connects");
    match first_reply(&mut replies).await {
        Ok(Body::Rejected(r)) => assert!(r.reason.contains("another identity"), "{}", r.reason),
        other => {
            panic!("a Register under another identity's host id must be rejected, got {other:?}")
        }
    }

    // The backend's stream was not replaced, and only it serves Counter.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = placement.snapshot();
    let hosts: Vec<(String, String)> = state
        .host_list
        .iter()
        .map(|h| (h.id.clone(), h.app_id.clone()))
        .collect();
    assert_eq!(hosts, [("backend-1".to_owned(), "backend".to_owned())]);
    let still_open =
        tokio::time::timeout(Duration::from_millis(300), backend_replies.message()).await;
    assert!(
        !matches!(still_open, Ok(Err(_)) | Ok(Ok(None))),
        "the backend's stream stays open: {still_open:?}"
    );

    // The backend itself may reconnect under its host id (a restart).
    let (_tx, mut replies) = weft_runtime::testing::placement_stream(
        &uri,
        &backend,
        register("backend-1", "backend", &["Counter"]),
    )
    .await
    .expect("backend reconnects");
    assert!(matches!(
        first_reply(&mut replies).await,
        Ok(Body::Snapshot(_))
    ));
    placement.shutdown().await.expect("placement stops");
}

/// Counts its turns; answers its host's app id.
struct Probe {
    turns: Arc<std::sync::atomic::AtomicUsize>,
}

impl weft::Actor for Probe {
    async fn handle(&self, ctx: &weft::Context, _call: weft::Call) -> Result<Bytes, weft::Error> {
        self.turns.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Bytes::from(ctx.host().config().app_id.clone()))
    }
}

fn probes(turns: &Arc<std::sync::atomic::AtomicUsize>) -> weft::ActorRegistration {
    let turns = Arc::clone(turns);
    weft::ActorRegistration::new("Probe", move |_id| Probe {
        turns: Arc::clone(&turns),
    })
}

/// Placement reports the owner of `Probe` as app `backend` at an address where an impostor
/// (a valid certificate of app `impostor`, serving `Probe` too) answers: a hijacked address.
/// The caller must refuse it, because its certificate does not name the owner's app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_call_refuses_an_owner_address_answered_by_another_app() {
    let pki = Pki::start(TRUST_DOMAIN, Duration::from_secs(3600)).await;
    let (placement, uri) = mtls_placement(&pki).await;

    let impostor_turns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let impostor = Host::builder()
        .app_id("impostor")
        .security(pki.identity("impostor").await)
        .register(probes(&impostor_turns))
        .store(weft::MemoryStore::new())
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("impostor starts");
    let hijacked = impostor.handle().address().unwrap().to_owned();

    let backend_turns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let _backend = Host::builder()
        .app_id("backend")
        .security(pki.identity("backend").await)
        .register(probes(&backend_turns))
        .store(weft::MemoryStore::new())
        .cluster(ClusterConfig::new("backend-1", uri.clone()).advertise(hijacked))
        .start()
        .expect("backend starts");
    let frontend = Host::builder()
        .app_id("frontend")
        .security(pki.identity("frontend").await)
        .store(weft::MemoryStore::new())
        .cluster(ClusterConfig::new("frontend-1", uri.clone()))
        .start()
        .expect("frontend starts");
    frontend
        .handle()
        .wait_ready(LIMIT)
        .await
        .expect("frontend ready");

    // Until the frontend's table has the backend (it may register after the frontend).
    let start = Instant::now();
    let err = loop {
        let options = weft::CallOptions::default().timeout(Duration::from_secs(3));
        let outcome = frontend
            .handle()
            .call_with("Probe", "x", "m", Bytes::new(), options)
            .await;
        match outcome {
            Err(e) if e.kind() == weft::ErrorKind::NotFound && start.elapsed() < LIMIT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => break e,
            Ok(reply) => panic!("the impostor served the backend's actor: {reply:?}"),
        }
    };
    assert!(
        err.message().contains("/impostor, not spiffe://") && err.message().contains("/backend"),
        "{err}"
    );
    assert_eq!(
        impostor_turns.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no turn ran at the impostor"
    );
    placement.shutdown().await.expect("placement stops");
}

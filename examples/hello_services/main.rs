//! Hello, services: a `backend` app with three instances and a `frontend` app that calls it by
//! name, never by address — the shape of Dapr service invocation and of Azure Container Apps'
//! internal app names.
//!
//! Everything runs in this process over real loopback sockets: a placement server (the
//! registry every host joins with its app id), three `backend` hosts and one `frontend` host.
//! The frontend's `hello` method calls `backend`'s `greet`; calls spread round-robin over the
//! three instances; one instance then stops and the calls keep working on the other two.
//!
//! Run: `cargo run --example hello_services`

use std::time::Duration;

use bytes::Bytes;
use weft::{ClusterConfig, Error, Host, ServiceRequest, ServiceResponse};

/// A host of `app` named `name`, joined to placement at `placement`.
fn host(app: &str, name: &str, placement: &str) -> weft::HostBuilder {
    let listen = "127.0.0.1:0".parse().expect("a socket address");
    Host::builder().app_id(app).cluster(
        ClusterConfig::new(name, placement)
            .listen(listen)
            .heartbeat_interval(Duration::from_millis(200)),
    )
}

/// A `backend` instance: `greet` answers who greets whom.
fn backend(name: &'static str, placement: &str) -> Result<Host, Error> {
    host("backend", name, placement)
        .method("greet", move |req: ServiceRequest| async move {
            let who = String::from_utf8_lossy(req.body()).into_owned();
            Ok::<_, Error>(ServiceResponse::ok(format!("hello, {who} (from {name})")))
        })
        .start()
}

/// The `frontend`: `hello` calls `backend`'s `greet` by app id, continuing the caller's trace.
fn frontend(placement: &str) -> Result<Host, Error> {
    host("frontend", "frontend-1", placement)
        .method("hello", |req: ServiceRequest| async move {
            let mut call = weft::ServiceCall::new("backend", "greet").body(req.body().clone());
            if let Some(trace) = req.trace() {
                call = call.trace(&trace);
            }
            let reply = req.host().send(call).await?;
            Ok::<_, Error>(reply)
        })
        .start()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let placement = weft_placement::start(
        weft_placement::PlacementConfig::default()
            .faulty_host_timeout(Duration::from_secs(2))
            // The cluster's first placement: no earlier leases to wait out.
            .startup_grace(Duration::ZERO),
        "127.0.0.1:0".parse()?,
        None,
    )
    .await?;
    let url = placement.grpc_uri();
    println!("placement at {url}");

    let b1 = backend("backend-1", &url)?;
    let b2 = backend("backend-2", &url)?;
    let b3 = backend("backend-3", &url)?;
    let front = frontend(&url)?;
    let f = front.handle();
    // Wait until the frontend's registry lists all three backend instances.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while f.resolve_instances("backend").await.map_or(0, |i| i.len()) < 3 {
        if tokio::time::Instant::now() > deadline {
            return Err("the backends did not register in time".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for b in [&b1, &b2, &b3] {
        println!(
            "backend instance at {}",
            b.handle().address().unwrap_or("?")
        );
    }

    println!("\nsix calls to frontend.hello, which calls backend.greet by name:");
    for i in 1..=6 {
        let reply = f
            .invoke("frontend", "hello", Bytes::from(format!("caller-{i}")))
            .await?;
        println!("  {}", String::from_utf8_lossy(&reply));
    }

    println!("\nbackend-2 shuts down; the calls go on over the other two:");
    b2.shutdown().await?;
    for i in 7..=10 {
        let reply = f
            .invoke("frontend", "hello", Bytes::from(format!("caller-{i}")))
            .await?;
        println!("  {}", String::from_utf8_lossy(&reply));
    }

    println!("\nerrors are clear:");
    match f.invoke("backend", "nope", Bytes::new()).await {
        Err(e) => println!("  backend.nope -> {e}"),
        Ok(_) => println!("  backend.nope unexpectedly answered"),
    }
    match f.invoke("inventory", "count", Bytes::new()).await {
        Err(e) => println!("  inventory.count -> {e}"),
        Ok(_) => println!("  inventory.count unexpectedly answered"),
    }

    front.shutdown().await?;
    b1.shutdown().await?;
    b3.shutdown().await?;
    placement.shutdown().await?;
    Ok(())
}

//! Load on `weftd`: service invocation at a fixed rate through two sidecars, with the CPU time
//! and peak memory of each `weftd` process measured from `/proc`.
//!
//! The setup: a placement server and a tiny HTTP app (`POST /echo` answers its body) in this
//! process; `weftd` for the app (`callee`) and `weftd` for a caller without an app (`caller`),
//! as real processes. The load: `--rate` requests per second (default 1,000) for `--seconds`
//! (default 30) of `POST /v1.0/invoke/callee/method/echo` with a 64-byte body to the caller's
//! sidecar, paced by a 1 ms tick, up to 256 in flight. Each request crosses both sidecars.
//!
//! Printed: requests sent and failed, latency p50/p99, and per `weftd`: CPU seconds (user +
//! system, from `/proc/<pid>/stat`) per 1,000 requests and peak RSS (`VmHWM`). Compare with
//! Dapr's published ~0.48 vCPU and ~23 MB per sidecar at 1,000 req/s.
//!
//! Run: `cargo build --release -p weft-sidecar --bin weftd` then
//! `cargo run --release -p weft-sidecar --example weftd_load -- target/release/weftd`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// User + system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    (utime + stime) / TICKS_PER_SECOND
}

/// Peak resident set size of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

struct Weftd {
    child: Child,
    http_port: u16,
}

impl Drop for Weftd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn weftd(bin: &str, app_id: &str, app_port: Option<u16>, placement: &str) -> Weftd {
    let http_port = free_port();
    let mut command = Command::new(bin);
    command
        .args(["--app-id", app_id, "--placement-host-address", placement])
        .args(["--dapr-http-port", &http_port.to_string()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(p) = app_port {
        command.args(["--app-port", &p.to_string()]);
    }
    Weftd {
        child: command.spawn().expect("spawn weftd"),
        http_port,
    }
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    let url = format!("http://127.0.0.1:{port}/v1.0/healthz");
    for _ in 0..300 {
        if let Ok(r) = client.get(&url).send().await {
            if r.status() == reqwest::StatusCode::NO_CONTENT {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("weftd on {port} not healthy");
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/weftd".to_owned());
    let mut rate: u64 = 1000;
    let mut seconds: u64 = 30;
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--rate", Some(v)) => rate = v,
            ("--seconds", Some(v)) => seconds = v,
            _ => panic!("usage: weftd_load <weftd> [--rate N] [--seconds N]"),
        }
    }

    let placement = weft_placement::start(
        weft_placement::PlacementConfig::default(),
        "127.0.0.1:0".parse().expect("an address"),
        None,
    )
    .await
    .expect("placement");
    let placement_addr = placement.grpc_addr().to_string();

    let app_port = free_port();
    let app = Router::new().route("/echo", post(|body: axum::body::Bytes| async move { body }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], app_port)))
        .await
        .expect("bind the app");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let callee = weftd(&bin, "callee", Some(app_port), &placement_addr);
    let caller = weftd(&bin, "caller", None, &placement_addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    wait_healthy(&client, callee.http_port).await;
    wait_healthy(&client, caller.http_port).await;
    let url = format!(
        "http://127.0.0.1:{}/v1.0/invoke/callee/method/echo",
        caller.http_port
    );
    let body = vec![b'x'; 64];
    // Warm up until calls succeed (the caller's registry must list the callee).
    let mut warm = 0;
    while warm < 200 {
        match client.post(&url).body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => warm += 1,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }

    let pids = [("caller", caller.child.id()), ("callee", callee.child.id())];
    let cpu_before: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let total = rate * seconds;
    let failed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(
        usize::try_from(total).unwrap_or(0),
    )));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while sent < total {
        tick.tick().await;
        // How many should have gone by now, at `rate` per second.
        let due = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX) * rate / 1000;
        while sent < due.min(total) {
            let permit = Arc::clone(&in_flight)
                .acquire_owned()
                .await
                .expect("semaphore");
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            let (failed, latencies) = (Arc::clone(&failed), Arc::clone(&latencies));
            tasks.spawn(async move {
                let t = Instant::now();
                let ok = matches!(client.post(&url).body(body).send().await, Ok(r) if r.status().is_success());
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                latencies.lock().expect("latencies").push(t.elapsed());
                drop(permit);
            });
            sent += 1;
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort();
    let pct = |per_mille: usize| lat[(lat.len() * per_mille / 1000).min(lat.len() - 1)];
    println!(
        "{sent} requests in {elapsed:.1?} ({:.0}/s), {} failed; latency p50 {:?}, p99 {:?}",
        sent as f64 / elapsed.as_secs_f64(),
        failed.load(Ordering::Relaxed),
        pct(500),
        pct(990)
    );
    for ((name, pid), before) in pids.iter().zip(cpu_before) {
        let cpu = cpu_seconds(*pid) - before;
        println!(
            "weftd {name}: {:.3} CPU s per 1,000 requests ({:.2} vCPU at this rate), peak RSS {:.1} MiB",
            cpu / (sent as f64 / 1000.0),
            cpu / elapsed.as_secs_f64(),
            peak_rss_mib(*pid)
        );
    }
    drop((caller, callee));
    placement.shutdown().await.expect("placement shuts down");
}

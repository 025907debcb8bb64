//! weftd's Dapr HTTP API against a hostile client (issue 15): names that would alias stored
//! keys or the runtime's records, ids and methods that URL building would rewrite, timers that
//! would queue without bound or fire as fast as the app answers. weftd runs in this process
//! with a stub app (a real HTTP server) that records every request it receives, byte for byte.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::routing::get;
use weft_sidecar::{Config, Running};

/// An app on a loopback port: hosts actor type `Probe`, answers every actor callback with 200,
/// and records each request as `VERB raw-path`.
struct StubApp {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    /// The `dapr-api-token` header of each request, in order.
    tokens: Arc<Mutex<Vec<Option<String>>>>,
    /// The body length of each request, in order.
    lengths: Arc<Mutex<Vec<usize>>>,
}

impl StubApp {
    async fn start() -> StubApp {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let token_log = Arc::clone(&tokens);
        let lengths = Arc::new(Mutex::new(Vec::new()));
        let length_log = Arc::clone(&lengths);
        let router = axum::Router::new()
            .route(
                "/dapr/config",
                get(|| async { axum::Json(serde_json::json!({ "entities": ["Probe"] })) }),
            )
            .fallback(move |request: Request| {
                let log = Arc::clone(&log);
                let token = request
                    .headers()
                    .get("dapr-api-token")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                token_log.lock().unwrap().push(token);
                let length_log = Arc::clone(&length_log);
                async move {
                    let raw = request
                        .uri()
                        .path_and_query()
                        .map_or(String::new(), |p| p.as_str().to_owned());
                    log.lock()
                        .unwrap()
                        .push(format!("{} {raw}", request.method()));
                    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                        .await
                        .map_or(0, |b| b.len());
                    length_log.lock().unwrap().push(body);
                    "\"ok\""
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        StubApp {
            port,
            seen,
            tokens,
            lengths,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The recorded requests whose path starts with `prefix`.
    fn seen_under(&self, prefix: &str) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|r| {
                r.split_once(' ')
                    .is_some_and(|(_, p)| p.starts_with(prefix))
            })
            .collect()
    }
}

/// weftd in this process: API on a free port, in-memory store, optionally joined to `placement`.
async fn weftd(app_id: &str, app_port: Option<u16>, placement: Option<&str>) -> Running {
    let mut config = Config::new(app_id);
    config.app_port = app_port;
    config.placement_host_address = placement.map(str::to_owned);
    start(config).await
}

async fn start(mut config: Config) -> Running {
    config.dapr_http_port = 0;
    tokio::time::timeout(Duration::from_secs(30), weft_sidecar::start(config))
        .await
        .expect("weftd starts in time")
        .expect("weftd starts")
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Sends a request; returns the status and the body as text.
async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("weftd answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_api_names_cannot_reach_reminder_records_or_alias_another_actor() {
    let app = StubApp::start().await;
    let weftd = weftd("probe", Some(app.port), None).await;
    let (http, addr) = (client(), weftd.http_addr());

    let registration = serde_json::json!({ "dueTime": "1h", "data": "keep" });
    let (status, body) = send(
        http.put(url(addr, "/v1.0/actors/Probe/victim/reminders/r1"))
            .body(registration.to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The reminder record of victim/r1 is stored under id `victim` and key
    // `__weft_reminder||r1`: id `victim||__weft_reminder` with key `r1` makes the same string.
    let alias = "/v1.0/actors/Probe/victim%7C%7C__weft_reminder";
    let (status, body) = send(http.get(url(addr, &format!("{alias}/state/r1")))).await;
    assert_eq!(status, 400, "reading through an aliasing id: {body}");
    assert!(body.contains("ERR_MALFORMED_REQUEST"), "{body}");
    let delete = serde_json::json!([{ "operation": "delete", "request": { "key": "r1" } }]);
    let (status, body) = send(
        http.post(url(addr, &format!("{alias}/state")))
            .body(delete.to_string()),
    )
    .await;
    assert_eq!(status, 400, "deleting through an aliasing id: {body}");

    // Key `y||k` of actor `x` would be key `k` of actor `x||y`.
    let (status, body) = send(http.get(url(addr, "/v1.0/actors/Probe/x/state/y%7C%7Ck"))).await;
    assert_eq!(status, 400, "a key with the separator: {body}");
    let (status, body) = send(http.get(url(addr, "/v1.0/actors/Probe/x%7C/state/k"))).await;
    assert_eq!(status, 400, "an id ending in `|`: {body}");
    let (status, body) = send(http.get(url(addr, "/v1.0/actors/Probe/x/state/__weft_epoch"))).await;
    assert_eq!(status, 400, "a reserved key: {body}");
    let (status, body) = send(http.put(url(addr, "/v1.0/actors/Probe/a%7C%7Cb/method/m"))).await;
    assert_eq!(status, 400, "calling an aliasing id: {body}");

    // The reminder is intact and readable.
    let (status, body) = send(http.get(url(addr, "/v1.0/actors/Probe/victim/reminders/r1"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1h"), "{body}");
    // An ordinary key still reads: nothing stored yet.
    let (status, _) = send(http.get(url(addr, "/v1.0/actors/Probe/x/state/k"))).await;
    assert_eq!(status, 204);
    weftd.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_methods_reach_the_app_byte_for_byte_or_are_refused() {
    let app = StubApp::start().await;
    let weftd = weftd("probe", Some(app.port), None).await;
    let (http, addr) = (client(), weftd.http_addr());

    // Four distinct actors whose ids differ only in TAB, CR and LF.
    for id in ["zz", "z%09z", "z%0Az", "z%0D%0A%09z"] {
        let (status, body) =
            send(http.put(url(addr, &format!("/v1.0/actors/Probe/{id}/method/m")))).await;
        assert_eq!(status, 200, "{id}: {body}");
    }
    let calls = app.seen_under("/actors/Probe/");
    let paths: Vec<&str> = calls
        .iter()
        .filter(|c| c.starts_with("PUT "))
        .map(|c| &c[4..])
        .collect();
    assert_eq!(
        paths,
        [
            "/actors/Probe/zz/method/m",
            "/actors/Probe/z%09z/method/m",
            "/actors/Probe/z%0Az/method/m",
            "/actors/Probe/z%0D%0A%09z/method/m",
        ],
        "every id reaches the app as its own actor"
    );

    // Bytes that mean something in a path are encoded, not interpreted.
    let (status, _) =
        send(http.put(url(addr, "/v1.0/actors/Probe/a%2Fb%3Fc%23d/method/x%20y"))).await;
    assert_eq!(status, 200);
    assert!(
        app.seen()
            .contains(&"PUT /actors/Probe/a%2Fb%3Fc%23d/method/x%20y".to_owned()),
        "{:?}",
        app.seen()
    );

    // `.` and `..` would be resolved by the app's URL parser: refused before any activation.
    // Sent over a raw socket: an HTTP client library would resolve them itself.
    let before = app.seen().len();
    for path in [
        "/v1.0/actors/Probe/../method/m",
        "/v1.0/actors/Probe/%2E%2E/method/m",
        "/v1.0/actors/Probe/%2e/method/m",
        "/v1.0/actors/Probe/a1/method/..",
        "/v1.0/actors/Probe/a1/timers/%2E%2E",
        "/v1.0/actors/Probe/a1/reminders/..",
    ] {
        let (status, body) = raw_put(addr, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("ERR_MALFORMED_REQUEST"), "{body}");
    }
    assert_eq!(app.seen().len(), before, "the app saw: {:?}", app.seen());
    weftd.shutdown().await.unwrap();
}

/// A PUT of `path` exactly as given, with body `{}`, over a fresh TCP connection.
async fn raw_put(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: weftd\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut response))
        .await
        .expect("weftd answers")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Waits up to `limit` for the app to have seen `n` requests under `prefix`.
async fn wait_for_calls(app: &StubApp, prefix: &str, n: usize, limit: Duration) -> usize {
    let start = tokio::time::Instant::now();
    loop {
        let seen = app.seen_under(prefix).len();
        if seen >= n || start.elapsed() > limit {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_take_dapr_formats_and_a_minimum_period() {
    let app = StubApp::start().await;
    let weftd = weftd("probe", Some(app.port), None).await;
    let (http, addr) = (client(), weftd.http_addr());

    // ISO 8601 due time, `R<n>/` period: exactly three firings.
    let timer =
        serde_json::json!({ "callback": "cb", "dueTime": "PT0.1S", "period": "R3/PT0.05S" });
    let (status, body) = send(
        http.put(url(addr, "/v1.0/actors/Probe/t1/timers/iso"))
            .body(timer.to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let fired = wait_for_calls(
        &app,
        "/actors/Probe/t1/method/timer/iso",
        3,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(fired, 3);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        app.seen_under("/actors/Probe/t1/method/timer/iso").len(),
        3,
        "R3 fires three times, no more"
    );

    // A TTL ends a timer.
    let timer = serde_json::json!({ "dueTime": "0s", "period": "50ms", "ttl": "PT0.3S" });
    let (status, body) = send(
        http.put(url(addr, "/v1.0/actors/Probe/t2/timers/ttl"))
            .body(timer.to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after_ttl = app.seen_under("/actors/Probe/t2/method/timer/ttl").len();
    assert!(
        (1..=8).contains(&after_ttl),
        "{after_ttl} firings in a 300 ms TTL at 50 ms"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.seen_under("/actors/Probe/t2/method/timer/ttl").len(),
        after_ttl,
        "no firing after the TTL"
    );

    // Below the floor, and past the clock: refused with a message that says why.
    for (timer, why) in [
        (serde_json::json!({ "period": "1ns" }), "minimum"),
        (serde_json::json!({ "period": "PT0.001S" }), "minimum"),
        (
            serde_json::json!({ "dueTime": "P150000000000000D" }),
            "dueTime",
        ),
        (serde_json::json!({ "dueTime": "soon" }), "dueTime"),
    ] {
        let (status, body) = send(
            http.put(url(addr, "/v1.0/actors/Probe/t3/timers/bad"))
                .body(timer.to_string()),
        )
        .await;
        assert_eq!(status, 400, "{timer}: {body}");
        assert!(
            body.to_lowercase().contains(&why.to_lowercase())
                || body.contains("due time")
                || body.contains("clock"),
            "{timer}: {body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.seen_under("/actors/Probe/t3/method/timer").is_empty());
    weftd.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_for_an_actor_hosted_elsewhere_fires_on_its_owner_and_nothing_queues() {
    let (placement, placement_addr) = support::placement().await;
    let app = StubApp::start().await;
    let owner = weftd("probe", Some(app.port), Some(&placement_addr)).await;
    // A sidecar without an app: it hosts no actor type.
    let caller = weftd("caller", None, Some(&placement_addr)).await;
    let http = client();

    let timer = serde_json::json!({ "callback": "cb", "dueTime": "0s", "period": "R2/PT0.05S" });
    let path = "/v1.0/actors/Probe/far/timers/t";
    let (status, body) = send(
        http.put(url(caller.http_addr(), path))
            .body(timer.to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let fired = wait_for_calls(
        &app,
        "/actors/Probe/far/method/timer/t",
        2,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(fired, 2, "the timer fires on the owner: {:?}", app.seen());

    // Unregistering from the other sidecar reaches the owner too.
    let timer = serde_json::json!({ "dueTime": "0.3s", "period": "1s" });
    let (status, body) = send(
        http.put(url(caller.http_addr(), "/v1.0/actors/Probe/far/timers/u"))
            .body(timer.to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) =
        send(http.delete(url(caller.http_addr(), "/v1.0/actors/Probe/far/timers/u"))).await;
    assert_eq!(status, 204, "{body}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(app
        .seen_under("/actors/Probe/far/method/timer/u")
        .is_empty());

    // A type that no host serves: refused at once in Dapr's error shape, never queued. Large
    // bodies (1 MiB each) would show up as memory if anything kept them.
    let big = "x".repeat(1024 * 1024);
    let timer = serde_json::json!({ "dueTime": "1s", "data": big });
    for i in 0..20 {
        let path = format!("/v1.0/actors/Nobody/n{i}/timers/t");
        let started = tokio::time::Instant::now();
        let (status, body) = send(
            http.put(url(caller.http_addr(), &path))
                .body(timer.to_string()),
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered at once"
        );
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("ERR_ACTOR_TIMER_CREATE"), "{body}");
        assert!(body.contains("Nobody"), "{body}");
    }
    caller.shutdown().await.unwrap();
    owner.shutdown().await.unwrap();
    placement.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_without_an_app_refuses_timers_at_once() {
    let weftd = weftd("lonely", None, None).await;
    let http = client();
    let timer = serde_json::json!({ "dueTime": "1s", "data": "x".repeat(1024 * 1024) });
    for i in 0..10 {
        let path = format!("/v1.0/actors/Probe/a{i}/timers/t");
        let (status, body) = send(
            http.put(url(weftd.http_addr(), &path))
                .body(timer.to_string()),
        )
        .await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("ERR_ACTOR_TIMER_CREATE"), "{body}");
    }
    weftd.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_guard_every_path_but_health_and_reach_the_app() {
    let (placement, placement_addr) = support::placement().await;
    let app = StubApp::start().await;
    let config = Config::new("probe")
        .app_port(app.port)
        // In a cluster, so that the app can invoke itself by app id.
        .placement_host_address(placement_addr)
        .api_token(weft_sidecar::Secret::new("s3cret"))
        .app_api_token(weft_sidecar::Secret::new("app-tok"));
    let weftd = start(config).await;
    let (http, addr) = (client(), weftd.http_addr());
    let with = |r: reqwest::RequestBuilder| r.header("dapr-api-token", "s3cret");

    for (request, what) in [
        (http.get(url(addr, "/v1.0/metadata")), "no token"),
        (
            http.get(url(addr, "/v1.0/metadata"))
                .header("dapr-api-token", "s3cre"),
            "a wrong token",
        ),
        (
            http.get(url(addr, "/v1.0/metadata?x=/v1.0/healthz")),
            "healthz in the query",
        ),
        (
            http.put(url(addr, "/v1.0/actors/Probe/a1/method/m")),
            "an actor call",
        ),
        (
            http.get(url(addr, "/v1.0/invoke/probe/method/hello")),
            "an invocation",
        ),
        (
            http.get(url(addr, "/anything"))
                .header("dapr-app-id", "probe"),
            "the header form of invocation",
        ),
    ] {
        let (status, body) = send(request).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.contains("ERR_UNAUTHORIZED"), "{what}: {body}");
    }
    let (status, _) = raw_put(addr, "/v1.0/healthz/../metadata").await;
    assert_eq!(
        status, 401,
        "a path that only contains /healthz is not exempt"
    );
    assert!(
        app.seen_under("/actors").is_empty(),
        "nothing reached the app"
    );

    // Health stays open, as in Dapr.
    let (status, _) = send(http.get(url(addr, "/v1.0/healthz"))).await;
    assert!((200..300).contains(&status), "{status}");
    let (status, _) = send(http.get(url(addr, "/v1.0/healthz/outbound"))).await;
    assert!((200..300).contains(&status), "{status}");

    // With the token: the call goes through, and the app gets its own token, not the API's.
    let (status, body) = send(with(http.get(url(addr, "/v1.0/metadata")))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(with(http.put(url(addr, "/v1.0/actors/Probe/a1/method/m")))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(with(http.get(url(addr, "/v1.0/invoke/probe/method/hello")))).await;
    assert_eq!(status, 200, "{body}");
    let tokens = app.tokens.lock().unwrap().clone();
    assert_eq!(
        tokens.len(),
        2,
        "the actor call and the invocation: {tokens:?}"
    );
    assert!(
        tokens.iter().all(|t| t.as_deref() == Some("app-tok")),
        "every request to the app carries APP_API_TOKEN only: {tokens:?}"
    );
    weftd.shutdown().await.unwrap();
    placement.shutdown().await.unwrap();
}

/// Raises this process's open-file limit to its hard limit (the test holds thousands of
/// sockets).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_thousands_of_idle_and_partial_connections_are_open() {
    use std::os::unix::process::CommandExt;
    use tokio::io::AsyncWriteExt;
    raise_fd_limit();
    let port = support::free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weftd"));
    command
        .args(["--app-id", "slow", "--dapr-http-port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only an async-signal-safe setrlimit between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // The limit the issue was found with: 1024 open files for weftd.
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let weftd = support::Proc::spawn("weftd", &mut command);
    support::wait_for_port(port, Duration::from_secs(30)).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let healthz = |limit: Duration| async move {
        let response =
            tokio::time::timeout(limit, client().get(url(addr, "/v1.0/healthz")).send()).await;
        matches!(response, Ok(Ok(r)) if r.status().is_success())
    };
    assert!(healthz(Duration::from_secs(10)).await);

    // 1,100 silent sockets and 1,000 with half a request head: more than weftd has files.
    // Bounded in time as well as count: a server that stops accepting makes connects hang.
    let mut held = Vec::new();
    let opening = tokio::time::Instant::now();
    for i in 0..2100 {
        if opening.elapsed() > Duration::from_secs(60) {
            break;
        }
        let connect = tokio::net::TcpStream::connect(addr);
        let Ok(Ok(mut socket)) = tokio::time::timeout(Duration::from_millis(500), connect).await
        else {
            continue;
        };
        if i >= 1100 {
            let _ = socket
                .write_all(b"GET /v1.0/healthz HTTP/1.1\r\nHost: weftd\r\nX-Slow: ")
                .await;
        }
        held.push(socket);
    }
    assert!(held.len() >= 2000, "opened only {} sockets", held.len());
    for attempt in 0..5 {
        assert!(
            healthz(Duration::from_secs(5)).await,
            "healthz attempt {attempt} with {} sockets held open",
            held.len()
        );
    }
    drop(held);
    weftd.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_body_limit_governs_every_hop_of_calls_that_cross_hosts() {
    let (placement, placement_addr) = support::placement().await;
    let app = StubApp::start().await;
    let owner = weftd("probe", Some(app.port), Some(&placement_addr)).await;
    let caller = weftd("caller", None, Some(&placement_addr)).await;
    let http = client();
    // Dapr's default limit, 4 MiB: the API takes it, so every hop behind it must too.
    let limit = 4 * 1024 * 1024;
    for path in [
        "/v1.0/invoke/probe/method/echo",
        "/v1.0/actors/Probe/big/method/m",
    ] {
        let at_limit = vec![b'a'; limit];
        let (status, body) = send(http.put(url(caller.http_addr(), path)).body(at_limit)).await;
        assert_eq!(status, 200, "{path} with {limit} bytes: {body}");
        assert_eq!(app.lengths.lock().unwrap().last(), Some(&limit), "{path}");

        let over = vec![b'a'; limit + 1];
        let (status, body) = send(http.put(url(caller.http_addr(), path)).body(over)).await;
        assert_eq!(status, 413, "{path} with one byte over: {body}");
        assert!(body.contains("ERR_REQUEST_TOO_LARGE"), "{body}");
        assert_eq!(
            app.lengths.lock().unwrap().last(),
            Some(&limit),
            "nothing more arrived"
        );
    }
    caller.shutdown().await.unwrap();
    owner.shutdown().await.unwrap();
    placement.shutdown().await.unwrap();
}

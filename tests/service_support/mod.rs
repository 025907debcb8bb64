//! Service-invocation test harness: app instances as real hosts listening on loopback, each on
//! its own tokio runtime so `kill` drops it abruptly (sockets close, nothing says goodbye).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft::{Error, ErrorKind, Host, HostBuilder, HostHandle, ServiceRequest, ServiceResponse};

/// What every backend instance records, shared by the test.
#[derive(Debug, Default)]
pub struct Calls {
    /// Calls per method.
    by_method: Mutex<HashMap<String, usize>>,
    /// The last `traceparent` header seen.
    pub last_traceparent: Mutex<Option<String>>,
    /// While set, `fragile` fails with an internal error.
    pub broken: AtomicBool,
    /// How many times `slow-once` ran.
    pub slow_once: AtomicUsize,
}

impl Calls {
    pub fn count(&self, method: &str) -> usize {
        self.by_method
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    fn record(&self, method: &str) {
        *self
            .by_method
            .lock()
            .unwrap()
            .entry(method.to_owned())
            .or_default() += 1;
    }
}

#[derive(serde::Deserialize)]
struct AddRequest {
    a: i64,
    b: i64,
}

/// The methods of the test `backend` app:
/// - `whoami`: answers the instance name;
/// - `add`: JSON `{a, b}` → JSON sum (malformed JSON → InvalidArgument);
/// - `hang`: never answers (until the caller's deadline cancels it);
/// - `time-left`: answers how many milliseconds its deadline leaves (JSON);
/// - `slow-once`: hangs on its first call, answers "ok" afterwards;
/// - `fragile`: fails with Internal while `broken` is set, else answers "ok";
/// - `missing`: answers 404;
/// - `panic`: panics;
/// - `trace`: records and answers its `traceparent` header.
pub fn backend(builder: HostBuilder, name: &str, calls: Arc<Calls>) -> HostBuilder {
    let who = name.to_owned();
    let c = calls.clone();
    let builder = builder.app_id("backend").method("whoami", move |_r| {
        c.record("whoami");
        let who = who.clone();
        async move { Ok::<_, Error>(ServiceResponse::ok(who)) }
    });
    let c = calls.clone();
    let builder = builder.method("add", move |r: ServiceRequest| {
        c.record("add");
        async move {
            let AddRequest { a, b } = r.json()?;
            ServiceResponse::json(&(a + b))
        }
    });
    let c = calls.clone();
    let builder = builder.method("hang", move |_r| {
        c.record("hang");
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, Error>(ServiceResponse::ok("woke"))
        }
    });
    let c = calls.clone();
    let builder = builder.method("time-left", move |r: ServiceRequest| {
        c.record("time-left");
        let left = r
            .deadline()
            .saturating_duration_since(tokio::time::Instant::now());
        async move { ServiceResponse::json(&u64::try_from(left.as_millis()).unwrap_or(u64::MAX)) }
    });
    let c = calls.clone();
    let builder = builder.method("slow-once", move |_r| {
        c.record("slow-once");
        let first = c.slow_once.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, Error>(ServiceResponse::ok("ok"))
        }
    });
    let c = calls.clone();
    let builder = builder.method("fragile", move |_r| {
        c.record("fragile");
        let broken = c.broken.load(Ordering::SeqCst);
        async move {
            if broken {
                return Err(Error::new(ErrorKind::Internal, "fragile is broken"));
            }
            Ok(ServiceResponse::ok("ok"))
        }
    });
    let builder = builder.method("missing", |_r| async {
        Ok::<_, Error>(ServiceResponse::with_status(404, "no such item"))
    });
    let builder = builder.method("panic", |_r| async {
        if true {
            panic!("handler blew up");
        }
        Ok::<_, Error>(ServiceResponse::ok(""))
    });
    let c = calls;
    builder.method("trace", move |r: ServiceRequest| {
        c.record("trace");
        let tp = r.header("traceparent").map(str::to_owned);
        *c.last_traceparent.lock().unwrap() = tp.clone();
        async move { Ok::<_, Error>(ServiceResponse::ok(tp.unwrap_or_default())) }
    })
}

/// One app instance: a host listening on loopback, on its own runtime.
pub struct Instance {
    pub name: String,
    pub address: SocketAddr,
    pub handle: HostHandle,
    pub calls: Arc<Calls>,
    host: Option<Host>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Instance {
    /// A `backend` instance named `name`, listening on `listen`.
    pub async fn backend(name: &str, listen: SocketAddr) -> Instance {
        Self::backend_with(name, listen, Arc::new(Calls::default()), |b| b).await
    }

    /// A `backend` instance with shared `calls` and extra settings.
    pub async fn backend_with(
        name: &str,
        listen: SocketAddr,
        calls: Arc<Calls>,
        extra: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static,
    ) -> Instance {
        let n = name.to_owned();
        let c = calls.clone();
        Self::start(name, calls, move |b| {
            extra(backend(b.listen(listen), &n, c))
        })
        .await
    }

    /// An instance built by `build`.
    pub async fn start(
        name: &str,
        calls: Arc<Calls>,
        build: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static,
    ) -> Instance {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("app-{name}"))
            .enable_all()
            .build()
            .expect("instance runtime");
        let host = rt
            .spawn(async move { build(Host::builder()).start() })
            .await
            .expect("start task")
            .unwrap_or_else(|e| panic!("instance starts: {e}"));
        let handle = host.handle();
        let address = handle
            .address()
            .expect("instance listens")
            .parse()
            .expect("a socket address");
        Instance {
            name: name.to_owned(),
            address,
            handle,
            calls,
            host: Some(host),
            rt: Some(rt),
        }
    }

    /// Abrupt death: the runtime and its sockets are dropped, nothing runs on the way out.
    pub fn kill(mut self) {
        if let Some(host) = self.host.take() {
            std::mem::forget(host);
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; fine for tests on one machine).
pub fn loopback(ip_last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, ip_last], 0))
}

/// Runs `f` until it returns `Some`, every 20 ms, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET path` over plain HTTP/1.1; the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("response in time")
    .expect("read");
    response
}

//! A small HTTP server for the metrics: `GET /metrics` in the OpenMetrics text format.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::Metrics;

/// The content type of the `/metrics` response.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `addr` until `shutdown` completes.
///
/// Binds before returning, and returns the bound address (so `127.0.0.1:0` picks a free port);
/// the server runs on a spawned task. Fails only if the address cannot be bound.
///
/// # Examples
/// ```
/// # use std::sync::Arc;
/// # use weft_runtime::telemetry::{serve_metrics, Metrics};
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let addr = serve_metrics(Arc::new(Metrics::new()), "127.0.0.1:0".parse().unwrap(), async {
///     let _ = stopped.await;
/// })
/// .await?;
/// assert_ne!(addr.port(), 0);
/// let _ = stop.send(());
/// # Ok(()) }
/// ```
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) =
            weft_http::serve(listener, app, weft_http::Limits::default(), shutdown).await
        {
            tracing::warn!(addr = %local, error = %e, "metrics server failed");
        }
    });
    Ok(local)
}

/// Serves `GET /metrics` on an already bound listener, on a spawned task, until `shutdown`.
pub(crate) fn serve_metrics_on(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    limits: weft_http::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let local = listener.local_addr().ok();
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = weft_http::serve(listener, app, limits, shutdown).await {
            tracing::warn!(addr = ?local, error = %e, "metrics server failed");
        }
    })
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], metrics.encode())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::timeout;

    use super::*;
    use crate::telemetry::{Outcome, RequestKind};

    async fn get(addr: SocketAddr, path: &str) -> String {
        timeout(Duration::from_secs(5), async {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            String::from_utf8(buf).unwrap()
        })
        .await
        .expect("HTTP request timed out")
    }

    #[tokio::test]
    async fn serves_metrics() {
        let metrics = Arc::new(Metrics::new());
        metrics.record_request(
            RequestKind::Service,
            "backend",
            "hello",
            Outcome::Ok,
            Duration::from_millis(1),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let addr = serve_metrics(metrics.clone(), "127.0.0.1:0".parse().unwrap(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        assert_ne!(addr.port(), 0);

        let resp = get(addr, "/metrics").await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains(&format!("content-type: {METRICS_CONTENT_TYPE}")),
            "{resp}"
        );
        assert!(
            resp.contains(
                r#"weft_requests_total{kind="service",target="backend",method="hello",outcome="ok"} 1"#
            ),
            "{resp}"
        );

        // Later recordings show up on the next scrape.
        metrics.record_retry("backend");
        let resp = get(addr, "/metrics").await;
        assert!(
            resp.contains(r#"weft_retries_total{target="backend"} 1"#),
            "{resp}"
        );

        let resp = get(addr, "/other").await;
        assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");

        // After shutdown the listener closes.
        stop.send(()).unwrap();
        timeout(Duration::from_secs(5), async {
            while TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("metrics server did not stop");
    }

    #[tokio::test]
    async fn bind_failure_is_an_error() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = serve_metrics(Arc::new(Metrics::new()), addr, async {}).await;
        assert!(err.is_err());
    }
}

//! The app channel: `weftd`'s HTTP calls to its app (Dapr's app-callback protocol).
//!
//! - `GET /dapr/config`: the actor types the app hosts and their settings;
//! - `PUT /actors/{type}/{id}/method/{method}`: an actor turn;
//! - `PUT /actors/{type}/{id}/method/timer/{name}` and `.../method/remind/{name}`: timer and
//!   reminder firings;
//! - `DELETE /actors/{type}/{id}`: deactivation;
//! - any other path: an invoked service method, passed through with its verb, query, headers
//!   and body.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::time::Instant;
use weft_runtime::{Error, ErrorKind, ServiceRequest, ServiceResponse};

use crate::config::Secret;

/// What [`AppChannel::url`] percent-encodes: every byte but ASCII letters, digits and `-._~`
/// (RFC 3986's unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Checks that `value` can be one segment of a URL path to the app: non-empty, and neither `.`
/// nor `..`, which URL parsers resolve (so the app would see a different path).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming `what`.
pub(crate) fn check_path_segment(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{what} {value:?} is invalid: it must be non-empty and not `.` or `..` (the \
                 app's URL would resolve it)"
            ),
        ));
    }
    Ok(())
}

/// The header that carries Dapr's API tokens (DAPR_API_TOKEN, APP_API_TOKEN).
pub(crate) const API_TOKEN_HEADER: &str = "dapr-api-token";

/// Headers that describe one HTTP hop, not the request: never passed through.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

/// Whether a header travels with a passed-through request or response.
pub(crate) fn is_end_to_end(name: &str) -> bool {
    !HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// What the app says about itself at `GET /dapr/config` (Dapr's shape).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct AppConfig {
    pub(crate) entities: Vec<String>,
    pub(crate) actor_idle_timeout: Option<String>,
    pub(crate) actor_scan_interval: Option<String>,
    pub(crate) drain_ongoing_call_timeout: Option<String>,
    pub(crate) reentrancy: Option<ReentrancyConfig>,
}

/// The app's reentrancy settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ReentrancyConfig {
    pub(crate) enabled: bool,
    pub(crate) max_stack_depth: Option<usize>,
}

/// Parses a Go-style duration of the app config (`"1h"`, `"30s"`, `"1h0m0s"`, and the SDKs'
/// `"0h0m0s100ms0μs"`).
pub(crate) fn go_duration(s: &str) -> Option<Duration> {
    // Go writes microseconds with the micro sign, Python SDKs with the Greek mu.
    let s = &s.replace(['µ', 'μ'], "u");
    humantime::parse_duration(s).ok().or_else(|| {
        // humantime wants spaces between units; Go writes them together.
        let mut spaced = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            spaced.push(c);
            if c.is_ascii_alphabetic() && chars.peek().is_some_and(char::is_ascii_digit) {
                spaced.push(' ');
            }
        }
        humantime::parse_duration(spaced.trim()).ok()
    })
}

/// The HTTP client towards the app on 127.0.0.1.
#[derive(Debug, Clone)]
pub(crate) struct AppChannel {
    base: Url,
    client: reqwest::Client,
    /// False while the app's health probe fails (see [`AppChannel::probe_health`]).
    healthy: Arc<AtomicBool>,
}

fn unavailable(what: &str, e: &reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::DeadlineExceeded
    } else if e.is_connect() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Interrupted
    };
    Error::new(kind, format!("{what}: the app did not answer: {e}"))
}

impl AppChannel {
    /// The channel to the app on 127.0.0.1:`port`; with `token`, every request carries it as
    /// `dapr-api-token` (Dapr's APP_API_TOKEN).
    pub(crate) fn new(port: u16, token: Option<&Secret>) -> Result<Self, Error> {
        let base = Url::parse(&format!("http://127.0.0.1:{port}/"))
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("app port: {e}")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value =
                reqwest::header::HeaderValue::from_str(token.expose()).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        "APP_API_TOKEN is not a valid HTTP header value",
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(API_TOKEN_HEADER, value);
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .default_headers(headers)
            .build()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            client,
            healthy: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Whether the app passes its health probe (always, without one).
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Probes `GET path` every `interval`; `threshold` failures in a row make the app
    /// unhealthy (service calls to it then fail as `Unavailable`, which callers retry on
    /// another instance), one success makes it healthy again. Runs until the channel's last
    /// clone is dropped.
    pub(crate) fn probe_health(&self, path: &str, interval: Duration, threshold: u32) {
        let mut url = self.base.clone();
        url.set_path(path);
        let client = self.client.clone();
        let healthy = Arc::downgrade(&self.healthy);
        tokio::spawn(async move {
            let mut failures = 0u32;
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(healthy) = healthy.upgrade() else {
                    return;
                };
                let ok = matches!(
                    client.get(url.clone()).timeout(interval).send().await,
                    Ok(r) if r.status().is_success()
                );
                failures = if ok { 0 } else { failures.saturating_add(1) };
                let now = failures < threshold.max(1);
                if healthy.swap(now, Ordering::AcqRel) != now {
                    if now {
                        tracing::info!(url = %url, "the app is healthy again");
                    } else {
                        tracing::warn!(url = %url, failures, "the app is unhealthy; service calls to it are refused");
                    }
                }
            }
        });
    }

    /// The URL of `segments` under the app's base. Every byte of a segment other than ASCII
    /// letters, digits and `-._~` is percent-encoded, so ids and method names reach the app
    /// byte-for-byte (a TAB stays `%09`, a `/` stays `%2F`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a segment that is empty, `.` or `..`: URL parsers
    /// (the app's included) resolve those, encoded or not, so the app would see another path.
    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut path = String::new();
        for segment in segments {
            check_path_segment("path segment", segment)?;
            path.push('/');
            path.extend(utf8_percent_encode(segment, SEGMENT));
        }
        self.base.join(&path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot build the app's URL for {path:?}: {e}"),
            )
        })
    }

    /// Asks the app for its configuration until it answers or `timeout` passes. An app without
    /// `/dapr/config` (404) hosts no actors.
    pub(crate) async fn config(&self, timeout: Duration) -> Result<AppConfig, Error> {
        let deadline = Instant::now() + timeout;
        let url = self.url(&["dapr", "config"])?;
        loop {
            let attempt = self
                .client
                .get(url.clone())
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match attempt {
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    return Ok(AppConfig::default())
                }
                Ok(r) if r.status().is_success() => {
                    let body = r.bytes().await.map_err(|e| unavailable("app config", &e))?;
                    return serde_json::from_slice(&body).map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidArgument,
                            format!("the app's /dapr/config is not valid JSON: {e}"),
                        )
                    });
                }
                Ok(r) => tracing::debug!(status = %r.status(), "app config not ready"),
                Err(e) => tracing::debug!(error = %e, "app not reachable yet"),
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!("the app did not answer GET /dapr/config within {timeout:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Passes an invoked service method through to the app.
    pub(crate) async fn forward(&self, request: ServiceRequest) -> Result<ServiceResponse, Error> {
        if !self.is_healthy() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the app is unhealthy (its health probe fails); try another instance",
            ));
        }
        let mut url = self.base.clone();
        url.set_path(request.method());
        if !request.query().is_empty() {
            url.set_query(Some(request.query()));
        }
        let method = Method::from_bytes(request.verb().as_bytes()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid HTTP verb {:?}", request.verb()),
            )
        })?;
        let mut builder = self
            .client
            .request(method, url)
            .timeout(request.deadline().saturating_duration_since(Instant::now()));
        for (name, value) in request.headers() {
            // The app's token comes from this sidecar only, never from a caller.
            if is_end_to_end(name) && !name.eq_ignore_ascii_case(API_TOKEN_HEADER) {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        // The trace context travels apart from the headers; the app sees it as Dapr's do.
        if let Some(traceparent) = request.header("traceparent") {
            builder = builder.header("traceparent", traceparent);
        }
        let response = builder
            .body(request.body().clone())
            .send()
            .await
            .map_err(|e| unavailable(&format!("method {}", request.method()), &e))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(n, _)| is_end_to_end(n.as_str()))
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(&format!("method {}", request.method()), &e))?;
        let mut reply = ServiceResponse::with_status(status, body);
        for (n, v) in headers {
            reply = reply.header(n, v);
        }
        Ok(reply)
    }

    /// `PUT` to an actor callback path; the body of a 2xx answer, else an actor error carrying
    /// the app's answer.
    pub(crate) async fn actor_put(
        &self,
        segments: &[&str],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, Error> {
        let url = self.url(segments)?;
        let what = segments.join("/");
        let response = self
            .client
            .put(url)
            .header("content-type", "application/json")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(&what, &e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| unavailable(&what, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        let preview = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        Err(Error::app(
            body,
            format!("the app answered {status} to {what}: {preview}"),
        ))
    }

    /// `DELETE /actors/{type}/{id}`: the actor is deactivated.
    pub(crate) async fn deactivate(&self, actor_type: &str, id: &str) -> Result<(), Error> {
        let url = self.url(&["actors", actor_type, id])?;
        let response = self
            .client
            .delete(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| unavailable("deactivation", &e))?;
        if response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::ActorFailed,
                format!(
                    "the app answered {} to deactivating {actor_type}/{id}",
                    response.status()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(go_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("0h0m3s0ms"), Some(Duration::from_secs(3)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(
            go_duration("0h0m0s100ms0μs"),
            Some(Duration::from_millis(100))
        );
        assert_eq!(go_duration("1µs"), Some(Duration::from_micros(1)));
        assert_eq!(go_duration("soon"), None);
    }

    #[tokio::test]
    async fn an_unhealthy_app_gets_no_service_calls_until_it_recovers() {
        use axum::routing::get;
        let up = Arc::new(AtomicBool::new(true));
        let u = Arc::clone(&up);
        let app = axum::Router::new()
            .route(
                "/healthz",
                get(move || {
                    let up = u.load(Ordering::SeqCst);
                    async move {
                        if up {
                            axum::http::StatusCode::OK
                        } else {
                            axum::http::StatusCode::SERVICE_UNAVAILABLE
                        }
                    }
                }),
            )
            .route("/work", get(|| async { "done" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let channel = AppChannel::new(port, None).unwrap();
        channel.probe_health("/healthz", Duration::from_millis(20), 2);
        let host = weft_runtime::Host::builder().start().unwrap();
        let handle = host.handle();
        let request = || ServiceRequest::new(&handle, "work", "GET", Bytes::new());
        let wait_for = |want: bool| {
            let channel = channel.clone();
            async move {
                let start = tokio::time::Instant::now();
                while channel.is_healthy() != want {
                    assert!(
                        start.elapsed() < Duration::from_secs(5),
                        "health never became {want}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        assert_eq!(
            &channel.forward(request()).await.unwrap().body()[..],
            b"done"
        );
        up.store(false, Ordering::SeqCst);
        wait_for(false).await;
        let err = channel.forward(request()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        up.store(true, Ordering::SeqCst);
        wait_for(true).await;
        assert_eq!(
            &channel.forward(request()).await.unwrap().body()[..],
            b"done"
        );
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        assert!(!is_end_to_end("Connection"));
        assert!(!is_end_to_end("content-length"));
        assert!(is_end_to_end("traceparent"));
        assert!(is_end_to_end("content-type"));
    }
}

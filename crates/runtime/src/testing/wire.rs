//! A raw invoke client: sends service calls with whatever the caller claims to be, over a
//! channel of the test's choosing (plain, TLS without a certificate, TLS with an identity).
//! Security tests use it to show the callee believes the certificate, not the request. The TLS
//! channels and `placement_stream` need the `tls` feature.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;
#[cfg(feature = "tls")]
use crate::error::ErrorKind;
use crate::invoke::client::{Peers, RemoteError};
use crate::invoke::proto;
#[cfg(feature = "tls")]
use crate::security::WorkloadIdentity;
use crate::service::ServiceResponse;

/// Sends hand-made service calls to one instance.
#[derive(Debug)]
pub struct RawClient {
    peers: Peers,
}

impl RawClient {
    /// Plain-text HTTP/2.
    pub fn plain() -> Self {
        RawClient {
            peers: Peers::default(),
        }
    }

    /// Mutual TLS with `identity`.
    #[cfg(feature = "tls")]
    pub fn tls(identity: &WorkloadIdentity) -> Self {
        RawClient {
            peers: Peers::with_tls(identity.client_config()),
        }
    }

    /// TLS that verifies the server with `trust_bundle_pem` but presents no certificate.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a bad bundle.
    #[cfg(feature = "tls")]
    pub fn tls_without_certificate(
        trust_bundle_pem: &str,
        trust_domain: &str,
    ) -> Result<Self, Error> {
        let roots = crate::security::identity_roots(trust_bundle_pem)?;
        let config = crate::security::tls::client_config(roots, trust_domain, None, None)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        Ok(RawClient {
            peers: Peers::with_tls(Arc::new(config)),
        })
    }

    /// Calls `method` of `app_id` in `namespace` at `address`, stating `claimed_caller` as the
    /// caller's app id and adding `headers`.
    ///
    /// # Errors
    /// The callee's error, or the transport's (`Unavailable` when the call provably never
    /// reached the callee).
    pub async fn call(
        &self,
        address: &str,
        app_id: &str,
        namespace: &str,
        method: &str,
        claimed_caller: &str,
        headers: &[(&str, &str)],
    ) -> Result<ServiceResponse, Error> {
        let text = |s: &str| bytes::Bytes::copy_from_slice(s.as_bytes());
        let request = proto::ServiceRequest {
            app_id: text(app_id),
            namespace: text(namespace),
            method: text(method),
            verb: text("POST"),
            query: bytes::Bytes::new(),
            headers: headers
                .iter()
                .map(|(n, v)| proto::Header {
                    name: text(n),
                    value: text(v),
                })
                .collect(),
            body: bytes::Bytes::new(),
            caller_app_id: text(claimed_caller),
            traceparent: bytes::Bytes::new(),
            timeout_micros: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        self.peers
            .service(address, Arc::new(request), deadline)
            .await
            .map_err(|e| match e {
                RemoteError::Callee(e) | RemoteError::Transport { error: e, .. } => e,
            })
    }
}

/// Opens a placement stream over mutual TLS with `identity` and sends `register` first, as a
/// host would (or a rogue client holding a valid certificate). Returns the sender for further
/// messages and placement's replies.
///
/// # Errors
/// [`ErrorKind::Unavailable`] when the connection or the stream cannot be opened.
#[cfg(feature = "tls")]
pub async fn placement_stream(
    placement: &str,
    identity: &WorkloadIdentity,
    register: weft_placement::proto::Register,
) -> Result<
    (
        tokio::sync::mpsc::Sender<weft_placement::proto::HostMessage>,
        tonic::Streaming<weft_placement::proto::PlacementMessage>,
    ),
    Error,
> {
    use weft_placement::proto::host_message::Body;
    use weft_placement::proto::placement_client::PlacementClient;
    use weft_placement::proto::HostMessage;
    let unavailable = |e: String| Error::new(ErrorKind::Unavailable, e);
    let channel = tonic::transport::Endpoint::from_shared(placement.to_owned())
        .map_err(|e| unavailable(e.to_string()))?
        .connect_with_connector(crate::security::tls::TlsConnector::new(
            identity.client_config(),
        ))
        .await
        .map_err(|e| unavailable(crate::security::error_chain(&e)))?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(HostMessage {
        body: Some(Body::Register(register)),
    })
    .await
    .map_err(|e| unavailable(e.to_string()))?;
    let replies = PlacementClient::new(channel)
        .connect(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .into_inner();
    Ok((tx, replies))
}

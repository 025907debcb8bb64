//! The signing service: checks the join token, signs the CSR for the requested SPIFFE id.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::proto::sentry_server::Sentry;
use super::proto::{SignReply, SignRequest};
use super::{CertificateAuthority, JoinToken, SpiffeId};

/// The namespace of an empty `namespace` field.
const DEFAULT_NAMESPACE: &str = "default";

/// The gRPC signing service of one Sentry.
#[derive(Debug, Clone)]
pub(crate) struct SigningService {
    pub(crate) ca: Arc<CertificateAuthority>,
    pub(crate) token: JoinToken,
    pub(crate) trust_domain: String,
    pub(crate) ttl: Duration,
}

#[tonic::async_trait]
impl Sentry for SigningService {
    async fn sign_certificate(
        &self,
        request: tonic::Request<SignRequest>,
    ) -> Result<tonic::Response<SignReply>, tonic::Status> {
        let remote = request.remote_addr();
        let request = request.into_inner();
        let namespace = if request.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            &request.namespace
        };
        if !self.token.matches(&request.token) {
            tracing::warn!(target: "weft::audit", remote = ?remote, app_id = %request.app_id.chars().take(64).collect::<String>(),
                "certificate request refused: wrong join token");
            return Err(tonic::Status::unauthenticated(
                "the join token was not accepted",
            ));
        }
        let id = SpiffeId::new(&self.trust_domain, namespace, &request.app_id)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let issued = self
            .ca
            .sign(&request.csr_der, &id, self.ttl)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let not_after_unix = issued
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0);
        tracing::info!(target: "weft::audit", remote = ?remote, spiffe_id = %id,
            ttl = ?self.ttl, "workload certificate issued");
        Ok(tonic::Response::new(SignReply {
            cert_chain_der: vec![issued.cert_der.to_vec()],
            trust_bundle_der: vec![self.ca.trust_bundle_der().to_vec()],
            not_after_unix,
            spiffe_id: id.to_string(),
        }))
    }
}

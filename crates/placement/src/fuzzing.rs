//! Entry points for the fuzz targets (`fuzz/`) and the decoder property tests: each runs one
//! decoder of bytes that arrive from the network the way placement does, and returns what it
//! made of them. Not a public API: it may change in any release.

use prost::Message;

use crate::membership::{RegisterRules, Registration};
use crate::proto::host_message::Body;
use crate::proto::{HostEntry, HostMessage, Phase};

/// A host's stream message decoded as `Connect` reads it (default bounds, plain text): a
/// `Register` validated into a table
/// entry and its actor types (sorted, deduplicated); `Ok(None)` for any other known message;
/// `Err` with the reason placement would send back in `Rejected`.
pub fn register(bytes: &[u8]) -> Result<Option<(HostEntry, String, Vec<String>)>, String> {
    let message = HostMessage::decode(bytes).map_err(|e| format!("undecodable: {e}"))?;
    match message.body {
        Some(Body::Register(register)) => {
            let config = crate::PlacementConfig::default();
            let rules = RegisterRules {
                config: &config,
                identity: None,
            };
            let registration = Registration::try_from_register(register, rules)?;
            let entry = registration.entry();
            let types = registration.actor_types.into_iter().collect();
            Ok(Some((entry, registration.namespace, types)))
        }
        Some(Body::Ack(ack)) => match Phase::try_from(ack.phase) {
            Ok(phase) if phase != Phase::Unspecified => Ok(None),
            _ => Err(format!("ack without a known phase {}", ack.phase)),
        },
        Some(Body::Heartbeat(_) | Body::Leave(_)) => Ok(None),
        None => Err("a message without a known body".to_owned()),
    }
}

//! The [`Host`]: it composes the runtime's parts (see `builder`), hands out [`HostHandle`]s,
//! and owns every task it started, until [`Host::shutdown`] ends them in order or dropping it
//! stops them.

mod builder;
pub(crate) mod handle;
mod start;

pub use builder::HostBuilder;
pub use handle::{CallOptions, HostHandle};

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::actor::table::ActivationTable;
use crate::error::Error;

/// A running host: its actor types and their activations.
///
/// Dropping a `Host` stops every task it started: idle scanners, the reminder scheduler, the
/// invoke and metrics servers and the placement stream (placement then treats the host as
/// gone). Activations that are running finish their turns but get no new calls from other
/// hosts. Call [`Host::shutdown`] to end a host gracefully.
#[derive(Debug)]
pub struct Host {
    handle: HostHandle,
    table: Arc<ActivationTable>,
    /// Idle scanners and the reminder scheduler.
    background: Vec<JoinHandle<()>>,
    /// The invoke and metrics servers.
    servers: Vec<JoinHandle<()>>,
    /// The placement stream of a cluster host.
    placement_client: Option<JoinHandle<()>>,
    /// Stops the invoke and metrics servers.
    stop_servers: CancellationToken,
}

impl Host {
    /// A cheap, cloneable handle for calling actors.
    pub fn handle(&self) -> HostHandle {
        self.handle.clone()
    }

    /// Shuts down gracefully: no new calls are taken; every activation finishes its running and
    /// queued turns, runs `on_deactivate` and commits; then the store is flushed.
    ///
    /// # Errors
    /// [`ErrorKind::DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded) when activations did
    /// not finish within the shutdown timeout; [`ErrorKind::Store`](crate::ErrorKind::Store)
    /// when the final flush fails.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let inner = Arc::clone(&self.handle.inner);
        self.table.begin_shutdown();
        // Scanners and the reminder scheduler; the servers stop below, after the actors.
        for task in self.background.drain(..) {
            task.abort();
        }
        let timeout = inner.config.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        let (count, all) = self.table.deactivate_all();
        if tokio::time::timeout_at(deadline, all).await.is_err() {
            return Err(Error::deadline(format!(
                "shutdown: activations still running after {timeout:?} (of {count} asked to stop)"
            )));
        }
        if let Some(cluster) = &inner.cluster {
            // Our actors are deactivated and committed: now leave placement (its next round
            // moves them elsewhere, at once: we say `Leave`, so it need not wait for our lease).
            cluster.stop_client.cancel();
            if let Some(client) = self.placement_client.take() {
                let _ = tokio::time::timeout(Duration::from_secs(2), client).await;
            }
        }
        // ...and stop serving other hosts.
        self.stop_servers.cancel();
        self.servers.clear();
        let store = self.handle.store()?;
        store.flush().await?;
        // Release the store, so its resources (sled's directory lock) are freed even while
        // handles to this host live on: a new host may open the same directory.
        drop(store);
        inner
            .store
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        tracing::info!(deactivated = count, "host shut down");
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_servers.cancel();
        for task in self.background.iter().chain(&self.servers) {
            task.abort();
        }
        // Not a `Leave`: without a graceful shutdown our actors were not drained, so placement
        // must treat this host as failed (and wait out its lease) before it moves them.
        if let Some(client) = &self.placement_client {
            client.abort();
        }
    }
}

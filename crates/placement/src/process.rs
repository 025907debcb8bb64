//! Process plumbing shared by the `weft-placement` and `weft-sentry` binaries: logging to
//! stderr and waiting for the shutdown signal.
//!
//! Why in the library: a binary target cannot share a module with another binary except
//! through the library they both link, and the two processes must log and stop the same way.
//! Not part of the public API: the items are hidden from the docs and may change.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the process-wide `tracing` subscriber: human-readable lines on stderr (coloured when
/// stderr is a terminal), filtered by `RUST_LOG` (default `info`).
///
/// # Errors
/// When a global subscriber is already installed (call it once, first thing in `main`).
pub fn init_logging() -> Result<(), tracing_subscriber::util::TryInitError> {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .try_init()
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one. When a signal cannot be listened for,
/// a warning says so and only the other one stops the process.
///
/// # Cancel safety
/// Cancel safe: dropping the future only stops listening.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

//! One host of a multi-host shop: serves `cart` and `order` actors placed on it by
//! `weft-placement`, with state in a Redis that every host shares (so actors can move).
//!
//! ```sh
//! cargo run --example shop_host -- --id host-1 --listen 127.0.0.1:7001 \
//!     --placement http://127.0.0.1:50005 --redis redis://127.0.0.1:6379
//! ```
//! Stops gracefully on ctrl-c (its actors deactivate and commit, then move elsewhere).

#[path = "shop/actors.rs"]
#[allow(dead_code)]
mod actors;

use std::net::SocketAddr;

use actors::{Cart, Order};
use clap::Parser;
use weft::{ClusterConfig, Host, RedisStore};

/// A shop host.
#[derive(Debug, Parser)]
struct Args {
    /// Stable id of this host.
    #[arg(long)]
    id: String,
    /// Where other hosts reach this one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The placement service.
    #[arg(long, default_value = "http://127.0.0.1:50005")]
    placement: String,
    /// The shared state store.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let host = Host::builder()
        .app_id("shop")
        .store(RedisStore::connect(&args.redis).await?)
        .cluster(ClusterConfig::new(&args.id, &args.placement).listen(args.listen))
        .actor::<Cart>()
        .actor::<Order>()
        .start()?;
    let handle = host.handle();
    handle
        .wait_ready(std::time::Duration::from_secs(30))
        .await?;
    println!(
        "host {} serving cart and order at {} (placement {}, state {})",
        args.id,
        handle.address().unwrap_or("?"),
        args.placement,
        args.redis
    );
    tokio::signal::ctrl_c().await?;
    println!("host {}: shutting down", args.id);
    host.shutdown().await?;
    Ok(())
}

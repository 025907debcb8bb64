//! Drives the shop across a cluster of `shop_host`s: fills carts, checks out, pays and ships,
//! then shows which host served each actor. It joins the cluster as a host that serves no
//! actors, so its calls route straight to the owners.
//!
//! ```sh
//! cargo run --example shop_driver -- --placement http://127.0.0.1:50005 --customers 6
//! ```

#[path = "shop/actors.rs"]
#[allow(dead_code)]
mod actors;

use std::collections::BTreeMap;
use std::time::Duration;

use actors::{Cart, Order};
use clap::Parser;
use weft::{ClusterConfig, Host, MemoryStore};

/// The shop driver.
#[derive(Debug, Parser)]
struct Args {
    /// The placement service.
    #[arg(long, default_value = "http://127.0.0.1:50005")]
    placement: String,
    /// How many customers to run through the flow.
    #[arg(long, default_value_t = 6)]
    customers: usize,
    /// Only read back the orders of an earlier run (for example after stopping a host).
    #[arg(long)]
    check: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Serves no actors, so it never holds state: an in-memory store is enough.
    let host = Host::builder()
        .app_id("shop")
        .store(MemoryStore::new())
        .cluster(ClusterConfig::new(
            format!("driver-{}", std::process::id()),
            &args.placement,
        ))
        .start()?;
    let shop = host.handle();
    shop.wait_ready(Duration::from_secs(30)).await?;
    let mut served: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..args.customers {
        let (customer, order_id) = (format!("customer-{i}"), format!("order-{i}"));
        let cart = shop.actor::<Cart>(customer.as_str());
        let order = shop.actor::<Order>(order_id.as_str());
        if !args.check {
            cart.add("coffee".into(), 1).await??;
            cart.add("apple".into(), i64::try_from(i + 1)?).await??;
            let total = cart.checkout(order_id.clone()).await??;
            order.pay(total).await??;
            order.ship(format!("TRK-{i}")).await??;
        }
        let view = order.view().await?;
        println!(
            "{order_id}: {:?} for {}, total {}.{:02}",
            view.status,
            view.customer,
            view.total / 100,
            view.total % 100
        );
        served
            .entry(cart.served_by().await?)
            .or_default()
            .push(format!("cart/{customer}"));
        served
            .entry(order.served_by().await?)
            .or_default()
            .push(format!("order/{order_id}"));
    }
    println!("\nwho served what:");
    for (host_id, actors) in &served {
        println!(
            "  {host_id}: {} actors ({})",
            actors.len(),
            actors.join(", ")
        );
    }
    drop(shop);
    host.shutdown().await?;
    Ok(())
}

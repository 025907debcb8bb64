//! The shop demo: carts and orders as typed virtual actors on one host, on the embedded sled
//! store, driven through a realistic flow.
//!
//! Run: `cargo run --example shop` (state in a fresh temporary folder), or
//! `cargo run --example shop -- ./shop-state` to keep it across runs.

mod actors;

use actors::{Cart, Order};
use weft::{Host, SledStore};

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn start(dir: &std::path::Path) -> Result<Host, weft::Error> {
    Host::builder()
        .app_id("shop")
        .store(SledStore::open(dir)?)
        .actor::<Cart>()
        .actor::<Order>()
        .start()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!(
        "Weft shop demo: one host, sled state in {}\n",
        dir.display()
    );
    let host = start(&dir)?;
    let shop = host.handle();

    let ada = shop.actor::<Cart>("ada");
    println!("ada fills her cart:");
    println!("  add 3 apple  -> {:?}", ada.add("apple".into(), 3).await?);
    println!("  add 1 coffee -> {:?}", ada.add("coffee".into(), 1).await?);
    println!("  add 2 mug    -> {:?}", ada.add("mug".into(), 2).await?);
    println!("  remove 1 mug -> {:?}", ada.remove("mug".into(), 1).await?);
    println!(
        "  add 0 pear   -> {:?}   (refused, nothing stored)",
        ada.add("pear".into(), 0).await?
    );
    println!("  add 1 caviar -> {:?}", ada.add("caviar".into(), 1).await?);
    for line in ada.lines().await? {
        println!(
            "  {:>3} x {:<7} {:>8}",
            line.qty,
            line.sku,
            money(line.total())
        );
    }
    println!("  total {}", money(ada.total().await?));

    println!("\nada checks out (the cart calls the order actor):");
    let total = ada.checkout("order-1".into()).await??;
    println!(
        "  order-1 placed, total {}; cart total now {}",
        money(total),
        money(ada.total().await?)
    );

    let order = shop.actor::<Order>("order-1");
    println!("\norder-1's life:");
    println!(
        "  ship before paying -> {:?}",
        order.ship("TRK-1".into()).await?
    );
    println!("  pay 1.00           -> {:?}", order.pay(100).await?);
    println!(
        "  pay {}         -> {:?}",
        money(total),
        order.pay(total).await?
    );
    println!(
        "  ship               -> {:?}",
        order.ship("TRK-1".into()).await?
    );
    println!("  cancel             -> {:?}", order.cancel().await?);

    println!("\nbob checks out, then cancels:");
    let bob = shop.actor::<Cart>("bob");
    bob.add("pear".into(), 4).await??;
    println!(
        "  checkout empty cart of carol -> {:?}",
        shop.actor::<Cart>("carol")
            .checkout("order-x".into())
            .await?
    );
    println!(
        "  bob checkout order-2 -> {:?}",
        bob.checkout("order-2".into()).await?
    );
    println!("  bob checkout order-1 -> {:?}   (order-1 exists)", {
        bob.add("apple".into(), 1).await??;
        bob.checkout("order-1".into()).await?
    });
    println!(
        "  cancel order-2 -> {:?}",
        shop.actor::<Order>("order-2").cancel().await?
    );

    println!("\nrestart the host on the same folder; everything is where it was:");
    host.shutdown().await?;
    let host = start(&dir)?;
    let shop = host.handle();
    for id in ["order-1", "order-2"] {
        let v = shop.actor::<Order>(id).view().await?;
        println!(
            "  {id}: {:?} for {}, total {}, tracking {:?}",
            v.status,
            v.customer,
            money(v.total),
            v.tracking
        );
    }
    println!(
        "  bob's cart still holds: {:?}",
        shop.actor::<Cart>("bob").lines().await?
    );
    println!(
        "  ada's orders: {:?}",
        shop.actor::<Cart>("ada").orders().await?
    );
    host.shutdown().await?;
    Ok(())
}

//! Bank accounts as virtual actors on one host with the embedded sled store.
//!
//! Shows: activation on first call, turn-by-turn durable state, concurrent deposits that never
//! race, a typed error that commits nothing, idle deactivation, and a host restart that finds
//! every balance where it was.
//!
//! Run: `cargo run --example accounts` (state in a fresh temporary folder), or
//! `cargo run --example accounts -- ./my-state` to keep it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weft::{Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, SledStore};

/// An account: its balance (in cents) is the actor's durable state under key `balance`.
struct Account {
    activations: Arc<AtomicUsize>,
}

fn cents(b: &[u8]) -> Result<i64, Error> {
    let raw: [u8; 8] = b
        .try_into()
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "amount must be 8 bytes"))?;
    Ok(i64::from_be_bytes(raw))
}

fn enc(n: i64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

impl Actor for Account {
    async fn on_activate(&self, ctx: &Context) -> Result<(), Error> {
        self.activations.fetch_add(1, Ordering::Relaxed);
        println!("  [{}] activated", ctx.key());
        Ok(())
    }

    async fn on_deactivate(&self, ctx: &Context) -> Result<(), Error> {
        println!("  [{}] deactivated", ctx.key());
        Ok(())
    }

    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        let balance = match ctx.state().get("balance").await? {
            Some(b) => cents(&b)?,
            None => 0,
        };
        match call.method() {
            "balance" => Ok(enc(balance)),
            "deposit" => {
                let amount = cents(call.payload())?;
                if amount <= 0 {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        "deposit must be positive",
                    ));
                }
                ctx.state().set("balance", enc(balance + amount));
                Ok(enc(balance + amount))
            }
            "withdraw" => {
                let amount = cents(call.payload())?;
                if amount > balance {
                    return Err(Error::new(
                        ErrorKind::ActorFailed,
                        format!("insufficient funds: balance {balance}, asked {amount}"),
                    ));
                }
                ctx.state().set("balance", enc(balance - amount));
                Ok(enc(balance - amount))
            }
            // Moves money to another account: an actor-to-actor call inside this turn. The
            // withdrawal commits only if the deposit succeeded.
            "transfer" => {
                let (to, amount) = std::str::from_utf8(call.payload())
                    .ok()
                    .and_then(|s| s.split_once(':'))
                    .and_then(|(to, a)| Some((to.to_owned(), a.parse::<i64>().ok()?)))
                    .ok_or_else(|| {
                        Error::new(ErrorKind::InvalidArgument, "expected `to:amount`")
                    })?;
                if amount <= 0 || amount > balance {
                    return Err(Error::new(ErrorKind::ActorFailed, "transfer refused"));
                }
                ctx.call("account", &to, "deposit", enc(amount)).await?;
                ctx.state().set("balance", enc(balance - amount));
                Ok(enc(balance - amount))
            }
            other => Err(Error::new(
                ErrorKind::NotFound,
                format!("no method `{other}`"),
            )),
        }
    }
}

fn start(dir: &std::path::Path, activations: &Arc<AtomicUsize>) -> Result<Host, Error> {
    let activations = Arc::clone(activations);
    Host::builder()
        .app_id("bank")
        .store(SledStore::open(dir)?)
        .register(
            ActorRegistration::new("account", move |_id| Account {
                activations: Arc::clone(&activations),
            })
            .idle_timeout(Duration::from_millis(500))
            .scan_interval(Duration::from_millis(100)),
        )
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
        "Weft demo: bank accounts on one host, state in {}",
        dir.display()
    );
    let activations = Arc::new(AtomicUsize::new(0));
    first_run(&dir, &activations).await?;

    println!("\n5. a new host on the same folder (the first one shut down and closed the store):");
    let host = start(&dir, &activations)?;
    let bank = host.handle();
    for who in ["alice", "bob"] {
        let b = cents(&bank.call("account", who, "balance", Bytes::new()).await?)?;
        println!("   {who}: {:.2} (read back from sled)", b as f64 / 100.0);
    }
    drop(bank);
    host.shutdown().await?;
    println!(
        "\nactivations in total: {}",
        activations.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn first_run(
    dir: &std::path::Path,
    activations: &Arc<AtomicUsize>,
) -> Result<(), Box<dyn std::error::Error>> {
    let host = start(dir, activations)?;
    let bank = host.handle();

    println!("\n1. 200 concurrent deposits of 1.00 into alice (turns never overlap):");
    let mut deposits = Vec::new();
    for _ in 0..200 {
        let bank = bank.clone();
        deposits.push(tokio::spawn(async move {
            bank.call("account", "alice", "deposit", enc(100)).await
        }));
    }
    for d in deposits {
        d.await??;
    }
    let alice = cents(
        &bank
            .call("account", "alice", "balance", Bytes::new())
            .await?,
    )?;
    println!("   alice: {:.2}", alice as f64 / 100.0);

    println!("\n2. alice transfers 50.00 to bob (actor-to-actor call):");
    bank.call(
        "account",
        "alice",
        "transfer",
        Bytes::from_static(b"bob:5000"),
    )
    .await?;
    for who in ["alice", "bob"] {
        let b = cents(&bank.call("account", who, "balance", Bytes::new()).await?)?;
        println!("   {who}: {:.2}", b as f64 / 100.0);
    }

    println!("\n3. bob withdraws 80.00 (more than he has): refused, nothing committed:");
    match bank.call("account", "bob", "withdraw", enc(8000)).await {
        Err(e) => println!("   error: {e}"),
        Ok(_) => println!("   unexpected success"),
    }

    println!("\n4. idle for 1 s: actors are deactivated (idle timeout 500 ms):");
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("   active accounts now: {}", bank.active_count("account"));

    host.shutdown().await?;
    Ok(())
}

//! Reminders on one host with the embedded sled store: a typed actor asks to be reminded three
//! times, 300 ms apart; the reminders survive the actor's deactivation, and the last firing
//! cancels the reminder by its return value.
//!
//! `cargo run --example reminders`

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft::{Context, Host, Reminder, ReminderConfig, ReminderOutcome, SledStore};

/// Counts the reminders it received; durable state, so it survives deactivation.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Kettle {
    beeps: u32,
}

#[weft::actor]
impl Kettle {
    /// Asks to be reminded: first in 200 ms, then every 300 ms, at most 5 times.
    pub async fn boil(&mut self, ctx: &Context) -> Result<(), String> {
        let reminder = Reminder::new("beep")
            .callback("beep")
            .try_due_time("200ms")
            .and_then(|r| r.try_period("R5/PT0.3S"))
            .map_err(|e| e.to_string())?;
        ctx.register_reminder(reminder)
            .await
            .map_err(|e| e.to_string())
    }

    /// The reminder's callback: beeps three times, then cancels the reminder.
    pub async fn beep(&mut self, ctx: &Context) -> ReminderOutcome {
        self.beeps += 1;
        println!("{} beeps ({})", ctx.id(), self.beeps);
        if self.beeps == 3 {
            ReminderOutcome::Cancel
        } else {
            ReminderOutcome::Keep
        }
    }

    /// How many times it beeped.
    pub async fn beeps(&self) -> u32 {
        self.beeps
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let host = Host::builder()
        .store(SledStore::open(dir.path().join("state"))?)
        .reminders(ReminderConfig::default().poll_interval(Duration::from_millis(100)))
        // Idle after 100 ms: the kettle is deactivated between beeps and reactivated by them.
        .idle_timeout(Duration::from_millis(100))
        .scan_interval(Duration::from_millis(50))
        .actor::<Kettle>()
        .start()?;
    let h = host.handle();
    h.actor::<Kettle>("k1").boil().await??;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.get_reminder("Kettle", "k1", "beep").await?.is_some() {
        if tokio::time::Instant::now() > deadline {
            return Err("the reminder did not end".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "k1 beeped {} times; reminder gone; stats {:?}",
        h.actor::<Kettle>("k1").beeps().await?,
        h.reminder_stats()
    );
    host.shutdown().await?;
    Ok(())
}

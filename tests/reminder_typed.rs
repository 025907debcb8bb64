//! Reminders with `#[weft::actor]`: a reminder names any method of the typed actor, its data are
//! that method's arguments, and returning `ReminderOutcome::Cancel` ends it. No macro attribute
//! is needed.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use weft::{Context, Error, Host, MemoryStore, Reminder, ReminderConfig, ReminderOutcome};

/// Counts reminder firings in its state, and cancels its reminder once it reached `stop_at`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Pager {
    pages: u32,
}

#[weft::actor]
impl Pager {
    /// Starts paging every 50 ms until `stop_at` pages were sent.
    pub async fn start(&mut self, ctx: &Context, stop_at: u32) -> Result<(), String> {
        let reminder = Reminder::new("page")
            .callback("page")
            .period(Duration::from_millis(50))
            .args(&stop_at)
            .map_err(|e| e.to_string())?;
        ctx.register_reminder(reminder)
            .await
            .map_err(|e| e.to_string())
    }

    /// The reminder's callback: an ordinary method, its argument from the reminder's data.
    pub async fn page(&mut self, stop_at: u32) -> ReminderOutcome {
        self.pages += 1;
        if self.pages >= stop_at {
            ReminderOutcome::Cancel
        } else {
            ReminderOutcome::Keep
        }
    }

    /// Pages sent so far.
    pub async fn pages(&self) -> u32 {
        self.pages
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_actor_receives_reminders_and_cancels_by_return_value() -> Result<(), Error> {
    let host = Host::builder()
        .store(MemoryStore::new())
        .reminders(ReminderConfig::default().poll_interval(Duration::from_millis(100)))
        .actor::<Pager>()
        .start()?;
    let h = host.handle();
    let pager = h.actor::<Pager>("p1");
    pager.start(4).await?.unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.get_reminder("Pager", "p1", "page").await?.is_some() {
        assert!(Instant::now() < deadline, "the reminder was not cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pager.pages().await?,
        4,
        "fired until its callback returned Cancel"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pager.pages().await?, 4, "fired after it was cancelled");
    host.shutdown().await
}

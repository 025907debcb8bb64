//! Reminders on one host, through the public API, on real stores (memory, sled, Redis).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::{
    Actor, ActorRegistration, Call, CallOrigin, Context, Error, ErrorKind, Host, HostBuilder,
    MemoryStore, Reminder, ReminderConfig, ReminderOutcome, StateStore,
};

/// What the test actor saw: one line per reminder turn, `name:data`.
#[derive(Debug, Default)]
struct Log {
    fired: Mutex<Vec<String>>,
    activations: AtomicU64,
}

impl Log {
    fn count(&self, name: &str) -> usize {
        let fired = self.fired.lock().unwrap_or_else(|p| p.into_inner());
        fired
            .iter()
            .filter(|l| l.split(':').next() == Some(name))
            .count()
    }
}

/// Records reminder turns; replies `Cancel` when the data says so, and counts its own firings
/// in state (`n`), so a test can check that reminder turns commit.
struct Alarm {
    log: Arc<Log>,
}

impl Actor for Alarm {
    async fn on_activate(&self, _ctx: &Context) -> Result<(), Error> {
        self.log.activations.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        match (call.origin(), call.method()) {
            (CallOrigin::Reminder(name), "receive_reminder") => {
                let data = String::from_utf8_lossy(call.payload()).into_owned();
                self.log
                    .fired
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{name}:{data}"));
                let n = match ctx.state().get("n").await? {
                    Some(b) => b.first().copied().unwrap_or(0),
                    None => 0,
                };
                ctx.state().set("n", Bytes::copy_from_slice(&[n + 1]));
                if data == "cancel" {
                    return Ok(ReminderOutcome::Cancel.into_reply());
                }
                Ok(Bytes::new())
            }
            (CallOrigin::Call, "n") => Ok(ctx.state().get("n").await?.unwrap_or_default()),
            (CallOrigin::Call, "register") => {
                let reminder = Reminder::new(String::from_utf8_lossy(call.payload()))
                    .due(Duration::from_millis(50));
                ctx.register_reminder(reminder).await?;
                Ok(Bytes::new())
            }
            (_, other) => Err(Error::new(
                ErrorKind::NotFound,
                format!("no method {other}"),
            )),
        }
    }
}

fn fast() -> ReminderConfig {
    ReminderConfig::default().poll_interval(Duration::from_millis(100))
}

fn builder(store: Arc<dyn StateStore>, log: &Arc<Log>) -> HostBuilder {
    let log = Arc::clone(log);
    Host::builder()
        .shared_store(store)
        .reminders(fast())
        .register(ActorRegistration::new("alarm", move |_id| Alarm {
            log: Arc::clone(&log),
        }))
}

/// Polls `f` until it holds or `within` passes.
async fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn invalid_schedules_are_rejected_with_clear_errors() {
    for bad in ["R0/PT1S", "often", "-5s", "PT0S", "1M"] {
        let e = Reminder::new("r").try_period(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(e.message().contains(bad), "{e}");
    }
    assert!(Reminder::new("r").try_due_time("soon").is_err());
    assert!(Reminder::new("r").try_ttl("2030-02-30T00:00:00Z").is_err());
    assert!(Reminder::new("").validate().is_err());
    assert!(Reminder::new("r").repetitions(0).validate().is_err());
    assert!(
        Reminder::new("r").repetitions(3).validate().is_err(),
        "no period"
    );
    assert!(Reminder::new("r")
        .period(Duration::from_secs(1))
        .repetitions(3)
        .validate()
        .is_ok());
}

#[test]
fn cancel_is_recognised_raw_and_as_typed_actors_encode_it() {
    use crate::Codec;
    let cancel = ReminderOutcome::Cancel;
    assert_eq!(ReminderOutcome::from_reply(&cancel.into_reply()), cancel);
    for codec in [Codec::Binary, Codec::Json] {
        let encoded = codec.encode(&cancel).unwrap();
        assert_eq!(ReminderOutcome::from_reply(&encoded), cancel, "{codec:?}");
        let keep = codec.encode(&ReminderOutcome::Keep).unwrap();
        assert_eq!(ReminderOutcome::from_reply(&keep), ReminderOutcome::Keep);
    }
    assert_eq!(ReminderOutcome::from_reply(b""), ReminderOutcome::Keep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_registrations_are_rejected() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log).start().unwrap();
    let h = host.handle();
    let ttl_before_due = Reminder::new("r")
        .due(Duration::from_secs(10))
        .ttl(Duration::from_secs(1));
    for (id, r) in [
        ("a1", ttl_before_due),
        ("", Reminder::new("r")),
        ("a||b", Reminder::new("r")),
        ("a1", Reminder::new("r").period(Duration::ZERO)),
    ] {
        let e = h.register_reminder("alarm", id, r).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    assert!(host
        .handle()
        .get_reminder("alarm", "a1", "r")
        .await
        .unwrap()
        .is_none());
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_time_or_ttl_past_the_representable_range_is_refused_not_fired_at_once() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log).start().unwrap();
    let h = host.handle();
    let far = "P150000000000000D";
    let cases = [
        ("due time", Reminder::new("r").try_due_time(far).unwrap()),
        (
            "TTL",
            Reminder::new("r")
                .period(Duration::from_secs(1))
                .try_ttl(far)
                .unwrap(),
        ),
    ];
    for (what, r) in cases {
        let e = h.register_reminder("alarm", "a1", r).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(what), "{e}");
        assert!(e.message().contains("too far"), "{e}");
    }
    assert!(h.get_reminder("alarm", "a1", "r").await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log.count("r"), 0, "nothing fired");
    host.shutdown().await.unwrap();
}

/// Due time + period + repetitions: exactly `n` firings, never early, then the reminder is gone.
async fn fires_repetitions_then_ends(store: Arc<dyn StateStore>) {
    let log = Arc::new(Log::default());
    let host = builder(store, &log).start().unwrap();
    let h = host.handle();
    let registered = std::time::Instant::now();
    h.register_reminder(
        "alarm",
        "a1",
        Reminder::new("rep")
            .try_due_time("200ms")
            .unwrap()
            .try_period("R3/PT0.1S")
            .unwrap()
            .data(Bytes::from_static(b"x")),
    )
    .await
    .unwrap();
    let info = h.get_reminder("alarm", "a1", "rep").await.unwrap().unwrap();
    assert_eq!((info.remaining, info.fired), (Some(3), 0));
    // Not early: nothing in the first 150 ms.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(log.count("rep"), 0, "fired before its due time");
    eventually(Duration::from_secs(5), "3 firings", || {
        log.count("rep") >= 3
    })
    .await;
    assert!(
        registered.elapsed() >= Duration::from_millis(400),
        "periods were not kept"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h
        .get_reminder("alarm", "a1", "rep")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ended reminder still registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three more polls: no fourth firing.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(log.count("rep"), 3);
    let n = h.call("alarm", "a1", "n", Bytes::new()).await.unwrap();
    assert_eq!(&n[..], &[3], "every reminder turn committed its state");
    assert_eq!(h.reminder_stats().fired, 3);
    assert_eq!(h.reminder_stats().duplicates, 0);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repetitions_fire_exactly_n_times_on_memory() {
    fires_repetitions_then_ends(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "sled")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repetitions_fire_exactly_n_times_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::SledStore::open(dir.path().join("s")).unwrap();
    fires_repetitions_then_ends(Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repetitions_fire_exactly_n_times_on_redis() {
    let server = crate::testing::RedisServer::start().unwrap();
    let store = crate::RedisStore::connect(&server.url()).await.unwrap();
    fires_repetitions_then_ends(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_ends_a_periodic_reminder() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log).start().unwrap();
    let h = host.handle();
    let reminder = Reminder::new("ttl")
        .try_period("100ms")
        .unwrap()
        .try_ttl("PT0.45S")
        .unwrap();
    h.register_reminder("alarm", "a1", reminder).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h
        .get_reminder("alarm", "a1", "ttl")
        .await
        .unwrap()
        .is_some()
    {
        assert!(tokio::time::Instant::now() < deadline, "TTL did not end it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fired = log.count("ttl");
    // Due at 0, 100, 200, 300, 400 ms; ends at 450 ms.
    assert!(
        (1..=5).contains(&fired),
        "{fired} firings within a 450 ms TTL"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(log.count("ttl"), fired, "fired after its TTL");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_stops_a_reminder_and_cancel_by_reply_ends_it() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log).start().unwrap();
    let h = host.handle();
    let every = |name: &str| Reminder::new(name).period(Duration::from_millis(50));
    h.register_reminder("alarm", "a1", every("stop"))
        .await
        .unwrap();
    h.register_reminder(
        "alarm",
        "a1",
        every("self").data(Bytes::from_static(b"cancel")),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(5), "firings", || log.count("stop") >= 2).await;
    assert!(h.unregister_reminder("alarm", "a1", "stop").await.unwrap());
    assert!(!h.unregister_reminder("alarm", "a1", "stop").await.unwrap());
    let after = log.count("stop");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // One firing may have been running when it was unregistered.
    assert!(
        log.count("stop") <= after + 1,
        "unregistered reminder kept firing"
    );
    assert_eq!(
        log.count("self"),
        1,
        "a callback replying Cancel ends its reminder"
    );
    assert!(h
        .get_reminder("alarm", "a1", "self")
        .await
        .unwrap()
        .is_none());
    host.shutdown().await.unwrap();
}

/// A reminder fires on an actor that idle collection deactivated (activating it again), and a
/// reminder registered from a turn through the `Context` fires too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_survives_deactivation_and_reactivates_its_actor() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log)
        .idle_timeout(Duration::from_millis(100))
        .scan_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    let h = host.handle();
    h.call("alarm", "a1", "register", Bytes::from_static(b"ctx"))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "ctx reminder", || {
        log.count("ctx") == 1
    })
    .await;
    h.register_reminder(
        "alarm",
        "a1",
        Reminder::new("later").due(Duration::from_millis(700)),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.active_count("alarm") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "actor never went idle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let activations = log.activations.load(Ordering::SeqCst);
    eventually(Duration::from_secs(5), "fired after deactivation", || {
        log.count("later") == 1
    })
    .await;
    assert_eq!(log.activations.load(Ordering::SeqCst), activations + 1);
    host.shutdown().await.unwrap();
}

/// The host is down while a periodic reminder is due several times; after a restart on the same
/// sled directory the missed periods fire once, then the schedule goes on.
#[cfg(feature = "sled")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_periods_coalesce_into_one_firing_after_a_restart_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let log = Arc::new(Log::default());
    {
        let store = Arc::new(crate::SledStore::open(&path).unwrap());
        let host = builder(store, &log).start().unwrap();
        host.handle()
            .register_reminder(
                "alarm",
                "a1",
                Reminder::new("tick")
                    .due(Duration::from_millis(100))
                    .period(Duration::from_millis(200)),
            )
            .await
            .unwrap();
        eventually(Duration::from_secs(5), "first firing", || {
            log.count("tick") >= 1
        })
        .await;
        host.shutdown().await.unwrap();
    }
    let before = log.count("tick");
    // Down for 8 periods.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let store = Arc::new(crate::SledStore::open(&path).unwrap());
    let host = builder(store, &log).start().unwrap();
    eventually(Duration::from_secs(5), "fired after restart", || {
        log.count("tick") > before
    })
    .await;
    // Within 300 ms of the first firing after the restart: that one coalesced firing plus at
    // most the two period boundaries that can fall in the window, not 8 missed periods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = log.count("tick") - before;
    assert!(
        (1..=3).contains(&after),
        "{after} firings right after the restart: missed periods were not coalesced"
    );
    // And the schedule goes on.
    eventually(Duration::from_secs(5), "next period", || {
        log.count("tick") > before + after
    })
    .await;
    let info = host
        .handle()
        .get_reminder("alarm", "a1", "tick")
        .await
        .unwrap()
        .unwrap();
    assert!(info.next_due > std::time::SystemTime::now() - Duration::from_millis(200));
    host.shutdown().await.unwrap();
}

/// Reminder turns count as use: a periodic reminder keeps its actor from going idle, while the
/// idle timeout deactivates an actor nothing calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_turns_reset_the_idle_timer() {
    let log = Arc::new(Log::default());
    let host = builder(Arc::new(MemoryStore::new()), &log)
        .idle_timeout(Duration::from_millis(600))
        .scan_interval(Duration::from_millis(50))
        .start()
        .unwrap();
    let h = host.handle();
    h.register_reminder(
        "alarm",
        "busy",
        Reminder::new("keep").period(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    h.call("alarm", "idle", "n", Bytes::new()).await.unwrap();
    eventually(Duration::from_secs(5), "busy activated", || {
        log.count("keep") >= 1
    })
    .await;
    let activations = log.activations.load(Ordering::SeqCst);
    // Two and a half idle timeouts long.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        h.active_count("alarm"),
        1,
        "only the reminded actor stays active"
    );
    assert_eq!(
        log.activations.load(Ordering::SeqCst),
        activations,
        "the reminded actor was deactivated between firings"
    );
    assert!(log.count("keep") >= 6, "the reminder stopped firing");
    host.shutdown().await.unwrap();
}

/// Plays "another host" inside the callback: advances the reminder's record past this period
/// (as a host that fired the same period would), so this firing's own advance loses its ETag
/// race and must be counted as a duplicate rather than applied.
struct Racer;

impl Actor for Racer {
    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        let CallOrigin::Reminder(name) = call.origin() else {
            return Ok(Bytes::new());
        };
        let store = ctx.host().store()?;
        let app = &ctx.host().config().app_id;
        let key = super::record::record_key(app, "racer", ctx.id().as_str(), name);
        if let Some(stored) = store.get(&key).await? {
            let record = super::record::Record::decode(&stored.value)?;
            if record.fired == 0 {
                let other = record
                    .after_firing(super::record::now_ms())
                    .ok_or_else(|| Error::new(ErrorKind::Internal, "periodic"))?;
                store
                    .transact(vec![
                        crate::state::Operation::Set {
                            key: key.clone(),
                            value: other.encode()?,
                            condition: crate::state::Condition::Matches(stored.etag),
                        },
                        crate::state::Operation::IndexAdd {
                            index: super::record::index_key(app, "racer"),
                            member: key,
                            score: other.next_due_ms,
                        },
                    ])
                    .await?;
            }
        }
        Ok(Bytes::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_fired_twice_is_counted_as_a_duplicate_and_not_applied_twice() {
    let builder = Host::builder()
        .store(MemoryStore::new())
        .reminders(fast())
        .register(ActorRegistration::new("racer", |_id| Racer));
    #[cfg(feature = "metrics")]
    let builder = builder.metrics("127.0.0.1:0".parse().unwrap());
    let host = builder.start().unwrap();
    let h = host.handle();
    h.register_reminder(
        "racer",
        "r1",
        Reminder::new("race").period(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.reminder_stats().duplicates == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            h.reminder_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = h
        .get_reminder("racer", "r1", "race")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        info.fired, 1,
        "the losing host's advance must not be applied on top"
    );
    assert_eq!(h.reminder_stats().fired, 1);
    // The same counts reach Prometheus (recorded just after the stats, so allow a moment).
    #[cfg(feature = "metrics")]
    let metrics = h.metrics().expect("metrics are on");
    #[cfg(feature = "metrics")]
    for (result, n) in [("fired", 1), ("duplicate", 1)] {
        let line =
            format!(r#"weft_reminder_firings_total{{actor_type="racer",result="{result}"}} {n}"#);
        loop {
            let text = metrics.encode();
            if text.lines().any(|l| l == line) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{line:?} not in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    host.shutdown().await.unwrap();
}

#[test]
fn a_reminder_re_fires_after_never_sent_idempotent_only_and_uncommitted_turns_only() {
    use crate::error::{RetryClass, ALL_KINDS};
    for kind in ALL_KINDS {
        let expected = match kind.retry_class() {
            RetryClass::NeverSent | RetryClass::IdempotentOnly => true,
            RetryClass::Never => matches!(kind, ErrorKind::Store | ErrorKind::Conflict),
        };
        let e = Error::new(kind, "m");
        assert_eq!(super::fire::is_transient(&e), expected, "{kind}");
    }
}

#[test]
fn a_reminder_re_fires_after_a_transient_store_failure_and_not_after_a_permanent_one() {
    use crate::state::{StoreError, StoreErrorKind};
    let failed = |kind| Error::from(StoreError::new(kind, "get", "injected"));
    for kind in [StoreErrorKind::Unavailable, StoreErrorKind::Backend] {
        assert!(super::fire::is_transient(&failed(kind)), "{kind:?}");
    }
    for kind in [StoreErrorKind::Corrupt, StoreErrorKind::Invalid] {
        assert!(!super::fire::is_transient(&failed(kind)), "{kind:?}");
    }
}

/// Fails every reminder turn with the store error its data names (`transient` or `permanent`).
struct Faulty {
    log: Arc<Log>,
}

impl Actor for Faulty {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        use crate::state::{StoreError, StoreErrorKind};
        let data = String::from_utf8_lossy(call.payload()).into_owned();
        self.log
            .fired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("turn:{data}"));
        let kind = if data == "transient" {
            StoreErrorKind::Unavailable
        } else {
            StoreErrorKind::Corrupt
        };
        Err(StoreError::new(kind, "get", "injected").into())
    }
}

async fn faulty_host(data: &'static str) -> (Host, Arc<Log>) {
    let log = Arc::new(Log::default());
    let actor_log = Arc::clone(&log);
    let host = Host::builder()
        .store(MemoryStore::new())
        .reminders(fast())
        .register(ActorRegistration::new("faulty", move |_id| Faulty {
            log: Arc::clone(&actor_log),
        }))
        .start()
        .unwrap();
    host.handle()
        .register_reminder(
            "faulty",
            "f1",
            Reminder::new("once")
                .due(Duration::from_millis(10))
                .data(Bytes::from_static(data.as_bytes())),
        )
        .await
        .unwrap();
    (host, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_failing_with_a_transient_store_error_is_fired_again() {
    let (host, log) = faulty_host("transient").await;
    let h = host.handle();
    eventually(Duration::from_secs(5), "two retried firings", || {
        h.reminder_stats().retried >= 2
    })
    .await;
    assert!(log.count("turn") >= 2);
    assert_eq!(h.reminder_stats().fired, 0, "{:?}", h.reminder_stats());
    assert!(h
        .get_reminder("faulty", "f1", "once")
        .await
        .unwrap()
        .is_some());
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_failing_with_corrupt_data_counts_as_fired_and_is_not_retried() {
    let (host, log) = faulty_host("permanent").await;
    let h = host.handle();
    eventually(Duration::from_secs(5), "the firing", || {
        h.reminder_stats().fired >= 1
    })
    .await;
    // Three polls later: the one-shot reminder ended, and nothing fired it again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log.count("turn"), 1);
    assert_eq!(h.reminder_stats().retried, 0, "{:?}", h.reminder_stats());
    assert!(h
        .get_reminder("faulty", "f1", "once")
        .await
        .unwrap()
        .is_none());
    host.shutdown().await.unwrap();
}

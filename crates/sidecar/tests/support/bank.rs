//! The bank scenario shared by `python_pause` and `python_placement_restart`.
//!
//! Real processes on loopback: a redis-server, `weft-placement` (faulty-host timeout 2 s), three
//! `weftd` with a Python app each (`bank_app.py`: the Dapr SDK's `Actor`, actor type `Account`)
//! on one Redis store, and a fourth `weftd` without an app that the test's 16 clients call to
//! deposit into 20 accounts (a call slower than 250 ms goes on in the background while its
//! client starts the next, so calls stuck on a stopped host do not stop the load). The apps log
//! every deposit turn with its CLOCK_MONOTONIC interval (system-wide on Linux, so comparable
//! across processes).
//!
//! [`judge`] checks what every scenario must keep: every account's final balance lies between
//! its acknowledged deposits and its acknowledged plus failed ones (no acknowledged deposit lost,
//! none applied twice), and no two acknowledged turns of one actor overlap in time. It prints
//! the overlaps involving turns whose call was not acknowledged, and the longest windows without
//! a successful call around the scenario's events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use weft_runtime::testing::RedisServer;

use super::{free_port, python_app, wait_for_port, PlacementProc, Proc, Weftd};

/// Longest wait for any process to become ready.
pub const LIMIT: Duration = Duration::from_secs(30);
pub const ACCOUNTS: usize = 20;
pub const CLIENTS: usize = 16;
/// A bound on the number of deposits, whatever the machine's speed.
pub const MAX_CALLS: usize = 20_000;
/// Each client call's timeout (the client `weftd` has the same --call-timeout).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for a call before it starts the next one.
pub const PATIENCE: Duration = Duration::from_millis(250);
/// Calls one client leaves running in the background at most.
pub const OPEN_PER_CLIENT: usize = 16;
/// The clients stop by this long after the load started, whatever happens.
pub const LOAD_HARD_LIMIT: Duration = Duration::from_secs(16);
pub const ACTOR_TYPE: &str = "Account";
/// Placement's settings, for its first start and its restarts alike.
pub const PLACEMENT_FLAGS: [&str; 6] = [
    "--faulty-host-timeout",
    "2s",
    "--ack-timeout",
    "3s",
    "--lock-timeout",
    "5s",
];

/// One scenario at a time in a test binary: each runs a cluster of processes against a clock on
/// a small machine, and a placement restart re-binds a port another scenario's `free_port` could
/// otherwise pick meanwhile.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SCENARIO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SCENARIO.lock().await
}

/// CLOCK_MONOTONIC in nanoseconds, the clock of Python's `time.monotonic_ns()`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    let secs = u64::try_from(ts.tv_sec).expect("non-negative seconds");
    let nanos = u64::try_from(ts.tv_nsec).expect("non-negative nanoseconds");
    secs * 1_000_000_000 + nanos
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A process stopped with SIGSTOP; SIGCONT on drop, so a failing test leaves no stopped
/// process behind (and the `Proc` that owns it, dropped later, kills a running one).
pub struct Stopped {
    pid: u32,
}

impl Stopped {
    pub fn stop(proc: &Proc) -> Stopped {
        let pid = proc.id();
        signal(pid, libc::SIGSTOP).unwrap_or_else(|e| panic!("SIGSTOP {}: {e}", proc.name));
        Stopped { pid }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // Best effort: the process may be gone.
        let _ = signal(self.pid, libc::SIGCONT);
    }
}

/// One app: its `weftd`, the Python process and its turn log.
pub struct Bank {
    pub name: String,
    pub sidecar: Weftd,
    pub app: Proc,
    pub app_port: u16,
    pub log: PathBuf,
}

/// One deposit as the client saw it.
#[derive(Debug)]
pub struct Call {
    pub account: usize,
    pub req: String,
    pub acked: bool,
    /// CLOCK_MONOTONIC when the answer (or the failure) came.
    pub done_ns: u64,
    /// `200`, or how it failed.
    pub outcome: String,
}

/// One turn as an app logged it.
#[derive(Debug, Clone, Deserialize)]
pub struct Turn {
    pub req: String,
    pub actor: String,
    pub app: String,
    pub start: u64,
    pub end: u64,
    pub ok: bool,
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// Why a call failed, short: the status and Dapr error code, or the transport error's kind.
async fn failure(reply: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match reply {
        Ok(r) if r.status() == reqwest::StatusCode::OK => match r.bytes().await {
            Ok(_) => Ok(()),
            Err(e) if e.is_timeout() => Err("timeout (body)".to_owned()),
            Err(_) => Err("error (body)".to_owned()),
        },
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap_or_default();
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["errorCode"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Err(format!("{status} {code}"))
        }
        Err(e) if e.is_timeout() => Err("timeout".to_owned()),
        Err(e) if e.is_connect() => Err("connect".to_owned()),
        Err(_) => Err("transport".to_owned()),
    }
}

/// One deposit of `req` into `account`, bounded by `CALL_TIMEOUT`.
async fn deposit(client: reqwest::Client, base: String, account: usize, req: String) -> Call {
    let reply = client
        .post(format!(
            "{base}/actors/{ACTOR_TYPE}/acct-{account}/method/deposit"
        ))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({ "req": req }).to_string())
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let result = failure(reply).await;
    Call {
        account,
        req,
        acked: result.is_ok(),
        done_ns: monotonic_ns(),
        outcome: result.err().unwrap_or_else(|| "200".to_owned()),
    }
}

/// A client: deposits one after the other until `stop`, the hard deadline or `MAX_CALLS` calls
/// in all. A call that takes longer than `PATIENCE` goes on in the background (up to
/// `OPEN_PER_CLIENT` of them) while the client starts the next one, so calls stuck on a
/// stopped host do not stop the load on the others.
async fn client_task(
    task: usize,
    client: reqwest::Client,
    base: String,
    next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut slow: Vec<tokio::task::JoinHandle<Call>> = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut i = 0;
        while i < slow.len() {
            if slow[i].is_finished() {
                calls.push(slow.swap_remove(i).await.expect("a deposit"));
            } else {
                i += 1;
            }
        }
        if slow.len() >= OPEN_PER_CLIENT {
            calls.push(slow.remove(0).await.expect("a deposit"));
            continue;
        }
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= MAX_CALLS {
            break;
        }
        let account = n % ACCOUNTS;
        let req = format!("c{task}-{n}");
        let mut call = tokio::spawn(deposit(client.clone(), base.clone(), account, req));
        match tokio::time::timeout(PATIENCE, &mut call).await {
            Ok(done) => calls.push(done.expect("a deposit")),
            Err(_) => slow.push(call),
        }
    }
    // Each is bounded by CALL_TIMEOUT.
    for call in slow {
        calls.push(call.await.expect("a deposit"));
    }
    calls
}

/// Calls `balance` of account `account` through `base` until it answers 200 with a number.
pub async fn read_balance(client: &reqwest::Client, base: &str, account: usize) -> Option<i64> {
    for _ in 0..10 {
        let reply = client
            .post(format!(
                "{base}/actors/{ACTOR_TYPE}/acct-{account}/method/balance"
            ))
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        if let Ok(r) = reply {
            if r.status().is_success() {
                if let Ok(body) = r.bytes().await {
                    if let Ok(n) = serde_json::from_slice::<i64>(&body) {
                        return Some(n);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    None
}

/// The balance in the store, read through an app `weftd`'s state API.
async fn stored_balance(client: &reqwest::Client, base: &str, account: usize) -> Option<i64> {
    let r = client
        .get(format!(
            "{base}/actors/{ACTOR_TYPE}/acct-{account}/state/balance"
        ))
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .ok()?;
    match r.status().as_u16() {
        204 => Some(0),
        200 => serde_json::from_slice(&r.bytes().await.ok()?).ok(),
        _ => None,
    }
}

/// Actors active on the `weftd` at `base` (its `/v1.0/metadata`).
pub async fn active_actors(client: &reqwest::Client, base: &str) -> i64 {
    let Ok(r) = client
        .get(format!("{base}/metadata"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
    else {
        return -1;
    };
    let Ok(body) = r.bytes().await else {
        return -1;
    };
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["actors"][0]["count"].as_i64())
        .unwrap_or(-1)
}

/// The hosts of the `Account` table in placement's state (empty when there is none).
pub fn table_hosts(state: &serde_json::Value) -> Vec<String> {
    state["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["actorType"] == ACTOR_TYPE)
        .flat_map(|t| t["hosts"].as_array().cloned().unwrap_or_default())
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect()
}

fn read_turns(log: &Path) -> Vec<Turn> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // A line cut short by a killed process does not parse: skipped.
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Pairs of turns of one actor whose [start, end] intervals overlap.
fn overlaps<'a>(turns: &[&'a Turn]) -> Vec<(&'a Turn, &'a Turn)> {
    let mut by_actor: BTreeMap<&str, Vec<&'a Turn>> = BTreeMap::new();
    for t in turns {
        by_actor.entry(t.actor.as_str()).or_default().push(t);
    }
    let mut pairs = Vec::new();
    for list in by_actor.values_mut() {
        list.sort_by_key(|t| t.start);
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if b.start >= a.end {
                    break;
                }
                pairs.push((*a, *b));
            }
        }
    }
    pairs
}

/// Milliseconds from `origin` to `t`, signed.
pub fn ms(t: u64, origin: u64) -> f64 {
    (t as f64 - origin as f64) / 1e6
}

fn describe(pair: &(&Turn, &Turn), origin: u64) -> String {
    let (a, b) = pair;
    format!(
        "{}: {} {} [{:+.0}..{:+.0} ms] {} / {} {} [{:+.0}..{:+.0} ms] {}",
        a.actor,
        a.app,
        a.req,
        ms(a.start, origin),
        ms(a.end, origin),
        if a.ok { "ok" } else { "failed" },
        b.app,
        b.req,
        ms(b.start, origin),
        ms(b.end, origin),
        if b.ok { "ok" } else { "failed" },
    )
}

/// The window without a successful call that contains `at`: (length, from, to), in ns.
fn gap_around(successes: &[u64], at: u64, load: (u64, u64)) -> (u64, u64, u64) {
    let before = successes
        .iter()
        .copied()
        .filter(|&t| t <= at)
        .max()
        .unwrap_or(load.0);
    let after = successes
        .iter()
        .copied()
        .filter(|&t| t > at)
        .min()
        .unwrap_or(load.1);
    (after.saturating_sub(before), before, after)
}

/// The longest window without a successful call during the load: (length, from, to), in ns.
fn longest_gap(sorted: &[u64], load: (u64, u64)) -> (u64, u64, u64) {
    let mut points = vec![load.0];
    points.extend_from_slice(sorted);
    points.push(load.1);
    points
        .windows(2)
        .map(|w| (w[1].saturating_sub(w[0]), w[0], w[1]))
        .max()
        .unwrap_or_default()
}

/// The running cluster: redis, placement, three banks and the client `weftd`.
pub struct BankCluster {
    pub redis: RedisServer,
    pub placement: PlacementProc,
    pub banks: Vec<Bank>,
    pub client_sidecar: Weftd,
    pub client: reqwest::Client,
    /// The client `weftd`'s `/v1.0` base URL: where the load goes.
    pub base: String,
    _logs: tempfile::TempDir,
}

impl BankCluster {
    /// Starts everything, waits until placement's `Account` table has the three banks and every
    /// account answers through the client `weftd` with a balance of 0.
    pub async fn start() -> BankCluster {
        // Built (or found up to date) before anything starts: the clock of the scenario is
        // tight.
        tokio::task::spawn_blocking(super::placement_binary)
            .await
            .expect("the build task");
        let redis = tokio::task::spawn_blocking(RedisServer::start)
            .await
            .expect("the redis task")
            .expect("redis-server starts");
        let mut flags = PLACEMENT_FLAGS.to_vec();
        // The cluster's first placement: no earlier leases to wait out.
        flags.extend(["--startup-grace", "0s"]);
        let mut placement = PlacementProc::start(&flags);
        placement.ready(LIMIT).await;
        let address = placement.address();
        let logs = tempfile::tempdir().expect("a log directory");

        // Three hosts of `Account`, one app id (Dapr keys actor state by app id), one store.
        let mut banks = Vec::new();
        for i in 1..=3 {
            let name = format!("bank-{i}");
            let app_port = free_port();
            let sidecar = Weftd::start(
                "bank",
                Some(app_port),
                &address,
                &["--host-id", &name, "--state-store", &redis.url()],
            );
            let log = logs.path().join(format!("{name}.jsonl"));
            let app = python_app(
                &name,
                "bank_app.py",
                &[
                    &app_port.to_string(),
                    &name,
                    log.to_str().expect("a UTF-8 path"),
                ],
                sidecar.http_port,
            );
            banks.push(Bank {
                name,
                sidecar,
                app,
                app_port,
                log,
            });
        }
        let mut client_sidecar = Weftd::start(
            "bank-client",
            None,
            &address,
            &["--host-id", "bank-client", "--call-timeout", "5s"],
        );
        for bank in &mut banks {
            wait_for_port(bank.app_port, LIMIT).await;
            bank.sidecar.ready(LIMIT).await;
            assert!(bank.app.is_running(), "{} exited", bank.app.name);
        }
        client_sidecar.ready(LIMIT).await;
        let cluster = BankCluster {
            redis,
            placement,
            banks,
            base: client_sidecar.base(),
            client_sidecar,
            client: http(),
            _logs: logs,
        };
        let start = Instant::now();
        loop {
            let hosts = cluster.table_hosts().await.unwrap_or_default();
            if hosts.len() == cluster.banks.len() {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "placement's {ACTOR_TYPE} table has {hosts:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Every account answers through the client sidecar, with nothing deposited yet.
        for account in 0..ACCOUNTS {
            let balance = read_balance(&cluster.client, &cluster.base, account).await;
            assert_eq!(
                balance,
                Some(0),
                "acct-{account} before the load, through the client weftd (None: no answer \
                 within 10 tries; is a bank without a placement lease?)"
            );
        }
        cluster
    }

    /// The hosts of placement's `Account` table, or `None` when placement does not answer.
    pub async fn table_hosts(&self) -> Option<Vec<String>> {
        self.placement.state().await.map(|s| table_hosts(&s))
    }

    /// Kills placement (SIGKILL: no goodbye to the hosts, as in a crash).
    pub fn kill_placement(&mut self) {
        self.placement.kill();
    }

    /// Starts placement again on the address the hosts keep retrying, with its default startup
    /// grace (the faulty-host timeout: leases its predecessor granted run out first); returns
    /// when it answers.
    pub async fn restart_placement(&mut self) {
        self.placement.restart(&PLACEMENT_FLAGS, LIMIT).await;
    }

    /// Actors active on each bank, in bank order.
    pub async fn active_counts(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for bank in &self.banks {
            counts.push(active_actors(&self.client, &bank.sidecar.base()).await);
        }
        counts
    }
}

/// The deposit load: `CLIENTS` clients through the client `weftd`.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Call>>>,
    /// CLOCK_MONOTONIC when the load started.
    pub start_ns: u64,
}

impl Load {
    pub fn start(cluster: &BankCluster) -> Load {
        let next = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let start_ns = monotonic_ns();
        let deadline = Instant::now() + LOAD_HARD_LIMIT;
        let tasks = (0..CLIENTS)
            .map(|task| {
                tokio::spawn(client_task(
                    task,
                    cluster.client.clone(),
                    cluster.base.clone(),
                    Arc::clone(&next),
                    Arc::clone(&stop),
                    deadline,
                ))
            })
            .collect();
        Load {
            stop,
            tasks,
            start_ns,
        }
    }

    /// Stops the clients and waits for their calls (each bounded by `CALL_TIMEOUT`); returns
    /// them and the load's span, (start, end) in CLOCK_MONOTONIC ns.
    pub async fn finish(self) -> (Vec<Call>, (u64, u64)) {
        self.stop.store(true, Ordering::Relaxed);
        let mut calls = Vec::new();
        for task in self.tasks {
            calls.extend(task.await.expect("a client task"));
        }
        (calls, (self.start_ns, monotonic_ns()))
    }
}

/// What [`judge`] found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub acked: i64,
    pub failed: i64,
    /// Failed calls by how they failed.
    pub why: BTreeMap<String, usize>,
    /// Acknowledged deposits missing from the balances.
    pub lost: i64,
    /// Deposits in the balances beyond the acknowledged and failed ones.
    pub excess: i64,
    /// Accounts whose balance could not be read after the run.
    pub unreadable: Vec<usize>,
    /// Accounts whose balance is out of bounds, described.
    pub short: Vec<String>,
    /// Overlapping pairs of acknowledged turns, described (times from the origin).
    pub overlaps: Vec<String>,
    /// Overlapping pairs involving a turn that was not acknowledged.
    pub other_overlaps: usize,
    /// Per event: the longest window without a successful call around it for one account, and
    /// for all accounts (ns).
    pub gaps: Vec<(&'static str, u64, u64)>,
}

impl Verdict {
    /// One line for comparing runs: the counts and, per event, the one-account gap in ms.
    pub fn summary(&self, label: &str) -> String {
        let gaps: String = self
            .gaps
            .iter()
            .map(|(name, one, _)| {
                format!(
                    " gap_{}_ms={:.0}",
                    name.replace(' ', "_"),
                    *one as f64 / 1e6
                )
            })
            .collect();
        format!(
            "SUMMARY {label} acked={} failed={} lost={} excess={} overlaps={} \
             overlaps_non_acked={}{gaps}",
            self.acked,
            self.failed,
            self.lost,
            self.excess,
            self.overlaps.len(),
            self.other_overlaps
        )
    }

    /// The checks every scenario must pass: enough load to judge, every balance readable, no
    /// acknowledged deposit lost, none applied beyond what was sent, no overlapping
    /// acknowledged turns.
    pub fn assert_safe(&self) {
        assert!(
            self.acked >= 100,
            "too little load to judge: {}",
            self.acked
        );
        assert!(
            self.unreadable.is_empty(),
            "balances unreadable after the run: {:?}",
            self.unreadable
        );
        assert!(
            self.lost == 0 && self.excess == 0 && self.overlaps.is_empty(),
            "{} acknowledged deposits lost, {} applied beyond what was sent, {} overlapping \
             pairs of acknowledged turns:\n{}\n{}",
            self.lost,
            self.excess,
            self.overlaps.len(),
            self.short.join("\n"),
            self.overlaps
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Reads the balances and the turn logs after a run and compares them with the clients' view
/// (`calls`, made during `load`); measures the longest window without a successful call around
/// each of `events` (name, CLOCK_MONOTONIC ns). Times print relative to the first event. Prints
/// what it found.
pub async fn judge(
    cluster: &BankCluster,
    calls: &[Call],
    load: (u64, u64),
    events: &[(&'static str, u64)],
) -> Verdict {
    let (origin_name, origin) = *events.first().expect("an event");
    let mut verdict = Verdict::default();

    // The clients' view.
    let mut acked = [0_i64; ACCOUNTS];
    let mut failed = [0_i64; ACCOUNTS];
    let mut acked_ids = HashSet::new();
    let mut successes: Vec<Vec<u64>> = vec![Vec::new(); ACCOUNTS];
    for call in calls {
        if call.acked {
            acked[call.account] += 1;
            acked_ids.insert(call.req.as_str());
            successes[call.account].push(call.done_ns);
        } else {
            failed[call.account] += 1;
            *verdict.why.entry(call.outcome.clone()).or_default() += 1;
        }
    }
    verdict.acked = acked.iter().sum();
    verdict.failed = failed.iter().sum();
    println!(
        "{} calls: {} acknowledged, {} failed {:?}",
        calls.len(),
        verdict.acked,
        verdict.failed,
        verdict.why
    );

    // Check 1: no acknowledged deposit lost, none applied beyond what was sent. The stored
    // balance (printed for accounts out of bounds) is read through a bank that is up.
    let reader = cluster.banks.last().expect("banks").sidecar.base();
    for account in 0..ACCOUNTS {
        let Some(balance) = read_balance(&cluster.client, &cluster.base, account).await else {
            verdict.unreadable.push(account);
            continue;
        };
        let (a, f) = (acked[account], failed[account]);
        if balance < a || balance > a + f {
            let stored = stored_balance(&cluster.client, &reader, account).await;
            verdict.short.push(format!(
                "acct-{account}: balance {balance} (stored {stored:?}), acked {a}, failed {f}"
            ));
        }
        verdict.lost += (a - balance).max(0);
        verdict.excess += (balance - a - f).max(0);
    }
    for line in &verdict.short {
        println!("  {line}");
    }

    // Check 2: acknowledged turns of one actor do not overlap.
    let mut turns = Vec::new();
    for bank in &cluster.banks {
        turns.extend(read_turns(&bank.log));
    }
    let acked_turns: Vec<&Turn> = turns
        .iter()
        .filter(|t| t.ok && acked_ids.contains(t.req.as_str()))
        .collect();
    let mut executions: HashMap<&str, usize> = HashMap::new();
    for t in &acked_turns {
        *executions.entry(t.req.as_str()).or_default() += 1;
    }
    let twice = executions.values().filter(|&&n| n > 1).count();
    let unlogged = acked_ids
        .iter()
        .filter(|id| !executions.contains_key(*id))
        .count();
    let acked_overlaps = overlaps(&acked_turns);
    let all_turns: Vec<&Turn> = turns.iter().collect();
    let other_overlaps: Vec<_> = overlaps(&all_turns)
        .into_iter()
        .filter(|(a, b)| {
            !(a.ok
                && b.ok
                && acked_ids.contains(a.req.as_str())
                && acked_ids.contains(b.req.as_str()))
        })
        .collect();
    verdict.overlaps = acked_overlaps.iter().map(|p| describe(p, origin)).collect();
    verdict.other_overlaps = other_overlaps.len();
    println!(
        "{} turns logged ({} failed in the app); acknowledged calls: {twice} ran twice, \
         {unlogged} not in any log",
        turns.len(),
        turns.iter().filter(|t| !t.ok).count()
    );
    println!(
        "{} overlapping pairs of acknowledged turns (times from the {origin_name}):",
        verdict.overlaps.len()
    );
    for line in verdict.overlaps.iter().take(20) {
        println!("  {line}");
    }
    println!(
        "{} overlapping pairs involving a turn that was not acknowledged:",
        other_overlaps.len()
    );
    for pair in other_overlaps.iter().take(10) {
        println!("  {}", describe(pair, origin));
    }

    // Measure: the longest windows without a successful call around each event.
    for list in &mut successes {
        list.sort_unstable();
    }
    let mut all: Vec<u64> = successes.iter().flatten().copied().collect();
    all.sort_unstable();
    let window = |(len, from, to): (u64, u64, u64)| {
        format!(
            "{:.0} ms [{:+.0}..{:+.0} ms from the {origin_name}]",
            len as f64 / 1e6,
            ms(from, origin),
            ms(to, origin)
        )
    };
    let longest = (0..ACCOUNTS)
        .map(|a| (longest_gap(&successes[a], load), a))
        .max()
        .expect("accounts");
    println!(
        "longest gap without a success anywhere in the load: one account (acct-{}) {}, \
         all accounts {}",
        longest.1,
        window(longest.0),
        window(longest_gap(&all, load))
    );
    for &(name, at) in events {
        let (one, account) = (0..ACCOUNTS)
            .map(|a| (gap_around(&successes[a], at, load), a))
            .max_by_key(|((len, _, _), _)| *len)
            .expect("accounts");
        let any = gap_around(&all, at, load);
        println!(
            "longest gap without a success around the {name} (at {:+.0} ms): acct-{account} {}, \
             any account {}",
            ms(at, origin),
            window(one),
            window(any)
        );
        verdict.gaps.push((name, one.0, any.0));
    }
    verdict
}

//! Test harness: a Python venv with the official Dapr SDK, real `weftd` processes, Python apps
//! as child processes, a placement server in this process.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod bank;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The Python interpreter of a venv with `dapr`, `dapr-ext-fastapi`, `uvicorn`, `requests`.
///
/// `WEFT_PYTHON_VENV` names an existing venv (`.ci/run` creates one); otherwise one is created
/// once under the target directory, with the packages from PyPI.
pub fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    VENV.get_or_init(|| {
        let _guard = LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let venv = std::env::var_os("WEFT_PYTHON_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("dapr-venv"));
        let python = venv.join("bin").join("python");
        let marker = venv.join(".weft-ready");
        if !marker.exists() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 -m venv");
            assert!(status.success(), "creating the venv failed");
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "dapr",
                    "dapr-ext-fastapi",
                    "uvicorn",
                    "requests",
                ])
                .status()
                .expect("pip install");
            assert!(status.success(), "pip install of the Dapr SDK failed");
            std::fs::write(&marker, b"ok").expect("venv marker");
        }
        python
    })
    .clone()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("python")
        .join(name)
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command) -> Proc {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
        }
    }

    /// Kills the process now (SIGKILL).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits up to `limit` for it to exit.
    pub fn terminate(mut self, limit: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now (SIGKILL) and reaps it, keeping the `Proc` (dropping it later is
    /// a no-op).
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python app: `script` with `args`, talking to the weftd on `dapr_http_port`.
pub fn python_app(name: &str, script_name: &str, args: &[&str], dapr_http_port: u16) -> Proc {
    Proc::spawn(
        name,
        Command::new(python())
            .arg(script(script_name))
            .args(args)
            .env("DAPR_HTTP_PORT", dapr_http_port.to_string())
            .env("DAPR_GRPC_PORT", free_port().to_string())
            .env("PYTHONUNBUFFERED", "1"),
    )
}

/// A `weftd` process; `extra` flags after the common ones.
pub struct Weftd {
    pub proc: Proc,
    pub http_port: u16,
}

impl Weftd {
    pub fn start(app_id: &str, app_port: Option<u16>, placement: &str, extra: &[&str]) -> Weftd {
        let mut args: Vec<String> = vec!["--placement-host-address".into(), placement.into()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Self::start_with(app_id, app_port, &args)
    }

    /// A `weftd` with exactly these flags besides its app id, ports and log level.
    pub fn start_with(app_id: &str, app_port: Option<u16>, args: &[String]) -> Weftd {
        let http_port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_weftd"));
        command
            .args(["--app-id", app_id])
            .args(["--dapr-http-port", &http_port.to_string()])
            .args(args)
            .env("RUST_LOG", "warn");
        if let Some(port) = app_port {
            command.args(["--app-port", &port.to_string()]);
        }
        Weftd {
            proc: Proc::spawn(&format!("weftd {app_id}"), &mut command),
            http_port,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1.0", self.http_port)
    }

    /// Waits until `/v1.0/healthz` answers 204.
    pub async fn ready(&mut self, limit: Duration) {
        let url = format!("{}/healthz", self.base());
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let start = Instant::now();
        loop {
            assert!(self.proc.is_running(), "{} exited", self.proc.name);
            if let Ok(r) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status() == reqwest::StatusCode::NO_CONTENT {
                    return;
                }
            }
            assert!(
                start.elapsed() < limit,
                "{} not ready in {limit:?}",
                self.proc.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A placement server in this process.
pub async fn placement() -> (weft_placement::RunningPlacement, String) {
    let config = weft_placement::PlacementConfig::default()
        .faulty_host_timeout(Duration::from_secs(2))
        // The cluster's first placement: no earlier leases to wait out.
        .startup_grace(Duration::ZERO);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let running = weft_placement::start(config, any, None)
        .await
        .expect("placement starts");
    let addr = running.grpc_addr().to_string();
    (running, addr)
}

/// Runs a Python script to completion (bounded by `limit`) and parses its stdout as JSON.
pub async fn run_json(
    script_name: &str,
    args: &[&str],
    dapr_http_port: u16,
    limit: Duration,
) -> serde_json::Value {
    let mut command = tokio::process::Command::new(python());
    command
        .arg(script(script_name))
        .args(args)
        .env("DAPR_HTTP_PORT", dapr_http_port.to_string())
        .env("DAPR_GRPC_PORT", free_port().to_string())
        .kill_on_drop(true)
        .stdin(Stdio::null());
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script_name} did not finish within {limit:?}"))
        .expect("run the script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script_name} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script_name} output {stdout:?}: {e}"))
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < limit,
            "nothing listens on {port} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `weft-placement` binary: `WEFT_PLACEMENT_BIN` when set, else built with cargo (a no-op
/// when it is up to date) into the target directory `weftd` was built in. Only the sidecar's
/// own binaries have a `CARGO_BIN_EXE_*`, so a test that wants placement as a process builds it.
pub fn placement_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WEFT_PLACEMENT_BIN") {
            return PathBuf::from(bin);
        }
        // <target dir>/<profile dir>/weftd
        let weftd = Path::new(env!("CARGO_BIN_EXE_weftd"));
        let profile_dir = weftd.parent().expect("weftd's directory");
        let target_dir = profile_dir.parent().expect("the target directory");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        // Without the variables cargo sets for this test process: build scripts that watch one
        // (ring watches CARGO_MANIFEST_DIR) would otherwise rebuild on every switch between
        // this build and a plain `cargo build` or `cargo test`.
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            let set_by_cargo = matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_BIN_NAME"
                    | "CARGO_MANIFEST_LINKS"
                    | "OUT_DIR"
            ) || key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_EXE_");
            if set_by_cargo {
                command.env_remove(key);
            }
        }
        let mut build = command
            .args([
                "build",
                "--quiet",
                "-p",
                "weft-placement",
                "--bin",
                "weft-placement",
            ])
            .args(["--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .spawn()
            .expect("run cargo build -p weft-placement");
        // Bounded: a first build on a small machine takes minutes, a stuck one fails.
        let limit = Duration::from_secs(900);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = build.try_wait().expect("wait for cargo build") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = build.kill();
                let _ = build.wait();
                panic!("cargo build -p weft-placement did not finish in {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "building weft-placement failed");
        let bin = profile_dir.join(format!("weft-placement{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.exists(),
            "no {} after the build; set WEFT_PLACEMENT_BIN",
            bin.display()
        );
        bin
    })
    .clone()
}

/// A `weft-placement` process on free loopback ports; `extra` flags after the addresses.
pub struct PlacementProc {
    pub proc: Proc,
    pub grpc_port: u16,
    pub http_port: u16,
}

impl PlacementProc {
    pub fn start(extra: &[&str]) -> PlacementProc {
        Self::start_on(free_port(), free_port(), extra)
    }

    /// A `weft-placement` process on these ports.
    pub fn start_on(grpc_port: u16, http_port: u16, extra: &[&str]) -> PlacementProc {
        let mut command = Command::new(placement_binary());
        command
            .args(["--listen", &format!("127.0.0.1:{grpc_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(extra)
            .env("RUST_LOG", "warn");
        PlacementProc {
            proc: Proc::spawn("weft-placement", &mut command),
            grpc_port,
            http_port,
        }
    }

    /// The gRPC address hosts connect to, `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// `GET /placement/state`, or `None` when it does not answer.
    pub async fn state(&self) -> Option<serde_json::Value> {
        let client = reqwest::Client::builder().no_proxy().build().ok()?;
        let reply = client
            .get(format!(
                "http://127.0.0.1:{}/placement/state",
                self.http_port
            ))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        if !reply.status().is_success() {
            return None;
        }
        serde_json::from_slice(&reply.bytes().await.ok()?).ok()
    }

    /// Waits until `/placement/state` answers.
    pub async fn ready(&mut self, limit: Duration) {
        let start = Instant::now();
        while self.state().await.is_none() {
            assert!(self.proc.is_running(), "weft-placement exited");
            assert!(
                start.elapsed() < limit,
                "weft-placement not ready in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process (SIGKILL: no goodbye to the hosts, as in a crash) and reaps it.
    pub fn kill(&mut self) {
        self.proc.kill_now();
    }

    /// Kills the process if it still runs, then starts `weft-placement` again with `extra` on
    /// the same ports, so hosts retrying the address they were given reconnect; returns when
    /// `/placement/state` answers. A killed process's listening sockets go with it, and the
    /// connections it had that linger in TIME_WAIT do not stop a bind with SO_REUSEADDR (std and
    /// tokio both set it); still, each attempt waits until both ports bind here, and a new
    /// process that exits (it lost a race for a port) is started again, all within `limit`.
    pub async fn restart(&mut self, extra: &[&str], limit: Duration) {
        self.kill();
        let start = Instant::now();
        loop {
            while [self.grpc_port, self.http_port]
                .iter()
                .any(|&port| TcpListener::bind(("127.0.0.1", port)).is_err())
            {
                assert!(
                    start.elapsed() < limit,
                    "placement's ports {} and {} not free within {limit:?}",
                    self.grpc_port,
                    self.http_port
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            *self = Self::start_on(self.grpc_port, self.http_port, extra);
            loop {
                if self.state().await.is_some() {
                    return;
                }
                if !self.proc.is_running() {
                    break;
                }
                assert!(
                    start.elapsed() < limit,
                    "restarted weft-placement not ready in {limit:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                start.elapsed() < limit,
                "weft-placement did not stay up on ports {} and {} within {limit:?}",
                self.grpc_port,
                self.http_port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

//! Test harness: a Python venv with the official Dapr SDK, real `weftd` processes, Python apps
//! as child processes, a placement server in this process.
#![allow(dead_code, unreachable_pub, missing_docs)]

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
    let config = weft_placement::PlacementConfig {
        faulty_host_timeout: Duration::from_secs(2),
        ..Default::default()
    };
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

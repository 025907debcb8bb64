//! A real `redis-server` child process on a loopback port, for tests of the Redis state store.
//!
//! Why a real server and not a fake: what is under test is the Lua script's atomicity, Redis's
//! reply shapes and the reconnects after an outage, which only the real server has.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a started server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many fresh ports [`RedisServer::start`] tries when another process takes its port first.
const PORT_ATTEMPTS: usize = 5;

/// How many of the server's last log lines a startup error quotes.
const LOG_LINES: usize = 20;

/// A `redis-server` child process listening on `127.0.0.1`, killed on drop.
///
/// It runs in its own temporary directory. [`RedisServer::start`] keeps nothing on disk;
/// [`RedisServer::start_append_only`] writes every acknowledged write to an append-only file
/// before it answers (`appendfsync always`), so a [`RedisServer::stop`] followed by a
/// [`RedisServer::restart`] loses no acknowledged write.
///
/// Starting and stopping block the calling thread (at most 10 s for a start): call them from a
/// multi-threaded runtime or `spawn_blocking`.
///
/// # Examples
/// ```no_run
/// use weft_runtime::testing::RedisServer;
/// use weft_runtime::state::RedisStore;
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = RedisServer::start()?;
/// let store = RedisStore::connect(&server.url()).await?;
/// # drop(store); Ok(()) }
/// ```
pub struct RedisServer {
    port: u16,
    append_only: bool,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk, on a free loopback port.
    ///
    /// # Errors
    /// When `redis-server` is not installed (the message says how to install it), or does not
    /// accept connections within 10 s.
    pub fn start() -> io::Result<Self> {
        Self::start_on_free_port(false)
    }

    /// Starts a server that appends every write to a file and syncs it before answering, so data
    /// survives [`RedisServer::stop`] and [`RedisServer::restart`].
    ///
    /// # Errors
    /// As [`RedisServer::start`].
    pub fn start_append_only() -> io::Result<Self> {
        Self::start_on_free_port(true)
    }

    fn start_on_free_port(append_only: bool) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("weft-redis-").tempdir()?;
        let mut server = Self {
            port: 0,
            append_only,
            dir,
            child: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                // Another process took the port between our probe and the server's bind.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
    }

    /// The URL to connect to: `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The loopback port the server listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running (it was not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: it gets no chance to save, as in a crash) and waits for it to
    /// exit. Does nothing when it is already stopped.
    ///
    /// # Errors
    /// When the process cannot be killed or waited for.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the server if it runs, then starts it again on the same port and directory.
    ///
    /// # Errors
    /// As [`RedisServer::start`], and when another process took the port meanwhile.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Spawns `redis-server` on `self.port` and waits until it answers `PING`.
    fn spawn(&mut self) -> io::Result<()> {
        let port = self.port.to_string();
        let dir = self.dir.path();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port, "--bind", "127.0.0.1", "--daemonize", "no"])
            .args(["--logfile", "", "--save", ""])
            .arg("--dir")
            .arg(dir)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.append_only {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let mut child = command.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    e.kind(),
                    "`redis-server` is not installed (or not on PATH); the Redis state store tests \
                     need it: install it with `apt-get install redis-server`",
                )
            } else {
                io::Error::new(e.kind(), format!("cannot start `redis-server`: {e}"))
            }
        })?;

        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, log.clone(), Some(ready_tx));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, log.clone(), None);
        }

        let failure = match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) => match ping(self.port) {
                Ok(()) => {
                    self.child = Some(child);
                    return Ok(());
                }
                Err(e) => io::Error::new(
                    e.kind(),
                    format!("redis-server on port {port} does not answer PING: {e}"),
                ),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("redis-server on port {port} was not ready within {READY_TIMEOUT:?}"),
            ),
            // Its output ended before it was ready: it exited.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let lines = log_tail(&log);
                let kind = if lines.contains("Address already in use") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                io::Error::new(kind, format!("redis-server on port {port} exited"))
            }
        };
        // Best effort: it may have exited already.
        let _ = child.kill();
        let _ = child.wait();
        Err(io::Error::new(
            failure.kind(),
            format!(
                "{failure} (dir {}); its last output:\n{}",
                dir.display(),
                log_tail(&log)
            ),
        ))
    }

    /// The server's directory (its append-only file lives here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Best effort: a server that is already gone needs nothing.
        let _ = self.stop();
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("append_only", &self.append_only)
            .field("running", &self.is_running())
            .finish()
    }
}

/// A port that was free a moment ago: bound to port 0, then released.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Reads `output` line by line on a thread until it ends, keeping the last lines in `log` and
/// signalling `ready` when the server says it accepts connections. Draining keeps the server
/// from blocking on a full pipe.
fn drain(
    output: impl Read + Send + 'static,
    log: Arc<Mutex<VecDeque<String>>>,
    mut ready: Option<mpsc::Sender<()>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if line.contains("Ready to accept connections") {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            }
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn log_tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    log.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `PING` to the server on `port` and expects `+PONG`.
fn ping(port: u16) -> io::Result<()> {
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0_u8; 7];
    stream.read_exact(&mut reply)?;
    if &reply == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected reply {:?}", String::from_utf8_lossy(&reply)),
        ))
    }
}

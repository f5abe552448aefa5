//! The editor server: `devspacesd daemon` (one per user, on a Unix socket) and its JSON-RPC connections.
//!
//! Only this module knows JSON-RPC. It owns the sessions started through it, fans their events
//! out to the clients that watch them (`fanout`, `outbox`), answers the `devspaces/*` requests
//! (`sessions`) and the LSP lifecycle and diagnostics (`conn`). `bridge` is `devspacesd --stdio`
//! and the helper that finds or starts the daemon for any client.

pub mod bridge;
mod conn;
mod fanout;
mod many;
pub mod outbox;
pub mod rpc;
mod sessions;
pub mod to_proto;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

pub use sessions::Daemon;

/// The daemon's socket in the state dir.
pub fn socket_path(state: &Path) -> PathBuf {
    state.join("daemon.sock")
}

/// The daemon's pidfile (also its single-instance lock) in the state dir.
pub fn pid_path(state: &Path) -> PathBuf {
    state.join("daemon.pid")
}

/// Where a daemon started by a client writes its standard output and error.
pub fn log_path(state: &Path) -> PathBuf {
    state.join("daemon.log")
}

/// The default idle time after which a daemon with no session and no client exits.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("io({what}): {err}")]
    Io { what: String, err: std::io::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |err| DaemonError::Io { what, err }
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Idle for the whole idle time.
    Idle,
    /// SIGTERM or SIGINT.
    Signalled,
    /// Another daemon already serves this state dir.
    AlreadyRunning,
}

pub struct DaemonOptions {
    pub state_dir: PathBuf,
    pub idle: Duration,
    pub log_cap: usize,
}

impl DaemonOptions {
    /// The state dir from the environment; idle time from `DEVSPACES_IDLE_SECS` (default 600).
    pub fn from_env() -> Self {
        let idle = std::env::var("DEVSPACES_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_IDLE);
        let log_cap = std::env::var("DEVSPACES_CLIENT_LOG_LINES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(outbox::DEFAULT_LOG_CAP);
        DaemonOptions { state_dir: crate::session::record::state_dir(), idle, log_cap }
    }
}

/// Holds the pidfile's lock for the daemon's lifetime; removes the socket and pidfile when dropped.
struct Instance {
    _lock: std::fs::File,
    socket: PathBuf,
    pidfile: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.pidfile);
    }
}

/// Takes the single-instance lock (waiting briefly for a daemon that is exiting), or finds one alive.
async fn claim(state: &Path) -> Result<Option<std::fs::File>, DaemonError> {
    use std::os::fd::AsRawFd;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::UnixStream::connect(socket_path(state)).await.is_ok() {
            return Ok(None);
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(pid_path(state))
            .map_err(io("opening daemon.pid"))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(f));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the daemon until it is idle for `opts.idle` or signalled; stops its sessions on the way out.
pub async fn run(opts: DaemonOptions) -> Result<Ended, DaemonError> {
    let state = opts.state_dir.clone();
    std::fs::create_dir_all(&state).map_err(io(format!("creating the state dir {}", state.display())))?;
    let _ = std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700));
    let Some(mut lock) = claim(&state).await? else {
        eprintln!("devspacesd: a daemon already serves {}; exiting", socket_path(&state).display());
        return Ok(Ended::AlreadyRunning);
    };
    {
        use std::io::{Seek, Write};
        let _ = lock.set_len(0);
        let _ = lock.seek(std::io::SeekFrom::Start(0));
        writeln!(lock, "{}", std::process::id()).map_err(io("writing daemon.pid"))?;
    }
    let sock = socket_path(&state);
    let _ = std::fs::remove_file(&sock);
    // SAFETY: umask only changes this process's file creation mask; restored right after bind.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(&sock);
    unsafe { libc::umask(old) };
    let listener = bound.map_err(io(format!("binding {}", sock.display())))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(io("chmod daemon.sock"))?;
    let instance = Instance { _lock: lock, socket: sock.clone(), pidfile: pid_path(&state) };
    eprintln!(
        "devspacesd: daemon {} serving {} (idle exit after {} s)",
        std::process::id(),
        sock.display(),
        opts.idle.as_secs()
    );

    let daemon = Daemon::new(state, opts.log_cap);
    let mut term = signal(SignalKind::terminate()).map_err(io("installing the SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("installing the SIGINT handler"))?;
    let ended = loop {
        let idle_for = if daemon.idle() { Some(opts.idle) } else { None };
        let idle_timer = async {
            match idle_for {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (r, w) = stream.into_split();
                    let d = daemon.clone();
                    tokio::spawn(async move { conn::serve(d, r, w).await });
                }
                Err(e) => {
                    // Out of file descriptors, say: do not spin, let connections close first.
                    eprintln!("devspacesd: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = daemon.activity.notified() => {}
            _ = idle_timer => {
                if daemon.idle() {
                    break Ended::Idle;
                }
            }
            _ = term.recv() => break Ended::Signalled,
            _ = int.recv() => break Ended::Signalled,
        }
    };
    // No new clients from here on; then stop what still runs.
    drop(listener);
    let _ = std::fs::remove_file(&sock);
    daemon.stop_all().await;
    drop(instance);
    eprintln!("devspacesd: daemon {} exiting ({ended:?})", std::process::id());
    Ok(ended)
}

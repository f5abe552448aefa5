//! `devspacesd --stdio`: relays bytes between standard input/output and the daemon, starting it if absent.
//!
//! The bridge does not parse what it relays; the daemon validates every frame. It only watches a
//! copy of the client's input for `shutdown`, to exit as LSP says: 0 when the connection ended
//! after `shutdown`, 1 otherwise.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use devspaces_protocol::framing::{FrameReader, Incoming};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::UnixStream;

use super::{log_path, socket_path};

/// How long a client waits for a daemon it started to listen.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Why no daemon could be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("io({what}): {err}")]
    Io { what: String, err: std::io::Error },
    #[error("the daemon failed to start ({status}; see {log})")]
    Failed { status: String, log: String },
    #[error("the daemon did not start listening on {socket} within {secs} s (see {log})")]
    Timeout { socket: String, secs: u64, log: String },
}

/// Connects to the daemon of `state`, or `None` when none listens.
pub async fn connect(state: &Path) -> Option<UnixStream> {
    UnixStream::connect(socket_path(state)).await.ok()
}

/// Connects to the daemon of `state`, starting `devspacesd daemon` detached when none listens.
pub async fn connect_or_start(state: &Path) -> Result<UnixStream, ConnectError> {
    if let Some(s) = connect(state).await {
        return Ok(s);
    }
    std::fs::create_dir_all(state)
        .map_err(|err| ConnectError::Io { what: format!("creating the state dir {}", state.display()), err })?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(state))
        .map_err(|err| ConnectError::Io { what: "opening daemon.log".into(), err })?;
    let log2 = log.try_clone().map_err(|err| ConnectError::Io { what: "opening daemon.log".into(), err })?;
    let exe = std::env::current_exe()
        .map_err(|err| ConnectError::Io { what: "finding the devspacesd executable".into(), err })?;
    let mut cmd = Command::new(exe);
    // The daemon outlives this client: it must not keep the client's folder busy.
    cmd.arg("daemon").current_dir(state).stdin(Stdio::null()).stdout(log).stderr(log2);
    // SAFETY: setsid is async-signal-safe; the daemon leaves our session and terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|err| ConnectError::Io { what: "starting devspacesd daemon".into(), err })?;
    // Reap it if it exits while we live (a second daemon exits at once, with 0, when one already runs).
    let (exited_tx, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(status) = child.wait() {
            let _ = exited_tx.send(status);
        }
    });
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Some(s) = connect(state).await {
            return Ok(s);
        }
        if let Ok(status) = exited.try_recv() {
            if !status.success() {
                return Err(ConnectError::Failed {
                    status: status.to_string(),
                    log: log_path(state).display().to_string(),
                });
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ConnectError::Timeout {
                socket: socket_path(state).display().to_string(),
                secs: START_TIMEOUT.as_secs(),
                log: log_path(state).display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the bridge; returns the process exit code.
pub async fn run(state: &Path) -> i32 {
    let stream = match connect_or_start(state).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("devspacesd --stdio: cannot reach the daemon: {e}");
            return 1;
        }
    };
    let (from_daemon, mut to_daemon) = stream.into_split();
    let saw_shutdown = Arc::new(AtomicBool::new(false));
    let (mut sniff_in, sniff_out) = tokio::io::duplex(1 << 20);
    let sniffer = {
        let saw = saw_shutdown.clone();
        tokio::spawn(async move {
            let mut frames = FrameReader::new(sniff_out);
            while let Ok(Some(m)) = frames.read_message().await {
                if let Incoming::Message(v) = m {
                    if v.get("method").and_then(|m| m.as_str()) == Some("shutdown") && v.get("id").is_some() {
                        saw.store(true, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let upstream = tokio::spawn(async move {
        relay(tokio::io::stdin(), &mut to_daemon, 64 * 1024, Some(&mut sniff_in)).await;
        drop(sniff_in);
        let _ = to_daemon.shutdown().await;
    });
    relay(from_daemon, &mut tokio::io::stdout(), 256 * 1024, None).await;
    upstream.abort();
    // The sniffer has seen everything written before the daemon closed; let it finish reading.
    let _ = tokio::time::timeout(Duration::from_secs(2), sniffer).await;
    if saw_shutdown.load(Ordering::Relaxed) {
        0
    } else {
        1
    }
}

/// Copies `from` to `to` (flushed after each chunk of up to `size` bytes) until `from` ends or fails
/// or `to` fails; each chunk goes first to `tee` when there is one, whatever it answers.
async fn relay(
    mut from: impl AsyncRead + Unpin,
    to: &mut (impl AsyncWrite + Unpin),
    size: usize,
    mut tee: Option<&mut DuplexStream>,
) {
    let mut buf = vec![0u8; size];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(tee) = tee.as_mut() {
            let _ = tee.write_all(&buf[..n]).await;
        }
        if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
            return;
        }
    }
}

//! The agent's loopback listener: token check, file batches, deletions, restarts, event streaming.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use devspaces_protocol::agent::wire::{self, Frame};
use devspaces_protocol::agent::{
    FromAgent, Held, Stream, SyncState, ToAgent, AGENT_PROTOCOL_VERSION, LISTENING_BANNER,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};

use crate::supervise::Supervisor;
use crate::AgentArgs;

/// The sync state a commit records, in the state folder.
const STATE_FILE: &str = "sync-state.json";
/// The largest hello read: a token and two numbers. Frames up to `MAX_FRAME` pass only after it.
const MAX_HELLO: u32 = 64 * 1024;
/// How long a connection has to send its hello.
const HELLO_DEADLINE: Duration = Duration::from_secs(10);
/// Connections that have not shown the token yet; more are closed at once.
const MAX_UNAUTHENTICATED: usize = 16;
/// Connections in all (the daemon needs one per session; replicas and reconnects add a few).
const MAX_CONNECTIONS: usize = 64;

struct Agent {
    args: AgentArgs,
    token: String,
    sup: Arc<Supervisor>,
    shutdown: mpsc::Sender<()>,
    /// Whether `sync-state.json` describes the root: set by a commit, cleared by a batch.
    state_recorded: std::sync::atomic::AtomicBool,
}

pub async fn run(args: AgentArgs, token: String) -> std::io::Result<()> {
    if !args.listen.ip().is_loopback() && !args.published {
        return Err(std::io::Error::other(format!(
            "refusing to listen on {}: the agent listens on loopback only (or, with --published, on a container's own address)",
            args.listen
        )));
    }
    if !args.relay.is_empty() && !args.published {
        return Err(std::io::Error::other("--relay serves a container's own interface: it needs --published"));
    }
    std::fs::create_dir_all(&args.root)?;
    std::fs::create_dir_all(&args.state)?;
    let sup = Supervisor::new(
        args.command.clone(),
        args.root.clone(),
        Duration::from_millis(args.grace_ms),
        Some(&args.state),
    );
    sup.reap_orphans_as_init();
    // What a killed predecessor left: its app's children, and temp files of a write it was in.
    let (state, root) = (args.state.clone(), args.root.clone());
    let (leftover, temps) = tokio::task::spawn_blocking(move || {
        (crate::supervise::stop_leftover(&state), crate::fs::remove_temp_files(&root))
    })
    .await
    .map_err(std::io::Error::other)?;
    if let Some(done) = leftover {
        sup.log(Stream::System, done);
    }
    match temps {
        Ok(0) => {}
        Ok(n) => sup.log(Stream::System, format!("removed {n} temp files an interrupted write left under the root")),
        Err(e) => sup.log(Stream::System, format!("cannot look for temp files under the root: {e}")),
    }
    for &(port, target) in &args.relay {
        crate::relay::start(port, target)
            .await
            .map_err(|e| std::io::Error::other(format!("cannot relay port {port} to {target}: {e}")))?;
    }
    if let Some(addr) = args.tunnel {
        crate::tunnel::start(addr, Some(sup.clone()))
            .await
            .map_err(|e| std::io::Error::other(format!("cannot open the tunnel: {e}")))?;
    }
    if !args.route.is_empty() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for spec in &args.route {
            let (listen, app) = (spec.listen, spec.app);
            let resolve = crate::route::system_resolver();
            crate::route::start(spec.clone(), args.space.clone(), args.cluster_domain.clone(), resolve, tx.clone())
                .await
                .map_err(|e| std::io::Error::other(format!("cannot start the routing proxy on {listen}: {e}")))?;
            sup.log(Stream::System, format!("routing port {listen} to the app's {app} (space '{}')", args.space));
        }
        let sup = sup.clone();
        tokio::spawn(async move {
            while let Some(t) = rx.recv().await {
                sup.trace(t);
            }
        });
    }
    let listener = TcpListener::bind(args.listen).await?;
    let port = listener.local_addr()?.port();
    let (shutdown_tx, mut shutdown_rx) = mpsc::channel(4);
    let autostart = !args.command.is_empty();
    let exit_with_stdin = args.exit_with_stdin;
    let state_recorded = args.state.join(STATE_FILE).exists().into();
    let agent = Arc::new(Agent { args, token, sup: sup.clone(), shutdown: shutdown_tx.clone(), state_recorded });
    // The banner goes out only once the socket is bound, so the daemon can connect right away.
    let mut stdout = tokio::io::stdout();
    stdout.write_all(format!("{LISTENING_BANNER} {port}\n").as_bytes()).await?;
    stdout.flush().await?;
    if autostart {
        let env = std::collections::BTreeMap::new();
        if let Err(e) = sup.restart(&[], &[], &[], &env, None).await {
            sup.log(Stream::System, e);
        }
    }
    if exit_with_stdin {
        let tx = shutdown_tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
            let _ = tx.send(()).await;
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let unauthenticated = Arc::new(Semaphore::new(MAX_UNAUTHENTICATED));
    let mut refused_logged: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let connection = connections.clone().try_acquire_owned().ok();
                let permits = connection.zip(unauthenticated.clone().try_acquire_owned().ok());
                let Some((connection, hello)) = permits else {
                    // Closed unread: a peer cannot hold more than the caps, whatever it sends.
                    drop(stream);
                    if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        refused_logged = Some(tokio::time::Instant::now());
                        let why = format!("{MAX_CONNECTIONS} open, or {MAX_UNAUTHENTICATED} without the token yet");
                        agent.sup.log(Stream::System, format!("refusing connections over the limit: {why}"));
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let agent = agent.clone();
                tokio::spawn(async move {
                    let _connection = connection;
                    if let Err(e) = agent.serve(stream, hello).await {
                        agent.sup.log(Stream::System, format!("agent connection ended: {e}"));
                    }
                });
            }
            _ = shutdown_rx.recv() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    sup.stop_locked().await;
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Agent {
    fn state_file(&self) -> PathBuf {
        self.args.state.join(STATE_FILE)
    }

    /// A batch is about to change the root: the recorded sync state stops describing it until
    /// the next commit. Without it, a batch cut short (a failure, a kill) makes the daemon's next
    /// `up` send everything again, instead of trusting a synclog that misses what the batch did.
    fn forget_state(&self) {
        use std::sync::atomic::Ordering;
        if self.state_recorded.swap(false, Ordering::SeqCst) {
            match std::fs::remove_file(self.state_file()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.sup.log(Stream::System, format!("cannot remove {}: {e}", self.state_file().display())),
            }
        }
    }

    /// Runs a file operation on the root off the runtime's threads.
    async fn under_root<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T, String> + Send + 'static,
    {
        let root = self.args.root.clone();
        tokio::task::spawn_blocking(move || f(&root)).await.unwrap_or_else(|e| Err(e.to_string()))
    }

    fn read_state(&self) -> Option<SyncState> {
        let text = std::fs::read(self.state_file()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Serves one connection; `hello` holds its place among the unauthenticated until the token checks.
    async fn serve(self: &Arc<Self>, stream: TcpStream, hello: OwnedSemaphorePermit) -> std::io::Result<()> {
        let (mut reader, mut writer) = stream.into_split();
        let unauthenticated = hello;
        let hello = tokio::time::timeout(HELLO_DEADLINE, wire::read_frame_limited(&mut reader, MAX_HELLO)).await;
        let logs_since = match hello {
            Ok(Ok(Some(Frame::Json(body)))) => match wire::decode::<ToAgent>(&body) {
                Ok(ToAgent::Hello { token, version, logs_since })
                    if constant_time_eq(token.as_bytes(), self.token.as_bytes()) =>
                {
                    if version != AGENT_PROTOCOL_VERSION {
                        return Err(std::io::Error::other(format!(
                            "protocol version {version} is not {AGENT_PROTOCOL_VERSION}"
                        )));
                    }
                    logs_since
                }
                _ => return Err(std::io::Error::other("rejected a connection without the session token")),
            },
            Ok(Err(e)) => return Err(std::io::Error::other(format!("rejected a connection whose hello is bad: {e}"))),
            _ => return Err(std::io::Error::other("rejected a connection that sent no hello")),
        };
        drop(unauthenticated);
        // Subscribe before replaying so that nothing falls between the two.
        let mut events = self.sup.events.subscribe();
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
        let welcome = FromAgent::Welcome {
            version: AGENT_PROTOCOL_VERSION,
            state: self.read_state(),
            app_pid: self.sup.app_pid(),
            root: self.args.root.display().to_string(),
        };
        wire::write_all(&mut writer, &wire::encode_json(&welcome)).await?;
        if let Some(since) = logs_since {
            for m in self.sup.replay(since) {
                wire::write_all(&mut writer, &wire::encode_json(&m)).await?;
            }
        }
        for m in self.sup.current() {
            wire::write_all(&mut writer, &wire::encode_json(&m)).await?;
        }
        let writer_task = tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    b = out_rx.recv() => match b { Some(b) => b, None => break },
                    e = events.recv() => match e {
                        Ok(m) => wire::encode_json(&m),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            wire::encode_json(&FromAgent::Log { seq: 0, stream: Stream::System, line: format!("{n} log lines dropped: the client was too slow"), time: devspaces_protocol::clock::now_rfc3339() })
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                if wire::write_all(&mut writer, &bytes).await.is_err() {
                    break;
                }
            }
        });
        let result = self.requests(&mut reader, &out_tx).await;
        writer_task.abort();
        result
    }

    async fn requests(
        self: &Arc<Self>,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> std::io::Result<()> {
        while let Some(frame) = wire::read_frame(reader).await? {
            let Frame::Json(body) = frame else { return Err(std::io::Error::other("unexpected binary frame")) };
            let msg: ToAgent = wire::decode(&body)?;
            match msg {
                ToAgent::Hello { .. } => return Err(std::io::Error::other("hello sent twice")),
                ToAgent::Files { id, .. } => {
                    let Some(Frame::Binary(tar)) = wire::read_frame(reader).await? else {
                        return Err(std::io::Error::other("files header without its batch"));
                    };
                    self.forget_state();
                    done(out, id, self.under_root(move |root| crate::fs::apply_tar(root, &tar)).await).await;
                }
                ToAgent::Delete { id, paths } => {
                    self.forget_state();
                    done(out, id, self.under_root(move |root| crate::fs::delete(root, &paths)).await).await;
                }
                ToAgent::Check { id, files } => {
                    let held = self.under_root(move |root| crate::fs::held(root, &files)).await;
                    answer(out, id, held.map(|held| (held.len() as u32, held))).await;
                }
                ToAgent::Commit { id, state } => {
                    let bytes = serde_json::to_vec(&state).unwrap_or_default();
                    let r = crate::fs::write_atomic(&self.state_file(), &bytes, 0o600)
                        .map(|_| 1)
                        .map_err(|e| format!("writing sync state: {e}"));
                    if r.is_ok() {
                        self.state_recorded.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    done(out, id, r).await;
                }
                ToAgent::Restart { id, kill, build, run, env, debug_port } => {
                    let agent = self.clone();
                    let out = out.clone();
                    tokio::spawn(async move {
                        let r = agent.sup.restart(&kill, &build, &run, &env, debug_port).await.map(|_| 1);
                        done(&out, id, r).await;
                    });
                }
                ToAgent::Stop { id } => {
                    let agent = self.clone();
                    let out = out.clone();
                    tokio::spawn(async move {
                        agent.sup.stop_locked().await;
                        done(&out, id, Ok(1)).await;
                    });
                }
                ToAgent::Shutdown { id } => {
                    self.sup.stop_locked().await;
                    done(out, id, Ok(1)).await;
                    let _ = self.shutdown.send(()).await;
                }
            }
        }
        Ok(())
    }
}

async fn done(out: &mpsc::Sender<Vec<u8>>, id: u64, r: Result<u32, String>) {
    answer(out, id, r.map(|count| (count, Vec::new()))).await;
}

/// The `done` for request `id`: its count and, for a check, the files held; or why it failed.
async fn answer(out: &mpsc::Sender<Vec<u8>>, id: u64, r: Result<(u32, Vec<Held>), String>) {
    let msg = match r {
        Ok((count, held)) => FromAgent::Done { id, error: None, count, held },
        Err(e) => FromAgent::Done { id, error: Some(e), count: 0, held: Vec::new() },
    };
    let _ = out.send(wire::encode_json(&msg)).await;
}

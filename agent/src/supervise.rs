//! Runs the app as the agent's child in its own process group: stop, kill by name, build, start.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devspaces_protocol::agent::{AppStatus, FromAgent, Stream, TOKEN_ENV};
use devspaces_protocol::clock;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

use crate::procs;

const RING: usize = 2000;
const LAST_LINES: usize = 20;
/// The record of the running app in the agent's state folder, for [`stop_leftover`].
pub const APP_RECORD: &str = "app.json";

struct Running {
    pid: i32,
    stopping: Arc<AtomicBool>,
    exited: watch::Receiver<bool>,
}

/// The debug server of the latest app started with a debug port: what may still listen on the
/// port once the app is gone.
#[derive(Debug, Clone, Copy)]
struct DebugServer {
    /// The app that started it.
    app: i32,
    port: u16,
    /// When the app started (clock ticks since boot): the server it left started no earlier.
    since: u64,
}

/// What the agent knows about its app, shared by every connection.
pub struct Supervisor {
    pub events: broadcast::Sender<FromAgent>,
    ring: Mutex<VecDeque<FromAgent>>,
    seq: AtomicU64,
    last_lines: Arc<Mutex<VecDeque<String>>>,
    app: Mutex<Option<Running>>,
    listening: Mutex<Vec<u16>>,
    /// The latest app's debug server, until it is stopped.
    debug: Mutex<Option<DebugServer>>,
    /// The debug port, once the running app's debug server listens on it.
    debug_ready: Mutex<Option<u16>>,
    generation: AtomicU64,
    op: tokio::sync::Mutex<()>,
    /// Where the running app is recorded (`<state>/app.json`), if anywhere.
    record: Option<PathBuf>,
    record_lock: Mutex<()>,
    /// The children this agent spawned (the app, build commands) until their wait returned: the
    /// orphan reaper never waits for them. Held across each spawn, so that a child that ends at
    /// once is in it before the reaper can see it.
    spawned: Arc<Mutex<HashSet<i32>>>,
    pub default_command: Vec<String>,
    pub cwd: PathBuf,
    pub grace: Duration,
    /// True from a stop until the next app has started (or will not): the tunnel connects new
    /// connections only then, never to an app on its way out.
    replacing: tokio::sync::watch::Sender<bool>,
    /// `DEVSPACES_TIMINGS` in the agent's environment: each restart's steps are logged.
    timings: bool,
}

impl Supervisor {
    /// `state`: the agent's state folder, where the running app is recorded so that a later agent
    /// can stop what this one leaves if it is killed.
    pub fn new(default_command: Vec<String>, cwd: PathBuf, grace: Duration, state: Option<&Path>) -> Arc<Self> {
        let (events, _) = broadcast::channel(8192);
        Arc::new(Supervisor {
            events,
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            seq: AtomicU64::new(0),
            last_lines: Arc::new(Mutex::new(VecDeque::new())),
            app: Mutex::new(None),
            listening: Mutex::new(Vec::new()),
            debug: Mutex::new(None),
            debug_ready: Mutex::new(None),
            generation: AtomicU64::new(0),
            op: tokio::sync::Mutex::new(()),
            record: state.map(|s| s.join(APP_RECORD)),
            record_lock: Mutex::new(()),
            spawned: Arc::new(Mutex::new(HashSet::new())),
            default_command,
            cwd,
            grace,
            replacing: tokio::sync::watch::channel(false).0,
            timings: devspaces_protocol::clock::timings_wanted(std::env::var("DEVSPACES_TIMINGS").ok().as_deref()),
        })
    }

    /// A routing proxy's trace, to every connection (not replayed: a trace is news or nothing).
    pub fn trace(&self, t: crate::route::Trace) {
        let _ = self.events.send(FromAgent::Trace {
            method: t.method,
            path: t.path,
            status: t.status,
            micros: t.micros,
            bytes: t.bytes,
            peer: t.peer,
            served_by: t.served_by,
            service: t.service,
            route_as: t.route_as,
            link: Some(Box::new(t.link)),
            time: clock::now_rfc3339(),
        });
    }

    pub fn log(&self, stream: Stream, line: String) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let msg = FromAgent::Log { seq, stream, line, time: clock::now_rfc3339() };
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(msg.clone());
        }
        let _ = self.events.send(msg);
    }

    fn status(&self, status: AppStatus) {
        match status {
            AppStatus::Stopping => {
                self.replacing.send_replace(true);
            }
            AppStatus::Started { .. }
            | AppStatus::BuildFailed { .. }
            | AppStatus::Exited { .. }
            | AppStatus::Stopped => {
                self.replacing.send_replace(false);
            }
            AppStatus::Building { .. } | AppStatus::Listening { .. } | AppStatus::DebugReady { .. } => {}
        }
        let _ = self.events.send(FromAgent::Status { status });
    }

    /// Waits (at most `within`) while the app is being replaced: from its stop until the next one
    /// has started. False when `within` passed first.
    pub async fn settled(&self, within: Duration) -> bool {
        let mut rx = self.replacing.subscribe();
        let settled = tokio::time::timeout(within, rx.wait_for(|replacing| !*replacing)).await.is_ok_and(|r| r.is_ok());
        settled
    }

    /// Log lines after `since`, for a client that reconnects.
    pub fn replay(&self, since: u64) -> Vec<FromAgent> {
        let ring = match self.ring.lock() {
            Ok(r) => r,
            Err(_) => return Vec::new(),
        };
        ring.iter().filter(|m| matches!(m, FromAgent::Log { seq, .. } if *seq > since)).cloned().collect()
    }

    pub fn app_pid(&self) -> Option<u32> {
        self.app.lock().ok().and_then(|a| a.as_ref().map(|r| r.pid as u32))
    }

    /// Statuses a new connection needs to know the present: the running pid, its ports and its
    /// debug server.
    pub fn current(&self) -> Vec<FromAgent> {
        let mut out = Vec::new();
        if let Some(pid) = self.app_pid() {
            out.push(FromAgent::Status { status: AppStatus::Started { pid } });
            let ports = self.listening.lock().map(|l| l.clone()).unwrap_or_default();
            if !ports.is_empty() {
                out.push(FromAgent::Status { status: AppStatus::Listening { ports } });
            }
            if let Some(port) = self.debug_ready.lock().ok().and_then(|d| *d) {
                out.push(FromAgent::Status { status: AppStatus::DebugReady { port } });
            }
        }
        out
    }

    /// Stops the app's process group: SIGTERM, the grace period, then SIGKILL.
    pub async fn stop(&self) {
        let running = self.app.lock().ok().and_then(|mut a| a.take());
        self.generation.fetch_add(1, Ordering::SeqCst);
        let Some(mut running) = running else { return };
        running.stopping.store(true, Ordering::SeqCst);
        self.status(AppStatus::Stopping);
        let pgid = Pid::from_raw(running.pid);
        let _ = killpg(pgid, Signal::SIGTERM);
        let exited = tokio::time::timeout(self.grace, running.exited.wait_for(|e| *e)).await.is_ok();
        if !exited {
            self.log(Stream::System, format!("app did not stop within {:?} of SIGTERM; sending SIGKILL", self.grace));
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = running.exited.wait_for(|e| *e).await;
        } else {
            // The leader is gone; children that stayed in the group go too.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        self.stop_debug_server().await;
        self.forget_app(running.pid);
        if let Ok(mut l) = self.listening.lock() {
            l.clear();
        }
        self.status(AppStatus::Stopped);
    }

    /// Stops what still listens on the latest app's debug port now that the app is gone: a debug
    /// server it started outside its process group (debugpy's adapter double-forks into a session
    /// of its own, outlives the app and holds the port until its client disconnects), which the
    /// group's signals and processesToKill never reach. Only processes of this user that started
    /// no earlier than the app are candidates. SIGTERM, up to the grace period, then SIGKILL. The
    /// next start can bind the port, and the debugger's connection ends.
    async fn stop_debug_server(&self) {
        self.stop_debug_server_of(None).await
    }

    /// [`Self::stop_debug_server`], only if the latest debug server is that of `app` (when given).
    async fn stop_debug_server_of(&self, app: Option<i32>) {
        let server = self.debug.lock().ok().and_then(|mut d| {
            let ours = d.as_ref().is_some_and(|s| app.is_none_or(|a| a == s.app));
            if ours {
                d.take()
            } else {
                None
            }
        });
        let Some(server) = server else { return };
        if let Ok(mut r) = self.debug_ready.lock() {
            *r = None;
        }
        let pids =
            tokio::task::spawn_blocking(move || debug_server_pids(server.port, server.since)).await.unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + self.grace;
        while pids.iter().any(|p| procs::stat(*p).is_some_and(|s| s.state != 'Z')) {
            if tokio::time::Instant::now() >= deadline {
                for pid in &pids {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.log(
            Stream::System,
            format!(
                "stopped the debug server the app left on port {} (pid {})",
                server.port,
                pids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        );
    }

    /// Records the app (its pid, which is its process group, and when it and the agent started).
    fn record_app(&self, pid: i32, debug_port: Option<u16>) {
        let Some(path) = &self.record else { return };
        let me = std::process::id() as i32;
        let (Some(agent), Some(app)) = (procs::stat(me), procs::stat(pid)) else { return };
        let mut record =
            serde_json::json!({"agentPid": me, "agentStart": agent.start, "appPid": pid, "appStart": app.start});
        if let Some(port) = debug_port {
            record["debugPort"] = port.into();
        }
        let _guard = self.record_lock.lock();
        if let Err(e) = crate::fs::write_atomic(path, record.to_string().as_bytes(), 0o600) {
            self.log(Stream::System, format!("cannot record the app in {}: {e}", path.display()));
        }
    }

    /// Removes the record once the app's group is gone, unless it names another app by now.
    fn forget_app(&self, pid: i32) {
        let Some(path) = &self.record else { return };
        let _guard = self.record_lock.lock();
        let recorded = std::fs::read(path).ok().and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok());
        if recorded.is_some_and(|r| r["appPid"] == pid) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Kills processes named in `names` among the agent's own descendants, never anything else.
    pub async fn kill_named(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let me = std::process::id() as i32;
        let victims: Vec<procs::Proc> =
            procs::descendants(me).into_iter().filter(|p| names.iter().any(|n| procs::name_matches(p, n))).collect();
        for p in &victims {
            self.log(Stream::System, format!("killing {} (pid {})", p.exe_name, p.pid));
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGTERM);
        }
        for _ in 0..50 {
            // A victim that is a zombie is gone (an orphan of a container's init, until reaped).
            if victims.iter().all(|p| procs::stat(p.pid).is_none_or(|s| s.state == 'Z')) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for p in &victims {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }

    /// The full restart sequence; returns an error text when a build command failed. With
    /// `debug_port`, `run` starts a debug server there: it is reported ready once it listens.
    pub async fn restart(
        self: &Arc<Self>,
        kill: &[String],
        build: &[Vec<String>],
        run: &[String],
        env: &BTreeMap<String, String>,
        debug_port: Option<u16>,
    ) -> Result<(), String> {
        let mut steps = self.timings.then(|| devspaces_protocol::clock::Steps::start("restart"));
        let mut mark = |step| {
            if let Some(s) = &mut steps {
                s.mark(step);
            }
        };
        let _op = self.op.lock().await;
        mark("locked");
        self.stop().await;
        mark("stopped");
        // An app that ended by itself may have left its debug server too.
        self.stop_debug_server().await;
        self.kill_named(kill).await;
        mark("killed");
        for command in build {
            self.run_build(command, env).await?;
        }
        mark("built");
        let run = if run.is_empty() { self.default_command.clone() } else { run.to_vec() };
        let started = self.start(&run, env, debug_port);
        mark("spawned");
        if let Some(s) = steps {
            self.log(Stream::System, s.line());
        }
        started
    }

    pub async fn stop_locked(&self) {
        let _op = self.op.lock().await;
        self.stop().await;
    }

    async fn run_build(self: &Arc<Self>, command: &[String], env: &BTreeMap<String, String>) -> Result<(), String> {
        let Some((prog, args)) = command.split_first() else { return Ok(()) };
        self.status(AppStatus::Building { command: command.to_vec() });
        self.log(Stream::Build, format!("$ {}", command.join(" ")));
        let mut child = self.spawn(self.command(prog, args, env).kill_on_drop(true)).map_err(|e| {
            let msg = format!("cannot run build command '{}': {e}", command.join(" "));
            self.status(AppStatus::BuildFailed {
                command: command.to_vec(),
                exit_code: None,
                last_lines: vec![msg.clone()],
            });
            msg
        })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let out = child.stdout.take().map(|s| self.pump(s, Stream::Build, tail.clone()));
        let err = child.stderr.take().map(|s| self.pump(s, Stream::Build, tail.clone()));
        let status = self.wait(&mut child).await.map_err(|e| format!("waiting for build command: {e}"))?;
        for t in [out, err].into_iter().flatten() {
            let _ = t.await;
        }
        if status.success() {
            return Ok(());
        }
        let last_lines: Vec<String> = tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
        self.log(
            Stream::System,
            format!("build command '{}' failed with exit code {}", command.join(" "), status.code().unwrap_or(-1)),
        );
        self.status(AppStatus::BuildFailed {
            command: command.to_vec(),
            exit_code: status.code(),
            last_lines: last_lines.clone(),
        });
        Err(format!(
            "build command '{}' failed with exit code {}:\n{}",
            command.join(" "),
            status.code().unwrap_or(-1),
            last_lines.join("\n")
        ))
    }

    /// Spawns `c`, its pid recorded in `spawned` under the lock the reaper takes.
    fn spawn(&self, c: &mut Command) -> std::io::Result<tokio::process::Child> {
        let mut spawned = self.spawned.lock().unwrap_or_else(|e| e.into_inner());
        let child = c.spawn()?;
        if let Some(pid) = child.id() {
            spawned.insert(pid as i32);
        }
        Ok(child)
    }

    /// Waits for a child [`Self::spawn`] made; it leaves `spawned` once reaped.
    async fn wait(&self, child: &mut tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
        let pid = child.id();
        let status = child.wait().await;
        if let (Some(pid), Ok(mut s)) = (pid, self.spawned.lock()) {
            s.remove(&(pid as i32));
        }
        status
    }

    /// When the agent is a container's init (pid 1: the container backend's entrypoint, a pod's
    /// command), the kernel makes it the parent of every orphan of the container, and nothing
    /// else ever waits for them: debugpy's adapter double-forks out of the app, so each one
    /// stopped at a restart stayed a zombie, and processesToKill (`python3`) waited its whole
    /// second for it to go. Each SIGCHLD, zombie children the agent did not spawn are reaped.
    pub fn reap_orphans_as_init(self: &Arc<Self>) {
        if std::process::id() != 1 {
            return;
        }
        let Ok(mut sigchld) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) else { return };
        let spawned = self.spawned.clone();
        tokio::spawn(async move {
            loop {
                reap_orphans(&spawned);
                if sigchld.recv().await.is_none() {
                    return;
                }
            }
        });
    }

    /// A child in the agent's root, in a process group of its own, its output piped to the logs.
    /// It never sees the agent's token, and it dies with the agent: the kernel sends it SIGKILL
    /// when the agent ends, even by SIGKILL. (That signal follows the thread that spawned the
    /// child: children are spawned from the runtime's worker threads or the main thread, which
    /// live as long as the agent.)
    fn command(&self, prog: &str, args: &[String], env: &BTreeMap<String, String>) -> Command {
        let mut c = Command::new(prog);
        c.args(args)
            .current_dir(&self.cwd)
            .env_remove(TOKEN_ENV)
            .envs(env.iter().filter(|(k, _)| k.as_str() != TOKEN_ENV))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let agent = std::process::id() as nix::libc::pid_t;
        // SAFETY: the closure runs in the child between fork and exec and calls only prctl,
        // getppid and raise, which are async-signal-safe.
        unsafe {
            c.pre_exec(move || die_with(agent));
        }
        c
    }

    fn pump<R: AsyncRead + Unpin + Send + 'static>(
        self: &Arc<Self>,
        r: R,
        stream: Stream,
        tail: Arc<Mutex<VecDeque<String>>>,
    ) -> tokio::task::JoinHandle<()> {
        let sup = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut t) = tail.lock() {
                    if t.len() == LAST_LINES {
                        t.pop_front();
                    }
                    t.push_back(line.clone());
                }
                sup.log(stream, line);
            }
        })
    }

    fn start(
        self: &Arc<Self>,
        run: &[String],
        env: &BTreeMap<String, String>,
        debug_port: Option<u16>,
    ) -> Result<(), String> {
        let Some((prog, args)) = run.split_first() else {
            return Err(
                "no command to run: set configurations.develop.container.command or a CMD in the Dockerfile".into()
            );
        };
        let mut child = self.spawn(&mut self.command(prog, args, env)).map_err(|e| {
            let msg = format!("cannot start '{}': {e}", run.join(" "));
            self.status(AppStatus::Exited { exit_code: None, signal: None, last_lines: vec![msg.clone()] });
            msg
        })?;
        let pid = child.id().unwrap_or(0) as i32;
        self.record_app(pid, debug_port);
        if let (Some(port), Ok(mut d)) = (debug_port, self.debug.lock()) {
            let since = procs::stat(pid).map(|s| s.start).unwrap_or(0);
            *d = Some(DebugServer { app: pid, port, since });
        }
        if let Ok(mut t) = self.last_lines.lock() {
            t.clear();
        }
        let out = child.stdout.take().map(|s| self.pump(s, Stream::Stdout, self.last_lines.clone()));
        let err = child.stderr.take().map(|s| self.pump(s, Stream::Stderr, self.last_lines.clone()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(false);
        if let Ok(mut a) = self.app.lock() {
            *a = Some(Running { pid, stopping: stopping.clone(), exited: rx });
        }
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.log(Stream::System, format!("started '{}' (pid {pid})", run.join(" ")));
        self.status(AppStatus::Started { pid: pid as u32 });
        let sup = self.clone();
        tokio::spawn(async move {
            let status = sup.wait(&mut child).await;
            if stopping.load(Ordering::SeqCst) {
                // Stopped by the agent: its last lines are nobody's concern, and what it started
                // may still hold its output pipes (debugpy's adapter keeps them), so the stop does
                // not wait for their end; the readers finish by themselves.
                let _ = tx.send(true);
                return;
            }
            // Its last output, for the exit status: the pipes end with it, unless something it
            // started keeps them (then half a second at most, for both at once).
            let pumps = async {
                for t in [out, err].into_iter().flatten() {
                    let _ = t.await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), pumps).await;
            let _ = tx.send(true);
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(mut a) = sup.app.lock() {
                if a.as_ref().is_some_and(|r| r.pid == pid) {
                    *a = None;
                }
            }
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            // Its debug server goes with it (unless a restart already stopped it).
            sup.stop_debug_server_of(Some(pid)).await;
            sup.forget_app(pid);
            use std::os::unix::process::ExitStatusExt;
            let (exit_code, signal) = match status {
                Ok(s) => (s.code(), s.signal()),
                Err(_) => (None, None),
            };
            let last_lines = sup.last_lines.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
            sup.status(AppStatus::Exited { exit_code, signal, last_lines });
        });
        let sup = self.clone();
        tokio::spawn(async move { sup.watch_ports(pid, generation, debug_port).await });
        if let Some(port) = debug_port {
            let sup = self.clone();
            tokio::spawn(async move { sup.watch_debug(port, generation).await });
        }
        Ok(())
    }

    /// Watches the kernel's table of listening sockets until the debug port listens (a socket of
    /// this user in LISTEN state on it), then reports `DebugReady` once. The port is never probed
    /// by connecting: a debug adapter may take a connection for its client.
    async fn watch_debug(&self, port: u16, generation: u64) {
        let me = current_uid();
        let started = tokio::time::Instant::now();
        loop {
            // Quick while the debug server starts (the save-to-breakpoint time depends on it), then rarely.
            let delay = if started.elapsed() < Duration::from_secs(60) { 25 } else { 1000 };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            if procs::listeners().iter().any(|l| l.port == port && l.uid == me) {
                if let Ok(mut r) = self.debug_ready.lock() {
                    *r = Some(port);
                }
                self.log(Stream::System, format!("debug server listening on port {port}"));
                self.status(AppStatus::DebugReady { port });
                return;
            }
        }
    }

    /// Polls the app's listening ports with backoff while it starts, then rarely.
    ///
    /// Under a debugger, what the app listens on before its debug server listens is the
    /// debugger's own plumbing, never the app's: debuggers start before the app's code (debugpy
    /// runs the script only once its adapter is up, node's inspector starts before the main
    /// module). debugpy's is a loopback listener in the app that its adapter connects to once, to
    /// say where it listens; taken for an app port, it moved the session's forward (and a request
    /// through it) into debugpy's handshake. Those ports are watched closely while the debug server
    /// starts (up to a minute) and left out of the app's ports for this run.
    async fn watch_ports(&self, pid: i32, generation: u64, debug_port: Option<u16>) {
        let mut delay = Duration::from_millis(20);
        let started = tokio::time::Instant::now();
        let mut reported_empty = false;
        let mut plumbing: Vec<u16> = Vec::new();
        loop {
            tokio::time::sleep(delay).await;
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let mut pids = vec![pid];
            pids.extend(procs::descendants(pid).into_iter().map(|p| p.pid));
            // The debug server is not one of the app's services (node's inspector listens in the app).
            let mut ports: Vec<u16> =
                procs::listening_ports(&pids).into_iter().filter(|p| Some(*p) != debug_port).collect();
            if debug_port.is_some() {
                let ready = self.debug_ready.lock().map(|r| r.is_some()).unwrap_or(true);
                if !ready && started.elapsed() < Duration::from_secs(60) {
                    plumbing.extend(ports.iter().filter(|p| !plumbing.contains(p)).copied().collect::<Vec<_>>());
                    delay = Duration::from_millis(25);
                    continue;
                }
                ports.retain(|p| !plumbing.contains(p));
            }
            let changed = self.listening.lock().map(|mut l| {
                if *l != ports {
                    *l = ports.clone();
                    true
                } else {
                    false
                }
            });
            // An app that listens on nothing (a worker) is reported once, after a few seconds.
            let settled_without_ports =
                ports.is_empty() && !reported_empty && started.elapsed() >= Duration::from_secs(5);
            let listens = !ports.is_empty();
            if changed.unwrap_or(false) || settled_without_ports {
                reported_empty |= !listens;
                self.status(AppStatus::Listening { ports });
            }
            // Fast while the app starts. Once it has listened steadily for 30 s the set is taken as
            // final and polling stops (an idle agent costs nothing); an app that listens on nothing
            // yet is looked at rarely, for ports it opens later.
            if started.elapsed() >= Duration::from_secs(30) && listens {
                return;
            }
            delay = if started.elapsed() < Duration::from_secs(30) {
                (delay * 2).min(Duration::from_secs(1))
            } else {
                Duration::from_secs(15)
            };
        }
    }
}

/// In a child before exec: SIGKILL when the agent ends. The agent may have ended before the
/// prctl took effect, in which case the child has a new parent already and must not run.
/// Waits for (reaps) each zombie child of this process that is not in `spawned`.
fn reap_orphans(spawned: &Mutex<HashSet<i32>>) {
    let spawned = spawned.lock().unwrap_or_else(|e| e.into_inner());
    for pid in procs::zombie_children(std::process::id() as i32) {
        if !spawned.contains(&pid) {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
}

fn die_with(agent: nix::libc::pid_t) -> std::io::Result<()> {
    use nix::libc;
    // SAFETY: prctl, getppid and raise have no memory-safety preconditions.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() != agent {
            libc::raise(libc::SIGKILL);
        }
    }
    Ok(())
}

/// This process's real user.
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { nix::libc::getuid() }
}

/// The processes of this user holding a socket that listens on `port`, started no earlier than
/// `since` (clock ticks since boot), other than this agent: the debug server an app started at
/// `since` left on its debug port.
pub fn debug_server_pids(port: u16, since: u64) -> Vec<i32> {
    let me = current_uid();
    let inodes: std::collections::HashSet<u64> =
        procs::listeners().into_iter().filter(|l| l.port == port && l.uid == me).map(|l| l.inode).collect();
    let own = std::process::id() as i32;
    procs::holders(&inodes)
        .into_iter()
        .filter(|p| *p != own && procs::uid(*p) == Some(me))
        .filter(|p| procs::stat(*p).is_some_and(|s| s.start >= since && s.state != 'Z'))
        .collect()
}

/// Stops an app that an agent killed (SIGKILL, OOM) left running, from the record in its state
/// folder: the app's own process dies with its agent, but what it started (a shell's children,
/// `npm start`'s node) does not, and would run beside the next copy. The group is stopped only
/// if the recorded agent is gone and the group is that app's: its leader is the recorded process
/// (pid and start time), or is gone while members remain (a group's id is not reused while it
/// has members). SIGTERM, up to 2 s, then SIGKILL. Returns what it did, for the log.
pub fn stop_leftover(state: &Path) -> Option<String> {
    let path = state.join(APP_RECORD);
    let text = std::fs::read(&path).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let num = |k: &str| record.get(k).and_then(serde_json::Value::as_u64);
    let (Some(agent), Some(agent_start), Some(pgid), Some(app_start)) =
        (num("agentPid"), num("agentStart"), num("appPid"), num("appStart"))
    else {
        let _ = std::fs::remove_file(&path);
        return None;
    };
    let (agent, pgid) = (i32::try_from(agent).ok()?, i32::try_from(pgid).ok()?);
    if procs::stat(agent).is_some_and(|s| s.start == agent_start && s.state != 'Z') {
        return None;
    }
    let _ = std::fs::remove_file(&path);
    let ours = match procs::stat(pgid) {
        Some(s) if s.state != 'Z' => s.start == app_start && s.pgrp == pgid,
        _ => true,
    };
    let members = if ours && pgid > 1 { procs::group_members(pgid) } else { Vec::new() };
    // The debug server it left on its debug port, outside its group (only for the recorded app).
    let debug = match num("debugPort").and_then(|p| u16::try_from(p).ok()) {
        Some(port) if ours => debug_server_pids(port, app_start),
        _ => Vec::new(),
    };
    if members.is_empty() && debug.is_empty() {
        return None;
    }
    for pid in &debug {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let group = Pid::from_raw(pgid);
    if !members.is_empty() {
        let _ = killpg(group, Signal::SIGTERM);
    }
    let debug_alive = || debug.iter().any(|p| procs::stat(*p).is_some_and(|s| s.state != 'Z'));
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while (!members.is_empty() && !procs::group_members(pgid).is_empty()) || debug_alive() {
        if std::time::Instant::now() > deadline {
            if !members.is_empty() {
                let _ = killpg(group, Signal::SIGKILL);
            }
            for pid in &debug {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut done = Vec::new();
    if !members.is_empty() {
        done.push(format!(
            "stopped {} process{} of an app a killed agent left running (process group {pgid})",
            members.len(),
            if members.len() == 1 { "" } else { "es" }
        ));
    }
    if !debug.is_empty() {
        let pids: Vec<String> = debug.iter().map(ToString::to_string).collect();
        done.push(format!("stopped the debug server that app left listening (pid {})", pids.join(", ")));
    }
    Some(done.join("; "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::future::Future;
    use std::os::unix::process::CommandExt;

    fn record(state: &Path, agent: (u32, u64), app: (u32, u64)) {
        let r = serde_json::json!({"agentPid": agent.0, "agentStart": agent.1, "appPid": app.0, "appStart": app.1});
        std::fs::write(state.join(APP_RECORD), r.to_string()).unwrap();
    }

    #[tokio::test]
    async fn settled_waits_from_a_stop_until_the_next_app_started() {
        let sup = Supervisor::new(vec![], PathBuf::from("/"), Duration::from_secs(1), None);
        assert!(sup.settled(Duration::from_secs(60)).await, "nothing is being replaced");
        sup.status(AppStatus::Stopping);
        let mut waiting = Box::pin(sup.settled(Duration::from_secs(60)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending(), "the old app is on its way out");
        sup.status(AppStatus::Building { command: vec!["make".into()] });
        assert!(waiting.as_mut().poll(&mut cx).is_pending(), "still no new app");
        sup.status(AppStatus::Started { pid: 1 });
        assert!(waiting.await, "the new app started");
        // A build that failed leaves no app to wait for.
        sup.status(AppStatus::Stopping);
        sup.status(AppStatus::BuildFailed { command: vec![], exit_code: Some(1), last_lines: vec![] });
        assert!(sup.settled(Duration::from_secs(60)).await);
    }

    #[test]
    fn a_leftover_group_is_stopped_only_when_its_agent_is_gone_and_it_is_the_recorded_app() {
        let state = tempfile::tempdir().unwrap();
        let mut app =
            std::process::Command::new("sh").args(["-c", "sleep 1000 & wait"]).process_group(0).spawn().unwrap();
        let pgid = app.id();
        let start = procs::stat(pgid as i32).unwrap().start;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while procs::group_members(pgid as i32).len() < 2 {
            assert!(std::time::Instant::now() < deadline, "the app's child did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let me = std::process::id();
        let my_start = procs::stat(me as i32).unwrap().start;
        // Its agent (this process) still runs: the app is its own.
        record(state.path(), (me, my_start), (pgid, start));
        assert_eq!(stop_leftover(state.path()), None);
        assert!(state.path().join(APP_RECORD).exists());
        // Another process has the recorded pid by now (another start time): left alone.
        record(state.path(), (me, my_start + 1), (pgid, start + 1));
        assert_eq!(stop_leftover(state.path()), None);
        assert_eq!(procs::group_members(pgid as i32).len(), 2);
        // The recorded app, its agent gone: the whole group stops.
        record(state.path(), (me, my_start + 1), (pgid, start));
        let done = stop_leftover(state.path());
        let _ = app.wait();
        assert_eq!(
            done.as_deref(),
            Some(format!("stopped 2 processes of an app a killed agent left running (process group {pgid})").as_str())
        );
        assert!(procs::group_members(pgid as i32).is_empty());
        assert!(!state.path().join(APP_RECORD).exists());
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn listens(port: u16) -> bool {
        procs::listeners().iter().any(|l| l.port == port)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_debug_server_that_left_the_app_group_is_reported_ready_then_stopped_with_the_app() {
        let (state, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let port = free_port();
        let sup = Supervisor::new(vec![], root.path().into(), Duration::from_millis(500), Some(state.path()));
        let mut events = sup.events.subscribe();
        // Like debugpy's adapter: a server that leaves the app's session and group (setsid, then a
        // second fork), listens on the debug port and would outlive the app.
        let app = format!(
            "import os, socket, time\n\
             if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n\
             \x20       s = socket.socket()\n        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             \x20       s.bind(('127.0.0.1', {port}))\n        s.listen()\n        time.sleep(300)\n    os._exit(0)\n\
             time.sleep(300)\n"
        );
        let run = vec!["python3".to_string(), "-c".into(), app];
        sup.restart(&[], &[], &run, &BTreeMap::new(), Some(port)).await.unwrap();
        let app_pid = sup.app_pid().unwrap() as i32;
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.recv().await.unwrap() {
                    FromAgent::Status { status: AppStatus::DebugReady { port } } => return port,
                    FromAgent::Status { status: AppStatus::Listening { ports } } => {
                        assert!(!ports.contains(&port), "the debug port is not one of the app's: {ports:?}")
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("DebugReady once the server listens");
        assert_eq!(ready, port);
        assert!(sup.current().contains(&FromAgent::Status { status: AppStatus::DebugReady { port } }));
        let server = debug_server_pids(port, 0);
        assert_eq!(server.len(), 1, "{server:?}");
        assert_ne!(procs::stat(server[0]).unwrap().pgrp, app_pid, "the server left the app's group");

        sup.stop_locked().await;
        assert!(procs::stat(server[0]).is_none_or(|s| s.state == 'Z'), "the server is stopped with the app");
        assert!(!listens(port));
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the next start can bind the debug port");
        assert!(!sup.current().iter().any(|m| matches!(m, FromAgent::Status { status: AppStatus::DebugReady { .. } })));
    }

    #[test]
    fn only_a_listener_started_with_or_after_the_app_counts_as_its_debug_server() {
        let port = free_port();
        let script = format!(
            "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen()\ntime.sleep(300)\n"
        );
        let mut other = std::process::Command::new("python3").args(["-c", &script]).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !listens(port) {
            assert!(std::time::Instant::now() < deadline, "the listener did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let start = procs::stat(other.id() as i32).unwrap().start;
        // An app started after it did not start it: never stopped as its debug server.
        assert!(debug_server_pids(port, start + 1).is_empty());
        assert_eq!(debug_server_pids(port, start), vec![other.id() as i32]);
        let _ = other.kill();
        let _ = other.wait();
    }

    #[test]
    fn a_leftover_app_s_debug_server_is_stopped_with_its_group() {
        let state = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut app =
            std::process::Command::new("sh").args(["-c", "sleep 300 & wait"]).process_group(0).spawn().unwrap();
        let pgid = app.id() as i32;
        let app_start = procs::stat(pgid).unwrap().start;
        // The debug server it started, in a group of its own (as debugpy's adapter is).
        let script = format!(
            "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', {port}))\ns.listen()\ntime.sleep(300)\n"
        );
        let mut server = std::process::Command::new("python3").args(["-c", &script]).process_group(0).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !listens(port) {
            assert!(std::time::Instant::now() < deadline, "the debug server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Its agent is gone (another start time than this process's).
        let me = std::process::id();
        let my_start = procs::stat(me as i32).unwrap().start;
        let r = serde_json::json!({"agentPid": me, "agentStart": my_start + 1, "appPid": pgid, "appStart": app_start, "debugPort": port});
        std::fs::write(state.path().join(APP_RECORD), r.to_string()).unwrap();
        let done = stop_leftover(state.path()).unwrap();
        let _ = app.wait();
        let _ = server.wait();
        assert!(
            done.contains(&format!("stopped the debug server that app left listening (pid {})", server.id())),
            "{done}"
        );
        assert!(!listens(port));
        assert!(procs::group_members(pgid).is_empty());
    }
}

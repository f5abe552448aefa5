//! One `up` of one service: deploy, sync, start, then watch, classify and apply each batch.

pub mod record;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devspaces_protocol::agent::{AppStatus, FromAgent, Stream};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::agent::client::{AgentClient, AgentEvent};
use crate::backend::{Backend, Deployed, Reporter};
use crate::classify::{self, Class, IgnoreFiles, Rules};
use crate::config::{self, Config};
use crate::events::{Event, EventKind, LogStream, Phase};
use crate::forward::Forwards;
use crate::sync::Syncer;
use crate::watch::{self, Batch};
use record::SessionRecord;

/// The quiet time that closes a batch: long enough to join an editor's write-rename pair or a
/// checkout's burst, short enough that a lone save is not held back.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(1);

pub struct SessionOptions {
    pub service_dir: PathBuf,
    pub space: String,
    /// Quiet time that closes a batch of file events.
    pub quiet: Duration,
}

enum Command {
    Stop(oneshot::Sender<()>),
    Restart(oneshot::Sender<()>),
    Redeploy(oneshot::Sender<()>),
}

/// A running session; dropping it does not stop it, `stop()` does.
pub struct SessionHandle {
    pub id: String,
    pub service: String,
    pub events: broadcast::Sender<Event>,
    commands: mpsc::Sender<Command>,
    first_events: std::sync::Mutex<Option<broadcast::Receiver<Event>>>,
    pub done: tokio::task::JoinHandle<()>,
}

impl SessionHandle {
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn restart(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Restart(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Reloads azds.yaml and redeploys (fresh container root, full sync, new agent), as an edit of
    /// the Dockerfile would; returns once the new agent is running the app (or failed).
    pub async fn redeploy(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Redeploy(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The receiver made before the session's task started, so its first events are not missed;
    /// `None` once taken (later subscribers use `events.subscribe()`).
    pub fn take_first_receiver(&self) -> Option<broadcast::Receiver<Event>> {
        self.first_events.lock().ok().and_then(|mut r| r.take())
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Rules(#[from] classify::RulesError),
    #[error("service '{service}' is already up in process {pid} (stop it with: devspacesd down {dir})")]
    AlreadyUp { service: String, pid: u32, dir: String },
}

fn session_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Runner<B: Backend> {
    id: String,
    opts: SessionOptions,
    backend: B,
    config: Config,
    rules: Arc<Rules>,
    syncer: Syncer,
    events: broadcast::Sender<Event>,
    home: PathBuf,
    forwards: Forwards,
    agent: Option<Arc<AgentClient>>,
    /// Results of restarts running in the background, so logs keep flowing while an app builds.
    restarts: (mpsc::UnboundedSender<String>, Option<mpsc::UnboundedReceiver<String>>),
    agent_pid: Option<u32>,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    app_port: u16,
    phase: Phase,
    detail: String,
    /// The last batch failed to build or crashed: the next change restarts.
    app_down: bool,
    app_pid: Option<u32>,
    /// The app the agent had started by itself before the session connected (a pod starts its
    /// command at once); the first restart replaces it, so its replayed status is not ours.
    superseded_pid: Option<u32>,
    /// A build's work-done progress is open.
    building: bool,
}

/// Loads the configuration and starts the session's task; events flow on the handle's channel.
pub async fn start<B: Backend + 'static>(
    opts: SessionOptions,
    backend: B,
    home: PathBuf,
) -> Result<SessionHandle, StartError> {
    let config = config::load(&opts.service_dir)?;
    if let Some(r) = record::read(&home) {
        if r.phase != "stopped" && r.owner_pid != std::process::id() && record::pid_is(r.owner_pid, &["devspacesd"]) {
            return Err(StartError::AlreadyUp { service: r.service, pid: r.owner_pid, dir: r.service_dir });
        }
    }
    let rules = Arc::new(Rules::new(&config, &IgnoreFiles::read(&config))?);
    let (events, first_events) = broadcast::channel(16384);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let id = session_id();
    let target = format!("{}/{}", backend.name(), opts.space);
    let syncer = Syncer::open(&config.service_dir, &target, &config.context_prefix());
    let service = config.name.clone();
    let runner = Runner {
        id: id.clone(),
        forwards: Forwards::new(events.clone(), service.clone(), id.clone()),
        opts,
        backend,
        config,
        rules,
        syncer,
        events: events.clone(),
        home,
        agent: None,
        agent_pid: None,
        command: Vec::new(),
        env: BTreeMap::new(),
        app_port: 0,
        phase: Phase::Syncing,
        detail: String::new(),
        app_down: false,
        app_pid: None,
        superseded_pid: None,
        building: false,
        restarts: {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, Some(rx))
        },
    };
    let done = tokio::spawn(runner.run(cmd_rx));
    Ok(SessionHandle {
        id,
        service,
        events,
        commands: cmd_tx,
        first_events: std::sync::Mutex::new(Some(first_events)),
        done,
    })
}

impl<B: Backend> Runner<B> {
    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event { service: self.config.name.clone(), session: self.id.clone(), kind });
    }

    fn reporter(&self) -> Reporter {
        Reporter { events: self.events.clone(), service: self.config.name.clone(), session: self.id.clone() }
    }

    fn log(&self, stream: LogStream, line: impl Into<String>) {
        self.emit(EventKind::Log { stream, line: line.into(), time: devspaces_protocol::clock::now_rfc3339() });
    }

    fn status(&mut self, phase: Phase, detail: impl Into<String>, exit: Option<(Option<i32>, Vec<String>)>) {
        self.phase = phase;
        self.detail = detail.into();
        let (exit_code, last_lines) = match exit {
            Some((c, l)) => (c, Some(l)),
            None => (None, None),
        };
        self.emit(EventKind::Status { phase, detail: self.detail.clone(), exit_code, last_lines });
        self.save_record();
    }

    fn error(&mut self, message: String) {
        self.emit(EventKind::Error { message });
    }

    fn save_record(&self) {
        let r = SessionRecord {
            session: self.id.clone(),
            service: self.config.name.clone(),
            service_dir: self.config.service_dir.display().to_string(),
            space: self.opts.space.clone(),
            backend: self.backend.name().to_string(),
            owner_pid: std::process::id(),
            agent_pid: self.agent_pid,
            phase: self.phase.as_str().to_string(),
            detail: self.detail.clone(),
            forwards: self.forwards.records(),
        };
        let _ = record::write(&self.home, &r);
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (batch_tx, mut batches) = mpsc::channel::<Batch>(64);
        let mut watcher = self.start_watcher(batch_tx.clone());
        let (trace_tx, mut traces) = mpsc::unbounded_channel();
        self.forwards.set_trace_sink(trace_tx);
        self.show_warnings();
        let mut agent_events = self.deploy(false).await;
        let mut restart_failures = self.restarts.1.take();
        loop {
            tokio::select! {
                Some(failure) = recv_opt(&mut restart_failures) => {
                    // The agent already reported the failure as a status event with its output.
                    self.log(LogStream::System, failure);
                    self.app_down = true;
                }
                Some(batch) = batches.recv() => {
                    if let Some(rx) = self.apply(batch, &mut watcher, &batch_tx).await {
                        agent_events = Some(rx);
                    }
                }
                ev = recv_opt(&mut agent_events) => match ev {
                    Some(AgentEvent::Message(m)) => self.on_agent(m).await,
                    other => {
                        let reason = match other {
                            Some(AgentEvent::Disconnected(r)) => r,
                            _ => "connection closed".to_string(),
                        };
                        agent_events = None;
                        // An agent the session already let go (a redeploy that failed) says nothing.
                        let current = self.agent.take().is_some();
                        if current && self.phase != Phase::Stopped {
                            self.status(Phase::Failed, format!("the agent stopped: {reason}; the next change redeploys"), None);
                        }
                    }
                },
                Some(trace) = traces.recv() => self.emit(EventKind::Trace(trace)),
                cmd = commands.recv() => match cmd {
                    Some(Command::Restart(done)) => {
                        self.restart_app("restart requested").await;
                        let _ = done.send(());
                    }
                    Some(Command::Redeploy(done)) => {
                        let batch = Batch { paths: [config::FILE_NAME.to_string()].into_iter().collect(), rescan: false };
                        if let Some(rx) = self.apply(batch, &mut watcher, &batch_tx).await {
                            agent_events = Some(rx);
                        }
                        let _ = done.send(());
                    }
                    Some(Command::Stop(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
            }
        }
    }

    async fn shutdown(&mut self) {
        if let Some(agent) = self.agent.take() {
            let _ = agent.shutdown().await;
        }
        let report = self.reporter();
        self.backend.finish(&report).await;
        self.agent_pid = None;
        self.forwards.close_all();
        self.status(Phase::Stopped, "session ended", None);
    }

    fn start_watcher(&mut self, batch_tx: mpsc::Sender<Batch>) -> Option<watch::WatchHandle> {
        match watch::start(&self.config.service_dir, self.rules.clone()) {
            Ok((handle, hints)) => {
                if let Some(w) = &handle.warning {
                    self.log(LogStream::System, w.clone());
                    self.error(w.clone());
                }
                tokio::spawn(watch::coalesce(hints, self.opts.quiet, Duration::from_secs(5), batch_tx));
                Some(handle)
            }
            Err(e) => {
                self.error(format!(
                    "cannot watch {}: {e}; changes will not be synced",
                    self.config.service_dir.display()
                ));
                None
            }
        }
    }

    /// Deploys (fresh for a redeploy), syncs and starts the app; returns the agent's event stream.
    async fn deploy(&mut self, fresh: bool) -> Option<mpsc::UnboundedReceiver<AgentEvent>> {
        let detail = if fresh { "redeploying: fresh container root" } else { "starting the agent" };
        self.status(Phase::Deploying, detail, None);
        let deploy_title = format!("{}: deploy", self.config.name);
        self.emit(EventKind::Progress {
            title: deploy_title.clone(),
            message: detail.into(),
            percentage: None,
            done: false,
        });
        let report = self.reporter();
        let deployed = self.backend.deploy(&self.config, fresh, &report).await;
        self.emit(EventKind::Progress {
            title: deploy_title,
            message: if deployed.is_ok() { "deployed".into() } else { "failed".into() },
            percentage: None,
            done: true,
        });
        let deployed = match deployed {
            Ok(d) => d,
            Err(e) => {
                let msg = e.to_string();
                self.log(LogStream::System, msg.clone());
                self.error(msg.clone());
                self.status(Phase::Failed, msg, None);
                return None;
            }
        };
        let Deployed { agent, events, agent_pid, command, env, app_port, preferred_local_port, tunnel } = deployed;
        self.forwards.set_tunnel(tunnel);
        self.agent_pid = agent_pid;
        self.command = command;
        self.env = env;
        self.app_port = app_port;
        let incremental = !fresh && self.syncer.matches(agent.welcome.state.as_ref());
        self.status(Phase::Syncing, if incremental { "incremental sync" } else { "full sync" }, None);
        let title = format!("{}: sync", self.config.name);
        self.emit(EventKind::Progress {
            title: title.clone(),
            message: "synchronizing files".into(),
            percentage: Some(0),
            done: false,
        });
        let started = Instant::now();
        let (sink, service, session) = (self.events.clone(), self.config.name.clone(), self.id.clone());
        let progress_title = title.clone();
        let mut progress = move |done: usize, total: usize| {
            let percentage = (done * 100 / total.max(1)).min(99) as u32;
            let kind = EventKind::Progress {
                title: progress_title.clone(),
                message: format!("{done}/{total} files"),
                percentage: Some(percentage),
                done: false,
            };
            let _ = sink.send(Event { service: service.clone(), session: session.clone(), kind });
        };
        let report = self.syncer.sync_all(&agent, &self.rules, !incremental, &mut progress).await;
        self.syncer.persist();
        match report {
            Ok(r) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                self.log(
                    LogStream::System,
                    format!(
                        "Synchronizing files...{} {} sent, {} deleted, {} in {:.0} ms",
                        if r.full { "full:" } else { "incremental:" },
                        r.sent.len(),
                        r.deleted.len(),
                        human_bytes(r.bytes),
                        ms
                    ),
                );
                self.emit(EventKind::Progress {
                    title,
                    message: format!("{} files", r.sent.len()),
                    percentage: Some(100),
                    done: true,
                });
                self.emit(EventKind::Synced { class: Class::Redeploy, files: r.files(), duration_ms: ms });
            }
            Err(e) => {
                self.emit(EventKind::Progress { title, message: "failed".into(), percentage: None, done: true });
                self.status(Phase::Failed, format!("sync failed: {e}"), None);
                return Some(events);
            }
        }
        self.app_pid = None;
        self.superseded_pid = agent.welcome.app_pid;
        self.agent = Some(Arc::new(agent));
        self.forwards.ensure_primary(preferred_local_port, app_port).await;
        self.save_record();
        self.restart_app("starting").await;
        Some(events)
    }

    /// Starts a restart on the agent without waiting for it: its build output and status arrive as
    /// agent events while the loop keeps serving; a failure comes back on `restarts`.
    async fn restart_app(&mut self, why: &str) {
        if self.agent.is_none() {
            return;
        }
        let c = &self.config.develop.container;
        let (kill, build, run, env) =
            (c.processes_to_kill.clone(), c.build_commands.clone(), self.command.clone(), self.env.clone());
        let phase = if why == "starting" { Phase::Starting } else { Phase::Restarting };
        self.status(phase, why.to_string(), None);
        let Some(agent) = self.agent.clone() else { return };
        let done = self.restarts.0.clone();
        tokio::spawn(async move {
            if let Err(e) = agent.restart(kill, build, run, env).await {
                let _ = done.send(e.to_string());
            }
        });
    }

    async fn on_agent(&mut self, m: FromAgent) {
        match m {
            FromAgent::Log { stream, line, time, .. } => {
                let stream = match stream {
                    Stream::Stdout => LogStream::Stdout,
                    Stream::Stderr => LogStream::Stderr,
                    Stream::Build => LogStream::Build,
                    Stream::System => LogStream::System,
                };
                if stream == LogStream::Build && self.building {
                    self.emit(EventKind::Progress {
                        title: format!("{}: build", self.config.name),
                        message: line.clone(),
                        percentage: None,
                        done: false,
                    });
                }
                self.emit(EventKind::Log { stream, line, time });
            }
            FromAgent::Status { status } => match status {
                AppStatus::Started { .. } | AppStatus::BuildFailed { .. } | AppStatus::Exited { .. }
                    if self.building =>
                {
                    self.building = false;
                    let ok = matches!(status, AppStatus::Started { .. });
                    self.emit(EventKind::Progress {
                        title: format!("{}: build", self.config.name),
                        message: if ok { "built".into() } else { "failed".into() },
                        percentage: None,
                        done: true,
                    });
                    Box::pin(self.on_agent(FromAgent::Status { status })).await;
                }
                AppStatus::Building { command } => {
                    if !self.building {
                        self.building = true;
                        self.emit(EventKind::Progress {
                            title: format!("{}: build", self.config.name),
                            message: command.join(" "),
                            percentage: None,
                            done: false,
                        });
                    }
                    self.status(Phase::Building, format!("running {}", command.join(" ")), None)
                }
                AppStatus::BuildFailed { command, exit_code, last_lines } => {
                    self.app_down = true;
                    let msg = format!(
                        "build command '{}' failed with exit code {}; the app stays stopped until the next change",
                        command.join(" "),
                        exit_code.unwrap_or(-1)
                    );
                    self.error(msg.clone());
                    self.status(Phase::Failed, msg, Some((exit_code, last_lines)));
                }
                AppStatus::Started { pid } if Some(pid) == self.superseded_pid => {}
                AppStatus::Started { pid } => {
                    self.superseded_pid = None;
                    self.app_down = false;
                    self.app_pid = Some(pid);
                    self.status(Phase::Starting, format!("pid {pid}"), None);
                }
                AppStatus::Exited { exit_code, signal, last_lines } => {
                    self.app_down = true;
                    let how = match (exit_code, signal) {
                        (Some(c), _) => format!("exit code {c}"),
                        (None, Some(s)) => format!("signal {s}"),
                        _ => "an unknown status".to_string(),
                    };
                    let msg = format!("the app exited with {how}; the next change restarts it");
                    self.error(msg.clone());
                    self.status(Phase::Crashed, msg, Some((exit_code, last_lines)));
                }
                AppStatus::Listening { ports } => {
                    self.forwards.reconcile(&ports, self.app_port).await;
                    // Running means serving: the app listens (or, for a worker, settled without ports).
                    if let (Some(pid), Phase::Starting | Phase::Restarting) = (self.app_pid, self.phase) {
                        self.status(Phase::Running, format!("pid {pid}"), None);
                    } else {
                        self.save_record();
                    }
                }
                AppStatus::Stopping | AppStatus::Stopped => {}
            },
            FromAgent::Welcome { .. } | FromAgent::Done { .. } => {}
        }
    }

    /// Applies one batch of changes; returns a new agent event stream after a redeploy.
    async fn apply(
        &mut self,
        batch: Batch,
        watcher: &mut Option<watch::WatchHandle>,
        batch_tx: &mpsc::Sender<Batch>,
    ) -> Option<mpsc::UnboundedReceiver<AgentEvent>> {
        let started = Instant::now();
        let mut paths: Vec<String> = batch.paths.into_iter().collect();
        if batch.rescan {
            // A rescan compares the whole tree with the synclog.
            paths.extend(crate::sync::scan(&self.config.service_dir, &self.rules));
            paths.sort();
            paths.dedup();
        }
        // Events are hints: a path that is gone now and was never synced (an editor's or sed's temp
        // file, a file created and deleted within the batch) changes nothing remotely.
        let dir = self.config.service_dir.clone();
        paths.retain(|p| self.syncer.knows(p) || std::fs::symlink_metadata(dir.join(p)).is_ok_and(|m| m.is_file()));
        let plan = classify::plan(&self.rules, &paths);
        let class = plan.class?;
        if class == Class::Redeploy || self.agent.is_none() {
            let reason = plan.reason.map(|(p, r)| format!("{p} ({r})")).unwrap_or_default();
            self.log(LogStream::System, format!("redeploying: {reason}"));
            match config::load(&self.opts.service_dir) {
                Ok(c) => match Rules::new(&c, &IgnoreFiles::read(&c)) {
                    Ok(r) => {
                        self.config = c;
                        self.rules = Arc::new(r);
                        self.syncer.set_context(&self.config.context_prefix());
                        self.show_warnings();
                        drop(watcher.take());
                        *watcher = self.start_watcher(batch_tx.clone());
                    }
                    Err(e) => return self.config_failed(e.to_string()),
                },
                Err(e) => return self.config_failed(e.to_string()),
            }
            if let Some(agent) = self.agent.take() {
                if !self.backend.capabilities().serves_during_redeploy {
                    let _ = agent.shutdown().await;
                }
            }
            return self.deploy(true).await;
        }
        let Some(agent) = &self.agent else { return None };
        let report = match self.syncer.sync_paths(agent, &plan.sync).await {
            Ok(r) => r,
            Err(e) => {
                self.error(format!("sync failed: {e}"));
                return None;
            }
        };
        let changed = !report.sent.is_empty() || !report.deleted.is_empty();
        // Nothing changed remotely: no restart, unless the app is down and waits for any change.
        let wakes_a_down_app = self.app_down && !plan.sync.is_empty();
        if !changed && !wakes_a_down_app {
            return None;
        }
        if class == Class::ProcessRestart || self.app_down {
            self.restart_app(&format!("{} changed", plan.reason.map(|(p, _)| p).unwrap_or_default())).await;
        }
        self.emit(EventKind::Synced {
            class,
            files: report.files(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        self.syncer.persist();
        None
    }

    /// Configuration warnings (unknown keys, unset variables) are shown, never fatal.
    fn show_warnings(&self) {
        for w in &self.config.warnings {
            self.log(LogStream::System, w.to_string());
        }
    }

    fn config_failed(&mut self, msg: String) -> Option<mpsc::UnboundedReceiver<AgentEvent>> {
        self.log(LogStream::System, msg.clone());
        self.error(msg.clone());
        self.status(Phase::Failed, format!("configuration error; fix it and save again:\n{msg}"), None);
        None
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

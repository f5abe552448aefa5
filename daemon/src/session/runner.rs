//! Carries the machine's actions out: watches, syncs, runs deploys as cancellable tasks, sends
//! restarts, relays the agent's and the backend's reports, and alone emits the session's events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devspaces_protocol::agent::{FromAgent, Stream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::debug;
use super::machine::{Action, Exit, Input, Machine};
use super::record::{self, SessionRecord};
use super::{human_bytes, Command, SessionOptions};
use crate::agent::client::{AgentClient, AgentEvent};
use crate::backend::{Backend, Deployed, Reporter, Tunnel};
use crate::classify::{self, Class, IgnoreFiles, Rules};
use crate::config::{self, Config, DebugAdapter};
use crate::events::{Event, EventKind, LogStream, Phase};
use crate::forward::proxy::{Hold, Trace};
use crate::forward::Forwards;
use crate::sync::Syncer;
use crate::watch::{self, Batch};

/// A restart's result, tagged with the deploy generation it was sent to.
type RestartResult = (u64, Result<(), String>);

/// How long after a batch's sync the synclog is written: out of the way of the restart it caused
/// (the new app's start, which the benchmarks time, shares the CPUs with the write), and
/// once for a burst of saves. A daemon killed before then re-sends those files at the next `up`.
const PERSIST_AFTER: Duration = Duration::from_secs(1);

/// A deploy running as a task: it owns the backend and the syncer until it ends, and ends early
/// when `cancel` fires (dropping the backend's work: its child processes are killed on drop).
struct DeployTask<B> {
    generation: u64,
    cancel: Option<oneshot::Sender<()>>,
    handle: JoinHandle<DeployOutcome<B>>,
}

struct DeployOutcome<B> {
    generation: u64,
    backend: B,
    syncer: Syncer,
    result: Result<Ready, String>,
}

/// A deployed container whose files are synced.
struct Ready {
    agent: AgentClient,
    events: mpsc::UnboundedReceiver<AgentEvent>,
    agent_pid: Option<u32>,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    app_port: u16,
    preferred_local_port: Option<u16>,
    tunnel: Option<Arc<dyn Tunnel>>,
}

/// The session's debugging: the plan of the app started last, and what stays for the session.
#[derive(Default)]
struct Debugging {
    /// The debug port chosen for this session when the app runs on this machine (a free loopback
    /// port, kept across restarts and redeploys).
    local_port: Option<u16>,
    /// The plan the running app was started with; `None` when it runs without the debugger.
    plan: Option<debug::Plan>,
    /// `debugReady` events sent so far.
    ready: u32,
}

pub(super) struct Runner<B: Backend> {
    pub(super) id: String,
    pub(super) opts: SessionOptions,
    pub(super) config: Config,
    pub(super) rules: Arc<Rules>,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) home: PathBuf,
    pub(super) watch: bool,
    /// The record's hashes of the variables the configuration names, shared with the handle.
    pub(super) env_hashes: Arc<std::sync::Mutex<record::EnvHashes>>,
    machine: Machine,
    /// `None` while a deploy task holds them.
    backend: Option<B>,
    syncer: Option<Syncer>,
    backend_name: &'static str,
    deploy: Option<DeployTask<B>>,
    agent: Option<Arc<AgentClient>>,
    agent_events: Option<mpsc::UnboundedReceiver<AgentEvent>>,
    agent_pid: Option<u32>,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    app_port: u16,
    /// The app's ports are on another machine (a pod, a container): its debug server listens on
    /// every address there, at the adapter's usual port.
    remote: bool,
    /// The agent's root as it said (where synced files are where the app runs).
    agent_root: String,
    debugging: Debugging,
    forwards: Forwards,
    detail: String,
    reports: mpsc::UnboundedSender<EventKind>,
    restarts: mpsc::UnboundedSender<RestartResult>,
    /// `redeploy()` callers, answered when the deploy ends (or cannot start).
    redeploy_waiters: Vec<oneshot::Sender<()>>,
    watcher: Option<watch::WatchHandle>,
    batch_tx: Option<mpsc::Sender<Batch>>,
    /// When the synclog's acknowledged changes are written ([`PERSIST_AFTER`] a sync).
    persist_at: Option<tokio::time::Instant>,
    /// `DEVSPACES_TIMINGS` in the client's environment: each batch's steps are logged.
    timings: bool,
    /// The steps of the batch being applied, when timed.
    steps: Option<devspaces_protocol::clock::Steps>,
}

impl<B: Backend + 'static> Runner<B> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        id: String,
        opts: SessionOptions,
        backend: B,
        mut syncer: Syncer,
        config: Config,
        rules: Arc<Rules>,
        events: broadcast::Sender<Event>,
        home: PathBuf,
        watch: bool,
    ) -> (Self, mpsc::UnboundedReceiver<EventKind>, mpsc::UnboundedReceiver<RestartResult>) {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        let (restarts, restarts_rx) = mpsc::unbounded_channel();
        let hashes = record::env_hashes(&id, config.variables.keys(), |n| opts.var(n));
        let timings = devspaces_protocol::clock::timings_wanted(opts.var("DEVSPACES_TIMINGS").as_deref());
        syncer.set_check_container(opts.var("DEVSPACES_SYNC_CHECK").as_deref() != Some("off"));
        let runner = Runner {
            env_hashes: Arc::new(std::sync::Mutex::new(hashes)),
            forwards: {
                let mut f = Forwards::new(events.clone(), config.name.clone(), id.clone());
                f.set_space(&opts.space);
                f
            },
            machine: Machine::new(backend.capabilities()),
            backend_name: backend.name(),
            backend: Some(backend),
            syncer: Some(syncer),
            id,
            opts,
            config,
            rules,
            events,
            home,
            watch,
            deploy: None,
            agent: None,
            agent_events: None,
            agent_pid: None,
            command: Vec::new(),
            env: BTreeMap::new(),
            app_port: 0,
            remote: false,
            agent_root: String::new(),
            debugging: Debugging::default(),
            detail: String::new(),
            reports,
            restarts,
            redeploy_waiters: Vec::new(),
            watcher: None,
            batch_tx: None,
            persist_at: None,
            timings,
            steps: None,
        };
        (runner, reports_rx, restarts_rx)
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event { service: self.config.name.clone(), session: self.id.clone(), kind });
    }

    fn log(&self, stream: LogStream, line: impl Into<String>) {
        self.emit(EventKind::Log { stream, line: line.into(), time: devspaces_protocol::clock::now_rfc3339() });
    }

    fn reporter(&self) -> Reporter {
        Reporter::new(self.reports.clone(), self.config.name.clone(), self.id.clone())
    }

    fn save_record(&self) {
        let r = SessionRecord {
            session: self.id.clone(),
            service: self.config.name.clone(),
            service_dir: self.config.service_dir.display().to_string(),
            space: self.opts.space.clone(),
            backend: self.backend_name.to_string(),
            owner_pid: std::process::id(),
            agent_pid: self.agent_pid,
            phase: self.machine.phase().as_str().to_string(),
            detail: self.detail.clone(),
            forwards: self.forwards.records(),
            env: self.env_hashes.lock().map(|h| h.clone()).unwrap_or_default(),
        };
        let _ = record::write(&self.home, &r);
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut reports: mpsc::UnboundedReceiver<EventKind>,
        mut restarts: mpsc::UnboundedReceiver<RestartResult>,
    ) {
        let (batch_tx, mut batches) = mpsc::channel::<Batch>(64);
        self.batch_tx = Some(batch_tx);
        self.start_watcher();
        let (trace_tx, mut traces) = mpsc::unbounded_channel::<Trace>();
        self.forwards.set_trace_sink(trace_tx);
        self.show_warnings();
        self.note_unrun_steps();
        let first = self.machine.start();
        self.perform(first).await;
        loop {
            tokio::select! {
                Some(kind) = reports.recv() => self.on_report(kind).await,
                Some((generation, result)) = restarts.recv() => {
                    self.feed(Input::RestartDone { generation, result }).await;
                }
                (generation, outcome) = wait_deploy(&mut self.deploy) => {
                    self.deploy = None;
                    // What the task reported comes first: its sync's log and progress end.
                    while let Ok(kind) = reports.try_recv() {
                        self.on_report(kind).await;
                    }
                    self.on_deployed(generation, outcome).await;
                }
                Some(batch) = batches.recv() => self.on_batch(batch).await,
                ev = recv_opt(&mut self.agent_events) => match ev {
                    Some(AgentEvent::Message(m)) => self.on_agent(m).await,
                    other => {
                        let reason = match other {
                            Some(AgentEvent::Disconnected(r)) => r,
                            _ => "connection closed".to_string(),
                        };
                        self.agent_events = None;
                        self.agent = None;
                        self.feed(Input::AgentGone(reason)).await;
                    }
                },
                Some(trace) = traces.recv() => self.emit(EventKind::Trace(trace)),
                _ = sleep_until_opt(self.persist_at) => self.persist(true),
                cmd = commands.recv() => match cmd {
                    Some(Command::Restart(done)) => {
                        self.feed(Input::RestartRequested).await;
                        let _ = done.send(());
                    }
                    Some(Command::Redeploy(done)) => {
                        self.redeploy_waiters.push(done);
                        let batch = Batch { paths: [config::FILE_NAME.to_string()].into_iter().collect(), rescan: false, seen: None };
                        self.on_batch(batch).await;
                        if !self.machine.deploying() {
                            self.answer_redeploys();
                        }
                    }
                    Some(Command::Batch(batch)) => self.on_batch(batch).await,
                    Some(Command::Debug(enable, done)) => {
                        let r = self.set_debug(enable).await;
                        let _ = done.send(r);
                    }
                    Some(Command::Stop(done)) => {
                        self.feed(Input::Stop).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.feed(Input::Stop).await;
                        return;
                    }
                },
            }
        }
    }

    /// Steps the machine and carries out what it decides.
    async fn feed(&mut self, input: Input) {
        let actions = self.machine.step(input);
        self.perform(actions).await;
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let more = self.act(action).await;
            // Results of an action are inputs whose actions run before the rest of this list.
            for a in more.into_iter().rev() {
                queue.push_front(a);
            }
        }
    }

    async fn act(&mut self, action: Action) -> Vec<Action> {
        match action {
            Action::Status { phase, detail, exit } => self.status(phase, detail, exit),
            Action::Log(line) => self.log(LogStream::System, line),
            Action::Error(message) => self.emit(EventKind::Error { message }),
            Action::Reload => {
                let result = self.reload();
                if result.is_err() {
                    self.answer_redeploys();
                }
                return self.machine.step(Input::Reloaded(result));
            }
            Action::Sync(plan) => return self.sync(plan).await,
            Action::Deploy { generation, fresh, stop_previous } => self.start_deploy(generation, fresh, stop_previous),
            Action::Reattach { generation } => {
                if let Some(b) = self.backend.as_mut() {
                    b.agent_lost();
                }
                self.start_deploy(generation, false, false)
            }
            Action::CancelDeploy => self.cancel_deploy().await,
            Action::Restart { generation, why: _ } => self.restart(generation),
            Action::Rescan => {
                let batch = Batch { paths: Default::default(), rescan: true, seen: None };
                Box::pin(self.on_batch(batch)).await;
            }
            Action::BuildProgress { open, message } => self.emit(EventKind::Progress {
                title: format!("{}: build", self.config.name),
                message,
                percentage: None,
                done: !open,
            }),
            Action::Reconcile(mut ports) => {
                // The debug server is the debugger's, not a port of the app's (an older agent may list it).
                if let Some(p) = &self.debugging.plan {
                    ports.retain(|x| *x != p.port);
                }
                self.forwards.reconcile(&ports, self.app_port).await
            }
            Action::DebugReady(port) => self.debug_ready(port).await,
            Action::ForwardsReconnecting => self.forwards.reconnecting(),
            Action::SaveRecord => self.save_record(),
            Action::Shutdown => self.shutdown().await,
        }
        Vec::new()
    }

    fn status(&mut self, phase: Phase, detail: String, exit: Option<Exit>) {
        // From the restart's request until the new app listens, or the restart failed.
        self.forwards.hold(match phase {
            Phase::Restarting | Phase::Building => Hold::Stopping,
            Phase::Starting => Hold::Starting,
            _ => Hold::Off,
        });
        self.detail = detail;
        let (exit_code, last_lines) = match exit {
            Some((c, l)) => (c, Some(l)),
            None => (None, None),
        };
        self.emit(EventKind::Status { phase, detail: self.detail.clone(), exit_code, last_lines });
        self.save_record();
    }

    fn start_watcher(&mut self) {
        let Some(batch_tx) = self.batch_tx.clone() else { return };
        if !self.watch {
            return;
        }
        drop(self.watcher.take());
        match watch::start(&self.config.service_dir, self.rules.clone()) {
            Ok((handle, hints)) => {
                if let Some(w) = &handle.warning {
                    self.log(LogStream::System, w.clone());
                    self.emit(EventKind::Error { message: w.clone() });
                }
                let quiet = self.opts.quiet;
                let coalescer = std::thread::Builder::new()
                    .name("devspaces-coalesce".into())
                    .spawn(move || watch::coalesce(hints, quiet, Duration::from_secs(5), batch_tx));
                if let Err(e) = coalescer {
                    self.emit(EventKind::Error { message: format!("cannot start the watcher's thread: {e}") });
                    return;
                }
                self.watcher = Some(handle);
            }
            Err(e) => self.emit(EventKind::Error {
                message: format!("cannot watch {}: {e}; changes will not be synced", self.config.service_dir.display()),
            }),
        }
    }

    /// Configuration warnings (unknown keys, unset variables, ignore-file lines skipped) are
    /// shown, never fatal.
    fn show_warnings(&self) {
        for w in self.config.warnings.iter().chain(self.rules.warnings()) {
            self.log(LogStream::System, w.to_string());
        }
    }

    /// The local backend does not run the develop Dockerfile's `RUN` steps: the machine names the
    /// one that would have provided what a crashed app missed.
    fn note_unrun_steps(&mut self) {
        if self.backend_name != "local" {
            return;
        }
        let Some(df) = self.config.develop_dockerfile() else { return };
        let steps = crate::backend::dockerfile::develop_image(&self.config).run;
        self.machine.set_unrun_steps(df, steps);
    }

    /// Reads azds.yaml and the ignore files again; on success the watcher follows the new rules.
    fn reload(&mut self) -> Result<(), String> {
        let c = self.opts.load_config().map_err(|e| e.to_string())?;
        let r = Rules::new(&c, &IgnoreFiles::read(&c)).map_err(|e| e.to_string())?;
        let hashes = record::env_hashes(&self.id, c.variables.keys(), |n| self.opts.var(n));
        if let Ok(mut h) = self.env_hashes.lock() {
            *h = hashes;
        }
        self.config = c;
        self.rules = Arc::new(r);
        self.note_unrun_steps();
        if let Some(s) = &mut self.syncer {
            s.set_context(&self.config.context_prefix());
        }
        self.show_warnings();
        self.start_watcher();
        Ok(())
    }

    async fn on_batch(&mut self, batch: Batch) {
        if self.timings {
            let mut steps = devspaces_protocol::clock::Steps::since("event", batch.seen.unwrap_or_else(Instant::now));
            steps.mark("received");
            self.steps = Some(steps);
        }
        let mut paths: Vec<String> = batch.paths.into_iter().collect();
        // A hint for a path that is gone may be a folder that was renamed or moved away: every
        // file the container received under it is gone too.
        if let Some(s) = &self.syncer {
            let dir = &self.config.service_dir;
            let under: Vec<String> = paths
                .iter()
                .filter(|p| std::fs::symlink_metadata(dir.join(p)).is_err())
                .flat_map(|p| s.known_under(p).map(String::from).collect::<Vec<_>>())
                .collect();
            paths.extend(under);
        }
        if batch.rescan {
            // A rescan compares the whole tree with the synclog: only what differs from it (or is
            // gone from the tree) is a change, so a redeploy file that is merely there is not one.
            let mut found = crate::sync::scan(&self.config.service_dir, &self.rules);
            if let Some(s) = &self.syncer {
                found.retain(|p| s.differs(p));
                found.extend(s.known().filter(|k| !self.config.service_dir.join(k).exists()).map(String::from));
            }
            paths.extend(found);
            paths.sort();
            paths.dedup();
        }
        // Events are hints: a path that is gone now and was never synced (an editor's or sed's temp
        // file, a file created and deleted within the batch) changes nothing remotely.
        let dir = self.config.service_dir.clone();
        let syncer = self.syncer.as_ref();
        paths.retain(|p| {
            syncer.is_some_and(|s| s.knows(p)) || std::fs::symlink_metadata(dir.join(p)).is_ok_and(|m| m.is_file())
        });
        let plan = classify::plan(&self.rules, &paths);
        self.mark("classified");
        self.feed(Input::Batch(plan)).await;
        if let Some(steps) = self.steps.take() {
            self.log(LogStream::System, steps.line());
        }
    }

    /// A step of the timed batch.
    fn mark(&mut self, step: &'static str) {
        if let Some(s) = &mut self.steps {
            s.mark(step);
        }
    }

    /// Writes the synclog's acknowledged changes: on a blocking thread, or now (a deploy takes the
    /// syncer next, or the session ends).
    fn persist(&mut self, background: bool) {
        self.persist_at = None;
        let Some(s) = self.syncer.as_mut() else { return };
        if background {
            s.persist_in_background();
        } else {
            s.persist();
        }
        if let Some(w) = s.take_warning() {
            self.log(LogStream::System, w);
        }
    }

    async fn sync(&mut self, plan: classify::Plan) -> Vec<Action> {
        let started = Instant::now();
        let (Some(agent), Some(syncer)) = (self.agent.clone(), self.syncer.as_mut()) else { return Vec::new() };
        let Some(class) = plan.class else { return Vec::new() };
        let report = match syncer.sync_paths(&agent, &plan.sync).await {
            Ok(r) => r,
            Err(e) => return self.machine.step(Input::SyncFailed(e.to_string())),
        };
        self.mark("synced");
        self.report_skipped(&report.skipped);
        let changed = !report.sent.is_empty() || !report.deleted.is_empty();
        let reason = plan.reason.map(|(p, _)| p).unwrap_or_default();
        let actions = self.machine.step(Input::Synced { class, changed, had_paths: !plan.sync.is_empty(), reason });
        // The restart is sent first; the synced event follows it, the synclog's write later.
        Box::pin(self.perform(actions)).await;
        if changed {
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            self.emit(EventKind::Synced { class, files: report.files(), duration_ms });
        }
        if self.persist_at.is_none() && self.syncer.as_ref().is_some_and(Syncer::dirty) {
            self.persist_at = Some(tokio::time::Instant::now() + PERSIST_AFTER);
        }
        Vec::new()
    }

    /// Files that could not be read stay as they are in the container; the user is told why.
    fn report_skipped(&self, skipped: &[(String, String)]) {
        for (path, why) in skipped {
            self.log(LogStream::System, skipped_line(path, why));
        }
    }

    fn restart(&mut self, generation: u64) {
        let Some(agent) = self.agent.clone() else { return };
        let (run, debug_port) = self.launch();
        let c = &self.config.develop.container;
        let (kill, build, env) = (c.processes_to_kill.clone(), c.build_commands.clone(), self.env.clone());
        let done = self.restarts.clone();
        self.mark("restart");
        tokio::spawn(async move {
            let result = agent.restart(kill, build, run, env, debug_port).await.map(|_| ()).map_err(|e| e.to_string());
            let _ = done.send((generation, result));
        });
    }

    /// The command to start and its debug port: under the debug plan when the session debugs
    /// (a plan that cannot be made is said, and the app runs without the debugger).
    fn launch(&mut self) -> (Vec<String>, Option<u16>) {
        self.debugging.plan = None;
        if !self.opts.debug {
            return (self.command.clone(), None);
        }
        let host = if self.remote { "0.0.0.0" } else { "127.0.0.1" };
        if !self.remote && self.debugging.local_port.is_none() {
            self.debugging.local_port = free_loopback_port();
        }
        let port = if self.remote { None } else { self.debugging.local_port };
        match debug_plan(&self.config, host, port) {
            Ok(plan) => {
                let run = match &self.backend {
                    Some(b) => b.command_as_run(&self.config, &plan.command),
                    None => plan.command.clone(),
                };
                let port = plan.port;
                self.log(
                    LogStream::System,
                    format!("debugging with {} ({}) on port {port}", plan.adapter.name(), plan.adapter.server()),
                );
                self.debugging.plan = Some(plan);
                (run, Some(port))
            }
            Err(e) => {
                self.emit(EventKind::Error { message: e.clone() });
                self.log(LogStream::System, format!("{e}; the app runs without the debugger"));
                (self.command.clone(), None)
            }
        }
    }

    /// The app's debug server listens: the debug forward follows it (the same local port for the
    /// whole session) and editors are told where to attach, with the path mapping.
    async fn debug_ready(&mut self, port: u16) {
        let Some(plan) = self.debugging.plan.clone().filter(|p| p.port == port) else { return };
        let local = match self.forwards.debug(port, plan.adapter.usual_port()).await {
            Ok(local) => local,
            Err(e) => {
                let message = format!("cannot open a local port for the debug server's port {port}: {e}");
                self.emit(EventKind::Error { message });
                return;
            }
        };
        let (local_root, remote_root) = self.path_mapping();
        self.emit(EventKind::DebugReady {
            host: "127.0.0.1".into(),
            port: local,
            remote_port: port,
            adapter: plan.adapter,
            local_root,
            remote_root,
            restarts: self.debugging.ready,
        });
        self.debugging.ready += 1;
    }

    /// The workspace folder whose files are the agent's root (the build context, laid out as
    /// `COPY . <dest>` would), and that root as the app sees it (the real path when the app runs
    /// on this machine, as the interpreter reports its files).
    fn path_mapping(&self) -> (String, String) {
        let local = lexical(&self.config.service_dir.join(self.config.context_prefix()));
        let remote = match self.remote {
            false => std::fs::canonicalize(&self.agent_root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| self.agent_root.clone()),
            true => self.agent_root.clone(),
        };
        (local.display().to_string(), remote)
    }

    /// `devspaces/debug`: the new mode's configuration (`develop.attach` when debugging) is loaded
    /// and, when debugging, its plan made first, so that an error changes nothing. A mode whose
    /// sync settings differ redeploys; otherwise the app restarts.
    async fn set_debug(&mut self, enable: bool) -> Result<(), String> {
        if enable == self.opts.debug {
            return Ok(());
        }
        self.opts.debug = enable;
        let checked = self.opts.load_config().map_err(|e| e.to_string()).and_then(|c| {
            if enable {
                debug_plan(&c, "127.0.0.1", None)?;
            }
            Ok(c)
        });
        let config = match checked {
            Ok(c) => c,
            Err(e) => {
                self.opts.debug = !enable;
                return Err(e);
            }
        };
        self.log(
            LogStream::System,
            if enable { "debugging: the app restarts under its debugger" } else { "debugging off: the app restarts" },
        );
        if !enable {
            self.forwards.close_debug();
        }
        let (now, then) = (&self.config.develop.container, &config.develop.container);
        let same_files = now.sync == then.sync
            && now.static_rules == then.static_rules
            && now.sync_target == then.sync_target
            && now.values == then.values;
        if same_files {
            self.config = config;
            self.feed(Input::RestartRequested).await;
        } else {
            let batch =
                Batch { paths: [config::FILE_NAME.to_string()].into_iter().collect(), rescan: false, seen: None };
            self.on_batch(batch).await;
        }
        Ok(())
    }

    /// Starts a deploy in a task that owns the backend and the syncer until it ends.
    fn start_deploy(&mut self, generation: u64, fresh: bool, stop_previous: bool) {
        self.persist(true);
        let previous = self.agent.take();
        self.agent_events = None;
        let (Some(backend), Some(syncer)) = (self.backend.take(), self.syncer.take()) else {
            let msg = "the backend was lost (a deploy task panicked); stop the session and start it again";
            self.status(Phase::Failed, msg.to_string(), None);
            return;
        };
        let (cancel, cancelled) = oneshot::channel();
        let task = deploy_task(
            DeployJob {
                generation,
                backend,
                syncer,
                config: self.config.clone(),
                rules: self.rules.clone(),
                fresh,
                previous: if stop_previous { previous } else { None },
                report: self.reporter(),
            },
            cancelled,
        );
        self.deploy = Some(DeployTask { generation, cancel: Some(cancel), handle: tokio::spawn(task) });
    }

    /// Cancels the deploy in flight and waits for its task, which gives the backend back.
    async fn cancel_deploy(&mut self) {
        let Some(mut task) = self.deploy.take() else { return };
        if let Some(c) = task.cancel.take() {
            let _ = c.send(());
        }
        let outcome = (&mut task.handle).await;
        if let Ok(o) = outcome {
            self.backend = Some(o.backend);
            self.syncer = Some(o.syncer);
            if let Ok(ready) = o.result {
                // It finished before it saw the cancel: its agent is let go at once.
                let _ = ready.agent.shutdown().await;
            }
        }
    }

    async fn on_deployed(&mut self, generation: u64, outcome: Result<DeployOutcome<B>, tokio::task::JoinError>) {
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.answer_redeploys();
                let result = Err(format!("the deploy stopped unexpectedly: {e}"));
                return self.feed(Input::Deployed { generation, result }).await;
            }
        };
        self.backend = Some(outcome.backend);
        self.syncer = Some(outcome.syncer);
        // After a big sync, the allocator gives its free pages back a moment later, once the
        // sync's buffers and events are gone.
        if self.persist_at.is_none() && self.syncer.as_ref().is_some_and(Syncer::wants_release) {
            self.persist_at = Some(tokio::time::Instant::now() + PERSIST_AFTER);
        }
        let result = match outcome.result {
            Ok(ready) => {
                let running = ready.agent.welcome.app_pid;
                self.remote = ready.tunnel.is_some();
                self.agent_root = ready.agent.welcome.root.clone();
                self.forwards.set_tunnel(ready.tunnel);
                self.agent_pid = ready.agent_pid;
                self.command = ready.command;
                self.env = ready.env;
                self.app_port = ready.app_port;
                self.agent = Some(Arc::new(ready.agent));
                self.agent_events = Some(ready.events);
                self.forwards.ensure_primary(self.opts.local_port.or(ready.preferred_local_port), ready.app_port).await;
                self.save_record();
                Ok(running)
            }
            Err(e) => Err(e),
        };
        self.feed(Input::Deployed { generation: outcome.generation, result }).await;
        self.answer_redeploys();
    }

    fn answer_redeploys(&mut self) {
        for w in self.redeploy_waiters.drain(..) {
            let _ = w.send(());
        }
    }

    /// A backend's report: statuses are transitions, everything else is relayed as it is.
    async fn on_report(&mut self, kind: EventKind) {
        match kind {
            EventKind::Status { phase, detail, .. } => self.feed(Input::BackendStatus { phase, detail }).await,
            other => self.emit(other),
        }
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
                if stream == LogStream::Build && self.machine.building() {
                    self.emit(EventKind::Progress {
                        title: format!("{}: build", self.config.name),
                        message: line.clone(),
                        percentage: None,
                        done: false,
                    });
                }
                self.emit(EventKind::Log { stream, line, time });
            }
            FromAgent::Status { status } => self.feed(Input::Agent(status)).await,
            FromAgent::Trace { method, path, status, micros, bytes, peer, served_by, route_as, link, time, .. } => self
                .emit(EventKind::Trace(crate::forward::proxy::Trace {
                    method,
                    path,
                    status,
                    duration_ms: micros as f64 / 1000.0,
                    bytes,
                    time,
                    routed: Some(devspaces_protocol::editor::Routed { served_by, source: peer, route_as }),
                    link: link.map(|l| *l),
                })),
            FromAgent::Welcome { .. } | FromAgent::Done { .. } => {}
        }
    }

    async fn shutdown(&mut self) {
        self.cancel_deploy().await;
        self.answer_redeploys();
        if let Some(agent) = self.agent.take() {
            let _ = agent.shutdown().await;
        }
        self.agent_events = None;
        drop(self.watcher.take());
        self.persist(false);
        let report = self.reporter();
        if let Some(backend) = &mut self.backend {
            backend.finish(&report).await;
        }
        self.agent_pid = None;
        self.forwards.close_all();
        // What the backend said while it finished, then the last status.
        self.status(Phase::Stopped, "session ended".to_string(), None);
    }
}

struct DeployJob<B> {
    generation: u64,
    backend: B,
    syncer: Syncer,
    config: Config,
    rules: Arc<Rules>,
    fresh: bool,
    /// The agent to stop before the new container starts (the local backend's root is reused).
    previous: Option<Arc<AgentClient>>,
    report: Reporter,
}

/// Deploys and syncs; a cancel drops the work in progress and gives the backend back at once.
async fn deploy_task<B: Backend>(job: DeployJob<B>, cancelled: oneshot::Receiver<()>) -> DeployOutcome<B> {
    let DeployJob { generation, mut backend, mut syncer, config, rules, fresh, previous, report } = job;
    let result = {
        let work = deploy_and_sync(&mut backend, &mut syncer, &config, &rules, fresh, previous, &report);
        tokio::select! {
            r = work => r,
            _ = cancelled => Err("deploy cancelled".to_string()),
        }
    };
    DeployOutcome { generation, backend, syncer, result }
}

async fn deploy_and_sync<B: Backend>(
    backend: &mut B,
    syncer: &mut Syncer,
    config: &Config,
    rules: &Rules,
    fresh: bool,
    previous: Option<Arc<AgentClient>>,
    report: &Reporter,
) -> Result<Ready, String> {
    if let Some(agent) = previous {
        let _ = agent.shutdown().await;
    }
    let detail = if fresh { "redeploying: fresh container root" } else { "starting the agent" };
    report.progress("deploy", detail, false);
    let deployed = backend.deploy(config, fresh, report).await;
    report.progress("deploy", if deployed.is_ok() { "deployed" } else { "failed" }, true);
    let Deployed { agent, events, agent_pid, command, env, app_port, preferred_local_port, tunnel } =
        deployed.map_err(|e| e.to_string())?;
    let incremental = !fresh && syncer.matches(agent.welcome.state.as_ref());
    report.emit(EventKind::Status {
        phase: Phase::Syncing,
        detail: if incremental { "incremental sync" } else { "full sync" }.to_string(),
        exit_code: None,
        last_lines: None,
    });
    let title = format!("{}: sync", config.name);
    report.emit(EventKind::Progress {
        title: title.clone(),
        message: "synchronizing files".into(),
        percentage: Some(0),
        done: false,
    });
    let started = Instant::now();
    let sink = report.clone();
    let progress_title = title.clone();
    let mut progress = move |done: usize, total: usize| {
        let percentage = (done * 100 / total.max(1)).min(99) as u32;
        sink.emit(EventKind::Progress {
            title: progress_title.clone(),
            message: format!("{done}/{total} files"),
            percentage: Some(percentage),
            done: false,
        });
    };
    let synced = syncer.sync_all(&agent, rules, !incremental, &mut progress).await;
    syncer.persist();
    if let Some(w) = syncer.take_warning() {
        report.log(LogStream::System, w);
    }
    match synced {
        Ok(r) => {
            for (path, why) in &r.skipped {
                report.log(LogStream::System, skipped_line(path, why));
            }
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            report.log(
                LogStream::System,
                format!(
                    "Synchronizing files...{} {} sent, {} deleted, {}{} in {:.0} ms",
                    if r.full { "full:" } else { "incremental:" },
                    r.sent.len(),
                    r.deleted.len(),
                    human_bytes(r.bytes),
                    match r.unchanged {
                        0 => String::new(),
                        n if r.full => format!(", {n} already in the container"),
                        n => format!(", {n} unchanged"),
                    },
                    ms
                ),
            );
            report.emit(EventKind::Progress {
                title,
                message: format!("{} files", r.sent.len()),
                percentage: Some(100),
                done: true,
            });
            report.emit(EventKind::Synced { class: Class::Redeploy, files: r.files(), duration_ms: ms });
        }
        Err(e) => {
            report.emit(EventKind::Progress { title, message: "failed".into(), percentage: None, done: true });
            let _ = agent.shutdown().await;
            return Err(format!("sync failed: {e}"));
        }
    }
    Ok(Ready { agent, events, agent_pid, command, env, app_port, preferred_local_port, tunnel })
}

/// The debug plan of a configuration: its app's command (azds.yaml's, else the develop
/// Dockerfile's), its `container.debug`, and what the project says (its stack, package.json's
/// scripts, in the folder whose files are the container's).
pub(super) fn debug_plan(config: &Config, host: &str, port: Option<u16>) -> Result<debug::Plan, String> {
    let command = match config.develop.container.command.is_empty() {
        false => config.develop.container.command.clone(),
        true => crate::backend::dockerfile::develop_image(config).command(),
    };
    let project = config.service_dir.join(config.context_prefix());
    let stack = [project.as_path(), config.service_dir.as_path()].iter().find_map(|d| crate::prep::stacks::detect(d));
    let stack = stack.map(|s| match s.kind {
        crate::prep::stacks::Kind::Node => DebugAdapter::Node,
        crate::prep::stacks::Kind::Python => DebugAdapter::Python,
        crate::prep::stacks::Kind::Dotnet => DebugAdapter::Dotnet,
        crate::prep::stacks::Kind::Go => DebugAdapter::Go,
        crate::prep::stacks::Kind::Java(_) => DebugAdapter::Java,
    });
    let scripts: BTreeMap<String, String> = std::fs::read_to_string(project.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("scripts").and_then(|s| s.as_object()).cloned())
        .map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    debug::plan(&debug::Request {
        command: &command,
        debug: &config.develop.container.debug,
        host,
        port,
        stack,
        scripts: &scripts,
    })
}

/// A free port on 127.0.0.1 now (the app's debug server binds it next).
fn free_loopback_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok().map(|a| a.port())
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn lexical(p: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn skipped_line(path: &str, why: &str) -> String {
    format!("cannot read {path}: {why}; the container keeps its copy until it can be read")
}

async fn wait_deploy<B>(task: &mut Option<DeployTask<B>>) -> (u64, Result<DeployOutcome<B>, tokio::task::JoinError>) {
    match task {
        Some(t) => (t.generation, (&mut t.handle).await),
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

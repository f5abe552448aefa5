//! One `up` of one service: deploy, sync, start, then watch, classify and apply each batch.
//! `machine.rs` decides (pure), `runner.rs` acts; this module starts a session and is its handle.

pub mod debug;
pub mod machine;
pub mod record;
mod runner;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::backend::Backend;
use crate::classify::{self, IgnoreFiles, Rules};
use crate::config;
use crate::events::Event;
use crate::sync::{synclog, Syncer};
use crate::watch::Batch;
use runner::Runner;

/// The quiet time that closes a batch: long enough to join an editor's write-rename pair or a
/// checkout's burst, short enough that a lone save is not held back.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(1);

pub struct SessionOptions {
    pub service_dir: PathBuf,
    pub space: String,
    /// Quiet time that closes a batch of file events.
    pub quiet: Duration,
    /// The environment of the client that asked for the session: azds.yaml's `${VAR}`, the
    /// backend's child processes and the synclog's `TMPDIR` come from it. `None`: this process's.
    pub env: Option<ClientEnv>,
    /// The local port the first forward binds when free (else the image's `EXPOSE`, else any).
    pub local_port: Option<u16>,
    /// The app runs under its stack's debug server (`debug.rs`), with `configurations.develop.attach`'s
    /// container settings; `SessionHandle::debug` switches it.
    pub debug: bool,
}

/// A client's environment variables, shared by the session and its backend.
pub type ClientEnv = Arc<BTreeMap<String, String>>;

impl SessionOptions {
    /// A variable of the session's environment.
    pub fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Loads azds.yaml with the session's environment (and the `.env` beside it); when debugging,
    /// as `develop.attach` amends it.
    pub fn load_config(&self) -> Result<config::Config, config::ConfigError> {
        let c = match &self.env {
            Some(env) => config::load_with_vars(&self.service_dir, env),
            None => config::load(&self.service_dir),
        }?;
        Ok(if self.debug { c.for_debugging() } else { c })
    }

    /// Where the service's synclog is: in the session's `TMPDIR`.
    fn synclog_path(&self) -> PathBuf {
        match &self.env {
            Some(env) => {
                synclog::path_in(&synclog::temp_dir_of(env.get("TMPDIR").map(String::as_str)), &self.service_dir)
            }
            None => synclog::path_for(&self.service_dir),
        }
    }
}

enum Command {
    Stop(oneshot::Sender<()>),
    Restart(oneshot::Sender<()>),
    Redeploy(oneshot::Sender<()>),
    Batch(Batch),
    Debug(bool, oneshot::Sender<Result<(), String>>),
}

/// A running session; dropping it does not stop it, `stop()` does.
pub struct SessionHandle {
    pub id: String,
    pub service: String,
    /// The hashes of the variables azds.yaml names, as the session record keeps them (updated on
    /// every reload): what `up` compares with an attaching client's environment.
    pub env: Arc<std::sync::Mutex<record::EnvHashes>>,
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

    /// Runs the app under its debug server (`enable`) or without it, restarting it (or
    /// redeploying, when `develop.attach` syncs differently); an error says why the app cannot be
    /// debugged (which azds.yaml key to add), and nothing changes then.
    pub async fn debug(&self, enable: bool) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Debug(enable, tx)).await.map_err(|_| "the session has ended".to_string())?;
        rx.await.map_err(|_| "the session has ended".to_string())?
    }

    /// Tells the session that these paths (relative to the service folder) changed, as the
    /// watcher would; they are classified and applied as one batch.
    pub async fn changed(&self, paths: impl IntoIterator<Item = String>) {
        let batch = Batch { paths: paths.into_iter().collect(), rescan: false, seen: None };
        let _ = self.commands.send(Command::Batch(batch)).await;
    }

    /// Compares the whole workspace with the synclog, as the watcher asks after a new folder or a
    /// lost event.
    pub async fn rescan(&self) {
        let batch = Batch { paths: Default::default(), rescan: true, seen: None };
        let _ = self.commands.send(Command::Batch(batch)).await;
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
    /// Debugging was asked for and the configuration cannot say how.
    #[error("{0}")]
    Debug(String),
}

fn session_id() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads the configuration and starts the session's task; events flow on the handle's channel.
pub async fn start<B: Backend + 'static>(
    opts: SessionOptions,
    backend: B,
    home: PathBuf,
) -> Result<SessionHandle, StartError> {
    start_with(opts, backend, home, true).await
}

/// The ports a debug server of this service listens on in a container (the adapter's usual port,
/// or `container.debug.port`), with and without `develop.attach`: what a backend that publishes
/// ports one by one publishes beside the app's, so that `up --debug` and a later
/// `devspaces/debug` both find theirs. Empty when the service cannot be debugged.
pub fn debug_ports_in_container(config: &config::Config) -> Vec<u16> {
    let mut ports: Vec<u16> = [config.clone(), config.clone().for_debugging()]
        .iter()
        .filter_map(|c| runner::debug_plan(c, "0.0.0.0", None).ok().map(|p| p.port))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// As `start`; without `watch` the session sees only the changes sent with `SessionHandle::changed`.
pub(crate) async fn start_with<B: Backend + 'static>(
    opts: SessionOptions,
    backend: B,
    home: PathBuf,
    watch: bool,
) -> Result<SessionHandle, StartError> {
    let config = opts.load_config()?;
    if let Some(r) = record::read(&home) {
        if r.phase != "stopped" && r.owner_pid != std::process::id() && record::pid_is(r.owner_pid, &["devspacesd"]) {
            return Err(StartError::AlreadyUp { service: r.service, pid: r.owner_pid, dir: r.service_dir });
        }
    }
    if opts.debug {
        // Said before anything starts: which azds.yaml key to add.
        runner::debug_plan(&config, "127.0.0.1", None).map_err(StartError::Debug)?;
    }
    let rules = Arc::new(Rules::new(&config, &IgnoreFiles::read(&config))?);
    let (events, first_events) = broadcast::channel(16384);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let id = session_id();
    let service = config.name.clone();
    // The synclog is read off the async runtime: its file is checked, never trusted to be quick.
    let target = format!("{}/{}", backend.name(), opts.space);
    let (dir, context, log) = (config.service_dir.clone(), config.context_prefix(), opts.synclog_path());
    let syncer = tokio::task::spawn_blocking(move || Syncer::open_at(log, &dir, &target, &context))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let (runner, reports, restarts) =
        Runner::new(id.clone(), opts, backend, syncer, config, rules, events.clone(), home, watch);
    let env = runner.env_hashes.clone();
    let done = tokio::spawn(runner.run(cmd_rx, reports, restarts));
    Ok(SessionHandle {
        id,
        service,
        env,
        events,
        commands: cmd_tx,
        first_events: std::sync::Mutex::new(Some(first_events)),
        done,
    })
}

pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

//! Where a session runs. One trait, checked at compile time; `local` is the embedded default,
//! `kubernetes` and `container` the cargo features of those names. Callers get a backend only through `connect` and
//! `start` (`choice.rs`), never by naming one.

pub mod agent_layer;
mod choice;
#[cfg(feature = "container")]
pub mod container;
pub mod dockerfile;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
mod local;

pub use choice::{
    choose, connect, run_steps_warning, start, AutoChoice, BackendChoice, BackendKind, ConnectOptions, Connected,
    StartFailure,
};

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::agent::client::{AgentClient, AgentEvent};
use crate::config::Config;
use crate::events::{EventKind, LogStream};

/// A fresh session token (48 hex digits): the agent accepts only a client that presents it.
pub fn new_token() -> String {
    let mut b = [0u8; 24];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a space name, the same rule on every backend: `name` or `parent/child`, each a
/// namespace name (a DNS-1123 label), the child not named as its parent. A space becomes a folder
/// of the state layout (`spaces/<space>/`) and a namespace, so `..`, `.`, `/` beyond one, NUL,
/// capitals and a leading dot are all refused here, before either exists.
pub fn check_space_name(s: &str) -> Result<(), String> {
    let (parent, name) = match s.split_once('/') {
        Some((p, c)) => (Some(p), c),
        None => (None, s),
    };
    for part in parent.into_iter().chain([name]) {
        let ok = !part.is_empty()
            && part.len() <= 63
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-');
        if !ok {
            return Err(format!(
                "invalid space name '{}': '{}' must be a namespace name (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit); use 'name' or 'parent/child'",
                s.escape_debug(),
                part.escape_debug()
            ));
        }
    }
    if parent == Some(name) {
        return Err(format!("space '{s}' names the same namespace twice (a child needs its own name)"));
    }
    Ok(())
}

/// What a backend can do, consulted while planning (never discovered as a run-time error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// A redeploy replaces the old agent by itself (a new pod): the old app keeps serving until
    /// the new one is ready, so the session must not stop it first.
    pub serves_during_redeploy: bool,
    /// A lost agent comes back by itself (a pod deleted or evicted is replaced by its Deployment):
    /// the session reattaches to the replacement (`Backend::agent_lost`, then `deploy`) instead of
    /// failing, and its forwards keep their local ports.
    pub replaces_lost_agent: bool,
}

/// A deployed container with its agent connected.
pub struct Deployed {
    pub agent: AgentClient,
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
    pub agent_pid: Option<u32>,
    /// The app's command, environment and the port it is asked to listen on.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub app_port: u16,
    /// The port the forward prefers locally (the image's EXPOSE, else the app's port).
    pub preferred_local_port: Option<u16>,
    /// How a remote port is reached from this machine; `None`: it is a port on 127.0.0.1 itself.
    pub tunnel: Option<Arc<dyn Tunnel>>,
}

/// Reaches the app's ports from this machine when they are not on it (a pod): a loopback port per
/// remote port, stable for the session, that follows the current pod.
pub trait Tunnel: Send + Sync {
    fn local_port(&self, remote: u16) -> Pin<Box<dyn Future<Output = std::io::Result<u16>> + Send + '_>>;
}

/// What a backend says while it works (build output, image delivery, pod status). It goes to the
/// session's runner, which alone emits events and owns the phase (a `Status` becomes a transition).
#[derive(Clone)]
pub struct Reporter {
    events: mpsc::UnboundedSender<EventKind>,
    pub service: String,
    pub session: String,
}

impl Reporter {
    pub fn new(events: mpsc::UnboundedSender<EventKind>, service: String, session: String) -> Self {
        Reporter { events, service, session }
    }
    pub fn emit(&self, kind: EventKind) {
        let _ = self.events.send(kind);
    }
    pub fn log(&self, stream: LogStream, line: impl Into<String>) {
        self.emit(EventKind::Log { stream, line: line.into(), time: devspaces_protocol::clock::now_rfc3339() });
    }
    pub fn progress(&self, title: &str, message: impl Into<String>, done: bool) {
        self.emit(EventKind::Progress {
            title: format!("{}: {title}", self.service),
            message: message.into(),
            percentage: None,
            done,
        });
    }
}

/// A build's output as it streams (from a builder CLI's pipes or an engine's API): each line a
/// build log and a progress message; the last 20 kept for the error that names the failure.
#[derive(Clone)]
pub struct BuildOutput {
    report: Reporter,
    tail: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl BuildOutput {
    const KEPT: usize = 20;

    pub fn new(report: &Reporter) -> Self {
        BuildOutput { report: report.clone(), tail: Arc::default() }
    }

    pub fn line(&self, line: String) {
        if let Ok(mut t) = self.tail.lock() {
            if t.len() == Self::KEPT {
                t.pop_front();
            }
            t.push_back(line.clone());
        }
        self.report.progress("build", line.clone(), false);
        self.report.log(LogStream::Build, line);
    }

    /// The last lines, oldest first.
    pub fn last(&self) -> Vec<String> {
        self.tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }
}

/// The develop Dockerfile an image backend builds, or the error that says how to name one.
pub fn develop_dockerfile(config: &Config) -> Result<String, BackendError> {
    config.develop_dockerfile().ok_or_else(|| {
        BackendError::Deploy(format!(
            "{}: no Dockerfile to build: set configurations.develop.build.dockerfile (or build.dockerfile)",
            config.file.display()
        ))
    })
}

/// The app's command: azds.yaml's `container.command`, else the image's ENTRYPOINT + CMD.
pub fn app_command(config: &Config, image_command: Vec<String>) -> Result<Vec<String>, BackendError> {
    let command = if config.develop.container.command.is_empty() {
        image_command
    } else {
        config.develop.container.command.clone()
    };
    if command.is_empty() {
        return Err(BackendError::Config(format!(
            "{}: no command to run: set configurations.develop.container.command or a CMD in the develop Dockerfile",
            config.file.display()
        )));
    }
    Ok(command)
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Config(String),
    #[error("io({what}): {source}")]
    Io { what: String, source: std::io::Error },
    #[error("agent: {0}")]
    Agent(String),
    /// Building, delivering or deploying failed; the text names the step and the cause.
    #[error("{0}")]
    Deploy(String),
}

pub trait Backend: Send {
    fn name(&self) -> &'static str;
    /// What the session may rely on; none of the extras by default.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    /// Builds (or prepares) the container and connects to its agent; `fresh` discards the old one.
    fn deploy(
        &mut self,
        config: &Config,
        fresh: bool,
        report: &Reporter,
    ) -> impl Future<Output = Result<Deployed, BackendError>> + Send;
    /// The agent's connection ended by itself. A backend that `replaces_lost_agent` makes its next
    /// `deploy` only find the replacement and connect to its agent (no build, no install).
    fn agent_lost(&mut self) {}
    /// Stops the agent and app; keeps what a later `up` needs for an incremental sync.
    fn teardown(&mut self) -> impl Future<Output = ()> + Send;
    /// A command written for the container (a debug plan's) as this backend runs it, laid out as
    /// `Deployed::command` is (the local backend maps container paths under its root and starts it
    /// in the WORKDIR). By default, as written.
    fn command_as_run(&self, config: &Config, command: &[String]) -> Vec<String> {
        let _ = config;
        command.to_vec()
    }
    /// The session ends: `teardown`, then remove what the session made elsewhere (a Helm
    /// release, images). The local backend keeps its folder for the next incremental sync.
    fn finish(&mut self, report: &Reporter) -> impl Future<Output = ()> + Send {
        let _ = report;
        self.teardown()
    }
}

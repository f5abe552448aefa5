//! Where a session runs. One trait, checked at compile time; `local` is the embedded default.

pub mod local;

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::agent::client::{AgentClient, AgentEvent};
use crate::config::Config;

/// What a backend can do, consulted while planning (never discovered as a run-time error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Redeploy keeps forwards on the same local ports.
    pub stable_forwards: bool,
    /// The app runs in the user's own network namespace (ports may collide with the user's).
    pub shares_host_network: bool,
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
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    Config(String),
    #[error("io({what}): {source}")]
    Io { what: String, source: std::io::Error },
    #[error("agent: {0}")]
    Agent(String),
}

pub trait Backend: Send {
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// Builds (or prepares) the container and connects to its agent; `fresh` discards the old one.
    fn deploy(&mut self, config: &Config, fresh: bool) -> impl std::future::Future<Output = Result<Deployed, BackendError>> + Send;
    /// Stops the agent and app; keeps what a later `up` needs for an incremental sync.
    fn teardown(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

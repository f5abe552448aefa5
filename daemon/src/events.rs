//! What a session reports, as core types; the server and the CLI convert these to wire shapes.

use crate::classify::Class;
use crate::forward::proxy::Trace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Syncing,
    Building,
    Deploying,
    Starting,
    Running,
    Restarting,
    Crashed,
    Failed,
    Stopped,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Syncing => "syncing",
            Phase::Building => "building",
            Phase::Deploying => "deploying",
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Restarting => "restarting",
            Phase::Crashed => "crashed",
            Phase::Failed => "failed",
            Phase::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    Build,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Open,
    Reconnecting,
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Log {
        stream: LogStream,
        line: String,
        time: String,
    },
    Trace(Trace),
    PortForward {
        local_port: u16,
        remote_port: u16,
        url: String,
        state: PortState,
    },
    Status {
        phase: Phase,
        detail: String,
        exit_code: Option<i32>,
        last_lines: Option<Vec<String>>,
    },
    Synced {
        class: Class,
        files: Vec<String>,
        duration_ms: f64,
    },
    /// A failure worth showing to the user as a message (configuration errors, agent loss).
    Error {
        message: String,
    },
    /// Work-done progress: `percentage` while it runs, `done` at the end.
    Progress {
        title: String,
        message: String,
        percentage: Option<u32>,
        done: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub service: String,
    pub session: String,
    pub kind: EventKind,
}

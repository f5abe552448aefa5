//! What a session reports, as core types; the server and the CLI convert these to wire shapes.

use crate::classify::Class;
use crate::forward::proxy::Trace;

/// Where a session is in its life: the protocol's own type (the same nine phases on the wire and
/// in the session), so there is nothing to convert.
pub use devspaces_protocol::editor::Phase;

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
    /// The app's debug server listens: attach to `host:port` (the debug forward), where the files
    /// of `local_root` are under `remote_root`.
    DebugReady {
        host: String,
        port: u16,
        remote_port: u16,
        adapter: crate::config::DebugAdapter,
        local_root: String,
        remote_root: String,
        /// `DebugReady`s of the session before this one.
        restarts: u32,
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

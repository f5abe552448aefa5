//! Params of the `devspaces/*` notifications the daemon sends to the clients watching a session.

use serde::{Deserialize, Serialize};

use super::requests::ChangeClass;

/// Which output a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The app's standard output.
    Stdout,
    /// The app's standard error.
    Stderr,
    /// Output of an image build or of `buildCommands`.
    Build,
    /// What devspaces itself says about the session.
    System,
}

/// `devspaces/log` params: one line, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// Which output the line came from.
    pub stream: LogStream,
    /// The line, lossily decoded as UTF-8.
    pub line: String,
    /// When the line was read (RFC 3339, UTC).
    pub time: String,
}

/// `devspaces/trace` params: one HTTP request that passed through a port forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// The HTTP method.
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// The response status code.
    pub status: u16,
    /// From the request's first byte to the response's last, in milliseconds.
    pub duration_ms: u64,
    /// Size of the response body in bytes.
    pub bytes: u64,
    /// When the request arrived (RFC 3339, UTC).
    pub time: String,
    /// Set for a request a routing proxy in the cluster passed on (a call between services, or
    /// one that came in through the Service), rather than the developer's localhost forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed: Option<Routed>,
    /// The request's trace and this hop's span in it (W3C Trace Context): every trace of one
    /// request that crossed several services has the same `traceId`, and each names the hop that
    /// sent it as `parentId`, when the services pass `traceparent` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<crate::trace_context::TraceLink>,
}

/// Where a routing proxy sent a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Routed {
    /// The space whose instance served it (`dev`, or `dev/alice` when sent to alice's).
    pub served_by: String,
    /// Where it came from: the calling service (`web`) when known, else its address.
    pub source: String,
    /// The routing header's value (`azds-route-as`), when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_as: Option<String>,
}

/// The state of a port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// Accepting and forwarding connections.
    Open,
    /// The local port is kept; the far side is being reached again (pod restart, redeploy).
    Reconnecting,
    /// The forward is gone (the session stopped).
    Closed,
}

/// `devspaces/portForward` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortForwardParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// The port on localhost.
    pub local_port: u16,
    /// The service's port in its container.
    pub remote_port: u16,
    /// `http://localhost:<localPort>`.
    pub url: String,
    /// The forward's new state.
    pub state: PortState,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Sending files to the agent.
    Syncing,
    /// Building an image or running `buildCommands`.
    Building,
    /// Installing the chart or preparing the local root.
    Deploying,
    /// The app's process has been started and is not yet known to serve.
    Starting,
    /// The app runs.
    Running,
    /// The app is being killed to be built and run again.
    Restarting,
    /// The app exited on its own; the next change restarts it.
    Crashed,
    /// A build or deploy failed; the next change tries again.
    Failed,
    /// The session ended.
    Stopped,
}

impl Phase {
    /// The wire name (`running`): what serde writes for it.
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

/// `devspaces/serviceStatus` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatusParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// The new phase.
    pub phase: Phase,
    /// A human-readable word on the phase, e.g. `pid 4242` or `helm upgrade --install`.
    pub detail: String,
    /// For `crashed` and `failed`: the exit code, when a process exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// For `crashed` and `failed`: the last lines of output, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lines: Option<Vec<String>>,
}

/// `devspaces/synced` params: one batch of changes reached the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// The batch's class (never `ignored`).
    pub class: ChangeClass,
    /// Paths relative to the service folder, `/`-separated, written or deleted.
    pub files: Vec<String>,
    /// From the first change seen to the agent's acknowledgement, in milliseconds.
    pub duration_ms: u64,
}

/// The debuggers a session runs apps under, one per stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DebugAdapter {
    /// debugpy, speaking the Debug Adapter Protocol (VS Code's `debugpy` type, nvim-dap's python).
    Python,
    /// Node.js's inspector, speaking the Chrome DevTools Protocol (VS Code's `node` attach).
    Node,
    /// Delve in headless mode, speaking DAP and its JSON-RPC API.
    Go,
    /// netcoredbg, speaking DAP (VS Code's `coreclr` with netcoredbg as the adapter).
    Dotnet,
    /// The JVM's JDWP agent.
    Java,
}

impl DebugAdapter {
    pub const ALL: &'static [DebugAdapter] =
        &[DebugAdapter::Python, DebugAdapter::Node, DebugAdapter::Go, DebugAdapter::Dotnet, DebugAdapter::Java];

    /// The name azds.yaml's `container.debug.adapter` and the wire use (what serde writes).
    pub fn name(self) -> &'static str {
        match self {
            DebugAdapter::Python => "python",
            DebugAdapter::Node => "node",
            DebugAdapter::Go => "go",
            DebugAdapter::Dotnet => "dotnet",
            DebugAdapter::Java => "java",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The debug server it runs.
    pub fn server(self) -> &'static str {
        match self {
            DebugAdapter::Python => "debugpy",
            DebugAdapter::Node => "inspector",
            DebugAdapter::Go => "delve",
            DebugAdapter::Dotnet => "netcoredbg",
            DebugAdapter::Java => "jdwp",
        }
    }

    /// The port its server usually listens on (what editors' attach configurations assume).
    pub fn usual_port(self) -> u16 {
        match self {
            DebugAdapter::Python => 5678,
            DebugAdapter::Node => 9229,
            DebugAdapter::Go => 2345,
            DebugAdapter::Dotnet => 4711,
            DebugAdapter::Java => 5005,
        }
    }
}

/// Where the files of a workspace folder are where the app runs: what a debugger needs to set a
/// breakpoint in a workspace file and to show the workspace file when the app stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathMapping {
    /// The workspace folder (absolute path on the editor's machine).
    pub local_root: String,
    /// The same folder where the app runs (absolute path in the container, or the local
    /// backend's copy).
    pub remote_root: String,
}

/// `devspaces/debugReady` params: the app's debug server listens; attach to `host:port`. Sent
/// again after every restart and redeploy under the debugger (`restarts` counts them), on the
/// same local port: a client attaches again when it receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugReadyParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// Where to attach: the daemon's forward on this machine (`127.0.0.1`).
    pub host: String,
    /// The forward's local port, the same for the whole session.
    pub port: u16,
    /// The debug server's port where the app runs.
    pub remote_port: u16,
    /// Which debugger listens, hence which protocol to speak.
    pub adapter: DebugAdapter,
    /// Workspace folders and where their files are where the app runs.
    pub path_mappings: Vec<PathMapping>,
    /// How many times the app was restarted under the debugger before this (0 the first time).
    pub restarts: u32,
}

/// `devspaces/logsDropped` params: this client was too slow and lost `count` log lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDroppedParams {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// Lines dropped since the previous `logsDropped` for this session and client.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_debug_adapter_is_named_as_serde_writes_it_and_parsed_back() {
        for a in DebugAdapter::ALL {
            assert_eq!(serde_json::to_value(a).ok(), Some(serde_json::Value::from(a.name())), "{a:?}");
            assert_eq!(DebugAdapter::parse(a.name()), Some(*a));
        }
        assert_eq!(DebugAdapter::parse("ruby"), None);
    }
}

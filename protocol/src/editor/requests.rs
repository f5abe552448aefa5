//! Params and results of the custom `devspaces/*` requests, and the session summary they share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::notifications::{Phase, PortState};

/// Where a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A folder is the container; the agent is a local child process.
    Local,
    /// A namespace on a cluster, deployed with Helm.
    Kubernetes,
    /// The develop image run by a local container engine (Docker, Podman).
    Container,
}

/// What a changed path makes the session do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeClass {
    /// Copy the file; the app keeps running.
    StaticSync,
    /// Copy the file, then kill, build and run the app again.
    ProcessRestart,
    /// Build a new image (or a fresh local root) and deploy it.
    Redeploy,
    /// Not synced at all.
    Ignored,
}

/// Names a session: by its ID, or by its service folder (optionally narrowed by space and
/// backend). Which combinations a request accepts is said on the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionTarget {
    /// The session ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The service folder (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Narrows `path` to the session in this space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Narrows `path` to the session on this backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

/// A port forward as listed in a session summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortForwardInfo {
    /// The port on localhost.
    pub local_port: u16,
    /// The service's port in its container.
    pub remote_port: u16,
    /// `http://localhost:<localPort>`.
    pub url: String,
    /// Whether the forward currently carries traffic.
    pub state: PortState,
}

/// One session as `up`, `status` and `watch` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session ID.
    pub session: String,
    /// The service folder's name.
    pub service: String,
    /// The service folder (absolute path).
    pub path: String,
    /// The space the session runs in (`parent/child` for a child space).
    pub space: String,
    /// Where the session runs.
    pub backend: Backend,
    /// The target as `up` prints it: `local`, `container (docker)`, `container (podman)`, or the
    /// Kubernetes context.
    #[serde(default)]
    pub target: String,
    /// The current phase.
    pub phase: Phase,
    /// A human-readable word on the phase, as in `serviceStatus`.
    pub detail: String,
    /// The current image tag, `<session>-<n>`.
    pub tag: String,
    /// The session's port forwards.
    pub port_forwards: Vec<PortForwardInfo>,
    /// How many clients receive this session's events.
    pub watchers: u32,
    /// When the session started (RFC 3339, UTC).
    pub started_at: String,
}

/// `devspaces/up` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpParams {
    /// The service folder: a folder holding `azds.yaml` (absolute path). A folder without one
    /// stands for every service folder below it (an up of several services).
    pub path: String,
    /// More service folders (absolute paths) to start with `path`'s in one up of several services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The space; the selected space when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// The backend; when absent, chosen from the develop Dockerfile: `local` when it has no `RUN`
    /// step, else `container` when an engine answers, else `local` with a warning (a `log` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// When a session of this service already runs in the same space and backend, attach to it
    /// (true, the default) or fail with `SESSION_EXISTS` (false).
    #[serde(default = "default_true")]
    pub attach: bool,
    /// The client's environment (a shell's, an editor's). The session expands azds.yaml's
    /// `${VAR}` from it and runs the app, its build commands and image builds with it; absent, the
    /// daemon's own environment is used (the environment of whichever client started it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// The local port the session's first forward binds (when free), instead of the image's
    /// `EXPOSE`: an `up` of several services gives each one and tells the others (`env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
    /// Run the app under its stack's debug server (`devspaces/debugReady` says where to attach);
    /// attaching to a session that runs without it switches it to debugging.
    #[serde(default, skip_serializing_if = "is_false")]
    pub debug: bool,
}

fn default_true() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `devspaces/up` result: the session, which the calling client now watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpResult {
    /// The session started or attached to.
    #[serde(flatten)]
    pub session: SessionInfo,
    /// True when the session already ran and this client attached to it.
    pub attached: bool,
}

/// `devspaces/up` result for an up of several services (`paths`, or a `path` that holds services
/// below it): one outcome per service, in the order they were found. One failing does not stop
/// the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpManyResult {
    /// Each service's outcome.
    pub services: Vec<UpOutcome>,
}

/// One service of an up of several services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpOutcome {
    /// The service folder (absolute path).
    pub path: String,
    /// The name the other services call it by (its chart's Service name: the folder, lowercased).
    pub name: String,
    /// Where the other services of the local backend reach it (`<NAME>_SERVICE_HOST`/`_PORT`):
    /// its stable loopback port.
    pub port: u16,
    /// The session started or attached to; absent when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionInfo>,
    /// True when the session already ran and this client attached to it.
    #[serde(default)]
    pub attached: bool,
    /// Why it did not start: the error `devspaces/up` of this service alone would have answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<UpFailure>,
}

/// A failed service of an up of several services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpFailure {
    /// The JSON-RPC error code (see the error codes).
    pub code: i64,
    /// The message.
    pub message: String,
}

/// `devspaces/down` params: `session`, or `path` (with `space`/`backend` when ambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownParams {
    /// The session to stop.
    #[serde(flatten)]
    pub target: SessionTarget,
    /// When true and another client watches the session, only detach this client (what Ctrl-C
    /// on `devspacesd up` does); when false (the default), stop the session.
    #[serde(default)]
    pub keep_if_watched: bool,
}

/// What `devspaces/down` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownOutcome {
    /// The session's app and agent are gone.
    Stopped,
    /// Another client still watches the session; this client no longer does.
    Detached,
}

/// `devspaces/down` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownResult {
    /// The session ID.
    pub session: String,
    /// The service folder's name.
    pub service: String,
    /// What happened.
    pub outcome: DownOutcome,
}

/// How far `devspaces/restart` goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartKind {
    /// Kill, build (`buildCommands`) and run the app again.
    #[default]
    Process,
    /// Build and deploy again, as a `redeploy` change would.
    Redeploy,
}

/// `devspaces/restart` params: `session`, or `path` (with `space`/`backend` when ambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartParams {
    /// The session to restart.
    #[serde(flatten)]
    pub target: SessionTarget,
    /// `process` (the default) or `redeploy`.
    #[serde(default)]
    pub kind: RestartKind,
}

/// `devspaces/restart` result, sent once the restart has begun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartResult {
    /// The session ID.
    pub session: String,
    /// The service folder's name.
    pub service: String,
    /// What is being done.
    pub kind: RestartKind,
    /// The phase the session entered.
    pub phase: Phase,
}

/// `devspaces/debug` params: `session`, or `path` (with `space`/`backend` when ambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugParams {
    /// The session to switch.
    #[serde(flatten)]
    pub target: SessionTarget,
    /// Run the app under its debug server (true, the default) or without it (false).
    #[serde(default = "default_true")]
    pub enable: bool,
}

/// `devspaces/debug` result, sent once the switch has begun (the app restarts, or the session
/// redeploys when `develop.attach` syncs differently); `devspaces/debugReady` follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugResult {
    /// The session ID.
    pub session: String,
    /// The service folder's name.
    pub service: String,
    /// Whether the session now runs its app under the debugger.
    pub debug: bool,
}

/// `devspaces/status` params: none; send `{}` (or omit params).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusParams {}

/// The daemon, as `devspaces/status` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonInfo {
    /// The daemon's process ID.
    pub pid: u32,
    /// The daemon's version.
    pub version: String,
    /// [`super::PROTOCOL_VERSION`] of the daemon.
    pub protocol_version: u32,
    /// Connected clients, the caller included.
    pub clients: u32,
    /// When the daemon started (RFC 3339, UTC).
    pub started_at: String,
}

/// `devspaces/status` result: every session, which may be none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    /// The daemon answering.
    pub daemon: DaemonInfo,
    /// Every session, ordered by start time.
    pub sessions: Vec<SessionInfo>,
}

/// `devspaces/listUris` params: narrow by `session` or `path`; `{}` lists every session's URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUrisParams {
    /// The sessions to list.
    #[serde(flatten)]
    pub target: SessionTarget,
}

/// Whether a URL is a local forward or reachable from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriKind {
    /// `http://localhost:<port>`, a port forward of this daemon.
    Localhost,
    /// A public URL (ingress host rendered from `$(spacePrefix)$(rootSpacePrefix)...`).
    Public,
}

/// One URL of a running service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUri {
    /// The service folder's name.
    pub service: String,
    /// The session ID.
    pub session: String,
    /// The URL.
    pub url: String,
    /// Localhost forward or public URL.
    pub kind: UriKind,
    /// The service's port the URL leads to.
    pub remote_port: u16,
    /// Whether the URL currently answers (public URLs are `open` once deployed).
    pub state: PortState,
}

/// `devspaces/listUris` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListUrisResult {
    /// Every URL, grouped by session.
    pub uris: Vec<ServiceUri>,
}

/// `devspaces/classify` params. Needs no session: it reads the service's configuration only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassifyParams {
    /// The service folder (absolute path).
    pub path: String,
    /// Paths to classify: absolute, or relative to the service folder.
    pub paths: Vec<String>,
}

/// The class of one path and the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// The path, relative to the service folder, `/`-separated.
    pub path: String,
    /// The change class.
    pub class: ChangeClass,
    /// The rule number and pattern that decided it, e.g. `3: sync **/Pages/**, static`.
    pub rule: String,
}

/// `devspaces/classify` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassifyResult {
    /// The service folder's name.
    pub service: String,
    /// The strongest class of the batch (`ignored` when every path is ignored).
    pub batch: ChangeClass,
    /// One entry per requested path, in request order.
    pub results: Vec<Classification>,
}

/// `devspaces/watch` params: `session`, or `path` (every session of that service), or neither
/// (every session, including those started later).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchParams {
    /// The sessions to watch.
    #[serde(flatten)]
    pub target: SessionTarget,
    /// How many buffered log lines per session to replay as `devspaces/log` before live ones.
    #[serde(default)]
    pub replay_lines: u32,
}

/// `devspaces/watch` result: the sessions now watched, as they are at this moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchResult {
    /// The watched sessions that exist now.
    pub sessions: Vec<SessionInfo>,
}

/// `devspaces/unwatch` params: the same targets as `devspaces/watch`; `{}` unwatches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnwatchParams {
    /// The sessions to stop watching.
    #[serde(flatten)]
    pub target: SessionTarget,
}

/// `devspaces/unwatch` result. Unwatching never stops a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnwatchResult {
    /// IDs of the sessions this client no longer watches.
    pub sessions: Vec<String>,
}

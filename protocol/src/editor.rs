//! Editor-facing wire types of `devspacesd --stdio`: method names, params, results and events.
//!
//! Every type here is plain data with serde derives; field names are camelCase on the wire.
//! The daemon's server module converts between these and the core types. `docs/protocol.md`
//! documents each message, and `protocol/tests/golden/` holds one golden JSON file per type.
//! Changing anything in this file or in `editor/` changes the hash recorded in
//! `docs/protocol.md`; the `protocol_doc_hash_is_current` test says how to update it.

#![warn(clippy::unwrap_used)]

mod errors;
mod event;
mod initialize;
mod notifications;
mod requests;

pub use errors::{codes, ConfigLocation, ErrorData};
pub use event::{Event, MessageType, ShowMessageParams};
pub use initialize::{DevspacesServerInfo, InitializeExperimental, ProgressKind};
pub use notifications::{
    DebugAdapter, DebugReadyParams, LogParams, LogStream, LogsDroppedParams, PathMapping, Phase, PortForwardParams,
    PortState, Routed, ServiceStatusParams, SyncedParams, TraceParams,
};
pub use requests::{
    Backend, ChangeClass, Classification, ClassifyParams, ClassifyResult, DaemonInfo, DebugParams, DebugResult,
    DownOutcome, DownParams, DownResult, ListUrisParams, ListUrisResult, PortForwardInfo, RestartKind, RestartParams,
    RestartResult, ServiceUri, SessionInfo, SessionTarget, StatusParams, StatusResult, UnwatchParams, UnwatchResult,
    UpFailure, UpManyResult, UpOutcome, UpParams, UpResult, UriKind, WatchParams, WatchResult,
};

/// Version of the devspaces editor protocol, announced in `initialize`'s `experimental` payload.
/// Bump it when a change is not backwards compatible for clients.
pub const PROTOCOL_VERSION: u32 = 1;

/// Request: start (or attach to) a session for a service folder. [`UpParams`] -> [`UpResult`], or
/// [`UpManyResult`] for an up of several services.
pub const UP: &str = "devspaces/up";
/// Request: stop a session, or detach from it. [`DownParams`] -> [`DownResult`].
pub const DOWN: &str = "devspaces/down";
/// Request: restart a session's process or redeploy it. [`RestartParams`] -> [`RestartResult`].
pub const RESTART: &str = "devspaces/restart";
/// Request: every session the daemon runs. [`StatusParams`] -> [`StatusResult`].
pub const STATUS: &str = "devspaces/status";
/// Request: the URLs of running services. [`ListUrisParams`] -> [`ListUrisResult`].
pub const LIST_URIS: &str = "devspaces/listUris";
/// Request: the change class of paths in a service. [`ClassifyParams`] -> [`ClassifyResult`].
pub const CLASSIFY: &str = "devspaces/classify";
/// Request: receive the events of sessions this client did not start. [`WatchParams`] ->
/// [`WatchResult`].
pub const WATCH: &str = "devspaces/watch";
/// Request: stop receiving a session's events. [`UnwatchParams`] -> [`UnwatchResult`].
pub const UNWATCH: &str = "devspaces/unwatch";
/// Request: run a session's app under its debug server, or stop doing so. [`DebugParams`] ->
/// [`DebugResult`].
pub const DEBUG: &str = "devspaces/debug";

/// Notification: one line of output. [`LogParams`].
pub const LOG: &str = "devspaces/log";
/// Notification: one HTTP request seen by a port forward's proxy. [`TraceParams`].
pub const TRACE: &str = "devspaces/trace";
/// Notification: a port forward opened, is reconnecting or closed. [`PortForwardParams`].
pub const PORT_FORWARD: &str = "devspaces/portForward";
/// Notification: a session's phase changed. [`ServiceStatusParams`].
pub const SERVICE_STATUS: &str = "devspaces/serviceStatus";
/// Notification: a batch of changed files reached the session. [`SyncedParams`].
pub const SYNCED: &str = "devspaces/synced";
/// Notification: log lines a slow client could not take were dropped. [`LogsDroppedParams`].
pub const LOGS_DROPPED: &str = "devspaces/logsDropped";
/// Notification: the app's debug server is ready to attach to. [`DebugReadyParams`].
pub const DEBUG_READY: &str = "devspaces/debugReady";

/// Standard LSP notification used for failures. [`ShowMessageParams`].
pub const SHOW_MESSAGE: &str = "window/showMessage";
/// Standard LSP notification carrying work-done progress for sync, build and deploy.
pub const PROGRESS: &str = "$/progress";
/// Standard LSP request the server sends before reporting progress with a new token.
pub const WORK_DONE_PROGRESS_CREATE: &str = "window/workDoneProgress/create";

/// Every custom request, in the order `docs/protocol.md` lists them.
pub const REQUESTS: &[&str] = &[UP, DOWN, RESTART, STATUS, LIST_URIS, CLASSIFY, WATCH, UNWATCH, DEBUG];
/// Every custom notification, in the order `docs/protocol.md` lists them.
pub const NOTIFICATIONS: &[&str] = &[LOG, TRACE, PORT_FORWARD, SERVICE_STATUS, SYNCED, LOGS_DROPPED, DEBUG_READY];

//! The devspaces part of `initialize`'s result (`capabilities.experimental`) and progress tokens.

use serde::{Deserialize, Serialize};

use super::requests::Backend;

/// `capabilities.experimental` in the `initialize` result: `{"devspaces": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeExperimental {
    /// What this daemon speaks.
    pub devspaces: DevspacesServerInfo,
}

/// What the daemon announces to clients in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevspacesServerInfo {
    /// [`super::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The daemon's version.
    pub version: String,
    /// Backends usable from this daemon.
    pub backends: Vec<Backend>,
    /// Custom requests served ([`super::REQUESTS`]).
    pub requests: Vec<String>,
    /// Custom notifications sent ([`super::NOTIFICATIONS`]).
    pub notifications: Vec<String>,
    /// The largest message body accepted, in bytes; larger ones get `INVALID_REQUEST`.
    pub max_message_bytes: u64,
}

/// What a work-done progress reports; part of its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressKind {
    /// Sending files (the initial full sync reports a percentage).
    Sync,
    /// Building an image or running `buildCommands`.
    Build,
    /// Installing the chart or preparing the local root.
    Deploy,
}

impl ProgressKind {
    /// The word used in tokens and titles.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressKind::Sync => "sync",
            ProgressKind::Build => "build",
            ProgressKind::Deploy => "deploy",
        }
    }

    /// The progress token: `devspaces/<session>/<kind>/<n>`, `n` counting from 1 per session.
    pub fn token(self, session: &str, n: u64) -> String {
        format!("devspaces/{session}/{}/{n}", self.as_str())
    }
}

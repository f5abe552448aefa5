//! JSON-RPC error codes the daemon answers with, and the structured `data` of its errors.

use serde::{Deserialize, Serialize};

/// Error codes: JSON-RPC's and LSP's, then devspaces' own range from -32900.
pub mod codes {
    /// The body is not a framed JSON text (bad framing, invalid UTF-8, invalid JSON).
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON that is not a JSON-RPC 2.0 message; batches; a body over the size limit.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params missing or of the wrong shape.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A bug in the daemon, including a handler that panicked.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A request other than `initialize` arrived before `initialize` (LSP).
    pub const SERVER_NOT_INITIALIZED: i64 = -32002;
    /// The client cancelled the request with `$/cancelRequest` (LSP).
    pub const REQUEST_CANCELLED: i64 = -32800;

    /// No session has that ID, or none runs for that path.
    pub const UNKNOWN_SESSION: i64 = -32900;
    /// The path is not a service folder (no `azds.yaml` in it).
    pub const NOT_A_SERVICE: i64 = -32901;
    /// `azds.yaml` could not be loaded; `data.location` says where.
    pub const INVALID_CONFIG: i64 = -32902;
    /// The backend cannot be used here (no cluster reachable, no image builder, ...).
    pub const BACKEND_UNAVAILABLE: i64 = -32903;
    /// A path names more than one session; `data.candidates` lists them.
    pub const AMBIGUOUS_SESSION: i64 = -32904;
    /// `up` with `attach: false` while the service already runs there.
    pub const SESSION_EXISTS: i64 = -32905;
}

/// A place in a configuration file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigLocation {
    /// The file (absolute path).
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

/// The `data` member of a devspaces error; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData {
    /// The session concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The path concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Where in a configuration file the error is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<ConfigLocation>,
    /// Session IDs that match an ambiguous target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

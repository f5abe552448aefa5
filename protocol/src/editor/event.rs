//! The `Event` enum (every notification, as `devspacesd up --json` prints them) and `window/showMessage`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::notifications::{
    DebugReadyParams, LogParams, LogsDroppedParams, PortForwardParams, ServiceStatusParams, SyncedParams, TraceParams,
};

/// Every notification the daemon sends about sessions, shaped `{"method": ..., "params": ...}`.
///
/// A JSON-RPC notification parses into an `Event` too (its `"jsonrpc"` member is ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum Event {
    /// `devspaces/log`.
    #[serde(rename = "devspaces/log")]
    Log(LogParams),
    /// `devspaces/trace`.
    #[serde(rename = "devspaces/trace")]
    Trace(TraceParams),
    /// `devspaces/portForward`.
    #[serde(rename = "devspaces/portForward")]
    PortForward(PortForwardParams),
    /// `devspaces/serviceStatus`.
    #[serde(rename = "devspaces/serviceStatus")]
    ServiceStatus(ServiceStatusParams),
    /// `devspaces/synced`.
    #[serde(rename = "devspaces/synced")]
    Synced(SyncedParams),
    /// `devspaces/logsDropped`.
    #[serde(rename = "devspaces/logsDropped")]
    LogsDropped(LogsDroppedParams),
    /// `devspaces/debugReady`.
    #[serde(rename = "devspaces/debugReady")]
    DebugReady(DebugReadyParams),
    /// `window/showMessage`, used for failures.
    #[serde(rename = "window/showMessage")]
    ShowMessage(ShowMessageParams),
}

/// LSP's `MessageType`: an integer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 1.
    Error,
    /// 2.
    Warning,
    /// 3.
    Info,
    /// 4.
    Log,
}

impl Serialize for MessageType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let n: u8 = match self {
            MessageType::Error => 1,
            MessageType::Warning => 2,
            MessageType::Info => 3,
            MessageType::Log => 4,
        };
        serializer.serialize_u8(n)
    }
}

impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            1 => Ok(MessageType::Error),
            2 => Ok(MessageType::Warning),
            3 => Ok(MessageType::Info),
            4 => Ok(MessageType::Log),
            n => Err(serde::de::Error::custom(format!(
                "unknown message type {n} (expected 1 error, 2 warning, 3 info or 4 log)"
            ))),
        }
    }
}

/// `window/showMessage` params, as LSP defines them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShowMessageParams {
    /// How severe the message is.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// The message, starting with the service's name when it concerns one.
    pub message: String,
}

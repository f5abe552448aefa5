//! JSON-RPC 2.0 pieces of the server: error values, params parsing and pre-encoded frames.

use std::sync::Arc;

use devspaces_protocol::editor::{self as wire, codes, ErrorData};
use devspaces_protocol::framing::encode_frame;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::outbox::Frame;

/// A JSON-RPC error answer.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Box<ErrorData>>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    pub fn with_data(mut self, data: ErrorData) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    pub fn to_json(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            e["data"] = serde_json::to_value(d).unwrap_or(Value::Null);
        }
        e
    }
}

/// Parses request params into `T`; absent or `null` params read as `{}`.
pub fn params<T: DeserializeOwned>(method: &str, p: Option<&Value>) -> Result<T, RpcError> {
    let v = match p {
        None | Some(Value::Null) => json!({}),
        Some(v) => v.clone(),
    };
    serde_json::from_value(v)
        .map_err(|e| RpcError::new(codes::INVALID_PARAMS, format!("invalid params for {method}: {e}")))
}

pub fn frame(v: &Value) -> Frame {
    Arc::from(encode_frame(v))
}

pub fn result_frame(id: &Value, result: Value) -> Frame {
    frame(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

pub fn error_frame(id: &Value, e: &RpcError) -> Frame {
    frame(&json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}))
}

pub fn notification_frame(method: &str, params: Value) -> Frame {
    frame(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
}

/// A wire event as a JSON-RPC notification frame (its JSON already is `{"method", "params"}`).
pub fn event_frame(e: &wire::Event) -> Frame {
    match serde_json::to_value(e) {
        Ok(Value::Object(mut m)) => {
            m.insert("jsonrpc".into(), json!("2.0"));
            frame(&Value::Object(m))
        }
        _ => frame(
            &json!({"jsonrpc": "2.0", "method": "window/logMessage", "params": {"type": 1, "message": "cannot encode an event"}}),
        ),
    }
}

//! A minimal JSON-RPC client of the daemon for `up` and `down`: initialize, requests, notifications.

use std::path::Path;

use devspaces_protocol::framing::{write_frame, FrameReader, Incoming};
use serde_json::{json, Value};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// What arrived from the daemon.
pub enum Message {
    Response { id: i64, result: Result<Value, Value> },
    Notification { method: String, params: Value },
}

pub struct Client {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: i64,
}

impl Client {
    /// Connects (starting the daemon when `start`) and completes `initialize`.
    pub async fn open(state: &Path, start: bool, name: &str) -> anyhow::Result<Option<Client>> {
        let stream: UnixStream = if start {
            devspacesd::server::bridge::connect_or_start(state).await?
        } else {
            match devspacesd::server::bridge::connect(state).await {
                Some(s) => s,
                None => return Ok(None),
            }
        };
        let (r, w) = stream.into_split();
        let mut c = Client { reader: FrameReader::new(r), writer: w, next_id: 0 };
        let id = c
            .request("initialize", json!({"processId": std::process::id(), "rootUri": null, "clientInfo": {"name": name, "version": env!("CARGO_PKG_VERSION")}, "capabilities": {}}))
            .await?;
        loop {
            match c.next().await? {
                Some(Message::Response { id: got, result }) if got == id => {
                    result.map_err(|e| anyhow::anyhow!("the daemon refused initialize: {e}"))?;
                    break;
                }
                Some(_) => {}
                None => anyhow::bail!("the daemon closed the connection during initialize"),
            }
        }
        c.notify("initialized", json!({})).await?;
        Ok(Some(c))
    }

    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<i64> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.writer, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
        Ok(id)
    }

    pub async fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        write_frame(&mut self.writer, &json!({"jsonrpc": "2.0", "method": method, "params": params})).await?;
        Ok(())
    }

    /// The next message, or `None` when the daemon closed the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        loop {
            let Some(incoming) = self.reader.read_message().await? else { return Ok(None) };
            let Incoming::Message(v) = incoming else { continue };
            if let Some(method) = v.get("method").and_then(Value::as_str) {
                if v.get("id").is_some() {
                    // A request of the daemon's (progress creation); we declared no capability for it.
                    let reply = json!({"jsonrpc": "2.0", "id": v["id"], "result": null});
                    write_frame(&mut self.writer, &reply).await?;
                    continue;
                }
                return Ok(Some(Message::Notification {
                    method: method.to_string(),
                    params: v.get("params").cloned().unwrap_or(Value::Null),
                }));
            }
            let Some(id) = v.get("id").and_then(Value::as_i64) else { continue };
            let result = match v.get("error") {
                Some(e) => Err(e.clone()),
                None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
            };
            return Ok(Some(Message::Response { id, result }));
        }
    }

    /// Sends a request and waits for its answer, passing notifications that arrive meanwhile to `on_note`.
    pub async fn call(
        &mut self,
        method: &str,
        params: Value,
        mut on_note: impl FnMut(&str, &Value),
    ) -> anyhow::Result<Result<Value, Value>> {
        let id = self.request(method, params).await?;
        loop {
            match self.next().await? {
                Some(Message::Response { id: got, result }) if got == id => return Ok(result),
                Some(Message::Notification { method, params }) => on_note(&method, &params),
                Some(_) => {}
                None => anyhow::bail!("the daemon closed the connection before answering {method}"),
            }
        }
    }

    /// `shutdown` then `exit`, as a polite client leaves.
    pub async fn close(mut self) {
        if let Ok(id) = self.request("shutdown", Value::Null).await {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while let Ok(Some(m)) = self.next().await {
                    if matches!(m, Message::Response { id: got, .. } if got == id) {
                        break;
                    }
                }
            })
            .await;
        }
        let _ = self.notify("exit", Value::Null).await;
    }
}

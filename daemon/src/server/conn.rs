//! One client connection: validated frames in, the LSP lifecycle, dispatch, and a writer fed by the outbox.
//!
//! Every input goes through `framing::FrameReader`, so no bytes end the connection: invalid
//! frames are answered (or skipped with a log line) and reading goes on. Requests run as their
//! own tasks, so a slow `devspaces/down` does not hold up `devspaces/status` and a handler that
//! panics is answered with `-32603` while the connection and the daemon keep serving.
//! Notifications run in arrival order (document edits must apply in order), each in a task too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use devspaces_protocol::editor::{self as wire, codes};
use devspaces_protocol::framing::{FrameReader, Incoming, DEFAULT_MAX_BODY};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use super::fanout::{self, Client};
use super::outbox::Take;
use super::rpc::{self, RpcError};
use super::sessions::{self, Daemon};
use crate::backend::BackendKind;
use crate::server::to_proto;

const WRITE_BATCH: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Uninitialized,
    Running,
    ShutDown,
}

/// Open `azds.yaml` documents of this connection, by URI.
type Documents = Arc<Mutex<HashMap<String, String>>>;

/// Serves one connection until the client leaves (`exit`, end of input, or an I/O error).
pub async fn serve<R, W>(daemon: Arc<Daemon>, reader: R, writer: W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let client = daemon.add_client();
    let writer = tokio::spawn(write_loop(client.clone(), writer));
    let mut frames = FrameReader::with_max_body(reader, DEFAULT_MAX_BODY);
    let mut lifecycle = Lifecycle::Uninitialized;
    let docs: Documents = Arc::new(Mutex::new(HashMap::new()));
    loop {
        let incoming = match frames.read_message().await {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(e) => {
                eprintln!("devspacesd: client {}: read error: {e}", client.id);
                break;
            }
        };
        match incoming {
            Incoming::Message(msg) => {
                if on_message(&daemon, &client, &docs, &mut lifecycle, msg).await {
                    break;
                }
            }
            invalid @ Incoming::Invalid { .. } => {
                if let Some(reply) = invalid.error_reply() {
                    client.outbox.push(rpc::frame(&reply));
                }
            }
            Incoming::Skipped { bytes, reason } => {
                eprintln!("devspacesd: client {}: skipped {bytes} bytes ({reason})", client.id)
            }
        }
        if client.outbox.overflowed() {
            eprintln!("devspacesd: client {} stopped reading; disconnecting it", client.id);
            break;
        }
    }
    client.outbox.close();
    // Let the writer flush what is queued, but not forever: a client that neither reads nor
    // writes any more must not keep its sessions from being released.
    let mut writer = writer;
    if tokio::time::timeout(std::time::Duration::from_secs(5), &mut writer).await.is_err() {
        writer.abort();
    }
    let dropped = client.outbox.dropped_total();
    if dropped > 0 {
        eprintln!("devspacesd: client {} lost {dropped} log lines (too slow)", client.id);
    }
    daemon.disconnect(&client).await;
}

async fn write_loop<W: AsyncWrite + Unpin>(client: Arc<Client>, mut w: W) {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    loop {
        match client.outbox.take(WRITE_BATCH).await {
            Take::Frames(frames) => {
                buf.clear();
                for f in frames {
                    buf.extend_from_slice(&f);
                }
                if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
                    // The client is gone; the reader sees the end of its input.
                    client.outbox.close();
                    return;
                }
            }
            Take::Closed => {
                let _ = w.shutdown().await;
                return;
            }
        }
    }
}

/// Handles one valid message; returns true when the connection should end (`exit`).
async fn on_message(
    daemon: &Arc<Daemon>,
    client: &Arc<Client>,
    docs: &Documents,
    lifecycle: &mut Lifecycle,
    msg: Value,
) -> bool {
    let Some(method) = msg.get("method").and_then(Value::as_str).map(str::to_string) else {
        // A response to a request of ours (work-done progress creation); nothing waits on it.
        return false;
    };
    let params = msg.get("params").cloned();
    let Some(id) = msg.get("id").cloned() else {
        return on_notification(daemon, client, docs, lifecycle, &method, params).await;
    };
    let reply = |r: Result<Value, RpcError>| match r {
        Ok(v) => rpc::result_frame(&id, v),
        Err(e) => rpc::error_frame(&id, &e),
    };
    match (*lifecycle, method.as_str()) {
        (Lifecycle::Uninitialized, "initialize") => {
            let declared = params
                .as_ref()
                .and_then(|p| p.pointer("/capabilities/window/workDoneProgress"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            fanout::set_work_done_progress(client, declared);
            *lifecycle = Lifecycle::Running;
            client.outbox.push(reply(Ok(initialize_result())));
        }
        (Lifecycle::Uninitialized, _) => {
            client.outbox.push(reply(Err(RpcError::new(
                codes::SERVER_NOT_INITIALIZED,
                format!("server not initialized: send initialize before {method}"),
            ))));
        }
        (Lifecycle::ShutDown, _) => {
            client.outbox.push(reply(Err(RpcError::new(
                codes::INVALID_REQUEST,
                format!("the server is shut down; {method} is refused (send exit)"),
            ))));
        }
        (Lifecycle::Running, "initialize") => {
            client.outbox.push(reply(Err(RpcError::new(
                codes::INVALID_REQUEST,
                "initialize was already sent on this connection",
            ))));
        }
        (Lifecycle::Running, "shutdown") => {
            *lifecycle = Lifecycle::ShutDown;
            client.outbox.push(reply(Ok(Value::Null)));
        }
        (Lifecycle::Running, _) => {
            let (daemon, client2) = (daemon.clone(), client.clone());
            let task = tokio::spawn(async move { request(&daemon, &client2, &method, params.as_ref()).await });
            let client = client.clone();
            tokio::spawn(async move {
                let result = match task.await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("devspacesd: a request handler failed: {e}");
                        Err(RpcError::new(
                            codes::INTERNAL_ERROR,
                            format!("internal error: the handler failed ({e}); the daemon keeps serving"),
                        ))
                    }
                };
                client.outbox.push(match result {
                    Ok(v) => rpc::result_frame(&id, v),
                    Err(e) => rpc::error_frame(&id, &e),
                });
            });
        }
    }
    false
}

async fn request(
    daemon: &Arc<Daemon>,
    client: &Arc<Client>,
    method: &str,
    p: Option<&Value>,
) -> Result<Value, RpcError> {
    match method {
        wire::UP => daemon.up(client, rpc::params(method, p)?).await,
        wire::DOWN => daemon.down(client, rpc::params(method, p)?).await,
        wire::RESTART => daemon.restart(rpc::params(method, p)?).await,
        wire::STATUS => {
            let _: wire::StatusParams = rpc::params(method, p)?;
            Ok(daemon.status())
        }
        wire::LIST_URIS => daemon.list_uris(rpc::params(method, p)?),
        wire::CLASSIFY => {
            let params: wire::ClassifyParams = rpc::params(method, p)?;
            // Reading the configuration touches the file system: keep it off the async workers.
            tokio::task::spawn_blocking(move || sessions::classify(params))
                .await
                .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, format!("internal error: classify failed ({e})")))?
        }
        wire::WATCH => daemon.watch(client, rpc::params(method, p)?),
        wire::UNWATCH => daemon.unwatch(client, rpc::params(method, p)?),
        wire::DEBUG => daemon.debug(rpc::params(method, p)?).await,
        "devspaces/_panic" if std::env::var_os("DEVSPACES_TEST_HOOKS").is_some() => {
            panic!("devspaces/_panic: a test asked this handler to panic")
        }
        _ => Err(RpcError::new(codes::METHOD_NOT_FOUND, format!("method not found: {method}"))),
    }
}

/// Handles a notification; returns true on `exit`.
async fn on_notification(
    daemon: &Arc<Daemon>,
    client: &Arc<Client>,
    docs: &Documents,
    lifecycle: &mut Lifecycle,
    method: &str,
    params: Option<Value>,
) -> bool {
    let _ = daemon;
    if method == "exit" {
        return true;
    }
    if *lifecycle != Lifecycle::Running {
        // LSP: notifications before initialize are dropped (except exit).
        return false;
    }
    let (client, docs, method) = (client.clone(), docs.clone(), method.to_string());
    let task = tokio::spawn(async move {
        match method.as_str() {
            "textDocument/didOpen" | "textDocument/didChange" | "textDocument/didSave" | "textDocument/didClose" => {
                text_document(&client, &docs, &method, params.unwrap_or(Value::Null)).await
            }
            // initialized, $/cancelRequest, $/setTrace, workspace/* and unknown notifications: nothing to do.
            _ => {}
        }
    });
    if let Err(e) = task.await {
        eprintln!("devspacesd: a notification handler failed: {e}");
    }
    false
}

/// Diagnostics for `azds.yaml` documents on open, change and save; cleared on close.
async fn text_document(client: &Arc<Client>, docs: &Documents, method: &str, p: Value) {
    let Some(uri) = p.pointer("/textDocument/uri").and_then(Value::as_str).map(str::to_string) else { return };
    let Some(path) = file_path(&uri) else { return };
    if path.file_name().is_none_or(|n| n != crate::config::FILE_NAME) {
        return;
    }
    let text = match method {
        "textDocument/didOpen" => p.pointer("/textDocument/text").and_then(Value::as_str).map(str::to_string),
        "textDocument/didChange" => p
            .get("contentChanges")
            .and_then(Value::as_array)
            .and_then(|c| c.last())
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .map(str::to_string),
        "textDocument/didSave" => match p.get("text").and_then(Value::as_str) {
            Some(t) => Some(t.to_string()),
            None => match docs.lock().await.get(&uri) {
                Some(t) => Some(t.clone()),
                None => tokio::fs::read_to_string(&path).await.ok(),
            },
        },
        _ => {
            docs.lock().await.remove(&uri);
            client.outbox.push(rpc::notification_frame(
                "textDocument/publishDiagnostics",
                json!({"uri": uri, "diagnostics": []}),
            ));
            return;
        }
    };
    let Some(text) = text else { return };
    docs.lock().await.insert(uri.clone(), text.clone());
    let diags = {
        let (path, text) = (path.clone(), text.clone());
        tokio::task::spawn_blocking(move || crate::config::diagnose(&path, &text)).await.unwrap_or_default()
    };
    let list: Vec<Value> = diags.iter().map(|d| to_proto::diagnostic(d, &text)).collect();
    client
        .outbox
        .push(rpc::notification_frame("textDocument/publishDiagnostics", json!({"uri": uri, "diagnostics": list})));
}

/// The local path of a `file://` URI (percent-decoded); `None` for other schemes.
pub fn file_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

fn initialize_result() -> Value {
    let experimental = wire::InitializeExperimental {
        devspaces: wire::DevspacesServerInfo {
            protocol_version: wire::PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            // Only what this build has: a build without the kubernetes feature lists `local` alone.
            backends: BackendKind::COMPILED.iter().map(|b| to_proto::backend(*b)).collect(),
            requests: wire::REQUESTS.iter().map(|s| s.to_string()).collect(),
            notifications: wire::NOTIFICATIONS.iter().map(|s| s.to_string()).collect(),
            max_message_bytes: DEFAULT_MAX_BODY as u64,
        },
    };
    json!({
        "serverInfo": {"name": "devspacesd", "version": env!("CARGO_PKG_VERSION")},
        "capabilities": {
            "textDocumentSync": {"openClose": true, "change": 1, "save": {"includeText": false}},
            "experimental": serde_json::to_value(&experimental).unwrap_or(Value::Null),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_advertises_the_backends_built_in() {
        let r = initialize_result();
        let mut want = vec!["local"];
        if cfg!(feature = "kubernetes") {
            want.push("kubernetes");
        }
        if cfg!(feature = "container") {
            want.push("container");
        }
        assert_eq!(r["capabilities"]["experimental"]["devspaces"]["backends"], json!(want));
    }

    #[test]
    fn file_uris_are_percent_decoded() {
        assert_eq!(file_path("file:///tmp/a%20b/azds.yaml"), Some(PathBuf::from("/tmp/a b/azds.yaml")));
        assert_eq!(file_path("file:///x/%zz"), Some(PathBuf::from("/x/%zz")));
        assert_eq!(file_path("untitled:Untitled-1"), None);
    }
}

//! The daemon's side of an agent connection: requests with ids, and the agent's events as a stream.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use devspaces_protocol::agent::{FromAgent, SyncState, ToAgent, AGENT_PROTOCOL_VERSION, FRAME_BINARY};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::wire::{self, Frame};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<u32, String>>>>>;

/// What the agent said when the connection opened.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub state: Option<SyncState>,
    pub app_pid: Option<u32>,
}

/// Events from the agent; `Disconnected` is the last one.
#[derive(Debug)]
pub enum AgentEvent {
    Message(FromAgent),
    Disconnected(String),
}

pub struct AgentClient {
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    pub welcome: Welcome,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("agent connection closed")]
    Closed,
    #[error("{0}")]
    Failed(String),
}

impl AgentClient {
    pub async fn connect(addr: SocketAddr, token: &str, logs_since: Option<u64>) -> Result<(Self, mpsc::UnboundedReceiver<AgentEvent>), AgentError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut reader, mut writer) = stream.into_split();
        let hello = ToAgent::Hello { token: token.to_string(), version: AGENT_PROTOCOL_VERSION, logs_since };
        wire::write_all(&mut writer, &wire::encode_json(&hello)).await?;
        let welcome = match wire::read_frame(&mut reader).await? {
            Some(Frame::Json(body)) => match wire::decode::<FromAgent>(&body)? {
                FromAgent::Welcome { state, app_pid, .. } => Welcome { state, app_pid },
                other => return Err(AgentError::Failed(format!("expected welcome from the agent, got {other:?}"))),
            },
            _ => return Err(AgentError::Failed("the agent refused the connection (wrong token?)".into())),
        };
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
        tokio::spawn(async move {
            while let Some(bytes) = out_rx.recv().await {
                if wire::write_all(&mut writer, &bytes).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let p = pending.clone();
        tokio::spawn(async move {
            let reason = loop {
                match wire::read_frame(&mut reader).await {
                    Ok(Some(Frame::Json(body))) => match wire::decode::<FromAgent>(&body) {
                        Ok(FromAgent::Done { id, error, count }) => {
                            let waiter = p.lock().ok().and_then(|mut m| m.remove(&id));
                            if let Some(w) = waiter {
                                let _ = w.send(match error {
                                    None => Ok(count),
                                    Some(e) => Err(e),
                                });
                            }
                        }
                        Ok(m) => {
                            let _ = ev_tx.send(AgentEvent::Message(m));
                        }
                        Err(e) => break e.to_string(),
                    },
                    Ok(Some(Frame::Binary(_))) => break "unexpected binary frame from the agent".to_string(),
                    Ok(None) => break "the agent closed the connection".to_string(),
                    Err(e) => break e.to_string(),
                }
            };
            if let Ok(mut m) = p.lock() {
                m.clear();
            }
            let _ = ev_tx.send(AgentEvent::Disconnected(reason));
        });
        Ok((AgentClient { out: out_tx, pending, next_id: AtomicU64::new(1), welcome }, ev_rx))
    }

    async fn request(&self, make: impl FnOnce(u64) -> ToAgent, extra: Option<Vec<u8>>) -> Result<u32, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.pending.lock() {
            m.insert(id, tx);
        }
        let mut bytes = wire::encode_json(&make(id));
        if let Some(extra) = extra {
            bytes.extend_from_slice(&wire::encode(FRAME_BINARY, &extra));
        }
        self.out.send(bytes).await.map_err(|_| AgentError::Closed)?;
        match rx.await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(AgentError::Failed(e)),
            Err(_) => Err(AgentError::Closed),
        }
    }

    pub async fn send_files(&self, count: u32, tar: Vec<u8>) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Files { id, count }, Some(tar)).await
    }

    pub async fn delete(&self, paths: Vec<String>) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Delete { id, paths }, None).await
    }

    pub async fn commit(&self, state: SyncState) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Commit { id, state }, None).await
    }

    pub async fn restart(&self, kill: Vec<String>, build: Vec<Vec<String>>, run: Vec<String>, env: BTreeMap<String, String>) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Restart { id, kill, build, run, env }, None).await
    }

    pub async fn stop(&self) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Stop { id }, None).await
    }

    /// Asks the agent to stop the app and exit; a closed connection counts as done.
    pub async fn shutdown(&self) -> Result<(), AgentError> {
        match self.request(|id| ToAgent::Shutdown { id }, None).await {
            Ok(_) | Err(AgentError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

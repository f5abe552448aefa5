//! The daemon's side of an agent connection: requests with ids, and the agent's events as a stream.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use devspaces_protocol::agent::wire::{self, Frame};
use devspaces_protocol::agent::{
    AppStatus, CheckFile, FromAgent, Held, SyncState, ToAgent, AGENT_PROTOCOL_VERSION, FRAME_BINARY,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for their `done`; `None` once the connection ended, so that a request made
/// after that fails at once instead of waiting for an answer that cannot come.
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Result<Answer, String>>>>>>;

/// A `done`'s count, and for a check the files the root holds.
type Answer = (u32, Vec<Held>);

/// What the agent said when the connection opened.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub state: Option<SyncState>,
    pub app_pid: Option<u32>,
    /// The agent's root (the sync root) where the app runs.
    pub root: String,
}

/// Events from the agent; `Disconnected` is the last one.
#[derive(Debug)]
pub enum AgentEvent {
    Message(FromAgent),
    Disconnected(String),
}

/// One agent connection: its writer and the requests waiting for a `Done`.
struct Conn {
    label: String,
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
}

/// The daemon's handle on the agent of a deployment: one connection, or one per replica (every
/// request goes to all of them and succeeds when all succeed).
pub struct AgentClient {
    conns: Vec<Conn>,
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
    pub async fn connect(
        addr: SocketAddr,
        token: &str,
        logs_since: Option<u64>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<AgentEvent>), AgentError> {
        Self::connect_all(&[(String::new(), addr)], token, logs_since).await
    }

    /// Connects to several agents (the replicas of a deployment, each labelled with its pod
    /// name). The first is the primary: its app status drives the session. The others' logs
    /// carry their label, and of their statuses only failures come through. One merged stream.
    pub async fn connect_all(
        targets: &[(String, SocketAddr)],
        token: &str,
        logs_since: Option<u64>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<AgentEvent>), AgentError> {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let many = targets.len() > 1;
        let mut conns = Vec::new();
        let mut welcomes = Vec::new();
        for (i, (label, addr)) in targets.iter().enumerate() {
            let tag = many.then(|| label.clone());
            let (conn, welcome) =
                open(*addr, token, logs_since, ev_tx.clone(), tag, i == 0).await.map_err(|e| match e {
                    AgentError::Failed(m) if many => AgentError::Failed(format!("{label}: {m}")),
                    other => other,
                })?;
            conns.push(Conn { label: label.clone(), ..conn });
            welcomes.push(welcome);
        }
        let Some(first) = welcomes.first().cloned() else {
            return Err(AgentError::Failed("no agent to connect to".into()));
        };
        // An incremental sync is only right when every replica holds the same state.
        let same = welcomes.iter().all(|w| w.state == first.state);
        let welcome =
            Welcome { state: if same { first.state } else { None }, app_pid: first.app_pid, root: first.root };
        Ok((AgentClient { conns, next_id: AtomicU64::new(1), welcome }, ev_rx))
    }

    /// One connection over a stream that is already open (an in-memory pipe in tests, or a tunnel):
    /// the same handshake and streams as `connect`.
    pub async fn over<S>(
        stream: S,
        token: &str,
        logs_since: Option<u64>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<AgentEvent>), AgentError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (conn, welcome) = handshake(stream, token, logs_since, ev_tx, None, true).await?;
        Ok((AgentClient { conns: vec![conn], next_id: AtomicU64::new(1), welcome }, ev_rx))
    }

    async fn request(&self, make: impl FnOnce(u64) -> ToAgent, extra: Option<Vec<u8>>) -> Result<u32, AgentError> {
        let answers = self.ask(make, extra).await?;
        Ok(answers.iter().map(|(count, _)| *count).max().unwrap_or(0))
    }

    /// Sends one request to every connection and waits for all their answers, in connection order.
    async fn ask(&self, make: impl FnOnce(u64) -> ToAgent, extra: Option<Vec<u8>>) -> Result<Vec<Answer>, AgentError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut bytes = wire::encode_json(&make(id));
        if let Some(extra) = extra {
            bytes.extend_from_slice(&wire::encode(FRAME_BINARY, &extra));
        }
        let mut waits = Vec::with_capacity(self.conns.len());
        for c in &self.conns {
            let (tx, rx) = oneshot::channel();
            match c.pending.lock().ok().as_deref_mut().and_then(Option::as_mut) {
                Some(m) => m.insert(id, tx),
                None => return Err(AgentError::Closed),
            };
            c.out.send(bytes.clone()).await.map_err(|_| AgentError::Closed)?;
            waits.push((&c.label, rx));
        }
        let many = self.conns.len() > 1;
        let mut answers = Vec::with_capacity(waits.len());
        for (label, rx) in waits {
            match rx.await {
                Ok(Ok(answer)) => answers.push(answer),
                Ok(Err(e)) => return Err(AgentError::Failed(if many { format!("{label}: {e}") } else { e })),
                Err(_) => return Err(AgentError::Closed),
            }
        }
        Ok(answers)
    }

    /// Which of `files` the container already holds (every replica, with the same content and
    /// permission bits): the files of an image built from the workspace need not be sent again.
    pub async fn check(&self, files: Vec<CheckFile>) -> Result<Vec<Held>, AgentError> {
        let mut answers = self.ask(|id| ToAgent::Check { id, files }, None).await?.into_iter().map(|(_, held)| held);
        let first = answers.next().unwrap_or_default();
        Ok(answers.fold(first, |all, other| {
            let other: HashMap<u32, Held> = other.into_iter().map(|h| (h.index, h)).collect();
            all.into_iter().filter(|h| other.get(&h.index) == Some(h)).collect()
        }))
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

    /// `debug_port`: `run` starts a debug server there (the agent says when it listens).
    pub async fn restart(
        &self,
        kill: Vec<String>,
        build: Vec<Vec<String>>,
        run: Vec<String>,
        env: BTreeMap<String, String>,
        debug_port: Option<u16>,
    ) -> Result<u32, AgentError> {
        self.request(|id| ToAgent::Restart { id, kill, build, run, env, debug_port }, None).await
    }

    /// Asks the agent to stop the app and exit; a closed connection counts as done.
    pub async fn shutdown(&self) -> Result<(), AgentError> {
        match self.request(|id| ToAgent::Shutdown { id }, None).await {
            Ok(_) | Err(AgentError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Opens one connection: hello, welcome, then a writer task and a reader task feeding `events`.
/// `label` (several replicas) prefixes its log lines; a non-`primary` connection passes on only
/// the statuses that report a failure.
async fn open(
    addr: SocketAddr,
    token: &str,
    logs_since: Option<u64>,
    events: mpsc::UnboundedSender<AgentEvent>,
    label: Option<String>,
    primary: bool,
) -> Result<(Conn, Welcome), AgentError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    handshake(stream, token, logs_since, events, label, primary).await
}

async fn handshake<S>(
    stream: S,
    token: &str,
    logs_since: Option<u64>,
    events: mpsc::UnboundedSender<AgentEvent>,
    label: Option<String>,
    primary: bool,
) -> Result<(Conn, Welcome), AgentError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let hello = ToAgent::Hello { token: token.to_string(), version: AGENT_PROTOCOL_VERSION, logs_since };
    wire::write_all(&mut writer, &wire::encode_json(&hello)).await?;
    let welcome = match wire::read_frame(&mut reader).await? {
        Some(Frame::Json(body)) => match wire::decode::<FromAgent>(&body)? {
            FromAgent::Welcome { state, app_pid, root, .. } => Welcome { state, app_pid, root },
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
    let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
    let p = pending.clone();
    tokio::spawn(async move {
        let reason = loop {
            match wire::read_frame(&mut reader).await {
                Ok(Some(Frame::Json(body))) => match wire::decode::<FromAgent>(&body) {
                    Ok(FromAgent::Done { id, error, count, held }) => {
                        let waiter = p.lock().ok().and_then(|mut m| m.as_mut().and_then(|m| m.remove(&id)));
                        if let Some(w) = waiter {
                            let _ = w.send(match error {
                                None => Ok((count, held)),
                                Some(e) => Err(e),
                            });
                        }
                    }
                    Ok(m) => {
                        if let Some(m) = relabel(m, label.as_deref(), primary) {
                            let _ = events.send(AgentEvent::Message(m));
                        }
                    }
                    Err(e) => break e.to_string(),
                },
                Ok(Some(Frame::Binary(_))) => break "unexpected binary frame from the agent".to_string(),
                Ok(None) => break "the agent closed the connection".to_string(),
                Err(e) => break e.to_string(),
            }
        };
        // Waiters see their sender dropped (Closed); later requests see None.
        if let Ok(mut m) = p.lock() {
            m.take();
        }
        let reason = match &label {
            Some(l) => format!("{l}: {reason}"),
            None => reason,
        };
        let _ = events.send(AgentEvent::Disconnected(reason));
    });
    Ok((Conn { label: String::new(), out: out_tx, pending }, welcome))
}

/// A replica's message as the merged stream shows it: logs carry the pod's name; of a secondary
/// replica's statuses only failures pass (the primary's drive the session's phase).
fn relabel(m: FromAgent, label: Option<&str>, primary: bool) -> Option<FromAgent> {
    let Some(label) = label else { return Some(m) };
    match m {
        FromAgent::Log { seq, stream, line, time } => {
            Some(FromAgent::Log { seq, stream, line: format!("[{label}] {line}"), time })
        }
        FromAgent::Status { status } if !primary => match status {
            AppStatus::BuildFailed { .. } | AppStatus::Exited { .. } => Some(FromAgent::Status { status }),
            _ => None,
        },
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devspaces_protocol::agent::Stream;

    #[tokio::test]
    async fn a_request_after_the_agent_went_away_fails_at_once() {
        use devspaces_protocol::agent::wire;
        let (ours, theirs) = tokio::io::duplex(4096);
        let agent = tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let _hello = wire::read_frame(&mut r).await;
            let welcome = FromAgent::Welcome { version: 1, state: None, app_pid: None, root: "/".into() };
            let _ = wire::write_all(&mut w, &wire::encode_json(&welcome)).await;
            // The agent dies: both halves go.
        });
        let (client, mut events) = AgentClient::over(ours, "t", None).await.expect("welcome");
        agent.await.expect("agent task");
        assert!(matches!(events.recv().await, Some(AgentEvent::Disconnected(_))));
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), client.delete(vec!["a".into()])).await;
        assert!(matches!(r, Ok(Err(AgentError::Closed))), "{r:?}");
    }

    /// An agent on a loopback port that answers every check with `held`.
    async fn checking_agent(held: Vec<Held>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (mut r, mut w) = tokio::io::split(stream);
            let _hello = wire::read_frame(&mut r).await;
            let welcome = FromAgent::Welcome { version: 2, state: None, app_pid: None, root: "/".into() };
            let _ = wire::write_all(&mut w, &wire::encode_json(&welcome)).await;
            while let Ok(Some(Frame::Json(body))) = wire::read_frame(&mut r).await {
                if let Ok(ToAgent::Check { id, .. }) = wire::decode::<ToAgent>(&body) {
                    let done = FromAgent::Done { id, error: None, count: held.len() as u32, held: held.clone() };
                    let _ = wire::write_all(&mut w, &wire::encode_json(&done)).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_file_counts_as_held_only_when_every_replica_holds_it_alike() {
        let held = |index: u32, blake3: &str, mode: u32| Held { index, blake3: blake3.into(), mode };
        let one = checking_agent(vec![held(0, "aa", 0o644), held(1, "bb", 0o644), held(2, "cc", 0o755)]).await;
        // The second replica has another file 1, and file 2 with other permission bits.
        let two = checking_agent(vec![held(0, "aa", 0o644), held(1, "b2", 0o644), held(2, "cc", 0o644)]).await;
        let targets = [("web-1".to_string(), one), ("web-2".to_string(), two)];
        let (client, _events) = AgentClient::connect_all(&targets, "t", None).await.expect("connect");
        let files = (0..3).map(|i| CheckFile { path: format!("f{i}"), size: 1 }).collect();
        assert_eq!(client.check(files).await.expect("check"), vec![held(0, "aa", 0o644)]);
    }

    #[test]
    fn replicas_label_logs_and_keep_only_failures_of_secondaries() {
        let log = FromAgent::Log { seq: 1, stream: Stream::Stdout, line: "hi".into(), time: "t".into() };
        assert_eq!(relabel(log.clone(), None, true), Some(log.clone()));
        assert!(
            matches!(relabel(log, Some("web-1"), false), Some(FromAgent::Log { line, .. }) if line == "[web-1] hi")
        );
        let started = FromAgent::Status { status: AppStatus::Started { pid: 7 } };
        assert_eq!(relabel(started.clone(), Some("web-1"), true), Some(started.clone()));
        assert_eq!(relabel(started, Some("web-2"), false), None);
        let exited =
            FromAgent::Status { status: AppStatus::Exited { exit_code: Some(1), signal: None, last_lines: vec![] } };
        assert_eq!(relabel(exited.clone(), Some("web-2"), false), Some(exited));
    }
}

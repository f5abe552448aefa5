//! One session's fan-out: turns its core events into frames once and queues them for every watcher.
//!
//! The task reads the session's broadcast channel, converts each event with `to_proto` into one
//! pre-encoded frame shared by all watchers, keeps the session summary that `up`, `status` and
//! `watch` report, a ring of recent log lines for `watch`'s replay, and the work-done progress
//! tokens. Queuing never waits: a slow watcher only loses log lines (see `outbox`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use devspaces_protocol::editor::{self as wire, PortForwardInfo, SessionInfo};
use serde_json::json;
use tokio::sync::broadcast;

use super::outbox::{Frame, Outbox};
use super::rpc;
use crate::events::{Event, EventKind};
use crate::server::to_proto::{self, ProgressStage};

/// Log lines kept per session for `devspaces/watch`'s `replayLines`.
pub const RING_LINES: usize = 2000;

/// One connected client, as sessions see it.
pub struct Client {
    pub id: u64,
    pub outbox: Arc<Outbox>,
    /// The client declared `capabilities.window.workDoneProgress`.
    pub work_done_progress: AtomicBool,
    /// The client asked `devspaces/watch` with no target: it watches sessions started later too.
    pub watch_all: AtomicBool,
    next_request: AtomicU64,
}

impl Client {
    pub fn new(id: u64, outbox: Arc<Outbox>) -> Arc<Self> {
        Arc::new(Client {
            id,
            outbox,
            work_done_progress: AtomicBool::new(false),
            watch_all: AtomicBool::new(false),
            next_request: AtomicU64::new(1),
        })
    }

    /// The id of the next request the server sends this client.
    pub fn next_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }
}

struct Progress {
    token: String,
    /// Clients that were sent `begin` for this token.
    clients: Vec<u64>,
}

struct State {
    subscribers: Vec<Arc<Client>>,
    phase: wire::Phase,
    detail: String,
    forwards: Vec<PortForwardInfo>,
    deploys: u32,
    ring: VecDeque<Frame>,
    progress_count: u64,
    progress: Option<Progress>,
    /// The latest `debugReady` while the app it describes runs: a client that starts watching
    /// then learns where to attach.
    debug_ready: Option<Frame>,
}

/// A session as the server tracks it for its clients.
pub struct Fanout {
    pub session: String,
    pub service: String,
    pub path: String,
    pub space: String,
    pub backend: wire::Backend,
    /// `local`, `container (docker)`, the Kubernetes context.
    pub target: String,
    pub started_at: String,
    state: Mutex<State>,
}

impl Fanout {
    pub fn new(
        session: String,
        service: String,
        path: String,
        space: String,
        backend: wire::Backend,
        target: String,
    ) -> Arc<Self> {
        Arc::new(Fanout {
            session,
            service,
            path,
            space,
            backend,
            target,
            started_at: devspaces_protocol::clock::now_rfc3339(),
            state: Mutex::new(State {
                subscribers: Vec::new(),
                phase: wire::Phase::Syncing,
                detail: "starting".into(),
                forwards: Vec::new(),
                deploys: 0,
                ring: VecDeque::new(),
                progress_count: 0,
                progress: None,
                debug_ready: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session summary as it is now.
    pub fn info(&self) -> SessionInfo {
        let s = self.lock();
        SessionInfo {
            session: self.session.clone(),
            service: self.service.clone(),
            path: self.path.clone(),
            space: self.space.clone(),
            backend: self.backend,
            target: self.target.clone(),
            phase: s.phase,
            detail: s.detail.clone(),
            tag: format!("{}-{}", self.session, s.deploys.max(1)),
            port_forwards: s.forwards.clone(),
            watchers: s.subscribers.len() as u32,
            started_at: self.started_at.clone(),
        }
    }

    /// Adds a watcher, first replaying up to `replay` buffered log lines to it; false if it already watched.
    pub fn subscribe(&self, c: &Arc<Client>, replay: usize) -> bool {
        let mut s = self.lock();
        let skip = s.ring.len().saturating_sub(replay);
        for f in s.ring.iter().skip(skip) {
            c.outbox.push_log(&self.session, &self.service, f.clone());
        }
        if s.subscribers.iter().any(|x| x.id == c.id) {
            return false;
        }
        if let Some(f) = &s.debug_ready {
            c.outbox.push(f.clone());
        }
        s.subscribers.push(c.clone());
        true
    }

    /// Removes a watcher; false if it did not watch.
    pub fn unsubscribe(&self, client: u64) -> bool {
        let mut s = self.lock();
        let before = s.subscribers.len();
        s.subscribers.retain(|c| c.id != client);
        before != s.subscribers.len()
    }

    pub fn watched_by(&self, client: u64) -> bool {
        self.lock().subscribers.iter().any(|c| c.id == client)
    }

    /// Watchers other than `client`.
    pub fn others(&self, client: u64) -> usize {
        self.lock().subscribers.iter().filter(|c| c.id != client).count()
    }

    fn deliver(&self, e: &Event) {
        let mut s = self.lock();
        if let EventKind::Progress { done, .. } = &e.kind {
            self.progress(&mut s, e, *done);
            return;
        }
        let Some(w) = to_proto::event(e) else { return };
        match &w {
            wire::Event::ServiceStatus(p) => {
                if p.phase == wire::Phase::Deploying {
                    s.deploys += 1;
                }
                use wire::Phase::*;
                if matches!(p.phase, Restarting | Deploying | Crashed | Failed | Stopped) {
                    s.debug_ready = None;
                }
                s.phase = p.phase;
                s.detail = p.detail.clone();
            }
            wire::Event::PortForward(p) => {
                let info = PortForwardInfo {
                    local_port: p.local_port,
                    remote_port: p.remote_port,
                    url: p.url.clone(),
                    state: p.state,
                };
                match s.forwards.iter_mut().find(|f| f.local_port == p.local_port) {
                    Some(f) => *f = info,
                    None => s.forwards.push(info),
                }
            }
            _ => {}
        }
        let frame = rpc::event_frame(&w);
        if let wire::Event::DebugReady(_) = &w {
            s.debug_ready = Some(frame.clone());
        }
        if let wire::Event::Log(l) = &w {
            if s.ring.len() >= RING_LINES {
                s.ring.pop_front();
            }
            s.ring.push_back(frame.clone());
            // devspaces' own lines (progress words, errors, upstream drop counts) are few and never dropped.
            let droppable = l.stream != wire::LogStream::System;
            for c in &s.subscribers {
                if droppable {
                    c.outbox.push_log(&self.session, &self.service, frame.clone());
                } else {
                    c.outbox.push(frame.clone());
                }
            }
        } else {
            for c in &s.subscribers {
                c.outbox.push(frame.clone());
            }
        }
    }

    /// Work-done progress: the first event of a run creates a token and begins it for every watcher
    /// that declared `window.workDoneProgress`; later events report, the one marked done ends it.
    fn progress(&self, s: &mut State, e: &Event, done: bool) {
        if s.progress.is_none() {
            let EventKind::Progress { title, .. } = &e.kind else { return };
            s.progress_count += 1;
            let token = to_proto::progress_kind(title).token(&self.session, s.progress_count);
            let mut clients = Vec::new();
            if let Some(begin) = to_proto::work_done(ProgressStage::Begin, e) {
                for c in s.subscribers.iter().filter(|c| c.work_done_progress.load(Ordering::Relaxed)) {
                    let create = json!({"jsonrpc": "2.0", "id": c.next_request_id(), "method": wire::WORK_DONE_PROGRESS_CREATE, "params": {"token": token}});
                    c.outbox.push(rpc::frame(&create));
                    c.outbox.push(rpc::notification_frame(wire::PROGRESS, json!({"token": token, "value": begin})));
                    clients.push(c.id);
                }
            }
            s.progress = Some(Progress { token, clients });
            if !done {
                return;
            }
        }
        let stage = if done { ProgressStage::End } else { ProgressStage::Report };
        let Some(p) = &s.progress else { return };
        if let Some(value) = to_proto::work_done(stage, e) {
            let frame = rpc::notification_frame(wire::PROGRESS, json!({"token": p.token, "value": value}));
            for c in s.subscribers.iter().filter(|c| p.clients.contains(&c.id)) {
                c.outbox.push(frame.clone());
            }
        }
        if done {
            s.progress = None;
        }
    }
}

/// Forwards a session's events until its channel closes (the session ended and its handle was dropped).
pub async fn run(fan: Arc<Fanout>, mut rx: broadcast::Receiver<Event>) {
    loop {
        match rx.recv().await {
            Ok(e) => fan.deliver(&e),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("devspacesd: session {} fan-out fell {n} events behind", fan.session);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Whether a watcher should get the notifications of sessions started later.
pub fn watches_all(c: &Client) -> bool {
    c.watch_all.load(Ordering::Relaxed)
}

/// Marks a client as declaring (or not) work-done progress support.
pub fn set_work_done_progress(c: &Client, on: bool) {
    c.work_done_progress.store(on, Ordering::Relaxed);
}

/// Marks a client as watching every session, including later ones.
pub fn set_watch_all(c: &Client, on: bool) {
    c.watch_all.store(on, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::LogStream;
    use crate::server::outbox::Take;

    fn fan() -> Arc<Fanout> {
        Fanout::new(
            "s1".into(),
            "web".into(),
            "/src/web".into(),
            "default".into(),
            wire::Backend::Local,
            "local".into(),
        )
    }

    fn ev(kind: EventKind) -> Event {
        Event { service: "web".into(), session: "s1".into(), kind }
    }

    fn log(stream: LogStream, line: &str) -> Event {
        ev(EventKind::Log { stream, line: line.into(), time: "2026-11-26T00:00:00Z".into() })
    }

    async fn texts(c: &Client) -> Vec<String> {
        match c.outbox.take(1 << 20).await {
            Take::Frames(v) => v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect(),
            Take::Closed => vec![],
        }
    }

    #[tokio::test]
    async fn a_slow_watcher_loses_app_lines_but_never_system_lines() {
        let f = fan();
        let c = Client::new(1, Outbox::new(1));
        f.subscribe(&c, 0);
        f.deliver(&log(LogStream::Stdout, "app 1"));
        f.deliver(&log(LogStream::Stdout, "app 2"));
        f.deliver(&log(LogStream::System, "3 log lines dropped: the client was too slow"));
        let got = texts(&c).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("app 1") && got[1].contains("3 log lines dropped"), "{got:?}");
        let next = texts(&c).await;
        assert!(next[0].contains("devspaces/logsDropped") && next[0].contains("\"count\":1"), "{next:?}");
    }

    #[tokio::test]
    async fn progress_goes_only_to_watchers_that_declared_it_and_the_summary_follows_events() {
        let f = fan();
        let (with, without) = (Client::new(1, Outbox::new(8)), Client::new(2, Outbox::new(8)));
        set_work_done_progress(&with, true);
        f.subscribe(&with, 0);
        f.subscribe(&without, 0);
        let step = |done, pct| {
            ev(EventKind::Progress { title: "web: sync".into(), message: "m".into(), percentage: pct, done })
        };
        f.deliver(&step(false, Some(0)));
        f.deliver(&step(false, Some(50)));
        f.deliver(&step(true, Some(100)));
        f.deliver(&ev(EventKind::Status {
            phase: crate::events::Phase::Running,
            detail: "pid 7".into(),
            exit_code: None,
            last_lines: None,
        }));
        let got = texts(&with).await;
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got[0].contains("window/workDoneProgress/create") && got[0].contains("devspaces/s1/sync/1"));
        assert!(
            got[1].contains("\"kind\":\"begin\"")
                && got[2].contains("\"kind\":\"report\"")
                && got[3].contains("\"kind\":\"end\"")
        );
        let plain = texts(&without).await;
        assert_eq!(plain.len(), 1, "only the status: {plain:?}");
        let info = f.info();
        assert_eq!((info.phase, info.detail.as_str(), info.watchers), (wire::Phase::Running, "pid 7", 2));
    }

    #[tokio::test]
    async fn watch_replays_the_last_lines() {
        let f = fan();
        for i in 0..5 {
            f.deliver(&log(LogStream::Stdout, &format!("line {i}")));
        }
        let c = Client::new(1, Outbox::new(8));
        assert!(f.subscribe(&c, 2));
        let got = texts(&c).await;
        assert_eq!(got.len(), 2);
        assert!(got[0].contains("line 3") && got[1].contains("line 4"));
        assert!(!f.subscribe(&c, 0), "already watching");
    }
}

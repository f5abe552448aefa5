//! The session's port forwards: stable local ports whose targets follow restarts and redeploys.

mod gate;
pub mod limits;
pub mod names;
pub mod proxy;
mod splice;

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::backend::Tunnel;

use crate::events::{Event, EventKind, PortState};
use crate::session::record::ForwardRecord;
use proxy::{Forward, Trace};

struct Fwd {
    forward: Forward,
    remote: u16,
}

pub struct Forwards {
    events: broadcast::Sender<Event>,
    service: String,
    session: String,
    list: Vec<Fwd>,
    /// The forward to the app's debug server, apart from the app's: never traced, never
    /// reconciled with the app's ports, announced by the session's `DebugReady` only.
    debug: Option<Fwd>,
    traces: Option<mpsc::UnboundedSender<Trace>>,
    /// Remote ports are reached through it (a pod); `None`: they are on 127.0.0.1.
    tunnel: Option<Arc<dyn Tunnel>>,
    /// A redeploy is under way: the forwards said `reconnecting` and say `open` once retargeted.
    reconnecting: bool,
    /// The child space the session runs in: its forwards add `azds-route-as` (see `proxy`).
    route_as: Option<String>,
    /// The app is being restarted: the app's forwards hold what it refuses ([`Forward::hold`]).
    holding: proxy::Hold,
}

impl Forwards {
    pub fn new(events: broadcast::Sender<Event>, service: String, session: String) -> Self {
        Forwards {
            events,
            service,
            session,
            list: Vec::new(),
            debug: None,
            traces: None,
            tunnel: None,
            reconnecting: false,
            route_as: None,
            holding: proxy::Hold::Off,
        }
    }

    /// The session's space: a child's (`dev/alice`) forwards send `azds-route-as: alice`.
    pub fn set_space(&mut self, space: &str) {
        self.route_as = space.split_once('/').map(|(_, child)| child.to_string());
    }

    pub fn set_trace_sink(&mut self, tx: mpsc::UnboundedSender<Trace>) {
        self.traces = Some(tx);
    }

    /// The tunnel of the current deployment; a backend keeps its loopback ports across redeploys,
    /// so forwards opened earlier stay valid.
    pub fn set_tunnel(&mut self, tunnel: Option<Arc<dyn Tunnel>>) {
        self.tunnel = tunnel;
    }

    /// The loopback port that reaches `remote`.
    async fn target(&self, remote: u16) -> std::io::Result<u16> {
        match &self.tunnel {
            Some(t) => t.local_port(remote).await,
            None => Ok(remote),
        }
    }

    fn announce(&self, f: &Fwd, state: PortState) {
        let local_port = f.forward.local_port;
        let _ = self.events.send(Event {
            service: self.service.clone(),
            session: self.session.clone(),
            kind: EventKind::PortForward {
                local_port,
                remote_port: f.remote,
                url: format!("http://localhost:{local_port}"),
                state,
            },
        });
    }

    async fn open(&mut self, preferred: Option<u16>, remote: u16) {
        let Some(traces) = self.traces.clone() else { return };
        let started = match (proxy::bind(preferred).await, self.target(remote).await) {
            (Ok(l), Ok(target)) => {
                Forward::start_routed(l, target, traces, limits::Limits::from_env(), self.route_as.as_deref())
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match started {
            Ok(forward) => {
                forward.hold(self.holding);
                let f = Fwd { forward, remote };
                self.announce(&f, PortState::Open);
                self.list.push(f);
            }
            Err(e) => {
                let _ = self.events.send(Event {
                    service: self.service.clone(),
                    session: self.session.clone(),
                    kind: EventKind::Error {
                        message: format!("cannot open a local port for remote port {remote}: {e}"),
                    },
                });
            }
        }
    }

    /// Whether the app is being restarted (stopped, built, started, not listening yet): the
    /// app's forwards hold the connections it refuses meanwhile (not the debug forward).
    pub fn hold(&mut self, hold: proxy::Hold) {
        self.holding = hold;
        for f in &self.list {
            f.forward.hold(hold);
        }
    }

    /// A redeploy started: the forwards keep their local ports and wait for the new container.
    pub fn reconnecting(&mut self) {
        if self.reconnecting || self.list.is_empty() {
            return;
        }
        self.reconnecting = true;
        for f in &self.list {
            self.announce(f, PortState::Reconnecting);
        }
    }

    /// The first forward, to the port the app was asked to use; kept across redeploys.
    pub async fn ensure_primary(&mut self, preferred: Option<u16>, app_port: u16) {
        let was_reconnecting = std::mem::take(&mut self.reconnecting);
        if self.list.is_empty() {
            self.open(preferred, app_port).await;
            return;
        }
        if was_reconnecting {
            // A backend whose loopback ports change with the container (the engine publishes
            // each container's ports anew) gets every forward retargeted; the local ports stay.
            for i in 1..self.list.len() {
                if let Ok(target) = self.target(self.list[i].remote).await {
                    self.list[i].forward.retarget(target);
                }
                self.announce(&self.list[i], PortState::Open);
            }
        }
        if self.list[0].remote != app_port || was_reconnecting {
            let Ok(target) = self.target(app_port).await else { return };
            let f = &mut self.list[0];
            f.remote = app_port;
            f.forward.retarget(target);
            let f = &self.list[0];
            self.announce(f, PortState::Open);
        }
    }

    /// Follows the ports the app really listens on: an app that ignores `PORT` gets its own ports forwarded.
    pub async fn reconcile(&mut self, ports: &[u16], app_port: u16) {
        if ports.is_empty() {
            return;
        }
        // The app listens on `PORT` (now): the first forward goes back to it, whatever it was
        // moved to while the app started (a port open for a moment before it, such as the one
        // debugpy takes in the app to hear from its adapter).
        if ports.contains(&app_port) && self.list.first().is_some_and(|f| f.remote != app_port) {
            if let Ok(target) = self.target(app_port).await {
                let first = &mut self.list[0];
                first.remote = app_port;
                first.forward.retarget(target);
                let f = &self.list[0];
                self.announce(f, PortState::Open);
            }
        }
        let mut extra: Vec<u16> =
            ports.iter().copied().filter(|p| *p != app_port && !self.list.iter().any(|f| f.remote == *p)).collect();
        if !ports.contains(&app_port) && self.list.first().is_some_and(|f| f.remote == app_port) && !extra.is_empty() {
            let p = extra.remove(0);
            if let Ok(target) = self.target(p).await {
                let first = &mut self.list[0];
                first.remote = p;
                first.forward.retarget(target);
                let f = &self.list[0];
                self.announce(f, PortState::Open);
            }
        }
        for p in extra {
            self.open(Some(p), p).await;
        }
    }

    /// The forward to the debug server on `remote` (opened on `preferred` when free, else any
    /// port; then kept for the session and retargeted): its local port. Its bytes pass through
    /// untraced (DAP, JDWP and Delve are not HTTP; the inspector's HTTP and WebSocket are not the
    /// app's requests). A connection that has sent something stays open while both directions
    /// are, however quiet: a debugger stopped at a breakpoint for an hour keeps its session.
    pub async fn debug(&mut self, remote: u16, preferred: u16) -> std::io::Result<u16> {
        let target = self.target(remote).await?;
        if let Some(f) = &mut self.debug {
            f.remote = remote;
            f.forward.retarget(target);
            return Ok(f.forward.local_port);
        }
        let (untraced, _) = mpsc::unbounded_channel();
        let forward = Forward::start(proxy::bind(Some(preferred)).await?, target, untraced)?;
        let local = forward.local_port;
        self.debug = Some(Fwd { forward, remote });
        Ok(local)
    }

    /// The session stopped debugging: the debug forward's port is let go.
    pub fn close_debug(&mut self) {
        self.debug = None;
    }

    pub fn records(&self) -> Vec<ForwardRecord> {
        self.list
            .iter()
            .map(|f| ForwardRecord {
                local_port: f.forward.local_port,
                remote_port: f.remote,
                url: format!("http://localhost:{}", f.forward.local_port),
            })
            .collect()
    }

    pub fn close_all(&mut self) {
        self.debug = None;
        for f in std::mem::take(&mut self.list) {
            self.announce(&f, PortState::Closed);
        }
    }
}

#[cfg(test)]
mod tests;

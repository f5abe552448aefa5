//! The daemon's shared state: its clients and the sessions it owns, and the `devspaces/*` requests on them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use devspaces_protocol::editor::{self as wire, codes, ErrorData};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::fanout::{self, Client, Fanout};
use super::outbox::Outbox;
use super::rpc::{self, RpcError};
use crate::backend::{self, BackendChoice, ConnectOptions, StartFailure};
use crate::classify::{self, Class, IgnoreFiles, Rules};
use crate::config;
use crate::server::to_proto;
use crate::session::{record, SessionHandle, StartError};

/// A session the daemon owns.
pub struct Entry {
    pub fan: Arc<Fanout>,
    pub(super) dir: PathBuf,
    /// The name other services call it by (its chart's Service: the folder, lowercased).
    pub(super) name: String,
    /// The session's event stream (for lines the daemon adds, such as the calls the name proxy saw);
    /// weak, so that the stream still ends with the session.
    pub(super) events: tokio::sync::broadcast::WeakSender<crate::events::Event>,
    /// The hashes of the variables its configuration names (the session keeps them current).
    env: Arc<Mutex<record::EnvHashes>>,
    handle: tokio::sync::Mutex<Option<SessionHandle>>,
    hub: Mutex<Option<JoinHandle<()>>>,
}

impl Entry {
    /// Stops the session and waits until its last events reached the watchers' queues.
    async fn stop(&self) {
        let handle = self.handle.lock().await.take();
        if let Some(h) = handle {
            h.stop().await;
            drop(h);
        }
        let hub = self.hub.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hub) = hub {
            // The fan-out ends when the session's channel closes; bounded in case a sender lingers.
            let _ = tokio::time::timeout(Duration::from_secs(5), hub).await;
        }
    }
}

/// A backend connected for a session, and how it was chosen.
pub(super) struct Connected {
    backend: backend::Connected,
    pub(super) kind: wire::Backend,
    /// Why `choose` picked it, when the user should know (`RUN` steps that will not run).
    warning: Option<String>,
}

impl Connected {
    /// The space the backend resolved (the selected one when the request named none).
    pub(super) fn space(&self) -> &str {
        self.backend.space()
    }
}

/// Everything the connections share.
pub struct Daemon {
    pub state_dir: PathBuf,
    pub started_at: String,
    pub log_cap: usize,
    /// Quiet time that closes a batch of file events in the sessions this daemon starts.
    pub quiet: Duration,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    sessions: Mutex<Vec<Arc<Entry>>>,
    /// Held while finding or starting a session, so that two `up`s of one service start it once.
    starting: tokio::sync::Mutex<()>,
    next_client: AtomicU64,
    /// Notified whenever a client or session comes or goes (the idle timer listens).
    pub activity: Notify,
    /// The name proxy's resolver (a weak handle on this daemon).
    pub(super) me: std::sync::Weak<Daemon>,
    /// The name proxy's listener of each calling service, by space and name.
    pub(super) names: Mutex<HashMap<(String, String), crate::forward::names::Listener>>,
    /// Services an up of several services is starting, by space and name: calls to them wait.
    pub(super) planned: Mutex<std::collections::HashSet<(String, String)>>,
}

impl Daemon {
    pub fn new(state_dir: PathBuf, log_cap: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Daemon {
            me: me.clone(),
            names: Mutex::new(HashMap::new()),
            planned: Mutex::new(Default::default()),
            state_dir,
            started_at: devspaces_protocol::clock::now_rfc3339(),
            log_cap,
            quiet: crate::session::DEFAULT_QUIET,
            clients: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Vec::new()),
            starting: tokio::sync::Mutex::new(()),
            next_client: AtomicU64::new(1),
            activity: Notify::new(),
        })
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<u64, Arc<Client>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sessions(&self) -> MutexGuard<'_, Vec<Arc<Entry>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the daemon has neither a client nor a session.
    pub fn idle(&self) -> bool {
        self.clients().is_empty() && self.sessions().is_empty()
    }

    pub fn add_client(&self) -> Arc<Client> {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let c = Client::new(id, Outbox::new(self.log_cap));
        self.clients().insert(id, c.clone());
        self.activity.notify_one();
        c
    }

    pub(super) fn all_sessions(&self) -> Vec<Arc<Entry>> {
        self.sessions().clone()
    }

    fn remove_session(&self, e: &Arc<Entry>) {
        self.sessions().retain(|x| !Arc::ptr_eq(x, e));
        self.activity.notify_one();
    }

    /// A disconnect: `down` with `keepIfWatched` on every session the client watched, then forget it.
    pub async fn disconnect(&self, client: &Arc<Client>) {
        for e in self.all_sessions() {
            if e.fan.watched_by(client.id) {
                let _ = self.down_entry(&e, client.id, true).await;
            }
        }
        self.clients().remove(&client.id);
        self.activity.notify_one();
    }

    /// Stops every session (the daemon is going away).
    pub async fn stop_all(&self) {
        for e in self.all_sessions() {
            e.stop().await;
            self.remove_session(&e);
        }
    }

    pub fn status(&self) -> Value {
        let mut sessions: Vec<wire::SessionInfo> = self.all_sessions().iter().map(|e| e.fan.info()).collect();
        sessions.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        let r = wire::StatusResult {
            daemon: wire::DaemonInfo {
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                protocol_version: wire::PROTOCOL_VERSION,
                clients: self.clients().len() as u32,
                started_at: self.started_at.clone(),
            },
            sessions,
        };
        to_value(&r)
    }

    pub async fn up(&self, client: &Arc<Client>, p: wire::UpParams) -> Result<Value, RpcError> {
        if super::many::is_many(&p) {
            return self.up_many(client, p).await;
        }
        let dir = service_dir(&p.path)?;
        let connected = self.connect(&dir, &p).await?;
        let r = self.start(client, &dir, connected, p.env, p.local_port, p.attach).await?;
        Ok(to_value(&r))
    }

    /// The backend `p` asks for (or the one `choose` picks for `dir`), connected in its space.
    pub(super) async fn connect(&self, dir: &Path, p: &wire::UpParams) -> Result<Connected, RpcError> {
        // The client's environment (the daemon's when it sent none): DOCKER_HOST, azds.yaml's ${VAR}.
        let client_env = p.env.clone().unwrap_or_else(config::process_vars);
        let docker_host = client_env.get("DOCKER_HOST").cloned();
        // Kubernetes: the daemon's KUBECONFIG and current context; the space named, else the one selected.
        let (choice, warning) = match p.backend {
            Some(wire::Backend::Local) => (BackendChoice::Local, None),
            Some(wire::Backend::Kubernetes) => (BackendChoice::Kubernetes(ConnectOptions::default()), None),
            Some(wire::Backend::Container) => (BackendChoice::Container(docker_host), None),
            None => {
                let auto = backend::choose(dir, &client_env).await;
                (auto.choice, auto.warning)
            }
        };
        let kind = to_proto::backend(choice.kind());
        let backend =
            backend::connect(choice, p.space.as_deref(), &self.state_dir).await.map_err(|e| start_failed(e, dir))?;
        Ok(Connected { backend, kind, warning })
    }

    /// Starts a session of `dir` on a connected backend, or attaches to the one running there.
    pub(super) async fn start(
        &self,
        client: &Arc<Client>,
        dir: &Path,
        connected: Connected,
        env: Option<std::collections::BTreeMap<String, String>>,
        local_port: Option<u16>,
        attach: bool,
    ) -> Result<wire::UpResult, RpcError> {
        let Connected { backend: connected, kind, warning } = connected;
        let dir = dir.to_path_buf();
        let target = connected.target();
        let space = connected.space().to_string();
        let _guard = self.starting.lock().await;
        let existing =
            self.all_sessions().into_iter().find(|e| e.dir == dir && e.fan.space == space && e.fan.backend == kind);
        if let Some(e) = existing {
            if !attach {
                return Err(RpcError::new(
                    codes::SESSION_EXISTS,
                    format!("service '{}' already runs in space '{space}' (session {})", e.fan.service, e.fan.session),
                )
                .with_data(ErrorData {
                    session: Some(e.fan.session.clone()),
                    hint: Some("send \"attach\": true to attach to it".into()),
                    ..ErrorData::default()
                }));
            }
            e.fan.subscribe(client, 0);
            if let Some(env) = &env {
                let recorded = e.env.lock().map(|h| h.clone()).unwrap_or_default();
                let differs = record::env_differs(&e.fan.session, &recorded, |n| env.get(n).cloned());
                if !differs.is_empty() {
                    client.outbox.push(rpc::event_frame(&other_env_line(&e.fan, &differs)));
                }
            }
            return Ok(wire::UpResult { session: e.fan.info(), attached: true });
        }
        let env = env.map(Arc::new);
        let handle =
            backend::start(connected, &dir, self.quiet, env, local_port).await.map_err(|e| start_failed(e, &dir))?;
        // The receiver made before the session's task started: the fan-out sees its first events.
        let rx = handle.take_first_receiver().unwrap_or_else(|| handle.events.subscribe());
        let fan =
            Fanout::new(handle.id.clone(), handle.service.clone(), dir.display().to_string(), space, kind, target);
        if let Some(w) = warning {
            // Into the session's stream: every watcher sees it, and a late one in the replay.
            let _ = handle.events.send(crate::events::Event {
                service: handle.service.clone(),
                session: handle.id.clone(),
                kind: crate::events::EventKind::Log {
                    stream: crate::events::LogStream::System,
                    line: format!("warning: {w}"),
                    time: devspaces_protocol::clock::now_rfc3339(),
                },
            });
        }
        fan.subscribe(client, 0);
        for c in self.clients().values() {
            if c.id != client.id && fanout::watches_all(c) {
                fan.subscribe(c, 0);
            }
        }
        let hub = tokio::spawn(fanout::run(fan.clone(), rx));
        let entry = Arc::new(Entry {
            fan: fan.clone(),
            name: config::workspace::service_name(&dir),
            events: handle.events.downgrade(),
            dir,
            env: handle.env.clone(),
            handle: tokio::sync::Mutex::new(Some(handle)),
            hub: Mutex::new(Some(hub)),
        });
        self.sessions().push(entry);
        self.activity.notify_one();
        Ok(wire::UpResult { session: fan.info(), attached: false })
    }

    /// The one session a target names, or the right error.
    fn resolve(&self, t: &wire::SessionTarget) -> Result<Arc<Entry>, RpcError> {
        let found = self.matching(t);
        match found.len() {
            0 | 1 => found.into_iter().next().ok_or_else(|| unknown(t)),
            _ => Err(RpcError::new(
                codes::AMBIGUOUS_SESSION,
                format!("{} sessions match; name one by its id", found.len()),
            )
            .with_data(ErrorData {
                candidates: found.iter().map(|e| e.fan.session.clone()).collect(),
                ..ErrorData::default()
            })),
        }
    }

    /// The sessions a target names (every session for an empty target).
    fn matching(&self, t: &wire::SessionTarget) -> Vec<Arc<Entry>> {
        let dir = t.path.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p)));
        self.all_sessions()
            .into_iter()
            .filter(|e| t.session.as_ref().is_none_or(|s| *s == e.fan.session))
            .filter(|e| dir.as_ref().is_none_or(|d| *d == e.dir))
            .filter(|e| t.space.as_ref().is_none_or(|s| *s == e.fan.space))
            .filter(|e| t.backend.is_none_or(|b| b == e.fan.backend))
            .collect()
    }

    pub async fn down(&self, client: &Arc<Client>, p: wire::DownParams) -> Result<Value, RpcError> {
        require_target(&p.target)?;
        let e = self.resolve(&p.target)?;
        Ok(to_value(&self.down_entry(&e, client.id, p.keep_if_watched).await))
    }

    async fn down_entry(&self, e: &Arc<Entry>, client: u64, keep_if_watched: bool) -> wire::DownResult {
        let result =
            |outcome| wire::DownResult { session: e.fan.session.clone(), service: e.fan.service.clone(), outcome };
        if keep_if_watched && e.fan.others(client) > 0 {
            e.fan.unsubscribe(client);
            return result(wire::DownOutcome::Detached);
        }
        // Forget it first so that a new `up` of the service starts afresh while this one stops.
        self.remove_session(e);
        e.stop().await;
        self.activity.notify_one();
        result(wire::DownOutcome::Stopped)
    }

    pub async fn restart(&self, p: wire::RestartParams) -> Result<Value, RpcError> {
        require_target(&p.target)?;
        let e = self.resolve(&p.target)?;
        let entry = e.clone();
        let redeploy = p.kind == wire::RestartKind::Redeploy;
        tokio::spawn(async move {
            if let Some(h) = entry.handle.lock().await.as_ref() {
                if redeploy {
                    h.redeploy().await;
                } else {
                    h.restart().await;
                }
            }
        });
        let phase = if redeploy { wire::Phase::Deploying } else { wire::Phase::Restarting };
        Ok(to_value(&wire::RestartResult {
            session: e.fan.session.clone(),
            service: e.fan.service.clone(),
            kind: p.kind,
            phase,
        }))
    }

    pub fn list_uris(&self, p: wire::ListUrisParams) -> Result<Value, RpcError> {
        let found = self.matching(&p.target);
        if found.is_empty() && (p.target.session.is_some() || p.target.path.is_some()) {
            return Err(unknown(&p.target));
        }
        let mut uris = Vec::new();
        for e in found {
            let info = e.fan.info();
            for f in info.port_forwards {
                uris.push(wire::ServiceUri {
                    service: info.service.clone(),
                    session: info.session.clone(),
                    url: f.url,
                    kind: wire::UriKind::Localhost,
                    remote_port: f.remote_port,
                    state: f.state,
                });
            }
        }
        Ok(to_value(&wire::ListUrisResult { uris }))
    }

    pub fn watch(&self, client: &Arc<Client>, p: wire::WatchParams) -> Result<Value, RpcError> {
        let all = names_every_session(&p.target);
        let found = self.matching(&p.target);
        if found.is_empty() && p.target.session.is_some() {
            return Err(unknown(&p.target));
        }
        if all {
            fanout::set_watch_all(client, true);
        }
        let mut sessions = Vec::new();
        for e in found {
            e.fan.subscribe(client, p.replay_lines as usize);
            sessions.push(e.fan.info());
        }
        Ok(to_value(&wire::WatchResult { sessions }))
    }

    pub fn unwatch(&self, client: &Arc<Client>, p: wire::UnwatchParams) -> Result<Value, RpcError> {
        let all = names_every_session(&p.target);
        if all {
            fanout::set_watch_all(client, false);
        }
        let mut sessions = Vec::new();
        for e in self.matching(&p.target) {
            if e.fan.unsubscribe(client.id) {
                sessions.push(e.fan.session.clone());
            }
        }
        Ok(to_value(&wire::UnwatchResult { sessions }))
    }
}

/// `devspaces/classify`: needs no session, only the service's configuration.
pub fn classify(p: wire::ClassifyParams) -> Result<Value, RpcError> {
    let dir = service_dir(&p.path)?;
    let config = config::load(&dir).map_err(|e| {
        RpcError::new(codes::INVALID_CONFIG, e.to_string())
            .with_data(ErrorData { path: Some(p.path.clone()), ..ErrorData::default() })
    })?;
    let rules = Rules::new(&config, &IgnoreFiles::read(&config))
        .map_err(|e| RpcError::new(codes::INVALID_CONFIG, e.to_string()))?;
    let rels: Vec<String> = p
        .paths
        .iter()
        .map(|raw| {
            let path = Path::new(raw);
            match path.strip_prefix(&config.service_dir).or_else(|_| path.strip_prefix(&p.path)) {
                Ok(r) => r.to_string_lossy().replace('\\', "/"),
                Err(_) => raw.trim_start_matches("./").to_string(),
            }
        })
        .collect();
    let results = rels
        .iter()
        .map(|rel| {
            let d = rules.classify(rel);
            wire::Classification { path: rel.clone(), class: to_proto::class(d.class), rule: d.rule }
        })
        .collect();
    let batch = classify::plan(&rules, &rels).class.unwrap_or(Class::Ignored);
    Ok(to_value(&wire::ClassifyResult { service: config.name.clone(), batch: to_proto::class(batch), results }))
}

pub(super) fn service_dir(path: &str) -> Result<PathBuf, RpcError> {
    let data = || ErrorData { path: Some(path.to_string()), ..ErrorData::default() };
    if !Path::new(path).is_absolute() {
        return Err(RpcError::new(codes::INVALID_PARAMS, format!("path '{path}' is not absolute")).with_data(data()));
    }
    let dir = std::fs::canonicalize(path).map_err(|e| {
        RpcError::new(codes::NOT_A_SERVICE, format!("cannot open service folder '{path}': {e}")).with_data(data())
    })?;
    if !dir.join(config::FILE_NAME).is_file() {
        return Err(RpcError::new(
            codes::NOT_A_SERVICE,
            format!("'{path}' is not a service folder (no azds.yaml in it)"),
        )
        .with_data(ErrorData { hint: Some("open the folder that holds azds.yaml".into()), ..data() }));
    }
    Ok(dir)
}

/// The answer to a `devspaces/up` whose backend or session could not start.
pub(super) fn start_failed(e: StartFailure, dir: &Path) -> RpcError {
    let data = || ErrorData { path: Some(dir.display().to_string()), ..ErrorData::default() };
    match e {
        StartFailure::NotBuilt(_) | StartFailure::Unavailable(_) => {
            RpcError::new(codes::BACKEND_UNAVAILABLE, e.to_string())
        }
        StartFailure::Space(_) => RpcError::new(codes::INVALID_PARAMS, e.to_string()),
        StartFailure::Session(StartError::Config(e)) => {
            let location = to_proto::config_location(&e);
            RpcError::new(codes::INVALID_CONFIG, e.to_string()).with_data(ErrorData { location, ..data() })
        }
        StartFailure::Session(e @ StartError::Rules(_)) => {
            RpcError::new(codes::INVALID_CONFIG, e.to_string()).with_data(data())
        }
        StartFailure::Session(e @ StartError::AlreadyUp { .. }) => {
            RpcError::new(codes::SESSION_EXISTS, e.to_string()).with_data(data())
        }
    }
}

/// The `system` line an attaching client gets when the session's variables are not its own:
/// names only, never values.
fn other_env_line(fan: &Fanout, differs: &[String]) -> wire::Event {
    wire::Event::Log(wire::LogParams {
        service: fan.service.clone(),
        session: fan.session.clone(),
        stream: wire::LogStream::System,
        line: format!(
            "service '{}' runs with a different {} than this client has (it was started from another environment); \
             run `devspacesd down` then `up` to use yours",
            fan.service,
            record::names_list(differs)
        ),
        time: devspaces_protocol::clock::now_rfc3339(),
    })
}

fn require_target(t: &wire::SessionTarget) -> Result<(), RpcError> {
    if t.session.is_none() && t.path.is_none() {
        return Err(RpcError::new(codes::INVALID_PARAMS, "name the session: \"session\" or \"path\" is required"));
    }
    Ok(())
}

fn unknown(t: &wire::SessionTarget) -> RpcError {
    let what = match (&t.session, &t.path) {
        (Some(s), _) => format!("no session has id '{s}'"),
        (None, Some(p)) => format!("no session runs for '{p}'"),
        (None, None) => "no session matches".to_string(),
    };
    RpcError::new(codes::UNKNOWN_SESSION, what).with_data(ErrorData {
        session: t.session.clone(),
        path: t.path.clone(),
        ..ErrorData::default()
    })
}

pub(super) fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({"error": format!("cannot encode the result: {e}")}))
}

/// A target that names no session, path, space or backend: every session, and the ones to come.
fn names_every_session(t: &wire::SessionTarget) -> bool {
    t.session.is_none() && t.path.is_none() && t.space.is_none() && t.backend.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;

    #[test]
    fn start_failures_keep_their_codes() {
        let dir = Path::new("/svc");
        let e = start_failed(StartFailure::NotBuilt(BackendKind::Kubernetes), dir);
        assert_eq!(
            (e.code, e.message.as_str()),
            (codes::BACKEND_UNAVAILABLE, "this devspacesd was built without the kubernetes feature")
        );
        assert_eq!(start_failed(StartFailure::Unavailable("no cluster".into()), dir).code, codes::BACKEND_UNAVAILABLE);
        assert_eq!(start_failed(StartFailure::Space("invalid space name".into()), dir).code, codes::INVALID_PARAMS);
    }
}

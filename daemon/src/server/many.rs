//! `devspaces/up` of several services: every service folder below a path (or each path named) in
//! one space, one session each; one failing does not stop the others.
//!
//! Each service is named as its chart's Service (`config::workspace::service_name`) and gets a
//! stable loopback port its first forward binds. On the local backend every app is told where the
//! others are: the Kubernetes-style variables (`config::workspace::discovery_env`) and `HTTP_PROXY`
//! naming its own listener of the name proxy (`forward::names`), which this module resolves
//! against the daemon's sessions. Containers share the space's network and pods the cluster's DNS,
//! where names resolve already.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use devspaces_protocol::editor::{self as wire, codes};
use serde_json::Value;

use super::fanout::Client;
use super::rpc::RpcError;
use super::sessions::{to_value, Daemon};
use crate::config::{self, workspace};
use crate::forward::names::{self, Resolve, Route, Upstream};

/// Whether `p` asks for several services: `paths`, or a folder that is no service folder itself.
pub fn is_many(p: &wire::UpParams) -> bool {
    !p.paths.is_empty() || {
        let path = Path::new(&p.path);
        path.is_absolute() && path.is_dir() && !path.join(config::FILE_NAME).is_file()
    }
}

/// The port range stable ports are taken from.
const STABLE_PORTS: std::ops::Range<u16> = 20000..40000;

/// A loopback port for `name` in `space` that stays the same from one up to the next while free:
/// derived from both names, the next free one when taken (by another program or by `taken`).
fn stable_port(space: &str, name: &str, taken: &HashSet<u16>) -> Option<u16> {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in space.bytes().chain([0]).chain(name.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let span = u32::from(STABLE_PORTS.end - STABLE_PORTS.start);
    (0..256u32).find_map(|i| {
        let port = STABLE_PORTS.start + ((h.wrapping_add(i)) % span) as u16;
        let free = !taken.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        free.then_some(port)
    })
}

/// `NO_PROXY` with loopback added to what the user had.
fn no_proxy(existing: Option<&String>) -> String {
    let mut list: Vec<String> = existing
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for l in ["localhost", "127.0.0.1", "::1"] {
        if !list.iter().any(|x| x == l) {
            list.push(l.to_string());
        }
    }
    list.join(",")
}

/// One service of the up, planned.
struct Planned {
    dir: PathBuf,
    name: String,
    port: u16,
    /// The space its backend resolved; `None` when it could not connect.
    space: Option<String>,
}

impl Daemon {
    pub(super) async fn up_many(&self, client: &Arc<Client>, p: wire::UpParams) -> Result<Value, RpcError> {
        let mut roots = vec![p.path.clone()];
        roots.extend(p.paths.iter().cloned());
        if let Some(r) = roots.iter().find(|r| !Path::new(r).is_absolute()) {
            return Err(RpcError::new(codes::INVALID_PARAMS, format!("path '{r}' is not absolute")));
        }
        let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
        let dirs = workspace::find_services(&roots)
            .map_err(|e| RpcError::new(codes::NOT_A_SERVICE, format!("'{}' is not a service folder: {e}", p.path)))?;
        let client_env = p.env.clone().unwrap_or_else(config::process_vars);

        // Connect each service's backend first: that settles the space its name and port live in.
        let mut connected = Vec::new();
        for dir in &dirs {
            connected.push(self.connect(dir, &p).await);
        }
        let mut taken = HashSet::new();
        let mut plan = Vec::new();
        for (dir, c) in dirs.iter().zip(&connected) {
            let name = workspace::service_name(dir);
            let space = c.as_ref().ok().map(|c| c.space().to_string());
            let port_space = space.clone().or_else(|| p.space.clone()).unwrap_or_default();
            let port = stable_port(&port_space, &name, &taken)
                .ok_or_else(|| RpcError::new(codes::INTERNAL_ERROR, "no free loopback port for the services"))?;
            taken.insert(port);
            plan.push(Planned { dir: dir.clone(), name, port, space });
        }
        let others: Vec<(String, String, u16)> =
            plan.iter().map(|s| (s.name.clone(), "127.0.0.1".to_string(), s.port)).collect();
        let discovery = workspace::discovery_env(&others);
        let upstream =
            Upstream::from_env(client_env.get("HTTP_PROXY").or(client_env.get("http_proxy")).map(|s| s.as_str()));

        for s in &plan {
            if let Some(space) = &s.space {
                self.plan_name(space, &s.name);
            }
        }
        let mut outcomes = Vec::new();
        for (s, c) in plan.iter().zip(connected) {
            let result = match c {
                Err(e) => Err(e),
                Ok(c) => {
                    let env = if c.kind == wire::Backend::Local {
                        let space = s.space.as_deref().unwrap_or_default();
                        match self.local_env(&client_env, &discovery, space, &s.name, &upstream).await {
                            Ok(env) => Some(env),
                            Err(e) => {
                                outcomes.push(outcome(s, Err(e)));
                                continue;
                            }
                        }
                    } else {
                        p.env.clone()
                    };
                    self.start(client, &s.dir, c, env, Some(s.port), p.attach, p.debug).await
                }
            };
            outcomes.push(outcome(s, result));
        }
        for s in &plan {
            if let Some(space) = &s.space {
                self.unplan_name(space, &s.name);
            }
        }
        // Each session as it is now, not as it was when it started (an editor applies these).
        let live = self.all_sessions();
        for o in &mut outcomes {
            if let Some(info) = &mut o.session {
                if let Some(e) = live.iter().find(|e| e.fan.session == info.session) {
                    *info = e.fan.info();
                }
            }
        }
        Ok(to_value(&wire::UpManyResult { services: outcomes }))
    }

    /// A local app's environment in an up of several services: the client's, where the others
    /// are, and the name proxy.
    async fn local_env(
        &self,
        client_env: &BTreeMap<String, String>,
        discovery: &BTreeMap<String, String>,
        space: &str,
        name: &str,
        upstream: &Upstream,
    ) -> Result<BTreeMap<String, String>, RpcError> {
        let port = self.name_listener(space, name, upstream.clone()).await?;
        let mut env = client_env.clone();
        env.extend(discovery.iter().map(|(k, v)| (k.clone(), v.clone())));
        let proxy = format!("http://127.0.0.1:{port}");
        let no = no_proxy(client_env.get("NO_PROXY").or(client_env.get("no_proxy")));
        for (k, v) in [("HTTP_PROXY", &proxy), ("http_proxy", &proxy), ("NO_PROXY", &no), ("no_proxy", &no)] {
            env.insert(k.to_string(), v.clone());
        }
        // Node.js reads HTTP_PROXY only when asked (from version 24).
        env.insert("NODE_USE_ENV_PROXY".into(), "1".into());
        Ok(env)
    }

    /// The name proxy's port for calls from `name` in `space` (the same for the daemon's life).
    async fn name_listener(&self, space: &str, name: &str, upstream: Upstream) -> Result<u16, RpcError> {
        let key = (space.to_string(), name.to_string());
        if let Some(l) = self.names.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(l.port);
        }
        let resolve: Arc<dyn Resolve> = Arc::new(Routes(self.me.clone()));
        let l = names::listen(space, name, upstream, resolve)
            .await
            .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, format!("cannot start the name proxy: {e}")))?;
        let port = l.port;
        self.names.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(l);
        Ok(port)
    }

    fn plan_name(&self, space: &str, name: &str) {
        self.planned.lock().unwrap_or_else(|e| e.into_inner()).insert((space.to_string(), name.to_string()));
    }

    fn unplan_name(&self, space: &str, name: &str) {
        self.planned.lock().unwrap_or_else(|e| e.into_inner()).remove(&(space.to_string(), name.to_string()));
    }
}

fn outcome(s: &Planned, r: Result<wire::UpResult, RpcError>) -> wire::UpOutcome {
    let mut o = wire::UpOutcome {
        path: s.dir.display().to_string(),
        name: s.name.clone(),
        port: s.port,
        session: None,
        attached: false,
        error: None,
    };
    match r {
        Ok(r) => {
            o.session = Some(r.session);
            o.attached = r.attached;
        }
        Err(e) => o.error = Some(wire::UpFailure { code: e.code, message: e.message }),
    }
    o
}

/// The name proxy's view of the daemon's sessions.
struct Routes(std::sync::Weak<Daemon>);

impl Resolve for Routes {
    fn route(&self, space: &str, host: &str) -> Option<Route> {
        let d = self.0.upgrade()?;
        let found = d
            .all_sessions()
            .into_iter()
            .find(|e| e.fan.space == space && (e.name == host || e.fan.service.eq_ignore_ascii_case(host)));
        let Some(e) = found else {
            let planned = d.planned.lock().unwrap_or_else(|e| e.into_inner()).contains(&(space.into(), host.into()));
            return planned.then_some(Route::Starting);
        };
        let info = e.fan.info();
        let open = info.port_forwards.iter().find(|f| f.state == wire::PortState::Open);
        match (info.phase, open) {
            (wire::Phase::Running, Some(f)) => {
                // A local app listens on the forward's remote port; elsewhere the forward is the door.
                let app = if info.backend == wire::Backend::Local { f.remote_port } else { f.local_port };
                Some(Route::Up { forward: f.local_port, app })
            }
            _ => Some(Route::Starting),
        }
    }

    fn called(&self, space: &str, caller: &str, callee: &str) {
        let Some(d) = self.0.upgrade() else { return };
        let found = d.all_sessions().into_iter().find(|e| e.fan.space == space && e.name == caller);
        if let Some((e, events)) = found.and_then(|e| e.events.upgrade().map(|tx| (e, tx))) {
            let _ = events.send(crate::events::Event {
                service: e.fan.service.clone(),
                session: e.fan.session.clone(),
                kind: crate::events::EventKind::Log {
                    stream: crate::events::LogStream::System,
                    line: format!("calls {callee} (http://{callee}/, through the name proxy)"),
                    time: devspaces_protocol::clock::now_rfc3339(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stable_ports_stay_put_and_step_aside() {
        let none = HashSet::new();
        let a = stable_port("dev", "api", &none).unwrap();
        assert_eq!(stable_port("dev", "api", &none), Some(a), "the same from one up to the next");
        assert!(STABLE_PORTS.contains(&a));
        let taken: HashSet<u16> = [a].into();
        let b = stable_port("dev", "api", &taken).unwrap();
        assert_ne!(a, b);
        // Held by another program: the next free one.
        let held = std::net::TcpListener::bind(("127.0.0.1", a)).unwrap();
        assert_ne!(stable_port("dev", "api", &none), Some(a));
        drop(held);
    }

    #[test]
    fn loopback_is_added_to_the_users_no_proxy() {
        assert_eq!(no_proxy(None), "localhost,127.0.0.1,::1");
        assert_eq!(no_proxy(Some(&"corp.example, localhost".to_string())), "corp.example,localhost,127.0.0.1,::1");
    }

    #[test]
    fn a_folder_of_services_or_several_paths_is_many() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap().to_string();
        std::fs::create_dir_all(d.path().join("api")).unwrap();
        std::fs::write(d.path().join("api/azds.yaml"), "kind: helm-release\n").unwrap();
        let up = |path: &str, paths: Vec<String>| wire::UpParams {
            path: path.into(),
            paths,
            space: None,
            backend: None,
            attach: true,
            env: None,
            local_port: None,
            debug: false,
        };
        assert!(is_many(&up(&root, vec![])));
        assert!(!is_many(&up(&format!("{root}/api"), vec![])));
        assert!(is_many(&up(&format!("{root}/api"), vec![format!("{root}/web")])));
        // Relative or missing paths are the single up's to diagnose.
        assert!(!is_many(&up("api", vec![])));
        assert!(!is_many(&up(&format!("{root}/nope"), vec![])));
    }
}

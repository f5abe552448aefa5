//! The session's transitions driven end to end through the runner, on paused time, with a
//! recording fake backend whose agent speaks the real agent protocol over an in-memory pipe.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devspaces_protocol::agent::{AppStatus, FromAgent, ToAgent};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{record, start_with, ClientEnv, SessionHandle, SessionOptions};
use crate::agent::client::AgentClient;
use crate::backend::{Backend, BackendError, Deployed, Reporter};
use crate::classify::Class;
use crate::config::Config;
use crate::events::{Event, EventKind, Phase};
use devspaces_protocol::agent::wire::{self, Frame};

/// What the fake backend and its agents were asked to do, in order.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    /// How long each deploy takes (a build), in order; none: at once.
    delays: Mutex<VecDeque<Duration>>,
    /// Deploys whose future is alive now (a cancelled one is dropped).
    live_deploys: AtomicUsize,
    /// The container's files as the agents received them.
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Agent connections open now.
    live_agents: AtomicUsize,
    /// The configured command of each deploy, as the configuration was loaded for it.
    commands: Mutex<Vec<Vec<String>>>,
}

impl Recorder {
    fn call(&self, c: impl Into<String>) {
        self.calls.lock().unwrap().push(c.into());
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.calls().iter().filter(|c| c.starts_with(prefix)).count()
    }
    fn file_says(&self, word: &str) -> bool {
        self.files.lock().unwrap().values().any(|v| String::from_utf8_lossy(v).contains(word))
    }
}

struct Live(Arc<Recorder>);
impl Drop for Live {
    fn drop(&mut self) {
        self.0.live_deploys.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Fake {
    rec: Arc<Recorder>,
}

const APP_PORT: u16 = 1;

impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn deploy(&mut self, config: &Config, fresh: bool, report: &Reporter) -> Result<Deployed, BackendError> {
        self.rec.commands.lock().unwrap().push(config.develop.container.command.clone());
        self.rec.live_deploys.fetch_add(1, Ordering::SeqCst);
        let _live = Live(self.rec.clone());
        self.rec.call(format!("deploy fresh={fresh}"));
        let delay = self.rec.delays.lock().unwrap().pop_front();
        if let Some(d) = delay {
            report.emit(EventKind::Status {
                phase: Phase::Deploying,
                detail: "building".into(),
                exit_code: None,
                last_lines: None,
            });
            tokio::time::sleep(d).await;
        }
        if fresh {
            self.rec.files.lock().unwrap().clear();
        }
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        tokio::spawn(fake_agent(theirs, self.rec.clone()));
        let (agent, events) =
            AgentClient::over(ours, "token", Some(0)).await.map_err(|e| BackendError::Agent(e.to_string()))?;
        self.rec.call("deployed");
        Ok(Deployed {
            agent,
            events,
            agent_pid: None,
            command: vec!["app".into()],
            env: BTreeMap::new(),
            app_port: APP_PORT,
            preferred_local_port: None,
            tunnel: None,
        })
    }
    async fn teardown(&mut self) {
        self.rec.call("teardown");
    }
}

async fn send(w: &mut (impl AsyncWriteExt + Unpin), m: &FromAgent) {
    let _ = wire::write_all(w, &wire::encode_json(m)).await;
}

fn status(status: AppStatus) -> FromAgent {
    FromAgent::Status { status }
}

/// An agent that answers every request and runs a pretend app: a file saying BUILD-FAIL fails the
/// build, one saying CRASH makes the app exit at once.
async fn fake_agent(stream: DuplexStream, rec: Arc<Recorder>) {
    rec.live_agents.fetch_add(1, Ordering::SeqCst);
    let (mut r, mut w) = tokio::io::split(stream);
    let mut pid = 100;
    if let Ok(Some(Frame::Json(_hello))) = wire::read_frame(&mut r).await {
        let welcome = FromAgent::Welcome { version: 1, state: None, app_pid: None, root: "/app".into() };
        send(&mut w, &welcome).await;
    }
    while let Ok(Some(Frame::Json(body))) = wire::read_frame(&mut r).await {
        let Ok(msg) = wire::decode::<ToAgent>(&body) else { break };
        let done = |id: u64, error: Option<String>| FromAgent::Done { id, error, count: 0, held: Vec::new() };
        match msg {
            ToAgent::Files { id, .. } => {
                let Ok(Some(Frame::Binary(tar))) = wire::read_frame(&mut r).await else { break };
                let mut names = Vec::new();
                let mut archive = tar::Archive::new(&tar[..]);
                for entry in archive.entries().into_iter().flatten().flatten() {
                    let mut entry = entry;
                    let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
                    let mut bytes = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut entry, &mut bytes);
                    rec.files.lock().unwrap().insert(name.clone(), bytes);
                    names.push(name);
                }
                rec.call(format!("files {}", names.join(",")));
                send(&mut w, &done(id, None)).await;
            }
            ToAgent::Delete { id, paths } => {
                for p in &paths {
                    rec.files.lock().unwrap().remove(p);
                }
                rec.call(format!("delete {}", paths.join(",")));
                send(&mut w, &done(id, None)).await;
            }
            // A new root each deploy, as far as the sessions here care: it holds none of the files.
            ToAgent::Check { id, .. } => send(&mut w, &done(id, None)).await,
            ToAgent::Commit { id, .. } => send(&mut w, &done(id, None)).await,
            ToAgent::Restart { id, build, run, debug_port, .. } => {
                match debug_port {
                    Some(port) => rec.call(format!("restart debug={port} run={}", run.join(" "))),
                    None => rec.call("restart"),
                }
                // Stopping and starting an app takes a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(command) = build.first() {
                    send(&mut w, &status(AppStatus::Building { command: command.clone() })).await;
                    if rec.file_says("BUILD-FAIL") {
                        let failed =
                            AppStatus::BuildFailed { command: command.clone(), exit_code: Some(2), last_lines: vec![] };
                        send(&mut w, &status(failed)).await;
                        send(&mut w, &done(id, Some("build failed".into()))).await;
                        continue;
                    }
                }
                pid += 1;
                send(&mut w, &status(AppStatus::Started { pid })).await;
                send(&mut w, &done(id, None)).await;
                if rec.file_says("CRASH") {
                    let exited =
                        AppStatus::Exited { exit_code: Some(3), signal: None, last_lines: vec!["boom".into()] };
                    send(&mut w, &status(exited)).await;
                } else if let Some(port) = debug_port {
                    // An inspector listens in the app itself: its port is among the app's.
                    send(&mut w, &status(AppStatus::Listening { ports: vec![APP_PORT, port] })).await;
                    send(&mut w, &status(AppStatus::DebugReady { port })).await;
                } else {
                    send(&mut w, &status(AppStatus::Listening { ports: vec![APP_PORT] })).await;
                }
            }
            ToAgent::Stop { id } => send(&mut w, &done(id, None)).await,
            ToAgent::Shutdown { id } => {
                rec.call("shutdown");
                send(&mut w, &done(id, None)).await;
                break;
            }
            ToAgent::Hello { .. } => break,
        }
    }
    rec.live_agents.fetch_sub(1, Ordering::SeqCst);
}

struct Harness {
    dir: tempfile::TempDir,
    _state: tempfile::TempDir,
    handle: SessionHandle,
    rx: broadcast::Receiver<Event>,
    rec: Arc<Recorder>,
}

const AZDS: &str = r#"kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
install:
  chart: charts/svc
configurations:
  develop:
    container:
      sync: ["**/*.py", "static/**"]
      command: [python3, app.py]
      iterate:
        buildCommands: [[make]]
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

impl Harness {
    async fn start(delays: &[u64]) -> Harness {
        Self::start_in(delays, AZDS, None).await
    }

    /// A session of `azds` started for a client whose environment is `env` (`None`: this process's).
    async fn start_in(delays: &[u64], azds: &str, env: Option<ClientEnv>) -> Harness {
        Self::start_with(delays, azds, env, false).await
    }

    /// A session of [`AZDS`] whose app runs under its debugger.
    async fn debugging() -> Harness {
        Self::start_with(&[], AZDS, None, true).await
    }

    async fn start_with(delays: &[u64], azds: &str, env: Option<ClientEnv>, debug: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "azds.yaml", azds);
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "charts/svc/Chart.yaml", "name: svc\nversion: 0.1.0\n");
        write(d, "app.py", "print('v1')\n");
        write(d, "static/style.css", "body{}\n");
        let rec = Arc::new(Recorder::default());
        rec.delays.lock().unwrap().extend(delays.iter().map(|s| Duration::from_secs(*s)));
        let opts = SessionOptions {
            service_dir: d.to_path_buf(),
            space: "default".into(),
            quiet: Duration::from_millis(1),
            env,
            local_port: None,
            debug,
        };
        let handle = start_with(opts, Fake { rec: rec.clone() }, state.path().to_path_buf(), false).await.unwrap();
        let rx = handle.take_first_receiver().unwrap();
        Harness { dir, _state: state, handle, rx, rec }
    }

    /// A session whose app runs, its first deploy quick.
    async fn running() -> Harness {
        let mut h = Harness::start(&[]).await;
        h.until_phase(Phase::Running).await;
        h
    }

    /// Events until one matches; fails after a minute of (paused) time.
    async fn until(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> Vec<EventKind> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Ok(ev)) => {
                    let hit = pred(&ev.kind);
                    seen.push(ev.kind);
                    if hit {
                        return seen;
                    }
                }
                _ => panic!("no event for '{what}'; saw {seen:#?}\ncalls {:?}", self.rec.calls()),
            }
        }
    }

    async fn until_phase(&mut self, phase: Phase) -> Vec<EventKind> {
        self.until(phase.as_str(), |k| matches!(k, EventKind::Status { phase: p, .. } if *p == phase)).await
    }

    async fn edit(&self, rel: &str, text: &str) {
        write(self.dir.path(), rel, text);
        self.handle.changed([rel.to_string()]).await;
    }

    async fn stop(self) -> Arc<Recorder> {
        self.handle.stop().await;
        let _ = std::fs::remove_file(crate::sync::synclog::path_for(self.dir.path()));
        self.rec
    }
}

fn phases(events: &[EventKind]) -> Vec<Phase> {
    events.iter().filter_map(|k| if let EventKind::Status { phase, .. } = k { Some(*phase) } else { None }).collect()
}

fn synced(events: &[EventKind]) -> Vec<(Class, Vec<String>)> {
    events
        .iter()
        .filter_map(
            |k| if let EventKind::Synced { class, files, .. } = k { Some((*class, files.clone())) } else { None },
        )
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_first_deploy_syncs_everything_and_starts_the_app() {
    let mut h = Harness::start(&[]).await;
    let seen = h.until_phase(Phase::Running).await;
    assert_eq!(
        phases(&seen),
        vec![Phase::Deploying, Phase::Syncing, Phase::Starting, Phase::Building, Phase::Starting, Phase::Running]
    );
    assert_eq!(synced(&seen)[0].0, Class::Redeploy);
    assert_eq!(
        h.rec.calls()[..3],
        ["deploy fresh=false", "deployed", "files Dockerfile,app.py,azds.yaml,charts/svc/Chart.yaml,static/style.css"]
    );
    let rec = h.stop().await;
    assert_eq!(rec.calls().last().map(String::as_str), Some("teardown"));
    assert_eq!(rec.live_agents.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_static_batch_syncs_the_file_and_restarts_nothing() {
    let mut h = Harness::running().await;
    h.edit("static/style.css", "body{color:red}\n").await;
    let seen = h.until("synced", |k| matches!(k, EventKind::Synced { .. })).await;
    assert_eq!(synced(&seen), vec![(Class::StaticSync, vec!["static/style.css".to_string()])]);
    assert!(phases(&seen).is_empty(), "{seen:?}");
    assert_eq!(h.rec.count("restart"), 1);
    assert_eq!(h.rec.files.lock().unwrap()["static/style.css"], b"body{color:red}\n");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_source_batch_syncs_then_restarts_the_app() {
    let mut h = Harness::running().await;
    h.edit("app.py", "print('v2')\n").await;
    let seen = h.until_phase(Phase::Running).await;
    assert_eq!(phases(&seen), vec![Phase::Restarting, Phase::Building, Phase::Starting, Phase::Running]);
    assert_eq!(synced(&seen), vec![(Class::ProcessRestart, vec!["app.py".to_string()])]);
    let calls = h.rec.calls();
    assert_eq!(calls[calls.len() - 2..], ["files app.py", "restart"]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_redeploy_stops_the_old_agent_and_syncs_a_fresh_container() {
    let mut h = Harness::running().await;
    h.edit("Dockerfile", "FROM scratch\nENV A=1\n").await;
    let seen = h.until_phase(Phase::Running).await;
    assert_eq!(phases(&seen)[..2], [Phase::Deploying, Phase::Syncing]);
    assert!(seen
        .iter()
        .any(|k| matches!(k, EventKind::Log { line, .. } if line.starts_with("redeploying: Dockerfile"))));
    let calls = h.rec.calls();
    let i = calls.iter().position(|c| c == "deploy fresh=true").expect("a fresh deploy");
    assert_eq!(calls[i - 1], "shutdown", "the old agent stops first: {calls:?}");
    assert!(calls[i + 2].starts_with("files ") && calls[i + 2].contains("app.py"), "a full sync: {calls:?}");
    assert_eq!(h.rec.live_agents.load(Ordering::SeqCst), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_crash_is_reported_then_a_fix_restarts_the_app() {
    let mut h = Harness::running().await;
    h.edit("app.py", "CRASH\n").await;
    let seen = h.until_phase(Phase::Crashed).await;
    let crashed = seen.iter().find_map(|k| match k {
        EventKind::Status { phase: Phase::Crashed, exit_code, last_lines, .. } => {
            Some((*exit_code, last_lines.clone()))
        }
        _ => None,
    });
    assert_eq!(crashed, Some((Some(3), Some(vec!["boom".to_string()]))));
    assert!(seen.iter().any(|k| matches!(k, EventKind::Error { message } if message.contains("exit code 3"))));
    // A static edit is enough to start a crashed app again, once the source is fixed.
    h.edit("app.py", "print('fixed')\n").await;
    let seen = h.until_phase(Phase::Running).await;
    assert!(phases(&seen).contains(&Phase::Restarting));
    assert_eq!(h.rec.count("restart"), 3);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_build_waits_for_a_fix() {
    let mut h = Harness::running().await;
    h.edit("app.py", "BUILD-FAIL\n").await;
    let seen = h.until_phase(Phase::Failed).await;
    let progress: Vec<(String, bool)> = seen
        .iter()
        .filter_map(|k| match k {
            EventKind::Progress { title, message, done, .. } if title.ends_with(": build") => {
                Some((message.clone(), *done))
            }
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![("make".to_string(), false), ("failed".to_string(), true)]);
    // A fix: the app builds and starts.
    h.edit("app.py", "print('fixed')\n").await;
    h.until_phase(Phase::Running).await;
    assert_eq!(h.rec.count("restart"), 3);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_newer_change_during_a_deploy_cancels_it_and_later_edits_are_synced_after() {
    // The first deploy is quick, the first redeploy "builds" for 30 s, the second for 1 s.
    let mut h = Harness::start(&[0, 30, 1]).await;
    h.until_phase(Phase::Running).await;
    h.edit("Dockerfile", "FROM scratch\nENV A=1\n").await;
    h.until("building", |k| matches!(k, EventKind::Status { detail, .. } if detail == "building")).await;
    assert_eq!(h.rec.live_deploys.load(Ordering::SeqCst), 1);
    let t = Instant::now();
    h.edit("Dockerfile", "FROM scratch\nENV A=2\n").await;
    // A source edit while the newer deploy builds.
    h.edit("static/style.css", "body{color:blue}\n").await;
    let seen = h.until_phase(Phase::Running).await;
    assert!(t.elapsed() < Duration::from_secs(5), "the 30 s build was not waited for: {:?}", t.elapsed());
    assert_eq!(h.rec.count("deploy fresh=true"), 2);
    assert_eq!(h.rec.count("deployed"), 2, "{:?}", h.rec.calls());
    assert_eq!(h.rec.live_deploys.load(Ordering::SeqCst), 0);
    assert_eq!(h.rec.live_agents.load(Ordering::SeqCst), 1);
    // The edit made during the deploy reached the container.
    if h.rec.files.lock().unwrap()["static/style.css"] != b"body{color:blue}\n" {
        h.until("late sync", |k| matches!(k, EventKind::Synced { class: Class::StaticSync, .. })).await;
    }
    assert_eq!(h.rec.files.lock().unwrap()["static/style.css"], b"body{color:blue}\n", "{seen:?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn down_during_a_build_returns_at_once_and_leaves_nothing_running() {
    let mut h = Harness::start(&[600]).await;
    h.until("building", |k| matches!(k, EventKind::Status { detail, .. } if detail == "building")).await;
    assert_eq!(h.rec.live_deploys.load(Ordering::SeqCst), 1);
    let t = Instant::now();
    let mut rx = h.handle.events.subscribe();
    let rec = h.stop().await;
    assert!(t.elapsed() < Duration::from_secs(2), "down took {:?}", t.elapsed());
    assert_eq!(rec.live_deploys.load(Ordering::SeqCst), 0, "the build was dropped");
    assert_eq!(rec.live_agents.load(Ordering::SeqCst), 0);
    assert_eq!(rec.calls(), ["deploy fresh=false", "teardown"]);
    let mut last = None;
    while let Ok(ev) = rx.try_recv() {
        last = Some(ev.kind);
    }
    assert!(matches!(last, Some(EventKind::Status { phase: Phase::Stopped, .. })), "{last:?}");
}

#[tokio::test(start_paused = true)]
async fn a_restart_request_during_a_restart_waits_for_it() {
    let mut h = Harness::running().await;
    for _ in 0..5 {
        h.handle.restart().await;
    }
    h.until_phase(Phase::Running).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The first start, one restart running, one waiting: the other three were folded into it.
    assert_eq!(h.rec.count("restart"), 3, "{:?}", h.rec.calls());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_renamed_folder_leaves_nothing_stale_in_the_container() {
    let mut h = Harness::running().await;
    for f in ["a.css", "b.css"] {
        write(h.dir.path(), &format!("static/dA/{f}"), f);
    }
    h.handle.changed(["static/dA/a.css".to_string(), "static/dA/b.css".to_string()]).await;
    h.until("synced dA", |k| matches!(k, EventKind::Synced { .. })).await;
    std::fs::rename(h.dir.path().join("static/dA"), h.dir.path().join("static/dB")).unwrap();
    // What inotify says of a folder rename: the old folder's name, and a rescan for the new one.
    h.handle.changed(["static/dA".to_string()]).await;
    h.until(
        "synced the rename",
        |k| matches!(k, EventKind::Synced { files, .. } if files.iter().any(|f| f.starts_with("static/dA"))),
    )
    .await;
    h.handle.rescan().await;
    h.until(
        "synced dB",
        |k| matches!(k, EventKind::Synced { files, .. } if files.iter().any(|f| f.starts_with("static/dB"))),
    )
    .await;
    let files: Vec<String> =
        h.rec.files.lock().unwrap().keys().filter(|k| k.starts_with("static/d")).cloned().collect();
    assert_eq!(files, ["static/dB/a.css", "static/dB/b.css"]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_file_that_cannot_be_read_is_kept_in_the_container_and_reported() {
    let mut h = Harness::running().await;
    // Too large to sync (a sparse file: nothing is written to disk).
    let big = std::fs::OpenOptions::new().write(true).open(h.dir.path().join("static/style.css")).unwrap();
    big.set_len(crate::sync::MAX_FILE_BYTES + 1).unwrap();
    h.handle.changed(["static/style.css".to_string()]).await;
    let seen = h
        .until(
            "a log line",
            |k| matches!(k, EventKind::Log { line, .. } if line.starts_with("cannot read static/style.css")),
        )
        .await;
    assert!(synced(&seen).is_empty(), "nothing was sent or deleted: {seen:?}");
    assert_eq!(h.rec.files.lock().unwrap()["static/style.css"], b"body{}\n", "the container keeps its copy");
    assert!(!h.rec.calls().iter().any(|c| c.starts_with("delete")));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_clients_environment_feeds_the_configuration_its_reloads_the_record_and_the_synclog() {
    // A variable this process does not have: only the client's environment can set it.
    let name = "DEVSPACES_SESSION_TEST_WORD";
    assert!(std::env::var_os(name).is_none());
    let tmp = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [(name, "from-the-client"), ("TMPDIR", &tmp.path().display().to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let azds = AZDS.replace("command: [python3, app.py]", &format!("command: [python3, app.py, \"${{{name}}}\"]"));
    let mut h = Harness::start_in(&[], &azds, Some(Arc::new(env))).await;
    h.until_phase(Phase::Running).await;
    h.handle.redeploy().await;
    let want = vec!["python3".to_string(), "app.py".into(), "from-the-client".into()];
    assert_eq!(*h.rec.commands.lock().unwrap(), vec![want.clone(), want], "the first load and the reload");
    let hashes = h.handle.env.lock().unwrap().clone();
    let hash = record::value_hash(&h.handle.id, name, "from-the-client");
    assert_eq!(hashes, [(name.to_string(), Some(hash))].into_iter().collect());
    let home = h._state.path().to_path_buf();
    assert_eq!(record::read(&home).unwrap().env, hashes, "session.json keeps the hashes");
    assert!(!std::fs::read_to_string(record::record_path(&home)).unwrap().contains("from-the-client"));
    let log = crate::sync::synclog::path_in(tmp.path(), h.dir.path());
    h.handle.stop().await;
    assert!(log.is_file(), "the synclog is in the client's TMPDIR");
    assert!(!crate::sync::synclog::path_for(h.dir.path()).exists(), "and not in this process's");
}

/// The debug plan's command as the fake agent records a restart with it.
fn debug_restart(port: u16) -> String {
    format!("restart debug={port} run=python3 -Xfrozen_modules=off -m debugpy --listen 127.0.0.1:{port} app.py")
}

fn debug_ready(events: &[EventKind]) -> Option<(u16, u16, u32, String, String)> {
    events.iter().find_map(|k| match k {
        EventKind::DebugReady { host, port, remote_port, adapter, local_root, remote_root, restarts } => {
            assert_eq!((host.as_str(), *adapter), ("127.0.0.1", crate::config::DebugAdapter::Python));
            Some((*port, *remote_port, *restarts, local_root.clone(), remote_root.clone()))
        }
        _ => None,
    })
}

#[tokio::test(start_paused = true)]
async fn debugging_restarts_under_the_debugger_and_says_where_to_attach_each_time() {
    let mut h = Harness::debugging().await;
    let seen = h.until("debugReady", |k| matches!(k, EventKind::DebugReady { .. })).await;
    let (local, remote, restarts, local_root, remote_root) = debug_ready(&seen).unwrap();
    assert_eq!(restarts, 0);
    assert_eq!(h.rec.calls().iter().rfind(|c| c.starts_with("restart")), Some(&debug_restart(remote)));
    assert_eq!(local_root, std::fs::canonicalize(h.dir.path()).unwrap().display().to_string());
    assert_eq!(remote_root, "/app", "the agent's root, as it said");
    assert_ne!(local, remote, "a forward of its own, on this machine");
    // The debug server's port is the debugger's, not one the app serves.
    assert!(!seen.iter().any(|k| matches!(k, EventKind::PortForward { remote_port, .. } if *remote_port == remote)));

    // A static edit keeps the debug session: nothing restarts.
    h.edit("static/style.css", "body{color:red}\n").await;
    h.until("synced", |k| matches!(k, EventKind::Synced { .. })).await;
    assert_eq!(h.rec.count("restart"), 1);

    // A source edit restarts under the debugger, on the same ports, and says so again.
    h.edit("app.py", "print('v2')\n").await;
    let seen = h.until("debugReady", |k| matches!(k, EventKind::DebugReady { .. })).await;
    assert_eq!(debug_ready(&seen).map(|d| (d.0, d.1, d.2)), Some((local, remote, 1)));
    assert_eq!(h.rec.calls().last(), Some(&debug_restart(remote)));

    // A redeploy too.
    h.edit("Dockerfile", "FROM scratch\nENV A=1\n").await;
    let seen = h.until("debugReady", |k| matches!(k, EventKind::DebugReady { .. })).await;
    assert_eq!(debug_ready(&seen).map(|d| (d.0, d.1, d.2)), Some((local, remote, 2)));

    // Switched off: the app restarts as the configuration says, with no debug port.
    h.handle.debug(false).await.unwrap();
    h.until_phase(Phase::Running).await;
    assert_eq!(h.rec.calls().last().map(String::as_str), Some("restart"));
    // And on again.
    h.handle.debug(true).await.unwrap();
    let seen = h.until("debugReady", |k| matches!(k, EventKind::DebugReady { .. })).await;
    assert_eq!(debug_ready(&seen).map(|d| (d.1, d.2)), Some((remote, 3)));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn debugging_a_command_without_a_known_debugger_is_refused_with_the_key_to_add() {
    let azds = AZDS.replace("command: [python3, app.py]", "command: [./start.sh]");
    let mut h = Harness::start_in(&[], &azds, None).await;
    h.until_phase(Phase::Running).await;
    let e = h.handle.debug(true).await.unwrap_err();
    assert!(e.contains("add configurations.develop.container.debug"), "{e}");
    // Nothing changed: the next restart runs without a debugger.
    h.edit("app.py", "print('v2')\n").await;
    h.until_phase(Phase::Running).await;
    assert!(!h.rec.calls().iter().any(|c| c.contains("debug=")));
    h.stop().await;
}

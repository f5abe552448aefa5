//! Golden JSON for every editor wire type, checked both ways; `UPDATE_GOLDEN=1` rewrites the files.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use devspaces_protocol::editor::*;
use devspaces_protocol::trace_context::TraceLink;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

const SERVICE: &str = "webfrontend";
const SESSION: &str = "7f3a9c2e";
const PATH: &str = "/home/ana/src/samples/nodejs/webfrontend";
const TIME: &str = "2026-11-03T10:15:30.123Z";

/// Every wire type and the golden file that holds it (inner types: a file that contains them).
const COVERAGE: &[(&str, &str)] = &[
    ("Backend", "backend.json"),
    ("ChangeClass", "change-class.json"),
    ("SessionTarget", "down.params.json"),
    ("PortForwardInfo", "status.result.json"),
    ("SessionInfo", "status.result.json"),
    ("UpParams", "up.params.json"),
    ("UpResult", "up.result.json"),
    ("UpManyResult", "up-many.result.json"),
    ("UpOutcome", "up-many.result.json"),
    ("UpFailure", "up-many.result.json"),
    ("DownParams", "down.params.json"),
    ("DownOutcome", "down-outcome.json"),
    ("DownResult", "down.result.json"),
    ("RestartKind", "restart-kind.json"),
    ("RestartParams", "restart.params.json"),
    ("RestartResult", "restart.result.json"),
    ("StatusParams", "status.params.json"),
    ("DaemonInfo", "status.result.json"),
    ("StatusResult", "status.result.json"),
    ("ListUrisParams", "list-uris.params.json"),
    ("UriKind", "uri-kind.json"),
    ("ServiceUri", "list-uris.result.json"),
    ("ListUrisResult", "list-uris.result.json"),
    ("ClassifyParams", "classify.params.json"),
    ("Classification", "classify.result.json"),
    ("ClassifyResult", "classify.result.json"),
    ("WatchParams", "watch.params.json"),
    ("WatchResult", "watch.result.json"),
    ("UnwatchParams", "unwatch.params.json"),
    ("UnwatchResult", "unwatch.result.json"),
    ("LogStream", "log-stream.json"),
    ("LogParams", "log.params.json"),
    ("TraceParams", "trace.params.json"),
    ("Routed", "trace.routed.params.json"),
    ("TraceLink", "trace.routed.params.json"),
    ("PortState", "port-state.json"),
    ("PortForwardParams", "port-forward.params.json"),
    ("Phase", "phase.json"),
    ("ServiceStatusParams", "service-status.params.json"),
    ("SyncedParams", "synced.params.json"),
    ("LogsDroppedParams", "logs-dropped.params.json"),
    ("Event", "events.json"),
    ("MessageType", "message-type.json"),
    ("ShowMessageParams", "show-message.params.json"),
    ("ConfigLocation", "error.data.json"),
    ("ErrorData", "error.data.json"),
    ("InitializeExperimental", "initialize.experimental.json"),
    ("DevspacesServerInfo", "initialize.experimental.json"),
    ("ProgressKind", "progress-kind.json"),
    ("DebugAdapter", "debug-adapter.json"),
    ("PathMapping", "debug-ready.params.json"),
    ("DebugReadyParams", "debug-ready.params.json"),
    ("DebugParams", "debug.params.json"),
    ("DebugResult", "debug.result.json"),
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Checks `value` against `file` both ways: constructed -> JSON, and JSON -> value -> JSON.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(file: &str, value: &T) -> Result<(), String> {
    let path = golden_dir().join(file);
    let constructed = serde_json::to_value(value).map_err(|e| format!("{file}: serialize: {e}"))?;
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&constructed).map_err(|e| e.to_string())? + "\n";
        std::fs::write(&path, text).map_err(|e| format!("{file}: write: {e}"))?;
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{file}: {e} (run with UPDATE_GOLDEN=1 to create it, then review it)"))?;
    let golden: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: invalid json: {e}"))?;
    if constructed != golden {
        return Err(format!(
            "{file}: the constructed value serializes to\n{constructed:#}\nnot the golden\n{golden:#}"
        ));
    }
    let parsed: T = serde_json::from_value(golden.clone()).map_err(|e| format!("{file}: does not parse: {e}"))?;
    if parsed != *value {
        return Err(format!("{file}: parses to {parsed:?}, not {value:?}"));
    }
    let again = serde_json::to_value(&parsed).map_err(|e| format!("{file}: serialize: {e}"))?;
    if again != golden {
        return Err(format!("{file}: does not round-trip: {again:#}"));
    }
    Ok(())
}

/// All variants of a unit enum; the match fails to compile when a variant is added.
macro_rules! variants {
    ($ty:ident: $($v:ident),+) => {{
        fn _exhaustive(x: $ty) { match x { $($ty::$v)|+ => {} } }
        vec![$($ty::$v),+]
    }};
}

fn phases() -> Vec<Phase> {
    variants!(Phase: Syncing, Building, Deploying, Starting, Running, Restarting, Crashed, Failed, Stopped)
}

fn port(state: PortState) -> PortForwardInfo {
    PortForwardInfo { local_port: 3000, remote_port: 80, url: "http://localhost:3000".into(), state }
}

fn session_info() -> SessionInfo {
    SessionInfo {
        session: SESSION.into(),
        service: SERVICE.into(),
        path: PATH.into(),
        space: "dev/ana".into(),
        backend: Backend::Local,
        target: "local".into(),
        phase: Phase::Running,
        detail: "pid 4242".into(),
        tag: format!("{SESSION}-3"),
        port_forwards: vec![port(PortState::Open)],
        watchers: 2,
        started_at: TIME.into(),
    }
}

fn by_session() -> SessionTarget {
    SessionTarget { session: Some(SESSION.into()), ..SessionTarget::default() }
}

fn by_path() -> SessionTarget {
    SessionTarget {
        path: Some(PATH.into()),
        space: Some("dev".into()),
        backend: Some(Backend::Kubernetes),
        session: None,
    }
}

fn log(line: &str) -> LogParams {
    LogParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        stream: LogStream::Stdout,
        line: line.into(),
        time: TIME.into(),
    }
}

fn trace() -> TraceParams {
    TraceParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        method: "GET".into(),
        path: "/api/greeting?name=ana".into(),
        status: 200,
        duration_ms: 4,
        bytes: 27,
        time: TIME.into(),
        routed: None,
        link: Some(TraceLink {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_id: None,
        }),
    }
}

fn port_forward() -> PortForwardParams {
    PortForwardParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        local_port: 3000,
        remote_port: 80,
        url: "http://localhost:3000".into(),
        state: PortState::Open,
    }
}

fn crashed() -> ServiceStatusParams {
    ServiceStatusParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        phase: Phase::Crashed,
        detail: "node server.js exited".into(),
        exit_code: Some(1),
        last_lines: Some(vec!["TypeError: x is not a function".into(), "    at server.js:12:5".into()]),
    }
}

fn running() -> ServiceStatusParams {
    ServiceStatusParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        phase: Phase::Running,
        detail: "pid 4242".into(),
        exit_code: None,
        last_lines: None,
    }
}

fn synced() -> SyncedParams {
    SyncedParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        class: ChangeClass::StaticSync,
        files: vec!["public/index.html".into(), "public/site.css".into()],
        duration_ms: 12,
    }
}

fn dropped() -> LogsDroppedParams {
    LogsDroppedParams { service: SERVICE.into(), session: SESSION.into(), count: 1832 }
}

fn debug_ready() -> DebugReadyParams {
    DebugReadyParams {
        service: SERVICE.into(),
        session: SESSION.into(),
        host: "127.0.0.1".into(),
        port: 5678,
        remote_port: 41873,
        adapter: DebugAdapter::Python,
        path_mappings: vec![PathMapping {
            local_root: PATH.into(),
            remote_root: "/home/ana/.local/state/devspaces/spaces/default/webfrontend/fs/app".into(),
        }],
        restarts: 2,
    }
}

fn show_message() -> ShowMessageParams {
    ShowMessageParams {
        kind: MessageType::Error,
        message: "webfrontend: build failed: npm install exited with code 1".into(),
    }
}

fn daemon() -> DaemonInfo {
    DaemonInfo {
        pid: 31337,
        version: "0.1.0".into(),
        protocol_version: PROTOCOL_VERSION,
        clients: 2,
        started_at: TIME.into(),
    }
}

/// Every golden file and its check.
fn goldens() -> Vec<(&'static str, Result<(), String>)> {
    vec![
        ("backend.json", check("backend.json", &variants!(Backend: Local, Kubernetes, Container))),
        (
            "change-class.json",
            check("change-class.json", &variants!(ChangeClass: StaticSync, ProcessRestart, Redeploy, Ignored)),
        ),
        ("down-outcome.json", check("down-outcome.json", &variants!(DownOutcome: Stopped, Detached))),
        ("restart-kind.json", check("restart-kind.json", &variants!(RestartKind: Process, Redeploy))),
        ("uri-kind.json", check("uri-kind.json", &variants!(UriKind: Localhost, Public))),
        ("log-stream.json", check("log-stream.json", &variants!(LogStream: Stdout, Stderr, Build, System))),
        ("port-state.json", check("port-state.json", &variants!(PortState: Open, Reconnecting, Closed))),
        ("phase.json", check("phase.json", &phases())),
        ("message-type.json", check("message-type.json", &variants!(MessageType: Error, Warning, Info, Log))),
        ("progress-kind.json", check("progress-kind.json", &variants!(ProgressKind: Sync, Build, Deploy))),
        ("debug-adapter.json", check("debug-adapter.json", &variants!(DebugAdapter: Python, Node, Go, Dotnet, Java))),
        ("debug-ready.params.json", check("debug-ready.params.json", &debug_ready())),
        ("debug.params.json", check("debug.params.json", &DebugParams { target: by_session(), enable: true })),
        (
            "debug.result.json",
            check("debug.result.json", &DebugResult { session: SESSION.into(), service: SERVICE.into(), debug: true }),
        ),
        (
            "up.params.json",
            check(
                "up.params.json",
                &UpParams {
                    path: PATH.into(),
                    space: Some("dev/ana".into()),
                    backend: Some(Backend::Local),
                    attach: true,
                    env: Some(
                        [
                            ("HOME", "/home/ana"),
                            ("PATH", "/home/ana/.local/bin:/usr/bin:/bin"),
                            ("PYTHON_IMAGE", "python:3.12"),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ),
                    local_port: Some(41234),
                    paths: vec![],
                    debug: false,
                },
            ),
        ),
        ("up.result.json", check("up.result.json", &UpResult { session: session_info(), attached: false })),
        (
            "up-many.result.json",
            check(
                "up-many.result.json",
                &UpManyResult {
                    services: vec![
                        UpOutcome {
                            path: "/home/ana/src/app/api".into(),
                            name: "api".into(),
                            port: 41234,
                            session: None,
                            attached: false,
                            error: Some(UpFailure {
                                code: -32902,
                                message: "api: azds.yaml:3:7: unknown key 'instal' (did you mean 'install'?)".into(),
                            }),
                        },
                        UpOutcome {
                            path: PATH.into(),
                            name: SERVICE.into(),
                            port: 3000,
                            session: Some(session_info()),
                            attached: false,
                            error: None,
                        },
                    ],
                },
            ),
        ),
        ("down.params.json", check("down.params.json", &DownParams { target: by_path(), keep_if_watched: true })),
        (
            "down.result.json",
            check(
                "down.result.json",
                &DownResult { session: SESSION.into(), service: SERVICE.into(), outcome: DownOutcome::Detached },
            ),
        ),
        (
            "restart.params.json",
            check("restart.params.json", &RestartParams { target: by_session(), kind: RestartKind::Redeploy }),
        ),
        (
            "restart.result.json",
            check(
                "restart.result.json",
                &RestartResult {
                    session: SESSION.into(),
                    service: SERVICE.into(),
                    kind: RestartKind::Redeploy,
                    phase: Phase::Building,
                },
            ),
        ),
        ("status.params.json", check("status.params.json", &StatusParams {})),
        (
            "status.result.json",
            check("status.result.json", &StatusResult { daemon: daemon(), sessions: vec![session_info()] }),
        ),
        (
            "status.result.empty.json",
            check("status.result.empty.json", &StatusResult { daemon: daemon(), sessions: vec![] }),
        ),
        ("list-uris.params.json", check("list-uris.params.json", &ListUrisParams { target: by_session() })),
        (
            "list-uris.result.json",
            check(
                "list-uris.result.json",
                &ListUrisResult {
                    uris: vec![
                        ServiceUri {
                            service: SERVICE.into(),
                            session: SESSION.into(),
                            url: "http://localhost:3000".into(),
                            kind: UriKind::Localhost,
                            remote_port: 80,
                            state: PortState::Open,
                        },
                        ServiceUri {
                            service: SERVICE.into(),
                            session: SESSION.into(),
                            url: "http://ana.s.dev.webfrontend.1a2b3c4d.eus.azds.io".into(),
                            kind: UriKind::Public,
                            remote_port: 80,
                            state: PortState::Open,
                        },
                    ],
                },
            ),
        ),
        (
            "classify.params.json",
            check(
                "classify.params.json",
                &ClassifyParams {
                    path: PATH.into(),
                    paths: vec![
                        "Pages/Index.cshtml".into(),
                        "server.js".into(),
                        "azds.yaml".into(),
                        ".git/HEAD".into(),
                    ],
                },
            ),
        ),
        (
            "classify.result.json",
            check(
                "classify.result.json",
                &ClassifyResult {
                    service: SERVICE.into(),
                    batch: ChangeClass::Redeploy,
                    results: vec![
                        Classification {
                            path: "Pages/Index.cshtml".into(),
                            class: ChangeClass::StaticSync,
                            rule: "3: sync **/Pages/**, static".into(),
                        },
                        Classification {
                            path: "server.js".into(),
                            class: ChangeClass::ProcessRestart,
                            rule: "3: sync **/*.js".into(),
                        },
                        Classification {
                            path: "azds.yaml".into(),
                            class: ChangeClass::Redeploy,
                            rule: "1: azds.yaml".into(),
                        },
                        Classification {
                            path: ".git/HEAD".into(),
                            class: ChangeClass::Ignored,
                            rule: "2: .git/".into(),
                        },
                    ],
                },
            ),
        ),
        ("watch.params.json", check("watch.params.json", &WatchParams { target: by_session(), replay_lines: 100 })),
        ("watch.result.json", check("watch.result.json", &WatchResult { sessions: vec![session_info()] })),
        ("unwatch.params.json", check("unwatch.params.json", &UnwatchParams { target: by_session() })),
        ("unwatch.result.json", check("unwatch.result.json", &UnwatchResult { sessions: vec![SESSION.into()] })),
        ("log.params.json", check("log.params.json", &log("Listening on port 80"))),
        ("trace.params.json", check("trace.params.json", &trace())),
        (
            "trace.routed.params.json",
            check(
                "trace.routed.params.json",
                &TraceParams {
                    service: "data".into(),
                    path: "/items".into(),
                    duration_ms: 1,
                    routed: Some(Routed {
                        served_by: "dev/alice".into(),
                        source: "api".into(),
                        route_as: Some("alice".into()),
                    }),
                    link: Some(TraceLink {
                        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                        span_id: "b7ad6b7169203331".into(),
                        parent_id: Some("53995c3f42cd8ad8".into()),
                    }),
                    ..trace()
                },
            ),
        ),
        ("port-forward.params.json", check("port-forward.params.json", &port_forward())),
        ("service-status.params.json", check("service-status.params.json", &crashed())),
        ("service-status.running.params.json", check("service-status.running.params.json", &running())),
        ("synced.params.json", check("synced.params.json", &synced())),
        ("logs-dropped.params.json", check("logs-dropped.params.json", &dropped())),
        ("show-message.params.json", check("show-message.params.json", &show_message())),
        ("events.json", check("events.json", &all_events())),
        (
            "initialize.experimental.json",
            check(
                "initialize.experimental.json",
                &InitializeExperimental {
                    devspaces: DevspacesServerInfo {
                        protocol_version: PROTOCOL_VERSION,
                        version: "0.1.0".into(),
                        backends: vec![Backend::Local, Backend::Kubernetes],
                        requests: REQUESTS.iter().map(|s| s.to_string()).collect(),
                        notifications: NOTIFICATIONS.iter().map(|s| s.to_string()).collect(),
                        max_message_bytes: 16 * 1024 * 1024,
                    },
                },
            ),
        ),
        (
            "error.data.json",
            check(
                "error.data.json",
                &ErrorData {
                    session: None,
                    path: Some(PATH.into()),
                    location: Some(ConfigLocation { file: format!("{PATH}/azds.yaml"), line: 12, column: 7 }),
                    candidates: vec![],
                    hint: Some("did you mean 'command'?".into()),
                },
            ),
        ),
    ]
}

/// One event of each kind; the match fails to compile when a variant is added.
fn all_events() -> Vec<Event> {
    fn _exhaustive(e: &Event) {
        match e {
            Event::Log(_)
            | Event::Trace(_)
            | Event::PortForward(_)
            | Event::ServiceStatus(_)
            | Event::Synced(_)
            | Event::LogsDropped(_)
            | Event::DebugReady(_)
            | Event::ShowMessage(_) => {}
        }
    }
    vec![
        Event::Log(log("GET /api/greeting 200")),
        Event::Trace(trace()),
        Event::PortForward(port_forward()),
        Event::ServiceStatus(running()),
        Event::Synced(synced()),
        Event::LogsDropped(dropped()),
        Event::DebugReady(debug_ready()),
        Event::ShowMessage(show_message()),
    ]
}

#[test]
fn every_golden_file_matches_both_ways() {
    let failures: Vec<String> = goldens().into_iter().filter_map(|(_, r)| r.err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_phase_as_str_is_its_wire_name() {
    for p in phases() {
        assert_eq!(serde_json::to_value(p).expect("serializes"), json!(p.as_str()), "{p:?}");
    }
}

#[test]
fn golden_directory_holds_exactly_the_checked_files() {
    let checked: BTreeSet<String> = goldens().into_iter().map(|(f, _)| f.to_string()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    let missing: Vec<_> = checked.difference(&on_disk).collect();
    let unchecked: Vec<_> = on_disk.difference(&checked).collect();
    assert!(missing.is_empty(), "golden files missing (run with UPDATE_GOLDEN=1): {missing:?}");
    assert!(unchecked.is_empty(), "golden files no test checks (add them to goldens() or delete them): {unchecked:?}");
    for (ty, file) in COVERAGE {
        assert!(checked.contains(*file), "{ty} is covered by {file}, which goldens() does not check");
    }
}

/// Every `pub struct`/`pub enum` under protocol/src/editor* must be in COVERAGE.
#[test]
fn every_wire_type_has_a_golden_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("editor.rs")];
    for entry in std::fs::read_dir(src.join("editor")).expect("src/editor exists") {
        files.push(entry.expect("dir entry").path());
    }
    let covered: BTreeSet<&str> = COVERAGE.iter().map(|(t, _)| *t).collect();
    let mut uncovered = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source readable");
        for line in text.lines() {
            let line = line.trim_start();
            let rest = line.strip_prefix("pub struct ").or_else(|| line.strip_prefix("pub enum "));
            if let Some(rest) = rest {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !covered.contains(name.as_str()) {
                    uncovered.push(format!("{name} ({})", file.display()));
                }
            }
        }
    }
    assert!(uncovered.is_empty(), "wire types without a golden file (add one and a COVERAGE entry): {uncovered:?}");
}

#[test]
fn omitted_fields_take_their_defaults() {
    let up: UpParams = serde_json::from_value(json!({"path": PATH})).expect("minimal up");
    assert_eq!(
        up,
        UpParams {
            path: PATH.into(),
            paths: vec![],
            space: None,
            backend: None,
            attach: true,
            env: None,
            local_port: None,
            debug: false,
        }
    );
    let debug: UpParams = serde_json::from_value(json!({"path": PATH, "debug": true})).expect("up --debug");
    assert!(debug.debug);
    let switch: DebugParams = serde_json::from_value(json!({"session": SESSION})).expect("minimal debug");
    assert_eq!(switch, DebugParams { target: by_session(), enable: true });
    let many: UpParams = serde_json::from_value(json!({"path": PATH, "paths": ["/a", "/b"]})).expect("several");
    assert_eq!(many.paths, vec!["/a".to_string(), "/b".to_string()]);
    let down: DownParams = serde_json::from_value(json!({"session": SESSION})).expect("minimal down");
    assert_eq!(down, DownParams { target: by_session(), keep_if_watched: false });
    let restart: RestartParams = serde_json::from_value(json!({"session": SESSION})).expect("minimal restart");
    assert_eq!(restart.kind, RestartKind::Process);
    let watch: WatchParams = serde_json::from_value(json!({})).expect("watch everything");
    assert_eq!(watch, WatchParams::default());
    let _: StatusParams = serde_json::from_value(json!({})).expect("status params");
    let _: ListUrisParams = serde_json::from_value(json!({})).expect("list-uris params");
}

#[test]
fn wrong_field_types_do_not_parse() {
    assert!(serde_json::from_value::<UpParams>(json!({"path": 5})).is_err());
    assert!(serde_json::from_value::<UpParams>(json!({"path": PATH, "backend": "docker"})).is_err());
    assert!(serde_json::from_value::<UpParams>(json!({"path": PATH, "env": {"PORT": 80}})).is_err());
    assert!(serde_json::from_value::<UpParams>(json!({"path": PATH, "env": ["A=1"]})).is_err());
    assert!(serde_json::from_value::<ClassifyParams>(json!({"path": PATH, "paths": "a.js"})).is_err());
    assert!(serde_json::from_value::<ShowMessageParams>(json!({"type": 9, "message": "x"})).is_err());
}

#[test]
fn a_json_rpc_notification_parses_as_an_event() {
    let wire = json!({"jsonrpc": "2.0", "method": LOG, "params": serde_json::to_value(log("hi")).expect("log")});
    assert_eq!(serde_json::from_value::<Event>(wire).expect("event"), Event::Log(log("hi")));
}

#[test]
fn event_methods_are_the_method_constants() {
    for event in all_events() {
        let value = serde_json::to_value(&event).expect("event");
        let method = value["method"].as_str().expect("method");
        assert!(NOTIFICATIONS.contains(&method) || method == SHOW_MESSAGE, "{method} is not a constant");
        assert!(value["params"].is_object());
    }
    assert_eq!(NOTIFICATIONS.len() + 1, all_events().len(), "one event per notification, plus showMessage");
}

#[test]
fn progress_tokens_name_session_kind_and_counter() {
    assert_eq!(ProgressKind::Sync.token(SESSION, 1), format!("devspaces/{SESSION}/sync/1"));
}

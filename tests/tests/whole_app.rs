//! A whole application with one `up`: three services (web -> api -> data), each its own folder
//! with the files `devspacesd prep` writes (azds.yaml, Dockerfiles, chart), calling each other
//! by service name only (`tests/src/apps.rs`). On the local backend:
//! the page shows data that went through all three, and one request's traces are linked; an edit
//! in the data service restarts only it; `down` of the folder stops all three and leaves no process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use devspaces_tests::apps::{
    assert_only_data_restarted, edit_data, linked_hop, sent_traceparent, span, write_three_services, SENT_TRACE,
};
use devspaces_tests::{alive, http_get, http_get_with, ok, Env, Messages, Up, WAIT};
use serde_json::Value;

/// The pid in the running status of each service, as they come.
fn running(up: &mut Up, services: &[&str]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    while out.len() < services.len() {
        let s = up.wait_phase("running");
        let pid = s["detail"].as_str().and_then(|d| d.strip_prefix("pid ")).unwrap().parse().unwrap();
        out.insert(s["service"].as_str().unwrap().to_string(), pid);
    }
    out
}

#[test]
fn three_services_one_up_reach_each_other_by_service_name() {
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    write_three_services(&env, root.path());
    let started = Instant::now();
    let mut cmd = env.command();
    cmd.arg("up").arg(root.path()).args(["--backend", "local", "--json"]);
    let mut up = Up::spawn(cmd);
    let pids = running(&mut up, &["web", "api", "data"]);
    assert_eq!(pids.keys().cloned().collect::<Vec<_>>(), vec!["api", "data", "web"]);
    let web = up.wait_method("devspaces/portForward", |p| p["service"] == "web" && p["state"] == "open");
    let port = web["localPort"].as_u64().unwrap() as u16;
    let page = loop {
        let (status, body) = http_get(port, "/");
        if status == 200 {
            break body;
        }
        assert!(started.elapsed() < WAIT, "the page never served: {status} {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("up to all three serving: {} ms", started.elapsed().as_millis());
    let v: Value = serde_json::from_str(&page).unwrap_or_else(|e| panic!("{e}: {page:?}"));
    assert_eq!(v["api"]["via"], "api", "{v}");
    assert_eq!(v["api"]["data"]["item"], "apple", "the data went through all three: {v}");
    assert_eq!(v["api"]["data"]["routeAs"], Value::Null, "no routing header was sent: {v}");
    // A routing header goes on at every hop (each app passes it on; the name proxy keeps it).
    let (status, body) = http_get_with(port, "/", &[("azds-route-as", "alice")]);
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status} {e}: {body:?}"));
    assert_eq!(v["api"]["data"]["routeAs"], "alice", "{v}");

    // One request through the three services is three linked traces: the caller's trace continues
    // through web's, api's and data's forwards (the name proxy sends the calls through them), one
    // trace id, each hop naming the one before it.
    let (status, body) = http_get_with(port, "/", &[("traceparent", &sent_traceparent())]);
    assert_eq!(status, 200, "{body}");
    let web_hop = linked_hop(&mut up, "web", SENT_TRACE.1);
    let api_hop = linked_hop(&mut up, "api", &span(&web_hop));
    linked_hop(&mut up, "data", &span(&api_hop));

    // The dependency graph, as the calls showed it.
    for (caller, callee) in [("web", "api"), ("api", "data")] {
        let line = format!("calls {callee} (");
        up.wait_method("devspaces/log", move |p| {
            p["service"] == caller && p["line"].as_str().is_some_and(|l| l.starts_with(&line))
        });
    }

    // An edit in the data service restarts it alone.
    edit_data(root.path(), "apple", "banana");
    let s = up.wait_method("devspaces/serviceStatus", |p| p["service"] == "data" && p["phase"] == "running");
    let data_pid: u32 = s["detail"].as_str().and_then(|d| d.strip_prefix("pid ")).unwrap().parse().unwrap();
    assert_ne!(data_pid, pids["data"]);
    // The new data app listens a moment after it is reported running.
    let deadline = Instant::now() + WAIT;
    let v: Value = loop {
        let (status, body) = http_get(port, "/");
        if status == 200 {
            break serde_json::from_str(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "the page never served after the edit: {status} {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(v["api"]["data"]["item"], "banana", "{v}");
    assert_eq!(v["pid"].as_u64().unwrap() as u32, pids["web"], "web was not restarted: {v}");
    assert_eq!(v["api"]["pid"].as_u64().unwrap() as u32, pids["api"], "api was not restarted: {v}");
    assert_only_data_restarted(&mut up);

    // `down` of the folder stops all three; `up` ends; no app is left.
    ok(env.command().arg("down").arg(root.path()));
    let deadline = Instant::now() + WAIT;
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not end after down:\n{}", up.dump());
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in [pids["web"], pids["api"], data_pid] {
        assert!(!alive(pid), "app pid {pid} outlived down");
    }
    let live = ok(env.command().args(["list-up", "--json"]));
    assert!(live.trim().is_empty(), "nothing is up: {live}");
}

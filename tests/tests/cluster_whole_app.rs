//! The whole application of tests/src/apps.rs (web -> api -> data, each calling the next by its
//! Service name only, `http://api/`, in the files `devspacesd prep` writes) with one `devspacesd
//! up <folder> --backend kubernetes` on the test cluster, in a space of its own: the page went
//! through all three (the cluster DNS resolves the names); an edit in data restarts it alone, in
//! its pod; `down <folder>` uninstalls the three releases; removing the space deletes its
//! namespace. Prints the time from `up` to all three serving.
//!
//! Run with `eval "$(tests/cluster/env)"`, the stand-in for Docker Hub's `python:3.12-slim` (which
//! prep's Dockerfiles start from) in the cluster's registry, its mirror of docker.io
//! (`tests/cluster/base-image library/python:3.12-slim python3 +python3-pip
//! PIP_BREAK_SYSTEM_PACKAGES=1`, as scripts/test-all.sh does), and `cargo test -p devspaces-tests
//! --features cluster --test cluster_whole_app`. Refuses any kubeconfig outside the cluster's
//! state folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use devspaces_tests::apps::{edit_data, write_three_services, THREE};
use devspaces_tests::cluster::{ds, in_new_space, kubectl, pods, registry_tags, running_pid, up_on_cluster, ROLLOUT};
use devspaces_tests::{http_get, ok, synced_with, Messages, Up};
use serde_json::Value;

/// A service's session and its app's pid, once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Running {
    session: String,
    pid: u32,
}

/// When a service's deploy reached each step, as its statuses arrived.
#[derive(Default)]
struct Steps {
    building: Option<Instant>,
    helm: Option<Instant>,
    running: Option<Instant>,
}

/// Takes every status until all three services run (each within a rollout's time); prints how
/// long each spent building and pushing its image, then installing and starting its pod.
fn all_running(up: &mut Up, started: Instant) -> BTreeMap<String, Running> {
    let mut running = BTreeMap::new();
    let mut steps: BTreeMap<String, Steps> = BTreeMap::new();
    while running.len() < THREE.len() {
        let s = up.wait_for_within("all three services running", ROLLOUT, |v| {
            v["method"] == "devspaces/serviceStatus" && v.get("id").is_none()
        })["params"]
            .clone();
        let (service, phase, detail) =
            (s["service"].as_str().unwrap().to_string(), s["phase"].as_str().unwrap(), s["detail"].as_str().unwrap());
        let at = Instant::now();
        let step = steps.entry(service.clone()).or_default();
        match phase {
            "deploying" if detail.starts_with("building ") => step.building = step.building.or(Some(at)),
            "deploying" if detail.starts_with("helm upgrade") => step.helm = step.helm.or(Some(at)),
            "running" => {
                step.running = step.running.or(Some(at));
                running.insert(
                    service,
                    Running { session: s["session"].as_str().unwrap().to_string(), pid: running_pid(&s) },
                );
            }
            "failed" | "crashed" => panic!("{service} {phase}: {s}\nevents:\n{}", up.dump()),
            _ => {}
        }
    }
    let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => format!("{} ms", b.saturating_duration_since(a).as_millis()),
        _ => "?".to_string(),
    };
    for (service, st) in &steps {
        eprintln!(
            "{service}: up to building {}, build and push {}, helm and pod to running {}",
            ms(Some(started), st.building),
            ms(st.building, st.helm),
            ms(st.helm, st.running)
        );
    }
    running
}

/// The page web serves through its forward once it answers 200 with JSON whose
/// `api.data.item` is `item` (bounded by a rollout's time).
fn page_with(port: u16, item: &str) -> Value {
    let deadline = Instant::now() + ROLLOUT;
    loop {
        let (status, body) = http_get(port, "/");
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
            if v["api"]["data"]["item"] == item {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "the page never showed {item:?} (last: {status} {body})");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_services_on_the_cluster_reach_each_other_by_service_name() {
    let (kc, space, _ns, env) = in_new_space("dsw");
    let slim = registry_tags("library/python");
    assert!(
        slim.iter().any(|t| t == "3.12-slim"),
        "the cluster's registry has no library/python:3.12-slim (tags: {slim:?}), the stand-in for Docker Hub's \
         image that prep's Dockerfiles start from: run `tests/cluster/base-image library/python:3.12-slim python3 \
         +python3-pip PIP_BREAK_SYSTEM_PACKAGES=1`"
    );
    let root = tempfile::tempdir().unwrap();
    write_three_services(&env, root.path());

    let started = Instant::now();
    let mut up = up_on_cluster(&env, &kc, root.path(), &space);
    let first = all_running(&mut up, started);
    let web = up.wait_method("devspaces/portForward", |p| p["service"] == "web" && p["state"] == "open");
    let port = web["localPort"].as_u64().unwrap() as u16;
    let v = page_with(port, "apple");
    eprintln!("up to all three serving: {} ms", started.elapsed().as_millis());
    assert_eq!(v["page"], "web", "{v}");
    assert_eq!(v["api"]["via"], "api", "{v}");
    // The pids in the page are the apps the statuses reported (each in its own pod).
    assert_eq!(v["pid"].as_u64().unwrap() as u32, first["web"].pid, "{v}");
    assert_eq!(v["api"]["pid"].as_u64().unwrap() as u32, first["api"].pid, "{v}");
    assert_eq!(v["api"]["data"]["pid"].as_u64().unwrap() as u32, first["data"].pid, "{v}");
    let pods_before: BTreeMap<&str, Vec<String>> =
        THREE.iter().map(|s| (*s, pods(&kc, &space, &first[*s].session))).collect();
    for (s, p) in &pods_before {
        assert_eq!(p.len(), 1, "one pod for {s}: {p:?}");
    }
    // Each name is a Service of the space: port 80 to the container's 8080.
    for s in THREE {
        let svc: Value =
            serde_json::from_str(&ok(kubectl(&kc).args(["get", "service", s, "-n", &space, "-o", "json"]))).unwrap();
        assert_eq!(svc["spec"]["ports"][0]["port"], 80, "{svc}");
    }

    // An edit in data: synced and restarted in its pod; web and api go on as they were.
    // The deploy's sync found data's files in the image just built from them: none sent again.
    let deployed = up.wait_method("devspaces/synced", |p| p["service"] == "data" && p["class"] == "redeploy");
    assert_eq!(deployed["files"], serde_json::json!([]), "{deployed}");
    let line = up.wait_method("devspaces/log", |p| {
        p["service"] == "data" && p["line"].as_str().is_some_and(|l| l.starts_with("Synchronizing files"))
    });
    let line = line["line"].as_str().unwrap_or_default();
    assert!(line.contains("full: 0 sent") && line.contains("already in the container"), "{line}");
    let mark = up.seen.len();
    edit_data(root.path(), "apple", "banana");
    let synced = up.wait_method("devspaces/synced", |p| p["service"] == "data" && synced_with(p, "app.py"));
    assert_eq!(synced["class"], "process-restart", "{synced}");
    let old = first["data"].pid;
    let s = up.wait_for_within("data restarted", ROLLOUT, |v| {
        v["method"] == "devspaces/serviceStatus"
            && v["params"]["service"] == "data"
            && v["params"]["phase"] == "running"
            && running_pid(&v["params"]) != old
    })["params"]
        .clone();
    let data_pid = running_pid(&s);
    let v = page_with(port, "banana");
    assert_eq!(v["pid"].as_u64().unwrap() as u32, first["web"].pid, "web was not restarted: {v}");
    assert_eq!(v["api"]["pid"].as_u64().unwrap() as u32, first["api"].pid, "api was not restarted: {v}");
    assert_eq!(v["api"]["data"]["pid"].as_u64().unwrap() as u32, data_pid, "{v}");
    for s in THREE {
        assert_eq!(pods(&kc, &space, &first[s].session), pods_before[s], "{s} keeps its pod");
    }
    let others: Vec<&Value> = up.seen[mark..]
        .iter()
        .filter(|e| {
            e["method"] == "devspaces/serviceStatus"
                && e["params"]["service"] != "data"
                && e["params"]["phase"] != "running"
        })
        .collect();
    assert!(others.is_empty(), "only data restarted: {others:?}");

    // `down` of the folder: the three releases, their pods and pushed images go; `up` ends.
    ok(ds(&env, &kc).arg("down").arg(root.path()));
    let deadline = Instant::now() + ROLLOUT;
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not end after down:\n{}", up.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    let releases = ok(Command::new("helm").env("KUBECONFIG", &kc).args(["list", "-n", &space, "-q"]));
    assert_eq!(releases.trim(), "", "releases removed");
    let deadline = Instant::now() + ROLLOUT;
    for s in THREE {
        while !pods(&kc, &space, &first[s].session).is_empty() {
            assert!(Instant::now() < deadline, "the pods of {s} outlived down");
            std::thread::sleep(Duration::from_millis(200));
        }
        let left: Vec<String> = registry_tags(s).into_iter().filter(|t| t.starts_with(&first[s].session)).collect();
        assert!(left.is_empty(), "{s}'s pushed images removed: {left:?}");
    }
    let live = ok(ds(&env, &kc).args(["list-up", "--json"]));
    assert!(live.trim().is_empty(), "nothing is up: {live}");

    // The space this test made: removed, its namespace deleted.
    ok(ds(&env, &kc).args(["space", "remove", &space]));
    let found = ok(kubectl(&kc).args(["get", "namespace", &space, "--ignore-not-found", "-o", "name"]));
    assert_eq!(found.trim(), "", "namespace {space} deleted");
}

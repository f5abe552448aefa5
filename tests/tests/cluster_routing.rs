//! Team spaces on the test cluster (issue 16): the three-service app of tests/src/apps.rs (web ->
//! api -> data, each passing the routing header on) runs whole in a parent space; alice runs a
//! changed data in her child space, bob a changed api (bound to a fixed port, whatever `PORT`
//! says) in his. A request through the parent's web with no header is the parent's all the way;
//! with `azds-route-as: alice` it reaches alice's data behind the parent's web and api; with
//! bob's, bob's api, which reaches the parent's data through the stand-in Service in his
//! namespace; alice's and bob's own localhost URLs add their header. The routing proxies' traces
//! show each call between services with its caller and the space that served it, and the traces of
//! one request are linked (one trace id, each hop naming the one before it); the parent's
//! pods are never redeployed; `space list` shows who runs what; `down` in alice restores the
//! stand-in for data and her requests fall back to the parent's. Prints the routing proxy's cost
//! per hop (tests/bench/route-hop.sh).
//!
//! Run with `eval "$(tests/cluster/env)"`, the stand-in for Docker Hub's `python:3.12-slim` in the
//! cluster's registry (`tests/cluster/base-image library/python:3.12-slim python3 +python3-pip
//! PIP_BREAK_SYSTEM_PACKAGES=1`, as scripts/test-all.sh does), and `cargo test -p devspaces-tests
//! --features cluster --test cluster_routing`. Refuses any kubeconfig outside the cluster's state
//! folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use devspaces_tests::apps::{
    app_on, linked_hop, sent_traceparent, span, use_base_image_in, write_three_services, SENT_TRACE, THREE,
};
use devspaces_tests::cluster::{ds, in_new_space, kubectl, pods, registry, registry_tags, up_on_cluster, ROLLOUT};
use devspaces_tests::{copy_dir, http_get_with, ok, repo_root, Env, Messages, Up};
use serde_json::Value;

/// Takes statuses until every one of `services` runs; returns each one's session.
fn running(up: &mut Up, services: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while out.len() < services.len() {
        let s = up.wait_for_within("the services running", ROLLOUT, |v| {
            v["method"] == "devspaces/serviceStatus" && v.get("id").is_none()
        })["params"]
            .clone();
        let service = s["service"].as_str().unwrap().to_string();
        match s["phase"].as_str().unwrap() {
            "running" => {
                out.insert(service, s["session"].as_str().unwrap().to_string());
            }
            "failed" | "crashed" => panic!("{service}: {s}\nevents:\n{}", up.dump()),
            _ => {}
        }
    }
    out
}

fn forward(up: &mut Up, service: &str) -> u16 {
    let f = up.wait_method("devspaces/portForward", |p| p["service"] == service && p["state"] == "open");
    f["localPort"].as_u64().unwrap() as u16
}

/// The page at `port` (with `headers`) once it is JSON for which `want` holds (bounded by a
/// rollout's time: a new Service takes a moment to resolve); prints how long that took.
fn page(what: &str, port: u16, headers: &[(&str, &str)], want: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    let deadline = started + ROLLOUT;
    loop {
        let (status, body) = http_get_with(port, "/", headers);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status == 200 && want(&v) {
            eprintln!("{what}: {} ms", started.elapsed().as_millis());
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: never came (last: {status} {body})");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every live pod of a namespace: its UID and its containers' restarts.
fn pod_state(kc: &Path, ns: &str) -> BTreeMap<String, (String, u64)> {
    let v: Value = serde_json::from_str(&ok(kubectl(kc).args(["get", "pods", "-n", ns, "-o", "json"]))).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let restarts = p["status"]["containerStatuses"]
                .as_array()
                .map(|c| c.iter().map(|s| s["restartCount"].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0);
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            (name, (p["metadata"]["uid"].as_str().unwrap().to_string(), restarts))
        })
        .collect()
}

fn service(kc: &Path, ns: &str, name: &str) -> Value {
    serde_json::from_str(&ok(kubectl(kc).args(["get", "service", name, "-n", ns, "-o", "json"]))).unwrap()
}

/// Whether `ns`'s Service `name` is the stand-in for `parent`'s.
fn is_stand_in(kc: &Path, ns: &str, name: &str, parent: &str) -> bool {
    let s = service(kc, ns, name);
    s["spec"]["type"] == "ExternalName"
        && s["spec"]["externalName"] == format!("{name}.{parent}.svc.cluster.local")
        && s["metadata"]["labels"]["devspaces.io/stand-in-for"] == parent
}

/// A routed trace of `service` for which `want` holds on its `routed` part.
fn routed_trace(up: &mut Up, service: &str, want: impl Fn(&Value) -> bool) -> Value {
    up.wait_for_within(&format!("a routed trace of {service}"), ROLLOUT, |v| {
        v["method"] == "devspaces/trace" && v["params"]["service"] == service && want(&v["params"]["routed"])
    })["params"]
        .clone()
}

fn replace(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// Asks `up`'s session to stop with `down` and waits until `up` has ended.
fn down(env: &Env, kc: &Path, path: &Path, up: &mut Up) {
    ok(ds(env, kc).arg("down").arg(path));
    let deadline = Instant::now() + ROLLOUT;
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not end after down:\n{}", up.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn requests_for_a_child_space_reach_its_services_and_the_parents_others() {
    let (kc, parent, mut namespaces, env) = in_new_space("dsr");
    let id = parent.trim_start_matches("dsr").to_string();
    let (alice, bob) = (format!("dra{id}"), format!("drb{id}"));
    namespaces.names.extend([alice.clone(), bob.clone()]);
    let slim = registry_tags("library/python");
    assert!(
        slim.iter().any(|t| t == "3.12-slim"),
        "the cluster's registry has no library/python:3.12-slim (tags: {slim:?}): run `tests/cluster/base-image \
         library/python:3.12-slim python3 +python3-pip PIP_BREAK_SYSTEM_PACKAGES=1`"
    );

    // The parent: the whole app, one `up` of the folder.
    let root = tempfile::tempdir().unwrap();
    write_three_services(&env, root.path());
    let started = Instant::now();
    let mut up = up_on_cluster(&env, &kc, root.path(), &parent);
    running(&mut up, &THREE);
    let web = forward(&mut up, "web");
    let v = page("parent: up to all three serving", web, &[], |v| v["api"]["data"]["item"] == "apple");
    eprintln!("(from the parent's up: {} ms)", started.elapsed().as_millis());
    assert_eq!(v["api"]["data"]["routeAs"], Value::Null, "{v}");
    let (web_pid, api_pid) = (v["pid"].clone(), v["api"]["pid"].clone());
    let parent_pods = pod_state(&kc, &parent);
    assert_eq!(parent_pods.len(), 3, "{parent_pods:?}");

    // alice changes data; bob changes api, which binds 8080 whatever PORT says (9999 in his chart).
    let (alice_env, bob_env) = (Env::new(), Env::new());
    let (alice_root, bob_root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice_data, bob_api) = (alice_root.path().join("data"), bob_root.path().join("api"));
    copy_dir(&root.path().join("data"), &alice_data);
    replace(&alice_data.join("app.py"), r#""item": "apple""#, r#""item": "alice-apple""#);
    copy_dir(&root.path().join("api"), &bob_api);
    let bob_reply = r#"return {"via": "bob-api", "pid": os.getpid(), "data": call("data")}"#;
    std::fs::write(bob_api.join("app.py"), app_on(bob_reply, "8080")).unwrap();
    replace(&bob_api.join("charts/api/templates/deployment.yaml"), r#"value: "8080""#, r#"value: "9999""#);
    let children = Instant::now();
    let mut up_alice = up_on_cluster(&alice_env, &kc, &alice_data, &format!("{parent}/{alice}"));
    let mut up_bob = up_on_cluster(&bob_env, &kc, &bob_api, &format!("{parent}/{bob}"));
    running(&mut up_alice, &["data"]);
    running(&mut up_bob, &["api"]);
    eprintln!("alice's and bob's ups to running: {} ms", children.elapsed().as_millis());
    let (alice_port, bob_port) = (forward(&mut up_alice, "data"), forward(&mut up_bob, "api"));

    // Each child's namespace: its own Service, and stand-ins for the parent's others.
    assert_eq!(service(&kc, &alice, "data")["spec"]["type"], "ClusterIP");
    assert!(is_stand_in(&kc, &alice, "api", &parent) && is_stand_in(&kc, &alice, "web", &parent));
    assert_eq!(service(&kc, &bob, "api")["spec"]["type"], "ClusterIP");
    assert!(is_stand_in(&kc, &bob, "data", &parent) && is_stand_in(&kc, &bob, "web", &parent));

    // Through the parent's web: no header, the parent's; alice's header, her data behind the
    // parent's web and api; bob's, his api (on its fixed port), then the parent's data.
    let v = page("no header", web, &[], |v| v["api"]["data"]["item"] == "apple" && v["api"]["via"] == "api");
    assert_eq!((v["pid"].clone(), v["api"]["pid"].clone()), (web_pid.clone(), api_pid.clone()), "{v}");
    let v = page("alice's data through the parent's web", web, &[("azds-route-as", &alice)], |v| {
        v["api"]["data"]["item"] == "alice-apple"
    });
    assert_eq!((v["pid"].clone(), v["api"]["pid"].clone()), (web_pid.clone(), api_pid.clone()), "{v}");
    assert_eq!((&v["api"]["via"], &v["api"]["data"]["routeAs"]), (&Value::from("api"), &Value::from(alice.as_str())));
    page("alice's by kubernetes-route-as", web, &[("kubernetes-route-as", &alice)], |v| {
        v["api"]["data"]["item"] == "alice-apple"
    });
    let v =
        page("bob's api through the parent's web", web, &[("azds-route-as", &bob)], |v| v["api"]["via"] == "bob-api");
    assert_eq!(v["pid"], web_pid, "{v}");
    assert_eq!(
        (&v["api"]["data"]["item"], &v["api"]["data"]["routeAs"]),
        (&Value::from("apple"), &Value::from(bob.as_str()))
    );

    // Their own localhost URLs add their header.
    let v = page("alice's URL", alice_port, &[], |v| v["item"] == "alice-apple");
    assert_eq!(v["routeAs"], alice.as_str(), "alice's forward added her header: {v}");
    let v = page("bob's URL", bob_port, &[], |v| v["via"] == "bob-api");
    assert_eq!((&v["data"]["item"], &v["data"]["routeAs"]), (&Value::from("apple"), &Value::from(bob.as_str())));

    // Traces of the calls between services, each with its caller and the space that served it.
    let (alice_space, bob_space) = (format!("{parent}/{alice}"), format!("{parent}/{bob}"));
    let t = routed_trace(&mut up, "data", |r| r["servedBy"] == alice_space.as_str());
    assert_eq!(
        (&t["routed"]["source"], &t["routed"]["routeAs"]),
        (&Value::from("api"), &Value::from(alice.as_str())),
        "{t}"
    );
    let t = routed_trace(&mut up, "api", |r| r["servedBy"] == bob_space.as_str());
    assert_eq!(t["routed"]["source"], "web", "{t}");
    let t = routed_trace(&mut up, "data", |r| r["routeAs"] == bob.as_str());
    assert_eq!(
        (&t["routed"]["servedBy"], &t["routed"]["source"]),
        (&Value::from(parent.as_str()), &Value::from(format!("api.{bob}"))),
        "{t}"
    );
    let t = routed_trace(&mut up, "api", |r| r["servedBy"] == parent.as_str() && r["routeAs"].is_null());
    assert_eq!(t["routed"]["source"], "web", "{t}");
    let t = routed_trace(&mut up_alice, "data", |r| r["servedBy"] == alice_space.as_str());
    assert_eq!(t["routed"]["source"], format!("data.{parent}"), "the parent's data passed it on: {t}");
    let t = routed_trace(&mut up_bob, "api", |r| r["servedBy"] == bob_space.as_str());
    assert_eq!(t["routed"]["source"], format!("api.{parent}"), "{t}");

    // One request is linked traces: the caller's trace continues through the parent's web (its
    // forward), api and data (their routing proxies, data's sending it to alice's) and alice's data
    // (her routing proxy): one trace id, each hop naming the one before it.
    let tp = sent_traceparent();
    let v = page("a traced request for alice", web, &[("azds-route-as", &alice), ("traceparent", &tp)], |v| {
        v["api"]["data"]["item"] == "alice-apple"
    });
    assert_eq!(v["pid"], web_pid, "{v}");
    let web_hop = linked_hop(&mut up, "web", SENT_TRACE.1);
    let api_hop = linked_hop(&mut up, "api", &span(&web_hop));
    let data_hop = linked_hop(&mut up, "data", &span(&api_hop));
    assert_eq!(data_hop["routed"]["servedBy"], alice_space.as_str(), "{data_hop}");
    let alice_hop = linked_hop(&mut up_alice, "data", &span(&data_hop));
    assert_eq!(alice_hop["routed"]["source"], format!("data.{parent}"), "{alice_hop}");

    // Who runs what in which child.
    let list = ok(ds(&env, &kc).args(["space", "list"]));
    for (space, runs) in [
        (&parent, "runs api, data, web".to_string()),
        (&alice_space, format!("runs data; api, web from {parent}")),
        (&bob_space, format!("runs api; data, web from {parent}")),
    ] {
        let line = list.lines().find(|l| l.get(2..).is_some_and(|l| l.starts_with(&format!("{space} "))));
        assert!(line.is_some_and(|l| l.trim_end().ends_with(&runs)), "space list: {space} {runs:?}?\n{list}");
    }

    // What the routing proxy adds per hop: in data's pod, and from api's pod to data's.
    let bench = Command::new(repo_root().join("tests/bench/route-hop.sh"))
        .args([&parent, "data", "api", "200"])
        .env("KUBECONFIG", &kc)
        .output()
        .unwrap();
    assert!(bench.status.success(), "route-hop.sh: {}", String::from_utf8_lossy(&bench.stderr));
    eprintln!("routing proxy per hop (ms):\n{}", String::from_utf8_lossy(&bench.stdout).trim());

    // alice goes down: her data's stand-in is back, her requests fall back to the parent's, bob's
    // still reach his.
    down(&alice_env, &kc, &alice_data, &mut up_alice);
    assert!(is_stand_in(&kc, &alice, "data", &parent), "{}", service(&kc, &alice, "data"));
    let v = page("alice's requests back on the parent's data", web, &[("azds-route-as", &alice)], |v| {
        v["api"]["data"]["item"] == "apple"
    });
    assert_eq!(v["api"]["data"]["routeAs"], alice.as_str(), "{v}");
    page("bob's still his", web, &[("azds-route-as", &bob)], |v| v["api"]["via"] == "bob-api");
    page("no header", web, &[], |v| v["api"]["data"]["item"] == "apple" && v["api"]["via"] == "api");

    // None of this redeployed or restarted the parent's pods.
    assert_eq!(pod_state(&kc, &parent), parent_pods, "the parent's pods are the same, never restarted");

    // The rest goes: bob, the parent, then the three spaces.
    down(&bob_env, &kc, &bob_api, &mut up_bob);
    down(&env, &kc, root.path(), &mut up);
    for ns in [&parent, &alice, &bob] {
        let releases = ok(Command::new("helm").env("KUBECONFIG", &kc).args(["list", "-n", ns, "-q"]));
        assert_eq!(releases.trim(), "", "no release left in {ns}");
    }
    ok(ds(&env, &kc).args(["space", "remove", &parent, "--recursive"]));
    for ns in [&parent, &alice, &bob] {
        let found = ok(kubectl(&kc).args(["get", "namespace", ns, "--ignore-not-found", "-o", "name"]));
        assert_eq!(found.trim(), "", "namespace {ns} deleted");
    }
}

/// One gRPC call (tests/fixtures/grpc/client.py) from `pod` in `ns` to `host:80`, with
/// `azds-route-as: route` when given: the answer's status, message and trailers.
fn grpc_call(kc: &Path, ns: &str, pod: &str, host: &str, route: &str) -> Value {
    let client = repo_root().join("tests/fixtures/grpc/client.py");
    let out = Command::new("kubectl")
        .env("KUBECONFIG", kc)
        .args(["exec", "-i", "-n", ns, pod, "--", "python3", "-", host, "80", route])
        .stdin(std::fs::File::open(client).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "grpc call from {pod}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// gRPC (HTTP/2 cleartext with prior knowledge, trailers and all) through the routing proxies on
/// the cluster: a greeter service runs in a parent space and, changed, in a child; a call through
/// the parent's Service is the parent's without the header and the child's with it, each with its
/// `grpc-status` trailer, and the parent's session sees the call routed to the child. Runs on
/// Debian's python3-h2 (`tests/cluster/base-image devspaces/python-h2:bookworm python3
/// python3-h2`, as scripts/test-all.sh makes it).
#[test]
fn grpc_calls_are_routed_to_the_child_that_runs_the_service() {
    let (kc, parent, mut namespaces, env) = in_new_space("dsg");
    let alice = format!("dga{}", parent.trim_start_matches("dsg"));
    namespaces.names.push(alice.clone());
    let image = format!("{}/devspaces/python-h2:bookworm", registry());
    let root = tempfile::tempdir().unwrap();
    let greeter = root.path().join("greeter");
    std::fs::create_dir_all(&greeter).unwrap();
    std::fs::copy(repo_root().join("tests/fixtures/grpc/server.py"), greeter.join("app.py")).unwrap();
    std::fs::write(greeter.join("requirements.txt"), "").unwrap();
    ok(env.command().arg("prep").arg(&greeter));
    use_base_image_in(&greeter, &image);
    let mut up = up_on_cluster(&env, &kc, &greeter, &parent);
    let parent_session = running(&mut up, &["greeter"])["greeter"].clone();

    let (alice_env, alice_root) = (Env::new(), tempfile::tempdir().unwrap());
    let alice_greeter = alice_root.path().join("greeter");
    copy_dir(&greeter, &alice_greeter);
    replace(&alice_greeter.join("app.py"), r#"get("GREETER_NAME", "parent")"#, r#"get("GREETER_NAME", "alice")"#);
    let mut up_alice = up_on_cluster(&alice_env, &kc, &alice_greeter, &format!("{parent}/{alice}"));
    running(&mut up_alice, &["greeter"]);

    // From the parent's own pod, through the parent's Service (its routing proxy, then alice's).
    let pod = pods(&kc, &parent, &parent_session).into_iter().next().expect("the parent's greeter pod");
    let plain = grpc_call(&kc, &parent, &pod, "greeter", "");
    assert_eq!(plain["status"], "200", "{plain}");
    assert_eq!(plain["message"], "parent: hello route=None", "{plain}");
    assert_eq!(plain["trailers"]["grpc-status"], "0", "{plain}");
    assert_eq!(plain["trailers"]["grpc-message"], "served-by-parent", "{plain}");
    // alice's Service is found through the cluster's DNS, remembered 2 s: her instance serves
    // once the proxy sees it.
    let deadline = Instant::now() + ROLLOUT;
    let routed = loop {
        let v = grpc_call(&kc, &parent, &pod, "greeter", &alice);
        if v["message"] == format!("alice: hello route={alice}") {
            break v;
        }
        assert!(Instant::now() < deadline, "alice's greeter never answered: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(routed["trailers"]["grpc-status"], "0", "{routed}");
    assert_eq!(routed["trailers"]["grpc-message"], "served-by-alice", "the trailers came through: {routed}");
    let alice_space = format!("{parent}/{alice}");
    // The call alice's instance answered (earlier tries, before her Service answered, are 502s).
    let t = up.wait_for_within("the routed gRPC call's trace", ROLLOUT, |v| {
        v["method"] == "devspaces/trace"
            && v["params"]["service"] == "greeter"
            && v["params"]["routed"]["servedBy"] == alice_space.as_str()
            && v["params"]["status"] == 200
    })["params"]
        .clone();
    assert_eq!((&t["method"], &t["path"]), (&Value::from("POST"), &Value::from("/greet.Greeter/Hello")), "{t}");

    down(&alice_env, &kc, &alice_greeter, &mut up_alice);
    down(&env, &kc, &greeter, &mut up);
    ok(ds(&env, &kc).args(["space", "remove", &parent, "--recursive"]));
}

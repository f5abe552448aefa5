//! `devspacesd up --backend kubernetes` end to end on the real cluster of tests/cluster/: the
//! example service in a child space, all three change classes, logs, traces, `down`; and the
//! Kubernetes failures a deploy can meet, each reported with its reason while the session goes on.
//!
//! Run with `eval "$(tests/cluster/env)"` and `cargo test -p devspaces-tests --features cluster
//! --test cluster_up`. Refuses any kubeconfig outside the cluster's state folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use devspaces_tests::cluster::{
    ds, in_new_space, kubectl, pods, registry, registry_tags, running_pid, static_agent, up_on_cluster, Namespaces,
    ROLLOUT,
};
use devspaces_tests::{cluster_kubeconfig, copy_service, http_get, ok, short_id, synced_with, Env, Messages, Up};
use serde_json::Value;

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[test]
fn up_on_the_cluster_in_a_child_space() {
    let kc = cluster_kubeconfig();
    static_agent();
    let id = short_id();
    let (parent, child) = (format!("dsp{id}"), format!("dsc{id}"));
    let _ns = Namespaces { kubeconfig: kc.clone(), names: vec![child.clone(), parent.clone()] };
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    // The ingress shows the placeholders as the seed renders them.
    edit(&svc.join("azds.yaml"), |t| {
        t.replace("    ingress:\n      annotations:", "    ingress:\n      enabled: true\n      annotations:")
    });

    let mut up = up_on_cluster(&env, &kc, &svc, &format!("{parent}/{child}"));
    let first = running_on_cluster(&mut up, "the app running in the pod")["params"].clone();
    let session = first["session"].as_str().unwrap().to_string();
    let pid1 = running_pid(&first);
    let port = up.url_port();
    let (status, body) = http_get(port, "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1.0.0"), "the page from the pod: {body}");

    // The child space: its own namespace, labelled, under the parent; the host rendered.
    let ns: Value = serde_json::from_str(&ok(kubectl(&kc).args(["get", "ns", &child, "-o", "json"]))).unwrap();
    assert_eq!(ns["metadata"]["labels"]["azds.io/space"], "true");
    assert_eq!(ns["metadata"]["labels"]["azds.io/parent-space"], parent.as_str());
    let pns: Value = serde_json::from_str(&ok(kubectl(&kc).args(["get", "ns", &parent, "-o", "json"]))).unwrap();
    assert_eq!(pns["metadata"]["labels"]["azds.io/space"], "true");
    let host = ok(kubectl(&kc).args(["get", "ingress", "-n", &child, "-o", "jsonpath={.items[0].spec.rules[0].host}"]));
    assert_eq!(host, format!("{child}.s.{parent}.python-web.devspaces.localhost"));

    let pods1 = pods(&kc, &child, &session);
    assert_eq!(pods1.len(), 1, "one pod: {pods1:?}");
    up.wait_method("devspaces/log", |p| p["line"].as_str().is_some_and(|l| l.contains("listening on :8080")));
    up.wait_method("devspaces/trace", |p| p["path"] == "/" && p["status"] == 200);

    // Static edit: synced into the same pod, the same process serves it.
    let mark = up.seen.len();
    edit(&svc.join("static/index.html"), |t| t + "\n<!-- k8s-static-marker -->\n");
    let s = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "static/index.html"));
    assert_eq!(s["class"], "static-sync");
    let (_, body) = http_get(port, "/");
    assert!(body.contains("k8s-static-marker"), "{body}");
    assert!(
        !up.seen[mark..]
            .iter()
            .any(|e| matches!(e["params"]["phase"].as_str(), Some("restarting" | "starting" | "deploying"))),
        "a static edit restarts nothing:\n{}",
        up.dump()
    );
    assert_eq!(pods(&kc, &child, &session), pods1, "same pod");

    // Source edit: the process restarts inside the same pod.
    edit(&svc.join("version.py"), |t| t.replace("1.0.0", "1.0.1"));
    let s = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "version.py"));
    assert_eq!(s["class"], "process-restart");
    let pid2 = running_pid(
        &up.wait_for_within("the restarted app", ROLLOUT, |v| {
            v["method"] == "devspaces/serviceStatus"
                && v["params"]["phase"] == "running"
                && running_pid(&v["params"]) != pid1
        })["params"],
    );
    assert_ne!(pid1, pid2);
    assert_eq!(http_get(port, "/version").1.trim(), "1.0.1");
    assert_eq!(pods(&kc, &child, &session), pods1, "same pod after a restart");

    // Dockerfile edit: a new image, a new pod, the same local port.
    let mark = up.seen.len();
    edit(&svc.join("Dockerfile.develop"), |t| t + "ENV K8S_REDEPLOY_MARK=1\n");
    up.wait_for_within("a redeploy", ROLLOUT, |v| v["params"]["phase"] == "deploying");
    running_on_cluster(&mut up, "the redeployed app");
    let pods2 = pods(&kc, &child, &session);
    assert_eq!(pods2.len(), 1, "{pods2:?}");
    assert_ne!(pods2, pods1, "a new pod");
    let (status, body) = http_get(port, "/version");
    assert_eq!((status, body.trim()), (200, "1.0.1"), "the same local port reaches the new pod");
    assert!(
        !up.seen[mark..].iter().any(|e| e["method"] == "devspaces/portForward" && e["params"]["localPort"] != port),
        "the forward keeps its local port:\n{}",
        up.dump()
    );
    let images: Vec<String> = registry_tags("python-web").into_iter().filter(|t| t.starts_with(&session)).collect();
    assert_eq!(images.len(), 2, "two builds pushed: {images:?}");

    // down: the release, the token Secret, the pods and the pushed images go.
    ok(ds(&env, &kc).arg("down").arg(&svc));
    up.wait_phase("stopped");
    let releases = ok(Command::new("helm").env("KUBECONFIG", &kc).args(["list", "-n", &child, "-q"]));
    assert_eq!(releases.trim(), "", "release removed");
    let secrets = ok(kubectl(&kc).args([
        "get",
        "secrets",
        "-n",
        &child,
        "-l",
        &format!("devspaces.io/session={session}"),
        "-o",
        "name",
    ]));
    assert_eq!(secrets.trim(), "", "token secret removed");
    assert!(pods(&kc, &child, &session).is_empty(), "pods gone");
    let left: Vec<String> = registry_tags("python-web").into_iter().filter(|t| t.starts_with(&session)).collect();
    assert!(left.is_empty(), "pushed images removed: {left:?}");
}

/// A failing deploy reports Kubernetes' reason and the session waits for the next change.
fn wait_failed(up: &mut Up, reason: &str) -> String {
    let r = reason.to_string();
    let s = up.wait_for_within(&format!("a failure with {reason}"), ROLLOUT, move |v| {
        v["method"] == "devspaces/serviceStatus"
            && v["params"]["phase"] == "failed"
            && v["params"]["detail"].as_str().is_some_and(|d| d.contains(&r))
    });
    let detail = s["params"]["detail"].as_str().unwrap().to_string();
    eprintln!("reported: {detail}");
    detail
}

#[test]
fn deploy_failures_are_reported_with_the_kubernetes_reason() {
    let (kc, space, _ns, env) = in_new_space("dsf");
    let (_t, svc) = copy_service("examples/python-web");
    let azds = svc.join("azds.yaml");
    let original = std::fs::read_to_string(&azds).unwrap();
    let with_set = |extra: &str| original.replace("    replicaCount: 1\n", &format!("    replicaCount: 1\n{extra}"));

    // Unschedulable: no node carries the label.
    std::fs::write(&azds, with_set("    nodeSelector:\n      devspaces.io/test-nowhere: \"true\"\n")).unwrap();
    let mut up = up_on_cluster(&env, &kc, &svc, &space);
    let d = wait_failed(&mut up, "Unschedulable");
    assert!(d.contains("node"), "the scheduler's message: {d}");

    // A crashing container in the pod (a sidecar that exits 3).
    let crasher = format!("    sidecars:\n    - name: crasher\n      image: {}/devspaces/busybox:1.35\n      command: [sh, -c, \"echo going down; exit 3\"]\n", registry());
    std::fs::write(&azds, with_set(&crasher)).unwrap();
    let d = wait_failed(&mut up, "CrashLoopBackOff");
    assert!(d.contains("crasher") && d.contains('3'), "names the container and its exit code: {d}");

    // A broken image: the sidecar's image does not exist in the registry.
    let broken = format!("    sidecars:\n    - name: broken\n      image: {}/devspaces/no-such-image:1\n", registry());
    std::fs::write(&azds, with_set(&broken)).unwrap();
    let r = up.wait_for_within("an image pull failure", ROLLOUT, |v| {
        v["method"] == "devspaces/serviceStatus"
            && v["params"]["phase"] == "failed"
            && v["params"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("ImagePullBackOff") || d.contains("ErrImagePull"))
    });
    assert!(r["params"]["detail"].as_str().unwrap().contains("no-such-image"), "{}", r["params"]["detail"]);

    // Fixed: the session was still watching and deploys.
    std::fs::write(&azds, &original).unwrap();
    running_on_cluster(&mut up, "the fixed app running");
    let port = up.url_port();
    assert_eq!(http_get(port, "/healthz").0, 200);
    ok(ds(&env, &kc).arg("down").arg(&svc));
    up.wait_phase("stopped");
    let releases = ok(Command::new("helm").env("KUBECONFIG", &kc).args(["list", "-n", &space, "-q"]));
    assert_eq!(releases.trim(), "", "release removed");
}

/// A pod deleted under a live forward (evicted, its node drained, `kubectl delete pod`) is replaced
/// by its Deployment: the session reattaches by itself, and the same local port serves the new pod,
/// `reconnecting` then `open`, with what was synced before synced into it; the loop goes on.
#[test]
fn a_deleted_pod_is_replaced_under_the_same_local_port() {
    let (kc, space, _ns, env) = in_new_space("dsk");
    let (_t, svc) = copy_service("examples/python-web");
    let mut up = up_on_cluster(&env, &kc, &svc, &space);
    let first = running_on_cluster(&mut up, "the app running in the pod")["params"].clone();
    let session = first["session"].as_str().unwrap().to_string();
    let port = up.url_port();
    // An edit the image does not hold.
    edit(&svc.join("static/index.html"), |t| t + "\n<!-- before-the-pod-went -->\n");
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync" && synced_with(p, "static/index.html"));
    assert!(http_get(port, "/").1.contains("before-the-pod-went"));
    let before = pods(&kc, &space, &session);
    assert_eq!(before.len(), 1, "{before:?}");

    let mark = up.seen.len();
    let deleted = std::time::Instant::now();
    ok(kubectl(&kc).args(["delete", "pod", "-n", &space, &before[0], "--wait=false"]));
    let forward = |state: &'static str| {
        move |v: &Value| {
            v["method"] == "devspaces/portForward" && v["params"]["localPort"] == port && v["params"]["state"] == state
        }
    };
    up.wait_since(mark, "the forward reconnecting", ROLLOUT, forward("reconnecting"));
    let reconnecting = up.seen.len();
    up.wait_since(reconnecting, "the forward open again", ROLLOUT, forward("open"));
    running_on_cluster(&mut up, "the app in the replacement pod");
    let after = pods(&kc, &space, &session);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new pod");
    let (status, body) = http_get(port, "/");
    assert_eq!(status, 200, "the same local port serves the new pod: {body}");
    assert!(body.contains("before-the-pod-went"), "the edit was synced into the new pod: {body}");
    eprintln!("pod deleted -> the same local port serving the new pod: {} ms", deleted.elapsed().as_millis());
    assert!(
        !up.seen[mark..].iter().any(|e| e["method"] == "devspaces/portForward" && e["params"]["localPort"] != port),
        "the forward keeps its local port:\n{}",
        up.dump()
    );
    let images: Vec<String> = registry_tags("python-web").into_iter().filter(|t| t.starts_with(&session)).collect();
    assert_eq!(images.len(), 1, "nothing was rebuilt: {images:?}");

    // The loop goes on in the new pod.
    edit(&svc.join("static/index.html"), |t| t + "\n<!-- after-the-pod-came -->\n");
    let mark = up.seen.len();
    up.wait_since(mark, "the edit synced into the new pod", ROLLOUT, |v| {
        v["method"] == "devspaces/synced"
            && v["params"]["class"] == "static-sync"
            && synced_with(&v["params"], "static/index.html")
    });
    assert!(http_get(port, "/").1.contains("after-the-pod-came"));
    assert_eq!(pods(&kc, &space, &session), after, "the same new pod");
    ok(ds(&env, &kc).arg("down").arg(&svc));
    up.wait_phase("stopped");
    assert!(pods(&kc, &space, &session).is_empty(), "pods gone");
}

/// Waits (within a rollout's time) for the app to run; returns the event.
fn running_on_cluster(up: &mut Up, what: &str) -> Value {
    up.wait_for_within(what, ROLLOUT, |v| v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running")
}

/// What `cmd` prints inside `pod` (kubectl exec).
fn exec(kc: &Path, ns: &str, pod: &str, cmd: &[&str]) -> String {
    ok(kubectl(kc).args(["exec", "-n", ns, pod, "--"]).args(cmd))
}

#[test]
fn every_replica_is_synced_and_restarted() {
    let (kc, space, _ns, env) = in_new_space("dsr");
    let (_t, svc) = copy_service("examples/python-web");
    edit(&svc.join("azds.yaml"), |t| t.replace("    replicaCount: 1\n", "    replicaCount: 2\n"));
    let mut up = up_on_cluster(&env, &kc, &svc, &space);
    let first = running_on_cluster(&mut up, "the app running")["params"].clone();
    let session = first["session"].as_str().unwrap().to_string();
    let pods = pods(&kc, &space, &session);
    assert_eq!(pods.len(), 2, "{pods:?}");
    // Logs carry the pod's name.
    for p in &pods {
        let tag = format!("[{p}] ");
        up.wait_method("devspaces/log", move |l| {
            l["line"].as_str().is_some_and(|x| x.starts_with(&tag) && x.contains("listening on :8080"))
        });
    }
    let version = |p: &str| {
        exec(
            &kc,
            &space,
            p,
            &[
                "python3",
                "-c",
                "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/version').read().decode().strip())",
            ],
        )
    };

    // A static edit reaches both pods.
    edit(&svc.join("static/style.css"), |t| t + "\n/* k8s-replica-marker */\n");
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync" && synced_with(p, "static/style.css"));
    for p in &pods {
        assert!(
            exec(&kc, &space, p, &["cat", "/app/static/style.css"]).contains("k8s-replica-marker"),
            "synced into {p}"
        );
    }
    // A source edit restarts the app in both pods.
    edit(&svc.join("version.py"), |t| t.replace("1.0.0", "2.0.0"));
    up.wait_method("devspaces/synced", |p| p["class"] == "process-restart" && synced_with(p, "version.py"));
    for p in &pods {
        let tag = format!("[{p}] ");
        up.wait_for_within(&format!("{p} restarted"), ROLLOUT, move |v| {
            v["method"] == "devspaces/log"
                && v["params"]["line"]
                    .as_str()
                    .is_some_and(|x| x.starts_with(&tag) && x.contains("python-web 2.0.0 listening"))
        });
        assert_eq!(version(p).trim(), "2.0.0", "{p} serves the new version");
    }
    assert_eq!(self::pods(&kc, &space, &session), pods, "same pods");
    ok(ds(&env, &kc).arg("down").arg(&svc));
    up.wait_phase("stopped");
}

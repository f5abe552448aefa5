//! Debugging on the test cluster (issue 17, done-when 2): `up --debug --backend kubernetes` runs a
//! Python service under debugpy in its pod; a real DAP client attaches through the daemon's debug
//! forward on localhost (a tunnel into the pod), stops at a breakpoint in a request handler sent
//! through the app's forward, and sees the workspace's file and line; after an edit (a
//! process-restart in the same pod) it attaches again on `debugReady` and stops in the new code.
//! Prints the time from the save to the breakpoint armed again.
//!
//! The image gets debugpy as a user's would (requirements.txt), from a wheel in the build context:
//! the cluster's builds have no network (`buildah bud --network none`). Run with `eval
//! "$(tests/cluster/env)"`, the stand-in for Docker Hub's `python:3.12-slim` in the cluster's
//! registry (as scripts/test-all.sh makes it) and `cargo test -p devspaces-tests --features cluster
//! --test cluster_debug`. Refuses any kubeconfig outside the cluster's state folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Instant;

use devspaces_tests::cluster::{ds, in_new_space, kubectl, pods, registry_tags, up_on_cluster_with, ROLLOUT};
use devspaces_tests::dap::{
    self, debug_ready, get_in_background, line_of, python_app, stopped_frame, Attached, DEBUGPY_VERSION,
};
use devspaces_tests::{ok, prepared, synced_with, Messages};
use serde_json::json;

/// Prints the pids of the zombies in a container (`/proc/<pid>/stat` state `Z`).
const ZOMBIES: &str = r#"
import os
found = []
for p in os.listdir("/proc"):
    try:
        if p.isdigit() and open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0] == "Z":
            found.append(int(p))
    except OSError:
        pass
print(sorted(found))
"#;

#[test]
fn python_under_debugpy_in_a_pod_stops_at_a_breakpoint_and_again_after_an_edit() {
    let (kc, space, _ns, env) = in_new_space("dsd");
    let v1 = python_app("1", 0);
    // pip installs debugpy from the wheel beside requirements.txt, with no index.
    let requirements = format!("--no-index\n--find-links wheels\ndebugpy=={DEBUGPY_VERSION}\n");
    let (_t, svc) = prepared(&env, "pydebug", &[("app.py", &v1), ("requirements.txt", &requirements)]);
    let wheel = dap::debugpy_wheel();
    std::fs::create_dir_all(svc.join("wheels")).unwrap();
    std::fs::copy(&wheel, svc.join("wheels").join(wheel.file_name().unwrap())).unwrap();
    let dockerfile = svc.join("Dockerfile.develop");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    assert!(text.contains("COPY requirements.txt ./\n"), "prep's Dockerfile.develop changed shape:\n{text}");
    std::fs::write(
        &dockerfile,
        text.replace("COPY requirements.txt ./\n", "COPY requirements.txt ./\nCOPY wheels/ wheels/\n"),
    )
    .unwrap();
    std::fs::create_dir_all(svc.join("static")).unwrap();

    let mut up = up_on_cluster_with(&env, &kc, &svc, &space, &["--debug"]);
    // Within a build, a push and a rollout's time; the forward opens once the pod is there.
    let running = up.wait_for_within("the app running in the pod", ROLLOUT, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    });
    let port = up.url_port();
    let session = running["params"]["session"].as_str().unwrap().to_string();
    let pods1 = pods(&kc, &space, &session);
    assert_eq!(pods1.len(), 1, "one pod: {pods1:?}");

    let ready = debug_ready(&mut up, 0);
    assert_eq!((ready["adapter"].as_str(), ready["host"].as_str()), (Some("python"), Some("127.0.0.1")));
    let mapping = &ready["pathMappings"][0];
    let (local_root, remote_root) = (mapping["localRoot"].as_str().unwrap(), mapping["remoteRoot"].as_str().unwrap());
    assert_eq!(local_root, svc.display().to_string(), "the workspace folder");
    assert_eq!(remote_root, "/app", "the image's WORKDIR, where `COPY . .` put the files");
    let (debug_port, server_port) = (ready["port"].as_u64().unwrap() as u16, ready["remotePort"].as_u64().unwrap());
    assert_eq!(server_port, 5678, "debugpy's usual port, in the pod");
    let file = svc.join("app.py").display().to_string();

    // Attach through the tunnel, break in the handler, and see the workspace's file and line.
    let line = line_of(&v1, "body = ");
    let mut dap = dap::first_stop(&mut up, port, debug_port, (local_root, remote_root), &file, line);
    dap::static_edit_keeps_the_debugger(&mut up, &svc, &mut dap);

    // A source edit restarts the app under the debugger in the same pod: the new debug server is
    // announced on the same local port and a new attach (at once, as an editor's on debugReady)
    // stops in the new code; the old server went, and the old debugger's connection ends.
    let v2 = python_app("2", 2);
    let saved = Instant::now();
    std::fs::write(svc.join("app.py"), &v2).unwrap();
    let ready = debug_ready(&mut up, 1);
    let announced = saved.elapsed();
    assert_eq!(ready["port"].as_u64(), Some(debug_port as u64), "the same local port");
    assert_eq!(ready["remotePort"].as_u64(), Some(server_port));
    let line2 = line_of(&v2, "body = ");
    assert_eq!(line2, line + 2);
    let mut old = dap;
    let Attached { mut dap, breakpoints, armed_at } =
        dap::attach_debugpy(debug_port, local_root, remote_root, &file, &[line2]);
    assert_eq!(breakpoints[0]["verified"], true, "{breakpoints}");
    assert!(old.closed_within(devspaces_tests::WAIT), "the old debug server's connection ended");
    println!(
        "kubernetes python: save to debugReady {} ms, save to breakpoint armed {} ms",
        announced.as_millis(),
        armed_at.duration_since(saved).as_millis()
    );
    let synced = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "app.py"));
    assert_eq!(synced["class"], "process-restart");
    let answer = get_in_background(port);
    let (thread, frame) = stopped_frame(&mut dap, &mut up);
    assert_eq!((frame["source"]["path"].as_str(), frame["line"].as_u64()), (Some(file.as_str()), Some(line2 as u64)));
    let version = dap.request("evaluate", json!({"expression": "version", "frameId": frame["id"], "context": "watch"}));
    assert_eq!(version["result"], "'2'", "the new code");
    dap.request("continue", json!({"threadId": thread}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));
    assert_eq!(pods(&kc, &space, &session), pods1, "the same pod: a process-restart");
    // The agent is the pod's init: the debugpy adapter it stopped (an orphan of the app) was reaped.
    let zombies = ok(kubectl(&kc).args(["exec", "-n", &space, &pods1[0], "--", "python3", "-c", ZOMBIES]));
    assert_eq!(zombies.trim(), "[]", "zombies in the pod");

    // A redeploy (the develop Dockerfile changed): a new image and a new pod, the app under the
    // debugger again, behind the same local ports.
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{text}# an edit that redeploys\n")).unwrap();
    let ready = up.wait_for_within("the app under the debugger in a new pod", ROLLOUT, |v| {
        v["method"] == "devspaces/debugReady" && v["params"]["restarts"] == 2
    })["params"]
        .clone();
    assert!(dap.closed_within(devspaces_tests::WAIT), "the old pod's debug server's connection ended");
    assert_eq!((ready["port"].as_u64(), ready["remotePort"].as_u64()), (Some(debug_port as u64), Some(server_port)));
    let pods2 = pods(&kc, &space, &session);
    assert_eq!(pods2.len(), 1, "{pods2:?}");
    assert_ne!(pods2, pods1, "a new pod");
    let Attached { mut dap, breakpoints, .. } =
        dap::attach_debugpy(debug_port, local_root, remote_root, &file, &[line2]);
    assert_eq!(breakpoints[0]["verified"], true, "{breakpoints}");
    let answer = get_in_background(port);
    let (thread, frame) = stopped_frame(&mut dap, &mut up);
    assert_eq!((frame["source"]["path"].as_str(), frame["line"].as_u64()), (Some(file.as_str()), Some(line2 as u64)));
    dap.request("continue", json!({"threadId": thread}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));
    dap.request("disconnect", json!({"terminateDebuggee": false}));

    // The app's forward stayed on the app's port throughout: the loopback port debugpy opens in
    // the app for its adapter, before the debug server listens, is no port of the app's.
    let remotes: std::collections::BTreeSet<u64> = up
        .seen
        .iter()
        .filter(|e| e["method"] == "devspaces/portForward")
        .filter_map(|e| e["params"]["remotePort"].as_u64())
        .collect();
    assert_eq!(remotes.len(), 1, "the forwards followed other ports: {remotes:?}\n{}", up.dump());

    // down: the release, the pods and the pushed images go (the namespace goes with `_ns`).
    ok(ds(&env, &kc).arg("down").arg(&svc));
    up.wait_phase("stopped");
    let releases = ok(Command::new("helm").env("KUBECONFIG", &kc).args(["list", "-n", &space, "-q"]));
    assert_eq!(releases.trim(), "", "release removed");
    assert!(pods(&kc, &space, &session).is_empty(), "pods gone");
    let left: Vec<String> = registry_tags("pydebug").into_iter().filter(|t| t.starts_with(&session)).collect();
    assert!(left.is_empty(), "pushed images removed: {left:?}");
}

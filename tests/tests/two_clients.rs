//! One daemon, several clients: two `--stdio` editors and `devspacesd up` share one session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devspaces_tests::lsp::Lsp;
use devspaces_tests::*;
use serde_json::{json, Value};

/// Waits for the app's log line of a request to `path` (python-web logs every request on stdout).
fn request_logged(c: &mut Lsp, session: &str, path: &str) -> Value {
    let (s, p) = (session.to_string(), path.to_string());
    c.wait_method("devspaces/log", move |x| {
        x["session"] == s.as_str()
            && x["stream"] == "stdout"
            && x["line"].as_str().unwrap().contains(&format!("GET {p} "))
    })
}

#[test]
fn two_editors_and_up_share_one_session_and_a_disconnect_stops_nothing_in_use() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let path = svc.to_str().unwrap().to_string();

    let mut a = Lsp::start(&env);
    a.initialize();
    let up = a.call("devspaces/up", json!({"path": path}));
    let session = up["result"]["session"].as_str().unwrap_or_else(|| panic!("{up}")).to_string();
    let port = a.wait_method("devspaces/portForward", |p| p["state"] == "open")["localPort"].as_u64().unwrap() as u16;
    let app = a.wait_running();
    let daemon = env.daemon_pid().expect("one daemon");

    // The second editor attaches to the same session instead of starting another.
    let mut b = Lsp::start(&env);
    b.initialize();
    let up_b = b.call("devspaces/up", json!({"path": path}));
    assert_eq!(up_b["result"]["session"], session.as_str(), "{up_b}");
    assert_eq!(up_b["result"]["attached"], true);
    assert_eq!(up_b["result"]["watchers"], 2);
    assert_eq!(up_b["result"]["phase"], "running");
    assert_eq!(env.daemon_pid(), Some(daemon), "both clients share one daemon");
    let refused = b.call("devspaces/up", json!({"path": path, "attach": false}));
    assert_eq!(refused["error"]["code"], -32905, "{refused}");

    // Both receive the same log line.
    assert_eq!(http_get(port, "/two-clients-1").0, 404);
    let la = request_logged(&mut a, &session, "/two-clients-1");
    let lb = request_logged(&mut b, &session, "/two-clients-1");
    assert_eq!(la, lb, "the same event reaches both clients");

    // A third client watches with a replay of buffered lines, then unwatches.
    let mut w = Lsp::start(&env);
    w.initialize();
    let watched = w.call("devspaces/watch", json!({"replayLines": 50}));
    assert_eq!(watched["result"]["sessions"][0]["session"], session.as_str(), "{watched}");
    request_logged(&mut w, &session, "/two-clients-1");
    let unwatched = w.call("devspaces/unwatch", json!({}));
    assert_eq!(unwatched["result"]["sessions"], json!([session]));

    // `devspacesd up --json` beside the editors attaches to the same session.
    let mut cli = Up::start(&env, &svc);
    let st = cli.wait_method("devspaces/serviceStatus", |_| true);
    assert_eq!(st["session"], session.as_str(), "up attached to the editors' session");
    assert_eq!(st["phase"], "running");
    let f = cli.wait_method("devspaces/portForward", |_| true);
    assert_eq!(f["localPort"], port);
    assert_eq!(http_get(port, "/two-clients-2").0, 404);
    let l = cli.wait_method("devspaces/log", |p| p["line"].as_str().unwrap().contains("GET /two-clients-2 "));
    assert_eq!(l["session"], session.as_str());
    // Ctrl-C on up only detaches: the editors still watch.
    cli.interrupt();
    assert!(alive(app), "Ctrl-C on up detached, it did not stop the editors' session");

    // The first editor goes away without a word: the other keeps streaming.
    a.close_stdin();
    assert_eq!(a.wait_exit(), 1);
    assert!(alive(app), "a disconnect stops nothing another client uses");
    assert_eq!(http_get(port, "/two-clients-3").0, 404);
    request_logged(&mut b, &session, "/two-clients-3");
    let st = b.call("devspaces/status", json!({}));
    assert_eq!(st["result"]["sessions"][0]["watchers"], 1, "{st}");
    assert_eq!(st["result"]["daemon"]["clients"], 2, "b and the watcher w");

    // The last watcher leaving stops the session: nothing is left behind.
    let agent = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
    assert_eq!(b.shutdown_and_exit(), 0);
    wait_gone(app, "the app after its last watcher left");
    wait_gone(agent, "the agent after its last watcher left");
    let st = w.call("devspaces/status", json!({}));
    assert_eq!(st["result"]["sessions"], json!([]), "{st}");
    assert_eq!(w.shutdown_and_exit(), 0);
    assert!(alive(daemon), "the daemon stays for its idle time");
}

#[test]
fn up_runs_the_session_itself_when_no_daemon_can_start() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    // A folder where the daemon's pidfile goes: the daemon cannot take its lock and fails.
    std::fs::create_dir_all(env.state().join("daemon.pid")).unwrap();

    let out = env.command().arg("--stdio").stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the daemon failed to start"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    let app = up.wait_running();
    assert_eq!(http_get(port, "/version").0, 200);
    assert_eq!(record(&env, "python-web")["ownerPid"], up.pid(), "the session runs in the up process");
    assert!(env.daemon_pid().is_none());
    up.interrupt();
    wait_gone(app, "the app after Ctrl-C on an in-process up");
}

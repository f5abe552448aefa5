//! The editor protocol end to end: `devspacesd --stdio` (and the daemon it starts) driven over LSP framing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devspaces_tests::lsp::Lsp;
use devspaces_tests::*;
use serde_json::{json, Value};

#[test]
fn initialize_up_events_edit_trace_down_and_exit() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let mut c = Lsp::start(&env);

    let init = c.initialize();
    assert_eq!(init["serverInfo"]["name"], "devspacesd");
    assert!(init["serverInfo"]["version"].is_string());
    assert_eq!(init["capabilities"]["textDocumentSync"]["openClose"], true);
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 1);
    let ds = &init["capabilities"]["experimental"]["devspaces"];
    assert_eq!(ds["protocolVersion"], 1);
    assert!(ds["requests"].as_array().unwrap().iter().any(|m| m == "devspaces/up"));
    assert!(ds["notifications"].as_array().unwrap().iter().any(|m| m == "devspaces/logsDropped"));

    let up = c.call("devspaces/up", json!({"path": svc.to_str().unwrap()}));
    let session = up["result"]["session"].as_str().unwrap_or_else(|| panic!("up failed: {up}")).to_string();
    assert_eq!(up["result"]["attached"], false);
    assert_eq!(up["result"]["service"], "python-web");
    assert_eq!(up["result"]["backend"], "local");

    let fwd = c.wait_method("devspaces/portForward", |p| p["state"] == "open");
    assert_eq!(fwd["session"], session.as_str());
    let port = fwd["localPort"].as_u64().unwrap() as u16;
    assert_eq!(fwd["url"], format!("http://localhost:{port}"));
    let pid = c.wait_running();
    let log = c
        .wait_method("devspaces/log", |p| p["stream"] == "stdout" && p["line"].as_str().unwrap().contains("listening"));
    assert_eq!(log["service"], "python-web");
    assert!(log["time"].as_str().unwrap().ends_with('Z'));

    // Work-done progress: the deploy first, then the initial sync (created first, then begin ...
    // end on the same token), then the build commands.
    let deploy = format!("devspaces/{session}/deploy/1");
    let d = deploy.clone();
    let create = c.wait_for("window/workDoneProgress/create", move |v| {
        v["method"] == "window/workDoneProgress/create" && v["params"]["token"] == d.as_str()
    });
    c.send(&json!({"jsonrpc": "2.0", "id": create["id"], "result": null}));
    let d = deploy.clone();
    let begin = c.wait_method("$/progress", move |p| p["token"] == d.as_str() && p["value"]["kind"] == "begin");
    assert_eq!(begin["value"]["title"], "python-web: deploy");
    let token = format!("devspaces/{session}/sync/2");
    let t = token.clone();
    let create = c.wait_for("window/workDoneProgress/create", move |v| {
        v["method"] == "window/workDoneProgress/create" && v["params"]["token"] == t.as_str()
    });
    assert!(create["id"].is_i64(), "a request, with an id: {create}");
    c.send(&json!({"jsonrpc": "2.0", "id": create["id"], "result": null}));
    let t = token.clone();
    let begin = c.wait_method("$/progress", move |p| p["token"] == t.as_str() && p["value"]["kind"] == "begin");
    assert_eq!(begin["value"]["title"], "python-web: sync");
    assert_eq!(begin["value"]["percentage"], 0);
    let t = token.clone();
    c.wait_method("$/progress", move |p| p["token"] == t.as_str() && p["value"]["kind"] == "end");
    let build = format!("devspaces/{session}/build/3");
    let b = build.clone();
    let begin = c.wait_method("$/progress", move |p| p["token"] == b.as_str() && p["value"]["kind"] == "begin");
    assert_eq!(begin["value"]["title"], "python-web: build");
    c.wait_method("$/progress", move |p| p["token"] == build.as_str() && p["value"]["kind"] == "end");

    // An edit is synced.
    let css = svc.join("static/style.css");
    let mut text = std::fs::read_to_string(&css).unwrap();
    text.push_str("\n/* editor-protocol */\n");
    std::fs::write(&css, text).unwrap();
    let synced = c.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "static/style.css"));
    assert_eq!(synced["class"], "static-sync");
    assert_eq!(synced["session"], session.as_str());

    // An HTTP request is traced.
    let (status, body) = http_get(port, "/static/style.css");
    assert_eq!(status, 200);
    assert!(body.contains("editor-protocol"));
    let trace = c.wait_method("devspaces/trace", |p| p["path"] == "/static/style.css");
    assert_eq!(trace["method"], "GET");
    assert_eq!(trace["status"], 200);

    // status and listUris see the session.
    let st = c.call("devspaces/status", json!({}));
    let sessions = st["result"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["phase"], "running");
    assert_eq!(sessions[0]["watchers"], 1);
    assert_eq!(st["result"]["daemon"]["clients"], 1);
    assert_eq!(st["result"]["daemon"]["pid"], env.daemon_pid().expect("a daemon runs"));
    let uris = c.call("devspaces/listUris", json!({}));
    assert_eq!(uris["result"]["uris"][0]["url"], format!("http://localhost:{port}"));
    let cl = c.call(
        "devspaces/classify",
        json!({"path": svc.to_str().unwrap(), "paths": ["app.py", "static/style.css", "azds.yaml", ".git/HEAD"]}),
    );
    assert_eq!(cl["result"]["batch"], "redeploy");
    let classes: Vec<&str> =
        cl["result"]["results"].as_array().unwrap().iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["process-restart", "static-sync", "redeploy", "ignored"]);

    // down leaves no process: the app and the agent are gone when it answers.
    let agent = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
    let down = c.call("devspaces/down", json!({"session": session}));
    assert_eq!(down["result"]["outcome"], "stopped", "{down}");
    assert!(!alive(pid), "the app is gone when down answers");
    wait_gone(agent, "the agent after devspaces/down");
    c.wait_method("devspaces/serviceStatus", |p| p["phase"] == "stopped");
    c.wait_method("devspaces/portForward", |p| p["state"] == "closed");
    let st = c.call("devspaces/status", json!({}));
    assert_eq!(st["result"]["sessions"], json!([]));

    let code = c.shutdown_and_exit();
    assert_eq!(code, 0, "shutdown then exit ends --stdio with code 0");
    env.stop_daemon();
    assert!(!env.state().join("daemon.sock").exists(), "the daemon removes its socket");
}

#[test]
fn azds_yaml_diagnostics_are_published_at_exact_ranges_and_cleared() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let file = svc.join("azds.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    let bad = good
        .replace("      command: [python3, app.py]", "      comand: [python3, app.py]")
        .replace("      - \"static/**\"", "      - \"static/[abc\"");
    assert_ne!(bad, good);
    let uri = format!("file://{}", file.display());

    // Where each problem is, 0-based, computed from the text itself.
    let at = |needle: &str| -> (usize, usize) {
        let (i, line) = bad.lines().enumerate().find(|(_, l)| l.contains(needle)).unwrap();
        (i, line.find(needle).unwrap())
    };
    let (key_line, key_col) = at("comand");
    let (glob_line, glob_col) = at("\"static/[abc\"");

    let mut c = Lsp::start(&env);
    c.initialize();
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": bad}}),
    );
    let d = c
        .wait_method("textDocument/publishDiagnostics", |p| p["diagnostics"].as_array().is_some_and(|d| !d.is_empty()));
    assert_eq!(d["uri"], uri.as_str());
    let diags = d["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 2, "{d}");
    let key = diags.iter().find(|x| x["message"].as_str().unwrap().contains("comand")).expect("the unknown key");
    assert_eq!(key["severity"], 2, "an unknown key is a warning");
    assert_eq!(key["source"], "devspaces");
    assert!(key["message"].as_str().unwrap().contains("did you mean 'command'?"));
    assert_eq!(
        key["range"],
        json!({"start": {"line": key_line, "character": key_col}, "end": {"line": key_line, "character": key_col + "comand".len()}})
    );
    let glob = diags.iter().find(|x| x["message"].as_str().unwrap().contains("invalid glob")).expect("the bad glob");
    assert_eq!(glob["severity"], 1, "a bad glob is an error");
    assert_eq!(
        glob["range"],
        json!({"start": {"line": glob_line, "character": glob_col}, "end": {"line": glob_line, "character": glob_col + "\"static/[abc\"".len()}})
    );

    // Fixing the file (full-text change) clears them.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": good}]}),
    );
    let cleared = c.wait_method("textDocument/publishDiagnostics", |p| p["diagnostics"] == json!([]));
    assert_eq!(cleared["uri"], uri.as_str());

    // Saving the broken text again (from disk, since save carries no text) publishes them again.
    std::fs::write(&file, &bad).unwrap();
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": bad}]}),
    );
    c.notify("textDocument/didSave", json!({"textDocument": {"uri": uri}}));
    let again =
        c.wait_method("textDocument/publishDiagnostics", |p| p["diagnostics"].as_array().is_some_and(|d| d.len() == 2));
    assert_eq!(again["uri"], uri.as_str());
    c.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    c.wait_method("textDocument/publishDiagnostics", |p| p["diagnostics"] == json!([]));

    // Other documents get nothing.
    c.notify("textDocument/didOpen", json!({"textDocument": {"uri": format!("file://{}", svc.join("app.py").display()), "languageId": "python", "version": 1, "text": "x = ("}}));
    let st = c.call("devspaces/status", json!({}));
    assert!(st.get("result").is_some());
    assert!(!c.seen.iter().any(|v| v["params"]["uri"].as_str().is_some_and(|u| u.ends_with("app.py"))));
    assert_eq!(c.shutdown_and_exit(), 0);
}

#[test]
fn exit_without_shutdown_ends_with_code_1_and_the_daemon_idles_away() {
    let env = Env::new();
    let mut cmd = env.command();
    cmd.env("DEVSPACES_IDLE_SECS", "1");
    let mut c = Lsp::start_with(cmd);
    c.initialize();
    let daemon = env.daemon_pid().expect("--stdio started a daemon");
    let sock = env.state().join("daemon.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the socket is private");
    // A second daemon sees the first and leaves it alone.
    let second = env.command().arg("daemon").output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already"), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(alive(daemon));
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit(), 1, "exit without shutdown ends with code 1");
    // No client and no session: it exits after its idle time by itself.
    wait_gone(daemon, "the idle daemon");
    assert!(!sock.exists());
}

#[test]
fn restart_runs_the_app_again_and_a_disconnect_stops_an_unwatched_session() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let mut c = Lsp::start(&env);
    c.initialize();
    let up = c.call("devspaces/up", json!({"path": svc.to_str().unwrap(), "space": "team/ana"}));
    let session = up["result"]["session"].as_str().unwrap_or_else(|| panic!("{up}")).to_string();
    assert_eq!(up["result"]["space"], "team/ana");
    let pid1 = c.wait_running();

    let r = c.call("devspaces/restart", json!({"path": svc.to_str().unwrap()}));
    assert_eq!(r["result"]["session"], session.as_str(), "{r}");
    assert_eq!(r["result"]["kind"], "process");
    let pid2 = c.wait_running();
    assert_ne!(pid1, pid2, "a process restart starts a new app process");
    wait_gone(pid1, "the app before the restart");
    // A redeploy on request: a fresh root and a new agent, the same URL.
    let stray = env.state().join("spaces/team__ana/python-web/fs/app/only-in-container.txt");
    std::fs::write(&stray, "x").unwrap();
    let r = c.call("devspaces/restart", json!({"path": svc.to_str().unwrap(), "kind": "redeploy"}));
    assert_eq!(r["result"]["kind"], "redeploy", "{r}");
    c.wait_method("devspaces/serviceStatus", |p| {
        p["phase"] == "deploying" && p["detail"].as_str().unwrap_or("").contains("fresh container root")
    });
    let pid3 = c.wait_running();
    assert_ne!(pid3, pid2);
    assert!(!stray.exists(), "a redeploy starts from a fresh root");
    let wrong_space = c.call("devspaces/restart", json!({"path": svc.to_str().unwrap(), "space": "other"}));
    assert_eq!(wrong_space["error"]["code"], -32900, "{wrong_space}");

    let uris = c.call("devspaces/listUris", json!({"path": svc.to_str().unwrap()}));
    assert_eq!(uris["result"]["uris"].as_array().unwrap().len(), 1, "{uris}");
    assert_eq!(uris["result"]["uris"][0]["kind"], "localhost");

    // Leaving without down: nobody else watches, so the session stops and nothing is left.
    let agent = env.state().join("spaces/team__ana/python-web/session.json");
    let agent: Value = serde_json::from_slice(&std::fs::read(agent).unwrap()).unwrap();
    let agent = agent["agentPid"].as_u64().unwrap() as u32;
    c.close_stdin();
    assert_eq!(c.wait_exit(), 1);
    wait_gone(pid2, "the app after its only client left");
    wait_gone(agent, "the agent after its only client left");
}

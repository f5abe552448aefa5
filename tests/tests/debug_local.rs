//! Debugging on the local backend, end to end (issue 17): `up --debug` runs a Python service
//! under debugpy and a Node.js one under its inspector; a real debugger attaches through the
//! daemon's forward, stops at a breakpoint in a request handler, sees the workspace file and
//! line, and after an edit (a process-restart) attaches again and stops in the new code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use devspaces_tests::cdp::{self, attach_inspector, node_app, paused_frame};
use devspaces_tests::dap::{self, debug_ready, get_in_background, line_of, python_app, stopped_frame, Attached};
use devspaces_tests::lsp::Lsp;
use devspaces_tests::*;
use serde_json::{json, Value};

/// `devspacesd up --debug --backend local --json` with this extra environment.
fn up_debug(env: &Env, svc: &Path, vars: &[(&str, String)]) -> Up {
    let mut cmd = env.command();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.arg("up").arg(svc).args(["--debug", "--backend", "local", "--json"]);
    Up::spawn(cmd)
}

#[test]
fn python_under_debugpy_stops_at_a_breakpoint_and_again_after_an_edit() {
    let env = Env::new();
    let debugpy = dap::debugpy();
    let v1 = python_app("1", 0);
    let (_t, svc) = prepared(&env, "pyweb", &[("app.py", &v1), ("requirements.txt", "")]);
    std::fs::create_dir_all(svc.join("static")).unwrap();
    let mut up = up_debug(&env, &svc, &[("PYTHONPATH", debugpy.display().to_string())]);
    let port = up.url_port();
    up.wait_running();

    let ready = debug_ready(&mut up, 0);
    assert_eq!((ready["adapter"].as_str(), ready["host"].as_str()), (Some("python"), Some("127.0.0.1")));
    let mapping = &ready["pathMappings"][0];
    let (local_root, remote_root) = (mapping["localRoot"].as_str().unwrap(), mapping["remoteRoot"].as_str().unwrap());
    assert_eq!(local_root, svc.display().to_string(), "the workspace folder");
    assert!(Path::new(remote_root).join("app.py").is_file(), "the agent's copy: {remote_root}");
    assert_ne!(local_root, remote_root);
    let (debug_port, server_port) = (ready["port"].as_u64().unwrap() as u16, ready["remotePort"].as_u64().unwrap());
    let file = svc.join("app.py").display().to_string();

    // Attach, break in the handler, and see the workspace's file and line.
    let line = line_of(&v1, "body = ");
    let mut dap = dap::first_stop(&mut up, port, debug_port, (local_root, remote_root), &file, line);
    dap::static_edit_keeps_the_debugger(&mut up, &svc, &mut dap);

    // A source edit restarts the app under the debugger: the old debug server goes (the
    // debugger's connection ends), the new one is announced on the same port, and a new attach
    // stops in the new code.
    let v2 = python_app("2", 2);
    let saved = Instant::now();
    std::fs::write(svc.join("app.py"), &v2).unwrap();
    let ready = debug_ready(&mut up, 1);
    let announced = saved.elapsed();
    assert!(dap.closed_within(WAIT), "the old debug server's connection ended");
    assert_eq!(ready["port"].as_u64(), Some(debug_port as u64), "the same local port");
    assert_eq!(ready["remotePort"].as_u64(), Some(server_port), "the session's debug port");
    let line2 = line_of(&v2, "body = ");
    assert_eq!(line2, line + 2);
    let Attached { mut dap, breakpoints, armed_at } =
        dap::attach_debugpy(debug_port, local_root, remote_root, &file, &[line2]);
    assert_eq!(breakpoints[0]["verified"], true, "{breakpoints}");
    println!(
        "python: save to debugReady {} ms, save to breakpoint armed {} ms",
        announced.as_millis(),
        armed_at.duration_since(saved).as_millis()
    );
    let answer = get_in_background(port);
    let (thread, frame) = stopped_frame(&mut dap, &mut up);
    assert_eq!((frame["source"]["path"].as_str(), frame["line"].as_u64()), (Some(file.as_str()), Some(line2 as u64)));
    let version = dap.request("evaluate", json!({"expression": "version", "frameId": frame["id"], "context": "watch"}));
    assert_eq!(version["result"], "'2'", "the new code");
    dap.request("continue", json!({"threadId": thread}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));

    // A redeploy (the develop Dockerfile changed) starts a new agent and the app under the
    // debugger again, on the same ports.
    let dockerfile = svc.join("Dockerfile.develop");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{text}# an edit that redeploys\n")).unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy" && synced_with(p, "app.py"));
    let ready = debug_ready(&mut up, 2);
    assert!(dap.closed_within(WAIT), "the old debug server's connection ended");
    assert_eq!((ready["port"].as_u64(), ready["remotePort"].as_u64()), (Some(debug_port as u64), Some(server_port)));
    let Attached { mut dap, breakpoints, .. } =
        dap::attach_debugpy(debug_port, local_root, remote_root, &file, &[line2]);
    assert_eq!(breakpoints[0]["verified"], true, "{breakpoints}");
    let answer = get_in_background(port);
    let (thread, frame) = stopped_frame(&mut dap, &mut up);
    assert_eq!(frame["line"], line2);
    dap.request("continue", json!({"threadId": thread}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));
    dap.request("disconnect", json!({"terminateDebuggee": false}));

    // Ctrl-C: the app and its debug server are gone; the port is free again.
    up.interrupt();
    std::net::TcpListener::bind(("127.0.0.1", server_port as u16)).expect("the debug server's port is free");
}

#[test]
fn a_service_that_cannot_be_debugged_is_refused_with_the_key_to_add() {
    let env = Env::new();
    let (_t, svc) = prepared(&env, "pyweb", &[("app.py", &python_app("1", 0)), ("requirements.txt", "")]);
    let yaml = std::fs::read_to_string(svc.join("azds.yaml")).unwrap();
    let yaml = yaml.replace("command: [python3, app.py]", "command: [./start.sh]");
    assert!(yaml.contains("./start.sh"), "prep's azds.yaml changed shape:\n{yaml}");
    std::fs::write(svc.join("azds.yaml"), yaml).unwrap();
    let mut cmd = env.command();
    cmd.arg("up").arg(&svc).args(["--debug", "--backend", "local"]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // The project is Python (prep's requirements.txt), but its command is not.
    assert!(err.contains("cannot start './start.sh' under the python debugger"), "{err}");
    assert!(err.contains("set configurations.develop.container.debug.command"), "{err}");
}

#[test]
fn node_under_its_inspector_stops_at_a_breakpoint_and_again_after_an_edit() {
    let env = Env::new();
    let v1 = node_app("1", 0);
    let package = r#"{"name": "nodeweb", "version": "1.0.0", "main": "server.js"}"#;
    let (_t, svc) = prepared(&env, "nodeweb", &[("server.js", &v1), ("package.json", package)]);
    let mut up = up_debug(&env, &svc, &[]);
    let port = up.url_port();
    up.wait_running();

    let ready = debug_ready(&mut up, 0);
    assert_eq!((ready["adapter"].as_str(), ready["host"].as_str()), (Some("node"), Some("127.0.0.1")));
    let mapping = &ready["pathMappings"][0];
    let (local_root, remote_root) = (mapping["localRoot"].as_str().unwrap(), mapping["remoteRoot"].as_str().unwrap());
    assert_eq!(local_root, svc.display().to_string());
    let debug_port = ready["port"].as_u64().unwrap() as u16;
    let file = svc.join("server.js").display().to_string();

    let line = line_of(&v1, "const body");
    let mut cdp = cdp::first_stop(&mut up, port, debug_port, (local_root, remote_root), "server.js", &file, line);

    // A source edit restarts node under its inspector; the old inspector's connection ends.
    let v2 = node_app("2", 3);
    let saved = Instant::now();
    std::fs::write(svc.join("server.js"), &v2).unwrap();
    let ready = debug_ready(&mut up, 1);
    let announced = saved.elapsed();
    assert!(cdp.closed_within(WAIT), "the old inspector's connection ended");
    assert_eq!(ready["port"].as_u64(), Some(debug_port as u64), "the same local port");
    let line2 = line_of(&v2, "const body");
    assert_eq!(line2, line + 3);
    let (mut cdp, armed_at) = attach_inspector(debug_port, remote_root, "server.js", line2);
    println!(
        "node: save to debugReady {} ms, save to breakpoint armed {} ms",
        announced.as_millis(),
        armed_at.duration_since(saved).as_millis()
    );
    let answer = get_in_background(port);
    let (frame, path, at) = paused_frame(&mut cdp, &mut up, local_root, remote_root);
    assert_eq!((path.as_str(), at), (file.as_str(), line2 as u64));
    let v =
        cdp.call("Debugger.evaluateOnCallFrame", json!({"callFrameId": frame["callFrameId"], "expression": "version"}));
    assert_eq!(v["result"]["value"], "2", "the new code");
    cdp.call("Debugger.resume", json!({}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));
    up.interrupt();
}

#[test]
fn the_editor_protocol_switches_a_running_session_to_debugging_and_tells_a_later_watcher() {
    let env = Env::new();
    let (_t, svc) = prepared(&env, "pyweb", &[("app.py", &python_app("1", 0)), ("requirements.txt", "")]);
    let path = svc.display().to_string();
    // The editor's environment, with debugpy where the app's python finds it.
    let mut vars: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
    vars.insert("PYTHONPATH".into(), dap::debugpy().display().to_string().into());
    let mut editor = Lsp::start(&env);
    editor.initialize();
    let up = editor.call("devspaces/up", json!({"path": path, "backend": "local", "env": vars}));
    let session = up["result"]["session"].as_str().unwrap_or_else(|| panic!("up failed: {up}")).to_string();
    editor.wait_running();
    let plain_start =
        |p: &Value| p["line"].as_str().is_some_and(|l| l.starts_with("started '") && !l.contains("debugpy"));
    editor.wait_method("devspaces/log", plain_start);

    let on = editor.call("devspaces/debug", json!({"path": path, "enable": true}));
    assert_eq!(on["result"], json!({"session": session, "service": "pyweb", "debug": true}), "{on}");
    let ready = editor.wait_method("devspaces/debugReady", |p| p["restarts"] == 0);
    assert_eq!((ready["adapter"].as_str(), ready["session"].as_str()), (Some("python"), Some(session.as_str())));
    editor.wait_running();

    // A client that starts watching now learns where to attach at once.
    let mut other = Lsp::start(&env);
    other.initialize();
    other.call("devspaces/watch", json!({"session": session}));
    let replayed = other.wait_method("devspaces/debugReady", |_| true);
    assert_eq!(replayed, ready);

    // Off again: the app restarts without the debugger.
    let off = editor.call("devspaces/debug", json!({"session": session, "enable": false}));
    assert_eq!(off["result"]["debug"], false, "{off}");
    editor.wait_method("devspaces/serviceStatus", |p| p["phase"] == "restarting");
    editor.wait_method("devspaces/log", plain_start);
    editor.wait_running();
    let unknown = editor.call("devspaces/debug", json!({"session": "nope"}));
    assert_eq!(unknown["error"]["code"], -32900, "{unknown}");
    other.shutdown_and_exit();
    editor.shutdown_and_exit();
}

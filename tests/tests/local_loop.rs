//! The core loop on the local backend, end to end: the real binary, real apps, real edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devspaces_tests::*;
use serde_json::Value;

#[test]
fn up_serves_the_page_and_static_edits_keep_the_pid() {
    let env = Env::new();
    let (_t, svc, mut up, port, pid) = up_copy(&env, "examples/python-web");
    let (status, body) = http_get(port, "/");
    assert_eq!(status, 200);
    assert!(body.contains("1.0.0"), "page shows the version: {body}");

    let css = svc.join("static/style.css");
    let mut text = std::fs::read_to_string(&css).unwrap();
    text.push_str("\n/* static-marker-1 */\n");
    std::fs::write(&css, &text).unwrap();
    let s = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "static/style.css"));
    assert_eq!(s["class"], "static-sync");
    let (_, body) = http_get(port, "/static/style.css");
    assert!(body.contains("static-marker-1"));
    assert!(alive(pid), "the app was not restarted");
    assert!(!up.seen.iter().any(|e| e["params"]["phase"] == "restarting"), "a static edit restarts nothing");
    // The trace of those requests arrives as events.
    let t = up.wait_method("devspaces/trace", |p| p["path"] == "/static/style.css");
    assert_eq!(t["method"], "GET");
    assert_eq!(t["status"], 200);
    assert!(t["bytes"].as_u64().unwrap() > 0);
    up.interrupt();
    wait_gone(pid, "the app after Ctrl-C");
}

#[test]
fn source_edits_restart_and_failed_builds_recover() {
    let env = Env::new();
    let (_t, svc, mut up, port, pid1) = up_copy(&env, "examples/python-web");

    std::fs::write(svc.join("version.py"), "# The version shown on the page.\nVERSION = \"2.0.0\"\n").unwrap();
    // Requests during the restart (old app stopped, py_compile, the new one not listening yet)
    // wait for the new app at the forward instead of getting a 502: every answer is a 200.
    let mut answers = Vec::new();
    loop {
        let (status, body) = http_get(port, "/version");
        answers.push(status);
        if body.trim() == "2.0.0" {
            break;
        }
    }
    assert!(answers.iter().all(|s| *s == 200), "answers during the restart: {answers:?}");
    let pid2 = up.wait_running();
    assert_ne!(pid1, pid2, "a source edit restarts the app");
    let s = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "version.py"));
    assert_eq!(s["class"], "process-restart");
    assert_eq!(http_get(port, "/version").1.trim(), "2.0.0");
    assert!(up.seen.iter().any(|e| e["method"] == "devspaces/log"
        && e["params"]["stream"] == "build"
        && e["params"]["line"].as_str().unwrap().contains("py_compile")));

    let app = svc.join("app.py");
    let good = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{good}\ndef broken(:\n")).unwrap();
    let failed = up.wait_phase("failed");
    assert_eq!(failed["exitCode"], 1);
    let last: Vec<String> =
        failed["lastLines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
    assert!(last.iter().any(|l| l.contains("SyntaxError")), "{last:?}");
    wait_gone(pid2, "the app after a failed build");

    std::fs::write(&app, &good).unwrap();
    let pid3 = up.wait_running();
    assert_ne!(pid3, pid2);
    assert_eq!(http_get(port, "/version").1.trim(), "2.0.0");
}

#[test]
fn dockerfile_chart_and_azds_edits_redeploy_on_the_same_url() {
    let env = Env::new();
    let (_t, svc, mut up, port, _) = up_copy(&env, "examples/python-web");
    let stray = container_root(&env, "python-web").join("app/only-in-container.txt");
    std::fs::write(&stray, "x").unwrap();
    for (i, file) in ["Dockerfile.develop", "charts/python-web/values.yaml", "azds.yaml"].iter().enumerate() {
        let agent_before = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
        let p = svc.join(file);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str(&format!("\n# edit {i}\n"));
        std::fs::write(&p, text).unwrap();
        up.wait_method("devspaces/serviceStatus", |p| {
            p["phase"] == "deploying" && p["detail"].as_str().unwrap().contains("fresh container root")
        });
        up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");
        up.wait_running();
        assert!(!stray.exists(), "a redeploy starts from a fresh root");
        let agent_after = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
        assert_ne!(agent_before, agent_after, "a redeploy starts a new agent");
        wait_gone(agent_before, "the old agent after a redeploy");
        assert_eq!(http_get(port, "/version").0, 200, "same URL after redeploying for {file}");
    }
}

#[test]
fn deletes_and_renames_propagate_and_transient_files_do_not() {
    let env = Env::new();
    let (_t, svc, mut up, _, _) = up_copy(&env, "examples/python-web");
    let remote = container_root(&env, "python-web").join("app/static");

    std::fs::write(svc.join("static/new.css"), "a{}").unwrap();
    up.wait_method("devspaces/synced", |p| synced_with(p, "static/new.css"));
    assert!(remote.join("new.css").is_file());

    std::fs::rename(svc.join("static/new.css"), svc.join("static/renamed.css")).unwrap();
    up.wait_method("devspaces/synced", |p| synced_with(p, "static/renamed.css"));
    assert!(remote.join("renamed.css").is_file());
    assert!(!remote.join("new.css").exists(), "the old name is deleted remotely");

    // Created and deleted at once (within one batch), then a real edit as a barrier.
    std::fs::write(svc.join("static/transient.css"), "t{}").unwrap();
    std::fs::remove_file(svc.join("static/transient.css")).unwrap();
    std::fs::remove_file(svc.join("static/renamed.css")).unwrap();
    up.wait_method("devspaces/synced", |p| synced_with(p, "static/renamed.css"));
    assert!(!remote.join("renamed.css").exists());
    assert!(!remote.join("transient.css").exists());
    assert!(
        !up.seen.iter().any(|e| e.to_string().contains("transient.css")),
        "a file that lived inside one batch causes no remote change"
    );
}

#[test]
fn after_sigkill_a_new_up_syncs_only_what_changed() {
    let env = Env::new();
    let (_t, svc, mut up, _, app_pid) = up_copy(&env, "examples/python-web");
    let agent_pid = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
    // SIGKILL the daemon that owns the session (not the `up` client).
    let daemon = env.daemon_pid().expect("up runs its session in the shared daemon");
    unsafe {
        libc::kill(daemon as i32, libc::SIGKILL);
    }
    wait_gone(daemon, "the daemon after SIGKILL");
    up.interrupt();
    // The agent notices its parent is gone (stdin closes) and stops the app.
    wait_gone(agent_pid, "the agent after its daemon was killed");
    wait_gone(app_pid, "the app after its daemon was killed");

    std::fs::write(svc.join("version.py"), "# The version shown on the page.\nVERSION = \"3.0.0\"\n").unwrap();
    let mut up2 = Up::start(&env, &svc);
    let port = up2.url_port();
    let first = up2.wait_method("devspaces/synced", |_| true);
    assert_eq!(first["files"], serde_json::json!(["version.py"]), "only the changed file is sent");
    up2.wait_running();
    assert_eq!(http_get(port, "/version").1.trim(), "3.0.0");
    let log: Value = serde_json::from_slice(&std::fs::read(env.synclog(&svc)).unwrap()).unwrap();
    let files = &log["targets"]["local/default"]["files"];
    assert!(files["version.py"]["blake3"].is_string() && files["app.py"]["size"].as_u64().unwrap() > 0, "{log}");
    let agents_alive = [agent_pid, record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32]
        .iter()
        .filter(|p| alive(**p))
        .count();
    assert_eq!(agents_alive, 1, "exactly one agent runs");
    up2.interrupt();

    // No synclog: a full sync, which asks the agent what its root holds and sends only what
    // differs (here the one file edited while no session ran), as for a new container whose image
    // was built from the workspace.
    std::fs::remove_file(env.synclog(&svc)).unwrap();
    std::fs::write(svc.join("static/style.css"), "body { color: teal; }\n").unwrap();
    let mut up3 = Up::start(&env, &svc);
    let port = up3.url_port();
    let first = up3.wait_method("devspaces/synced", |_| true);
    assert_eq!(first["files"], serde_json::json!(["static/style.css"]), "only what the root lacks is sent");
    let line =
        up3.wait_method("devspaces/log", |p| p["line"].as_str().unwrap_or("").starts_with("Synchronizing files"));
    let line = line["line"].as_str().unwrap();
    assert!(line.contains("full: 1 sent") && line.contains("already in the container"), "{line}");
    up3.wait_running();
    assert!(http_get(port, "/static/style.css").1.contains("teal"));
    // The synclog it wrote describes the root again: the next session's sync is incremental.
    up3.interrupt();
    let mut up4 = Up::start(&env, &svc);
    let line =
        up4.wait_method("devspaces/log", |p| p["line"].as_str().unwrap_or("").starts_with("Synchronizing files"));
    assert!(line["line"].as_str().unwrap().contains("incremental: 0 sent"), "{line}");
    up4.wait_running();
    up4.interrupt();

    // DEVSPACES_SYNC_CHECK=off in the client's environment: a full sync sends every file, as
    // before the check (what the benchmarks compare it with).
    std::fs::remove_file(env.synclog(&svc)).unwrap();
    let mut cmd = env.command();
    cmd.arg("up").arg(&svc).arg("--json").env("DEVSPACES_SYNC_CHECK", "off");
    let mut up5 = Up::spawn(cmd);
    let first = up5.wait_method("devspaces/synced", |_| true);
    let files: Vec<&str> = first["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    for f in ["app.py", "version.py", "static/index.html", "static/style.css"] {
        assert!(files.contains(&f), "without the check, a full sync sends every file: {first}");
    }
    up5.wait_running();
}

#[test]
fn a_crashing_app_is_reported_and_the_next_change_restarts_it() {
    let env = Env::new();
    let (_t, svc) = copy_service("tests/fixtures/apps/crasher");
    std::fs::write(svc.join("mode.txt"), "crash\n").unwrap();
    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    let crashed = up.wait_phase("crashed");
    assert_eq!(crashed["exitCode"], 3);
    assert!(
        crashed["lastLines"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("fatal: boom")),
        "{crashed}"
    );
    std::fs::write(svc.join("mode.txt"), "serve\n").unwrap();
    up.wait_running();
    assert!(served(port, "/").contains("crasher ok"), "the fixed app serves");
}

#[test]
fn an_app_that_ignores_port_gets_its_real_port_forwarded() {
    let env = Env::new();
    let (_t, svc) = copy_service("tests/fixtures/apps/fixed-port");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(svc.join("port.txt"), format!("{free}\n")).unwrap();
    let mut up = Up::start(&env, &svc);
    let f = up.wait_method("devspaces/portForward", move |p| p["remotePort"] == free);
    let (status, body) = http_get(f["localPort"].as_u64().unwrap() as u16, "/");
    assert_eq!(status, 200);
    assert!(body.contains("fixed-port ok"));
}

#[test]
fn the_dockerfile_cmd_workdir_env_and_expose_are_honoured() {
    let env = Env::new();
    let (_t, _svc, _up, port, _) = up_copy(&env, "tests/fixtures/apps/dockerfile-cmd");
    let body = served(port, "/");
    assert!(body.contains("hello-from-env"), "{body}");
    assert!(body.contains("/srv/app"), "the cwd is the mapped WORKDIR: {body}");
}

#[test]
fn list_up_list_uris_and_down() {
    let env = Env::new();
    let (_t, svc, mut up, port, app) = up_copy(&env, "examples/node-web");
    let out = env.command().args(["list-up", "--json"]).output().unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["service"], "node-web");
    assert_eq!(line["phase"], "running");
    let out = env.command().args(["list-uris"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("http://localhost:{port}")));
    let agent = record(&env, "node-web")["agentPid"].as_u64().unwrap() as u32;
    let out = env.command().arg("down").arg(&svc).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = up.child.wait();
    assert!(!alive(app) && !alive(agent), "down leaves no process behind");
}

#[test]
fn a_build_context_subfolder_is_laid_out_as_copy_would() {
    let env = Env::new();
    let (_t, svc, mut up, port, _) = up_copy(&env, "tests/fixtures/apps/subcontext");
    let root = container_root(&env, "subcontext").join("app");
    assert!(root.join("app.py").is_file(), "context files land at the WORKDIR root");
    assert!(!root.join("src").exists() && !root.join("notes.md").exists(), "nothing outside the context is synced");
    assert_eq!(http_get(port, "/").1.trim(), "hello from the context");
    std::fs::write(svc.join("src/static/hello.html"), "edited\n").unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync");
    assert_eq!(http_get(port, "/").1.trim(), "edited");
}

#[test]
fn hitting_the_inotify_limit_falls_back_to_polling_with_the_sysctl_to_raise() {
    // A user namespace of our own has its own inotify limit: set it to one watch there, so the
    // machine's limits are never touched. The session runs in-process, inside that namespace.
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "echo 1 > /proc/sys/user/max_inotify_watches && exec \"$0\" up \"$1\" --json",
    ])
    .arg(bin())
    .arg(&svc)
    .env("DEVSPACES_STATE_DIR", env.state())
    .env("TMPDIR", env.tmp())
    .env("DEVSPACES_NO_DAEMON", "1");
    let mut up = Up::spawn(cmd);
    let warning =
        up.wait_method("devspaces/log", |p| p["line"].as_str().unwrap_or("").contains("falling back to polling"));
    let line = warning["line"].as_str().unwrap();
    assert!(line.contains("sysctl fs.inotify.max_user_watches="), "{line}");
    let port = up.url_port();
    up.wait_running();
    // Polling still carries edits, deep folders included.
    std::fs::write(svc.join("static/style.css"), "/* polled */\n").unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync");
    assert!(http_get(port, "/static/style.css").1.contains("polled"));
    // A second save right after (most likely within the same second of mtime) is seen too.
    std::fs::write(svc.join("static/style.css"), "/* polled again */\n").unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync");
    assert!(http_get(port, "/static/style.css").1.contains("polled again"));
}

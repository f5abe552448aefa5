//! The container backend end to end on a real engine (tests/engine/: dockerd built from the Go
//! module proxy): a Node.js service whose develop Dockerfile runs `npm install` of a real package,
//! as the reference app's services do. `up` with no `--backend` picks `container`; a static edit
//! is served by the same process, a `server.js` edit restarts it in the same container, a
//! `package.json` edit rebuilds (re-running `npm install`) into a new container behind the same
//! local port; logs and traces arrive; Ctrl-C leaves no container, network or image. And the
//! choice: the python-web example picks `local`; with no engine the warning names the RUN steps,
//! and the crash of the app on the local backend names the step that would have installed what
//! it missed.
//!
//! And the whole app of tests/src/apps.rs (three Python services calling each other by name) with
//! one `up` of its folder; and debugging (issue 17): `up --debug` of a Node.js service, a real
//! inspector client through the published and forwarded debug port, a breakpoint hit before and
//! after an edit.
//!
//! Run with `eval "$(tests/engine/env)"`, `DEVSPACES_TEST_NODE_IMAGE` and
//! `DEVSPACES_TEST_PYTHON_IMAGE` naming a Node.js and a Python image the engine holds
//! (tests/cluster/base-image builds them from Debian's packages) and
//! `cargo test -p devspaces-tests --features engine --test container_up`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devspaces_tests::apps::{assert_only_data_restarted, edit_data, use_base_image, write_three_services};
use devspaces_tests::cdp::{self, attach_inspector, node_app, paused_frame};
use devspaces_tests::dap::{debug_ready, get_in_background, line_of};
use devspaces_tests::{end_child, http_get, ok, record, repo_root, short_id, synced_with, Env, Messages, Up, WAIT};
use serde_json::{json, Value};

/// A build whose RUN step installs from the npm registry, on two shared cores.
const BUILD: Duration = Duration::from_secs(300);

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").expect("DOCKER_HOST: run `eval \"$(tests/engine/env)\"` first")
}

fn node_image() -> String {
    std::env::var("DEVSPACES_TEST_NODE_IMAGE").expect("DEVSPACES_TEST_NODE_IMAGE: a Node.js image the engine holds")
}

fn python_image() -> String {
    std::env::var("DEVSPACES_TEST_PYTHON_IMAGE").expect("DEVSPACES_TEST_PYTHON_IMAGE: a Python image the engine holds")
}

/// A GET on the engine's API (its unix socket), as JSON.
fn engine(path: &str) -> Value {
    let host = docker_host();
    let sock = host.strip_prefix("unix://").expect("a unix:// DOCKER_HOST");
    let out = ok(Command::new("curl").args(["-sf", "--unix-socket", sock, &format!("http://engine{path}")]));
    serde_json::from_str(&out).unwrap()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in v.as_array().unwrap() {
        match &item[key] {
            Value::Array(a) => out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string))),
            Value::String(s) => out.push(s.clone()),
            _ => {}
        }
    }
    out
}

const SERVER_JS: &str = r#"const http = require("http");
const fs = require("fs");
const os = require("os");
const isNumber = require("is-number");
let isOdd = null;
try { isOdd = require("is-odd"); } catch (e) { isOdd = null; }
const port = process.env.PORT || 3000;
const GREETING = "hello";
http.createServer((req, res) => {
  if (req.url === "/index.html") {
    res.end(fs.readFileSync(__dirname + "/public/index.html"));
    return;
  }
  res.end(`${GREETING} pid=${process.pid} host=${os.hostname()} isNumber=${isNumber(5)} isOdd=${isOdd ? isOdd(3) : "absent"}\n`);
}).listen(port, () => console.log(`web listening on ${port}`));
"#;

const PACKAGE_JSON: &str = r#"{
  "name": "web",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "is-number": "7.0.0"
  }
}
"#;

/// Node's official images say `FROM node`; here the base comes from a build arg, as in the
/// Kubernetes tests, because no registry image can be pulled on these machines.
const DOCKERFILE: &str = "ARG NODE_IMAGE=node:20\nFROM ${NODE_IMAGE}\nWORKDIR /app\nCOPY package*.json ./\nRUN npm install\nCOPY . .\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n";

const AZDS: &str = "kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\nconfigurations:\n  develop:\n    build:\n      dockerfile: Dockerfile\n      args:\n        NODE_IMAGE: ${NODE_IMAGE:-node:20}\n    container:\n      sync:\n      - \"**/*.js\"\n      - \"public/**\"\n      iterate:\n        processesToKill: [node]\n";

fn write_service(root: &Path) -> std::path::PathBuf {
    let svc = root.join("web");
    for (p, body) in [
        ("server.js", SERVER_JS),
        ("package.json", PACKAGE_JSON),
        ("Dockerfile", DOCKERFILE),
        ("azds.yaml", AZDS),
        (".dockerignore", "node_modules\n"),
        ("public/index.html", "<h1>first</h1>\n"),
    ] {
        std::fs::create_dir_all(svc.join(p).parent().unwrap()).unwrap();
        std::fs::write(svc.join(p), body).unwrap();
    }
    svc
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

fn field<'a>(body: &'a str, key: &str) -> &'a str {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

fn static_agent() {
    ok(Command::new(repo_root().join("scripts/build-static-agent.sh")).env_remove("RUSTFLAGS"));
}

fn ds(env: &Env) -> Command {
    let mut c = env.command();
    c.env("DOCKER_HOST", docker_host()).env("NODE_IMAGE", node_image()).env("DEVSPACES_BUILD_NETWORK", "host");
    c
}

/// The static agent built, this test's state and the Node.js service in a folder of its own.
fn setup() -> (Env, tempfile::TempDir, std::path::PathBuf) {
    static_agent();
    let root = tempfile::tempdir().unwrap();
    let svc = write_service(root.path());
    (Env::new(), root, svc)
}

#[test]
fn a_node_service_with_run_steps_runs_in_a_container() {
    let (env, _root, svc) = setup();

    // No --backend: the Dockerfile has a RUN step and an engine answers. A space of its own: its
    // network is this test's alone.
    let space = format!("ct{}", short_id());
    let mut cmd = ds(&env);
    cmd.arg("up").arg(&svc).args(["--space", &space, "--json"]);
    let mut up = Up::spawn(cmd);
    let first = up.wait_for_within("the app running in its container", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    })["params"]
        .clone();
    let session = first["session"].as_str().unwrap().to_string();
    let rec: Value = serde_json::from_slice(
        &std::fs::read(env.state().join("spaces").join(&space).join("web/session.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["backend"], "container", "auto picked the container backend");
    let port = up.url_port();
    let (status, body) = http_get(port, "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("hello ") && body.contains("isNumber=true"), "npm install ran in the image: {body}");
    let (pid1, host1) = (field(&body, "pid").to_string(), field(&body, "host").to_string());
    let containers =
        engine(&format!("/containers/json?filters=%7B%22label%22%3A%5B%22devspaces.session%3D{session}%22%5D%7D"));
    let ids: Vec<String> = names(&containers, "Id");
    assert_eq!(ids.len(), 1, "one container: {containers}");
    assert!(ids[0].starts_with(&host1), "the app answers from the session's container {ids:?}: {body}");
    let ports = &containers[0]["Ports"];
    assert!(ports.as_array().unwrap().iter().all(|p| p["IP"] == "127.0.0.1"), "published on loopback only: {ports}");
    up.wait_method("devspaces/log", |p| p["line"].as_str().is_some_and(|l| l.contains("web listening on 3000")));
    up.wait_method("devspaces/trace", |p| p["path"] == "/" && p["status"] == 200);

    // A static edit: synced into the same container, served by the same process.
    edit(&svc.join("public/index.html"), |_| "<h1>second</h1>\n".into());
    up.wait_method("devspaces/synced", |p| {
        p["class"] == "static-sync" && p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == "public/index.html"))
    });
    assert_eq!(http_get(port, "/index.html").1, "<h1>second</h1>\n");
    let body = http_get(port, "/").1;
    assert_eq!((field(&body, "pid"), field(&body, "host")), (pid1.as_str(), host1.as_str()), "{body}");

    // server.js: the process restarts in the same container.
    edit(&svc.join("server.js"), |t| t.replace("const GREETING = \"hello\"", "const GREETING = \"howdy\""));
    // Requests during the restart wait for the new app at the forward (through the engine's port
    // proxy, which accepts and closes while nothing listens): every answer is a 200.
    let started = Instant::now();
    let mut answers = Vec::new();
    let body = loop {
        let (s, b) = http_get(port, "/");
        answers.push(s);
        if s == 200 && b.starts_with("howdy ") {
            break b;
        }
        assert!(started.elapsed() < BUILD, "the restarted app never served the edit: {b}");
    };
    assert!(answers.iter().all(|s| *s == 200), "answers during the restart: {answers:?}");
    assert_ne!(field(&body, "pid"), pid1, "a new process: {body}");
    assert_eq!(field(&body, "host"), host1, "in the same container: {body}");
    assert_eq!(up.wait_running().to_string(), field(&body, "pid"), "the session reports the new process");

    // package.json: a rebuild that runs `npm install` again, a new container, the same local port.
    edit(&svc.join("package.json"), |t| {
        t.replace("\"is-number\": \"7.0.0\"", "\"is-number\": \"7.0.0\",\n    \"is-odd\": \"3.0.1\"")
    });
    up.wait_for_within("the redeploy", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "deploying"
    });
    up.wait_for_within("the app running in its new container", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    });
    let body = http_get(port, "/").1;
    assert!(body.contains("isOdd=true"), "the new dependency is installed: {body}");
    assert_ne!(field(&body, "host"), host1, "a new container: {body}");
    let npm_steps: Vec<String> = up
        .seen
        .iter()
        .filter(|v| v["method"] == "devspaces/log" && v["params"]["stream"] == "build")
        .filter_map(|v| v["params"]["line"].as_str().map(str::to_string))
        .collect();
    let runs = npm_steps.iter().filter(|l| l.contains(": RUN npm install")).count();
    assert_eq!(runs, 2, "two builds ran the npm install step: {npm_steps:?}");
    let after = npm_steps.iter().rposition(|l| l.contains(": RUN npm install")).unwrap();
    assert!(
        !npm_steps[after + 1].contains("Using cache"),
        "package.json changed, so npm install ran again: {:?}",
        &npm_steps[after..]
    );
    let containers = engine(&format!(
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22devspaces.session%3D{session}%22%5D%7D"
    ));
    assert_eq!(names(&containers, "Id").len(), 1, "the old container is gone: {containers}");

    // Ctrl-C: no container, network or image is left.
    up.interrupt();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = engine(&format!(
            "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22devspaces.session%3D{session}%22%5D%7D"
        ));
        let images: Vec<String> = names(&engine("/images/json"), "RepoTags")
            .into_iter()
            .filter(|t| t.starts_with("devspaces/web:"))
            .collect();
        let networks: Vec<String> =
            names(&engine("/networks"), "Name").into_iter().filter(|n| *n == format!("devspaces-{space}")).collect();
        if c.as_array().unwrap().is_empty() && images.is_empty() && networks.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: containers {c}, images {images:?}, networks {networks:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (within a build's time) until no container, network or image of `space` and its
/// `sessions` is left.
fn nothing_left(space: &str, sessions: &[String]) {
    let deadline = Instant::now() + BUILD;
    loop {
        let containers = engine(&format!(
            "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22devspaces.space%3D{space}%22%5D%7D"
        ));
        let networks: Vec<String> =
            names(&engine("/networks"), "Name").into_iter().filter(|n| *n == format!("devspaces-{space}")).collect();
        let images: Vec<String> = names(&engine("/images/json"), "RepoTags")
            .into_iter()
            .filter(|t| sessions.iter().any(|s| t.contains(s.as_str())))
            .collect();
        if names(&containers, "Id").is_empty() && networks.is_empty() && images.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {containers} {networks:?} {images:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `up` without --json, until its first line; then Ctrl-C. Returns the first line and stderr.
fn first_line(mut cmd: Command) -> (String, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    end_child(&mut child, Duration::from_secs(30));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (line.trim_end().to_string(), err)
}

#[test]
fn the_backend_is_chosen_from_the_run_steps_and_the_engine() {
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    let svc = write_service(root.path());

    // The example has no RUN step: local, engine or not.
    let example = repo_root().join("examples/python-web");
    let mut cmd = ds(&env);
    cmd.env("DEVSPACES_NO_DAEMON", "1").arg("up").arg(&example);
    let (line, _) = first_line(cmd);
    assert_eq!(line, "Using dev space 'default' with target 'local'");

    // The Node.js service with an engine: the container, named by the engine it found.
    let mut cmd = ds(&env);
    cmd.env("DEVSPACES_NO_DAEMON", "1").arg("up").arg(&svc);
    let (line, _) = first_line(cmd);
    assert_eq!(line, "Using dev space 'default' with target 'container (docker)'");

    // No engine: local, a warning that names the RUN step, and the crash names it again.
    let mut cmd = env.command();
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock").arg("up").arg(&svc).arg("--json");
    let mut up = Up::spawn(cmd);
    let crashed = up.wait_phase("crashed");
    let detail = crashed["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "likely cause: the module 'is-number' is missing: Dockerfile:5 `RUN npm install` would have provided it"
        ),
        "{detail}"
    );
    assert!(crashed["lastLines"].to_string().contains("Cannot find module 'is-number'"), "{crashed}");
    assert_eq!(record(&env, "web")["backend"], "local");
    up.interrupt();
    let mut err = String::new();
    std::io::Read::read_to_string(up.child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("warning: using the local backend: it does not run the develop Dockerfile's RUN steps"),
        "{err}"
    );
    assert!(err.contains("  Dockerfile:5: RUN npm install\n"), "{err}");
    assert!(err.contains("no container engine answered: tried unix:///nonexistent/docker.sock (absent)"), "{err}");
}

#[test]
fn a_failed_build_says_the_engines_reason_and_a_fix_deploys() {
    let (env, _root, svc) = setup();
    edit(&svc.join("Dockerfile"), |t| t.replace("RUN npm install\n", "RUN npm install && exit 3\n"));
    let mut cmd = ds(&env);
    cmd.arg("up").arg(&svc).args(["--backend", "container", "--space", &format!("cf{}", short_id()), "--json"]);
    let mut up = Up::spawn(cmd);
    let failed = up.wait_for_within("the failed build", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "failed"
    })["params"]
        .clone();
    let detail = failed["detail"].as_str().unwrap();
    assert!(detail.contains("returned a non-zero code: 3"), "the engine's reason: {detail}");
    assert!(detail.contains("building devspaces/web:"), "{detail}");
    // The loop goes on: the fix deploys.
    edit(&svc.join("Dockerfile"), |t| t.replace("RUN npm install && exit 3\n", "RUN npm install\n"));
    up.wait_for_within("the fixed build running", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    });
    let port = up.url_port();
    assert!(http_get(port, "/").1.contains("isNumber=true"));
    up.interrupt();
}

/// web's page as JSON once it is 200 (the services may still be starting).
fn page(port: u16, within: Duration, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = http_get(port, "/");
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
            if want(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "the page never showed what was wanted: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole app of tests/src/apps.rs (web -> api -> data, calling `http://api/` by name) with one
/// `up` of its folder on the container backend: the services share the space's network, where
/// each is an alias and its chart's Service port (80) is relayed to the app's (8080) by its agent.
#[test]
fn three_services_reach_each_other_by_name_on_the_spaces_network() {
    static_agent();
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    write_three_services(&env, root.path());
    use_base_image(root.path(), &python_image());
    let space = format!("wa{}", short_id());
    let started = Instant::now();
    let mut cmd = ds(&env);
    cmd.arg("up").arg(root.path()).args(["--backend", "container", "--space", &space, "--json"]);
    let mut up = Up::spawn(cmd);
    let web = up.wait_for_within("web's forward", BUILD, |v| {
        v["method"] == "devspaces/portForward" && v["params"]["service"] == "web" && v["params"]["state"] == "open"
    });
    let port = web["params"]["localPort"].as_u64().unwrap() as u16;
    let v = page(port, BUILD, |v| v["api"]["data"]["item"] == "apple");
    eprintln!("container backend: up to all three serving: {} ms", started.elapsed().as_millis());
    assert_eq!(v["api"]["via"], "api", "{v}");

    // An edit in the data service restarts it alone, in its container.
    edit_data(root.path(), "apple", "banana");
    let after = page(port, BUILD, |v| v["api"]["data"]["item"] == "banana");
    assert_eq!(after["pid"], v["pid"], "web was not restarted: {after}");
    assert_eq!(after["api"]["pid"], v["api"]["pid"], "api was not restarted: {after}");
    assert_only_data_restarted(&mut up);

    // `down` of the folder: no container, network or image of the space is left.
    let sessions: std::collections::BTreeSet<String> = up
        .seen
        .iter()
        .filter_map(|e| (e["method"] == "devspaces/serviceStatus").then(|| e["params"]["session"].as_str())?)
        .map(str::to_string)
        .collect();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    ok(ds(&env).arg("down").arg(root.path()).args(["--space", &space]));
    let deadline = Instant::now() + BUILD;
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not end after down:\n{}", up.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    nothing_left(&space, &sessions.into_iter().collect::<Vec<_>>());
}

/// The debugging service: node_app (listening on every address of its container) in an image
/// that needs no registry.
fn write_debug_service(root: &Path, server_js: &str) -> std::path::PathBuf {
    let svc = root.join("nodedebug");
    let dockerfile = "ARG NODE_IMAGE=node:20\nFROM ${NODE_IMAGE}\nWORKDIR /app\nCOPY . .\nENV PORT=3000 APP_HOST=0.0.0.0\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n";
    let azds = AZDS.replace("      - \"public/**\"\n", "");
    for (p, body) in [("server.js", server_js), ("Dockerfile", dockerfile), ("azds.yaml", azds.as_str())] {
        std::fs::create_dir_all(svc.join(p).parent().unwrap()).unwrap();
        std::fs::write(svc.join(p), body).unwrap();
    }
    svc
}

/// Issue 17 on the container backend: `up --debug` runs node under its inspector in the
/// container; the debug port is published on loopback and forwarded like the app's, and a real
/// debugger (the inspector protocol) stops at a breakpoint in the handler, with the workspace's
/// file and line through the path mapping; after an edit (a process-restart in the same
/// container) it attaches again on `debugReady` and stops in the new code.
#[test]
fn node_under_its_inspector_in_a_container_stops_at_a_breakpoint_and_again_after_an_edit() {
    static_agent();
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    let v1 = node_app("1", 0);
    let svc = write_debug_service(root.path(), &v1);
    let space = format!("cd{}", short_id());
    let mut cmd = ds(&env);
    cmd.arg("up").arg(&svc).args(["--debug", "--backend", "container", "--space", &space, "--json"]);
    let mut up = Up::spawn(cmd);
    let running = up.wait_for_within("the app running in its container", BUILD, |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    });
    let session = running["params"]["session"].as_str().unwrap().to_string();
    let port = up.url_port();

    let ready = debug_ready(&mut up, 0);
    assert_eq!((ready["adapter"].as_str(), ready["host"].as_str()), (Some("node"), Some("127.0.0.1")));
    let mapping = &ready["pathMappings"][0];
    let (local_root, remote_root) = (mapping["localRoot"].as_str().unwrap(), mapping["remoteRoot"].as_str().unwrap());
    assert_eq!(local_root, svc.display().to_string(), "the workspace folder");
    assert_eq!(remote_root, "/app", "the image's WORKDIR");
    let debug_port = ready["port"].as_u64().unwrap() as u16;
    assert_eq!(ready["remotePort"].as_u64(), Some(9229), "the inspector's usual port, in the container");
    let containers =
        engine(&format!("/containers/json?filters=%7B%22label%22%3A%5B%22devspaces.session%3D{session}%22%5D%7D"));
    let ports = &containers[0]["Ports"];
    assert!(
        ports.as_array().unwrap().iter().any(|p| p["PrivatePort"] == 9229 && p["IP"] == "127.0.0.1"),
        "the debug port is published on loopback: {ports}"
    );
    let file = svc.join("server.js").display().to_string();

    let line = line_of(&v1, "const body");
    let mut cdp = cdp::first_stop(&mut up, port, debug_port, (local_root, remote_root), "server.js", &file, line);

    // A source edit restarts node under its inspector in the same container.
    let v2 = node_app("2", 3);
    let saved = Instant::now();
    std::fs::write(svc.join("server.js"), &v2).unwrap();
    let ready = debug_ready(&mut up, 1);
    let announced = saved.elapsed();
    assert!(cdp.closed_within(WAIT), "the old inspector's connection ended");
    assert_eq!(ready["port"].as_u64(), Some(debug_port as u64), "the same local port");
    let line2 = line_of(&v2, "const body");
    let (mut cdp, armed_at) = attach_inspector(debug_port, remote_root, "server.js", line2);
    println!(
        "container node: save to debugReady {} ms, save to breakpoint armed {} ms",
        announced.as_millis(),
        armed_at.duration_since(saved).as_millis()
    );
    let synced = up.wait_method("devspaces/synced", |p| p["class"] != "redeploy" && synced_with(p, "server.js"));
    assert_eq!(synced["class"], "process-restart");
    let answer = get_in_background(port);
    let (frame, path, at) = paused_frame(&mut cdp, &mut up, local_root, remote_root);
    assert_eq!((path.as_str(), at), (file.as_str(), line2 as u64));
    let v =
        cdp.call("Debugger.evaluateOnCallFrame", json!({"callFrameId": frame["callFrameId"], "expression": "version"}));
    assert_eq!(v["result"]["value"], "2", "the new code");
    cdp.call("Debugger.resume", json!({}));
    assert_eq!(answer.join().unwrap(), (200, "version 2\n".to_string()));
    let same = engine(&format!(
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22devspaces.session%3D{session}%22%5D%7D"
    ));
    assert_eq!(names(&same, "Id"), names(&containers, "Id"), "the same container: a process-restart");

    // Ctrl-C: no container, network or image is left.
    up.interrupt();
    nothing_left(&space, &[session]);
}

//! Where the local backend syncs, end to end: `fs/<syncTarget>`, else where `COPY .` put the context; the app keeps its WORKDIR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use devspaces_tests::*;

/// Polls (bounded) until `path` answers with `text`: the synced event may be a batch's twin.
fn eventually_serves(port: u16, path: &str, text: &str, up: &Up) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = http_get(port, path);
        if body.contains(text) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{path} never served {text:?}: {status} {body}\n{}", up.dump());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Where a fixture's files land in its container root and where its app runs; each with why.
struct Layout {
    fixture: &'static str,
    /// The service folder inside the fixture, when it is not the fixture itself.
    service: Option<&'static str>,
    /// A file the sync puts there (relative to the container root).
    lands: (&'static str, &'static str),
    /// A path it must not make.
    not_made: (&'static str, &'static str),
    /// How the app's working directory ends.
    cwd: (&'static str, &'static str),
}

/// A copy of a fixture running, its layout as expected, the deploy's full sync taken.
struct Running {
    _tmp: tempfile::TempDir,
    svc: PathBuf,
    up: Up,
    port: u16,
    pid: u32,
}

fn start(env: &Env, layout: &Layout) -> Running {
    let (tmp, copy) = copy_service(layout.fixture);
    let svc = layout.service.map_or(copy.clone(), |s| copy.join(s));
    let mut up = Up::start(env, &svc);
    let port = up.url_port();
    let pid = up.wait_running();
    let fs = container_root(env, &svc.file_name().unwrap().to_string_lossy());
    assert!(fs.join(layout.lands.0).is_file(), "{}", layout.lands.1);
    assert!(!fs.join(layout.not_made.0).exists(), "{}", layout.not_made.1);
    let cwd = served(port, "/cwd");
    assert!(cwd.ends_with(layout.cwd.0), "{}: {cwd}", layout.cwd.1);
    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");
    Running { _tmp: tmp, svc, up, port, pid }
}

/// Saves `text` to `file`: a static-sync whose result `path` serves (`want`), the app kept.
fn static_edit(r: &mut Running, file: &str, text: &str, path: &str, want: &str) {
    std::fs::write(r.svc.join(file), text).unwrap();
    let s = r.up.wait_method("devspaces/synced", |p| synced_with(p, file));
    assert_eq!(s["class"], "static-sync");
    eventually_serves(r.port, path, want, &r.up);
    assert!(alive(r.pid), "a static edit keeps the app");
}

#[test]
fn an_nginx_style_site_syncs_to_its_target_and_the_app_keeps_its_workdir() {
    let env = Env::new();
    let mut r = start(
        &env,
        &Layout {
            fixture: "tests/fixtures/apps/sync-target",
            service: None,
            lands: ("usr/share/nginx/html/index.html", "the context lands under the sync target"),
            not_made: ("srv/html", "nothing is synced to the WORKDIR"),
            cwd: ("/fs/srv", "the app runs in its WORKDIR (/srv)"),
        },
    );
    assert!(http_get(r.port, "/").1.contains("site one"));
    static_edit(&mut r, "html/index.html", "<h1>site two</h1>\n", "/", "site two");
    r.up.interrupt();
    wait_gone(r.pid, "the app after Ctrl-C");
}

#[test]
fn the_visual_studio_layout_syncs_where_copy_put_the_solution() {
    let env = Env::new();
    let mut r = start(
        &env,
        &Layout {
            fixture: "tests/fixtures/apps/vs-layout",
            service: Some("WebApp"),
            lands: ("src/WebApp/app.py", "the service sits in the solution's copy at /src/WebApp"),
            not_made: ("src/WebApp/WebApp", "not one level too deep"),
            cwd: ("/fs/src/WebApp", "the app runs in the last WORKDIR"),
        },
    );
    static_edit(&mut r, "static/site.css", "body { color: blue; }\n", "/static/site.css", "blue");

    let app = r.svc.join("app.py");
    std::fs::write(&app, std::fs::read_to_string(&app).unwrap().replace("\"v1\"", "\"v2\"")).unwrap();
    let s = r.up.wait_method("devspaces/synced", |p| synced_with(p, "app.py"));
    assert_eq!(s["class"], "process-restart");
    let pid2 = r.up.wait_running();
    assert_ne!(r.pid, pid2);
    assert_eq!(http_get(r.port, "/version").1, "v2");
    r.up.interrupt();
    wait_gone(pid2, "the app after Ctrl-C");
}

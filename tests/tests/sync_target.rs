//! Where the local backend syncs, end to end: `fs/<syncTarget>`, else where `COPY .` put the context; the app keeps its WORKDIR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

#[test]
fn an_nginx_style_site_syncs_to_its_target_and_the_app_keeps_its_workdir() {
    let env = Env::new();
    let (_t, svc) = copy_service("tests/fixtures/apps/sync-target");
    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    let pid = up.wait_running();
    let fs = container_root(&env, "sync-target");
    assert!(fs.join("usr/share/nginx/html/index.html").is_file(), "the context lands under the sync target");
    assert!(!fs.join("srv/html").exists(), "nothing is synced to the WORKDIR");
    let cwd = served(port, "/cwd");
    assert!(cwd.ends_with("/fs/srv"), "the app runs in its WORKDIR (/srv): {cwd}");
    assert!(http_get(port, "/").1.contains("site one"));

    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");
    std::fs::write(svc.join("html/index.html"), "<h1>site two</h1>\n").unwrap();
    let s = up.wait_method("devspaces/synced", |p| {
        p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == "html/index.html"))
    });
    assert_eq!(s["class"], "static-sync");
    eventually_serves(port, "/", "site two", &up);
    assert!(alive(pid), "a static edit keeps the server");
    up.interrupt();
    wait_gone(pid, "the app after Ctrl-C");
}

#[test]
fn the_visual_studio_layout_syncs_where_copy_put_the_solution() {
    let env = Env::new();
    let (_t, solution) = copy_service("tests/fixtures/apps/vs-layout");
    let svc = solution.join("WebApp");
    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    let pid1 = up.wait_running();
    let fs = container_root(&env, "WebApp");
    assert!(fs.join("src/WebApp/app.py").is_file(), "the service sits in the solution's copy at /src/WebApp");
    assert!(!fs.join("src/WebApp/WebApp").exists(), "not one level too deep");
    let cwd = served(port, "/cwd");
    assert!(cwd.ends_with("/fs/src/WebApp"), "the app runs in the last WORKDIR: {cwd}");
    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");

    std::fs::write(svc.join("static/site.css"), "body { color: blue; }\n").unwrap();
    let s = up.wait_method("devspaces/synced", |p| {
        p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == "static/site.css"))
    });
    assert_eq!(s["class"], "static-sync");
    eventually_serves(port, "/static/site.css", "blue", &up);
    assert!(alive(pid1));

    let app = svc.join("app.py");
    std::fs::write(&app, std::fs::read_to_string(&app).unwrap().replace("\"v1\"", "\"v2\"")).unwrap();
    let s =
        up.wait_method("devspaces/synced", |p| p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == "app.py")));
    assert_eq!(s["class"], "process-restart");
    let pid2 = up.wait_running();
    assert_ne!(pid1, pid2);
    assert_eq!(http_get(port, "/version").1, "v2");
    up.interrupt();
    wait_gone(pid2, "the app after Ctrl-C");
}

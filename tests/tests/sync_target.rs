//! `container.syncTarget` on the local backend, end to end: files go to `fs/<syncTarget>`, the app keeps its WORKDIR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devspaces_tests::*;

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
    let deadline = std::time::Instant::now() + WAIT;
    let cwd = loop {
        let (status, body) = http_get(port, "/cwd");
        if status == 200 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "never served");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(cwd.ends_with("/fs/srv"), "the app runs in its WORKDIR (/srv): {cwd}");
    assert!(http_get(port, "/").1.contains("site one"));

    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");
    std::fs::write(svc.join("html/index.html"), "<h1>site two</h1>\n").unwrap();
    let s = up.wait_method("devspaces/synced", |p| {
        p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == "html/index.html"))
    });
    assert_eq!(s["class"], "static-sync");
    assert!(http_get(port, "/").1.contains("site two"));
    assert!(alive(pid), "a static edit keeps the server");
    up.interrupt();
    wait_gone(pid, "the app after Ctrl-C");
}

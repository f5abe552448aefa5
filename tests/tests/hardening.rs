//! Hardening, end to end on the real binary: the container mirrors the workspace, whatever the
//! workspace's files do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use devspaces_tests::*;

/// `devspacesd up` as root without the capabilities that let root read any file, so that file
/// permissions apply to it as they do to a developer's own account.
fn up_without_dac_override(env: &Env, svc: &std::path::Path) -> Up {
    let base = env.command();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-dac_override,-dac_read_search", "--"]).arg(base.get_program());
    cmd.arg("up").arg(svc).arg("--json");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    Up::spawn(cmd)
}

#[test]
fn a_file_that_cannot_be_read_is_not_deleted_from_the_container() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let mut up = up_without_dac_override(&env, &svc);
    let port = up.url_port();
    up.wait_running();
    let css = svc.join("static/style.css");
    let copy = container_root(&env, "python-web").join("app/static/style.css");
    assert!(copy.exists());
    std::fs::set_permissions(&css, std::fs::Permissions::from_mode(0o000)).unwrap();
    let line = up.wait_method("devspaces/log", |p| {
        p["line"].as_str().is_some_and(|l| l.starts_with("cannot read static/style.css"))
    });
    assert!(line["line"].as_str().unwrap().contains("denied"), "{line}");
    assert!(copy.exists(), "an unreadable file is kept in the container");
    assert_eq!(http_get(port, "/static/style.css").0, 200);
    // Readable again: the next change syncs it as usual.
    std::fs::set_permissions(&css, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&css, "body { color: teal }\n").unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "static-sync" && synced_with(p, "static/style.css"));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "body { color: teal }\n", "{}", up.dump());
    up.interrupt();
}

#[test]
fn a_renamed_folder_leaves_no_stale_files() {
    let env = Env::new();
    let (_t, svc, mut up, _, _) = up_copy(&env, "examples/python-web");
    let root = container_root(&env, "python-web").join("app");
    std::fs::create_dir_all(svc.join("static/dA/deep")).unwrap();
    for f in ["a.css", "b.css", "deep/c.css"] {
        std::fs::write(svc.join("static/dA").join(f), f).unwrap();
    }
    let has = |root: &std::path::Path, f: &str| root.join(f).exists();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !has(&root, "static/dA/deep/c.css") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::rename(svc.join("static/dA"), svc.join("static/dB")).unwrap();
    // And one folder moved out of the workspace altogether.
    std::fs::create_dir_all(svc.join("static/gone")).unwrap();
    std::fs::write(svc.join("static/gone/x.css"), "x").unwrap();
    up.wait_method("devspaces/synced", |p| synced_with(p, "static/gone/x.css"));
    let outside = tempfile::tempdir().unwrap();
    std::fs::rename(svc.join("static/gone"), outside.path().join("gone")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stale = ["static/dA/a.css", "static/dA/deep/c.css", "static/gone/x.css"].iter().any(|f| has(&root, f));
        let fresh = ["static/dB/a.css", "static/dB/b.css", "static/dB/deep/c.css"].iter().all(|f| has(&root, f));
        if !stale && fresh {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stale {stale}, fresh {fresh}; events:\n{}", up.dump());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    up.interrupt();
}

//! A daemon left running by an earlier `up` serves a later client with that client's environment
//! (issue 12, item 14): `${VAR}` in azds.yaml, the app's variables and `PATH`, and the synclog's
//! `TMPDIR` are the asking client's; `list-up` and an attaching `up` say when a session runs with
//! other values than the shell's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use devspaces_tests::*;
use serde_json::Value;

/// The app: answers with its first argument (azds.yaml passes `${WORD}`), `$SHELL_ONLY` from its
/// environment and its `PATH` (which a pyenv shim may have put a folder in front of).
const APP: &str = r#"import os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = os.environ.get("PATH", "")
        body = ("word=%s\nshell=%s\npath=%s\n" % (sys.argv[1], os.environ.get("SHELL_ONLY", "-"), path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// A copy of the dockerfile-cmd fixture whose command is `python3 env_app.py ${WORD}`.
fn service() -> (tempfile::TempDir, PathBuf) {
    let (tmp, svc) = copy_service("tests/fixtures/apps/dockerfile-cmd");
    std::fs::write(svc.join("env_app.py"), APP).unwrap();
    let yaml = std::fs::read_to_string(svc.join("azds.yaml")).unwrap();
    let yaml =
        yaml.replace("    container:\n", "    container:\n      command: [\"python3\", \"env_app.py\", \"${WORD}\"]\n");
    assert!(yaml.contains("${WORD}"), "the fixture's azds.yaml changed shape:\n{yaml}");
    std::fs::write(svc.join("azds.yaml"), yaml).unwrap();
    (tmp, svc)
}

/// A client shell: this test's state dir, `WORD`, `SHELL_ONLY` and a `PATH` that starts with `bin`.
fn shell(env: &Env, word: &str, shell_only: &str, bin: &Path) -> Command {
    let mut c = env.command();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    c.env("WORD", word).env("SHELL_ONLY", shell_only).env("PATH", path);
    c
}

fn up(mut cmd: Command, svc: &Path) -> Up {
    cmd.arg("up").arg(svc).arg("--json");
    Up::spawn(cmd)
}

fn page(up: &mut Up) -> String {
    let port = up.url_port();
    up.wait_running();
    http_get(port, "/").1
}

fn list_up(mut cmd: Command, json: bool) -> String {
    cmd.arg("list-up");
    if json {
        cmd.arg("--json");
    }
    ok(&mut cmd)
}

#[test]
fn a_daemon_started_by_one_shell_runs_the_next_shells_session_with_that_shells_environment() {
    let env = Env::new();
    let (_t, svc) = service();
    let dirs = tempfile::tempdir().unwrap();
    let (path_a, path_b, tmp_b) = (dirs.path().join("bin-a"), dirs.path().join("bin-b"), dirs.path().join("tmp-b"));
    for d in [&path_a, &path_b, &tmp_b] {
        std::fs::create_dir_all(d).unwrap();
    }

    // The first shell starts the daemon and a session with its values.
    let mut first = up(shell(&env, "first", "one", &path_a), &svc);
    let body = page(&mut first);
    assert!(body.contains("word=first\n") && body.contains("shell=one\n"), "{body}");
    let daemon = env.daemon_pid().expect("the first up started a daemon");
    ok(shell(&env, "first", "one", &path_a).arg("down").arg(&svc));
    let _ = first.child.wait();

    // A new shell with other values and another TMPDIR: the daemon is the same, the values are the new shell's.
    let mut second_cmd = shell(&env, "second", "two", &path_b);
    second_cmd.env("TMPDIR", &tmp_b);
    let mut second = up(second_cmd, &svc);
    let body = page(&mut second);
    assert_eq!(env.daemon_pid(), Some(daemon), "the second up went through the first one's daemon");
    assert!(body.contains("word=second\n"), "${{WORD}} in azds.yaml is the second shell's: {body}");
    assert!(body.contains("shell=two\n"), "the app's environment is the second shell's: {body}");
    let path = body.lines().find_map(|l| l.strip_prefix("path=")).unwrap_or_default();
    let has = |d: &Path| path.split(':').any(|p| Path::new(p) == d);
    assert!(has(&path_b) && !has(&path_a), "the app's PATH is the second shell's: {body}");
    assert!(synclog_in(&tmp_b, &svc).is_file(), "the synclog is in the second shell's TMPDIR");
    second.interrupt();
}

#[test]
fn list_up_and_an_attaching_up_tell_a_shell_whose_variables_differ() {
    let env = Env::new();
    let (_t, svc) = service();
    let bin = tempfile::tempdir().unwrap();
    let mut first = up(shell(&env, "first", "one", bin.path()), &svc);
    page(&mut first);

    // The same values (PATH and variables azds.yaml does not name may differ): nothing to say.
    let same = list_up(shell(&env, "first", "other", Path::new("/elsewhere")), false);
    assert!(same.contains("dockerfile-cmd") && !same.contains("env differs"), "{same}");
    let json: Value = serde_json::from_str(&list_up(shell(&env, "first", "one", bin.path()), true)).unwrap();
    assert_eq!(json["envDiffers"], serde_json::json!([]), "{json}");

    // Another WORD, or none at all: list-up marks the session, in text and JSON.
    let text = list_up(shell(&env, "third", "one", bin.path()), false);
    assert!(text.contains("env differs: WORD"), "{text}");
    let json: Value = serde_json::from_str(&list_up(shell(&env, "third", "one", bin.path()), true)).unwrap();
    assert_eq!(json["envDiffers"], serde_json::json!(["WORD"]), "{json}");
    let mut unset = env.command();
    unset.env_remove("WORD");
    assert!(list_up(unset, false).contains("env differs: WORD"));

    // An up from that shell attaches to the running session and says it keeps the other WORD.
    let mut third = up(shell(&env, "third", "one", bin.path()), &svc);
    let line = third.wait_method("devspaces/log", |p| {
        p["stream"] == "system" && p["line"].as_str().unwrap().contains("different WORD")
    });
    let line = line["line"].as_str().unwrap();
    assert!(line.contains("devspacesd down"), "{line}");
    assert!(!line.contains("first") && !line.contains("third"), "values never reach the output: {line}");
    let record = std::fs::read_to_string(env.state().join("spaces/default/dockerfile-cmd/session.json")).unwrap();
    assert!(
        record.contains("\"WORD\"") && !record.contains("first"),
        "the record keeps a hash, not the value: {record}"
    );
    third.interrupt();
    first.interrupt();
}

//! A connection flood on a session's forward, end to end: the real daemon keeps answering its
//! clients and the page keeps being served (issue 12, item 9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use devspaces_tests::lsp::Lsp;
use devspaces_tests::*;
use serde_json::json;

const CAP: usize = 200;
const FLOOD: usize = 600;
/// The daemon's soft descriptor limit as `up` starts it (the hard limit is left as it is). The usual
/// soft limit is 1024, which 700 idle connections used up; a lower one keeps this flood small.
const SOFT_NOFILE: libc::rlim_t = 256;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_connection_flood_on_the_forward_leaves_the_daemon_and_the_page_answering() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let mut cmd = env.command();
    cmd.env("DEVSPACES_FORWARD_MAX_CONNECTIONS", CAP.to_string()).arg("up").arg(&svc).arg("--json");
    // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            r.rlim_cur = SOFT_NOFILE.min(r.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut up = Up::spawn(cmd);
    let port = up.url_port();
    up.wait_running();
    let daemon = env.daemon_pid().expect("the session runs in the daemon");
    assert_eq!(http_get(port, "/").0, 200);

    // Idle connections that never send a byte, three times the cap.
    // It stops early if the kernel takes no more (the forward stopped accepting, its queue is full).
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(s) => flood.push(s),
            Err(e) => {
                eprintln!("flood: connection {} not taken: {e}", flood.len());
                break;
            }
        }
    }
    // Past the 300 ms peek: each one the forward kept is now passed through to the app.
    std::thread::sleep(Duration::from_secs(1));

    // A new client of the daemon is accepted and answered.
    let t0 = Instant::now();
    let mut c = Lsp::start(&env);
    let id = c.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}}));
    let init = c.try_wait_for("initialize", Duration::from_secs(15), |v| v["id"] == id && v.get("method").is_none());
    assert!(init.is_some(), "the daemon did not answer a new client under the flood");
    c.notify("initialized", json!({}));
    let id = c.request("devspaces/status", json!({}));
    let status = c
        .try_wait_for("status", Duration::from_secs(15), |v| v["id"] == id && v.get("method").is_none())
        .expect("the daemon answers status under the flood");
    assert!(status.to_string().contains("python-web"), "{status}");
    eprintln!("status answered in {:?} under a flood of {} connections", t0.elapsed(), flood.len());

    // The page is still served: an idle connection makes room for it.
    let (code, body) = http_get(port, "/");
    assert_eq!(code, 200);
    assert!(body.contains("1.0.0"), "{body}");

    // The forward kept at most the cap of them (one descriptor each, plus one to the app).
    let fds = open_fds(daemon);
    assert!(fds <= 2 * CAP + 100, "the daemon holds {fds} descriptors");

    drop(flood);
    drop(c);
    up.interrupt();
}

//! `devspacesd up` of several services (a folder of services, or several paths): every service in
//! one space and one terminal through the daemon, each a session of its own; one failing does not
//! stop the others. Each gets a stable local port, and every app is told where the others are with
//! the variables Kubernetes gives pods (`config::workspace::discovery_env`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use devspaces_protocol::editor as wire;
use devspacesd::config::workspace;
use devspacesd::session::record;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};

use super::client::{Client, Message};
use super::output::Printer;

/// A free loopback port now (the session's forward binds it moments later).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

enum Next {
    Message(Option<Message>),
    Stop,
}

pub async fn run(
    dirs: Vec<PathBuf>,
    space: Option<String>,
    backend: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut printer = Printer::new(json);
    printer.set_many(true);
    if std::env::var_os("DEVSPACES_NO_DAEMON").is_some() {
        anyhow::bail!("an up of several services runs through the daemon: unset DEVSPACES_NO_DAEMON");
    }
    let Some(mut client) = Client::open(&record::state_dir(), true, "devspacesd up").await? else {
        anyhow::bail!("an up of several services runs through the daemon, and none could be started");
    };
    let mut services = Vec::new();
    for d in &dirs {
        services.push((workspace::service_name(d), "127.0.0.1".to_string(), free_port()?));
    }
    let mut env: BTreeMap<String, String> = devspacesd::config::process_vars();
    env.extend(workspace::discovery_env(&services));
    let mut pending: HashMap<i64, String> = HashMap::new();
    for (dir, (name, _, port)) in dirs.iter().zip(&services) {
        let kind = match backend.as_deref() {
            Some(b) => b.to_string(),
            None => {
                let auto = devspacesd::backend::choose(dir, &env).await;
                if let Some(w) = &auto.warning {
                    eprintln!("warning: {name}: {w}");
                }
                auto.choice.kind().name().to_string()
            }
        };
        let mut params = json!({"path": dir.display().to_string(), "backend": kind, "env": env, "localPort": port});
        if let Some(s) = &space {
            params["space"] = json!(s);
        }
        pending.insert(client.request(wire::UP, params).await?, name.clone());
    }
    if !printer.is_json() {
        let list: Vec<String> = services.iter().map(|(n, h, p)| format!("{n} at {h}:{p}")).collect();
        println!("Starting {} services: {}", services.len(), list.join(", "));
    }
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut sessions: HashMap<String, String> = HashMap::new();
    let mut stopped: HashSet<String> = HashSet::new();
    let mut downs: HashSet<i64> = HashSet::new();
    let mut failed = 0usize;
    loop {
        let next = tokio::select! {
            m = client.next() => Next::Message(m?),
            _ = int.recv() => Next::Stop,
            _ = term.recv() => Next::Stop,
        };
        let msg = match next {
            Next::Message(m) => m,
            // Ctrl-C: stop each session unless another client watches it (once).
            Next::Stop if downs.is_empty() => {
                for s in sessions.keys().filter(|s| !stopped.contains(*s)).cloned().collect::<Vec<_>>() {
                    downs.insert(client.request(wire::DOWN, json!({"session": s, "keepIfWatched": true})).await?);
                }
                if downs.is_empty() {
                    client.close().await;
                    return Ok(ExitCode::SUCCESS);
                }
                continue;
            }
            Next::Stop => continue,
        };
        match msg {
            None if !downs.is_empty() || pending.is_empty() && sessions.is_empty() => {
                return Ok(ExitCode::SUCCESS);
            }
            None => {
                eprintln!("devspacesd: the daemon closed the connection");
                return Ok(ExitCode::FAILURE);
            }
            Some(Message::Response { id, result }) if pending.contains_key(&id) => {
                let name = pending.remove(&id).unwrap_or_default();
                match result {
                    Ok(r) => {
                        let info: wire::UpResult = serde_json::from_value(r)?;
                        if !printer.is_json() {
                            println!(
                                "{name}: using dev space '{}' with target '{}'",
                                info.session.space, info.session.target
                            );
                        }
                        sessions.insert(info.session.session, name);
                    }
                    Err(e) => {
                        failed += 1;
                        let message = e.get("message").and_then(Value::as_str).unwrap_or("unknown error");
                        eprintln!("error: {name}: {message}");
                    }
                }
                if pending.is_empty() && sessions.is_empty() {
                    client.close().await;
                    return Ok(ExitCode::FAILURE);
                }
            }
            Some(Message::Response { id, .. }) if downs.remove(&id) => {
                if downs.is_empty() {
                    client.close().await;
                    return Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE });
                }
            }
            Some(Message::Response { .. }) => {}
            Some(Message::Notification { method, params }) => {
                let e: Option<wire::Event> = serde_json::from_value(json!({"method": method, "params": params})).ok();
                let Some(e) = e else { continue };
                printer.print_wire(&e);
                if let wire::Event::ServiceStatus(s) = &e {
                    if s.phase == wire::Phase::Stopped && sessions.contains_key(&s.session) {
                        stopped.insert(s.session.clone());
                        // Every session was stopped by someone else (`down`, an editor).
                        if pending.is_empty() && stopped.len() == sessions.len() && downs.is_empty() {
                            client.close().await;
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
            }
        }
    }
}

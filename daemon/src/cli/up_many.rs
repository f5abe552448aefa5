//! `devspacesd up` of several services (a folder of services, or several paths): one
//! `devspaces/up` through the daemon starts every service in one space, each a session of its own
//! (`server::many`); this prints their events in one terminal, each service with its prefix and
//! colour, and on Ctrl-C stops them. One failing does not stop the others.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use devspaces_protocol::editor as wire;
use devspacesd::session::record;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};

use super::client::{Client, Message};
use super::output::Printer;

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
    // One request for all: the daemon gives each service its stable port and tells the others.
    let mut params = json!({
        "path": dirs[0].display().to_string(),
        "paths": dirs[1..].iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "env": devspacesd::config::process_vars(),
    });
    if let Some(s) = &space {
        params["space"] = json!(s);
    }
    if let Some(b) = &backend {
        params["backend"] = json!(b);
    }
    let up_id = client.request(wire::UP, params).await?;
    let mut pending = true;
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
            None if !downs.is_empty() || !pending && sessions.is_empty() => {
                return Ok(ExitCode::SUCCESS);
            }
            None => {
                eprintln!("devspacesd: the daemon closed the connection");
                return Ok(ExitCode::FAILURE);
            }
            Some(Message::Response { id, result }) if id == up_id => {
                pending = false;
                let result = match result {
                    Ok(r) => serde_json::from_value::<wire::UpManyResult>(r)?,
                    Err(e) => {
                        let message = e.get("message").and_then(Value::as_str).unwrap_or("unknown error");
                        eprintln!("error: {message}");
                        client.close().await;
                        return Ok(ExitCode::FAILURE);
                    }
                };
                for o in result.services {
                    match (o.session, o.error) {
                        (Some(info), _) => {
                            if !printer.is_json() {
                                println!(
                                    "{}: using dev space '{}' with target '{}'; the others reach it as http://{}/ (127.0.0.1:{})",
                                    o.name, info.space, info.target, o.name, o.port
                                );
                            }
                            sessions.insert(info.session, o.name);
                        }
                        (None, e) => {
                            failed += 1;
                            let message = e.map(|e| e.message).unwrap_or_else(|| "unknown error".into());
                            eprintln!("error: {}: {message}", o.name);
                        }
                    }
                }
                if sessions.is_empty() {
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
                        if !pending && stopped.len() == sessions.len() && downs.is_empty() {
                            client.close().await;
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
            }
        }
    }
}

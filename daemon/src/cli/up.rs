//! `devspacesd up`: a client of the daemon (attaching to a running session of the service), printing
//! what `azds up` printed or JSON events; runs the session in this process when no daemon can be had.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use devspaces_protocol::editor::{self as wire, codes};
use devspacesd::backend::{self, BackendChoice, BackendKind, StartFailure};
use devspacesd::session::{self, record};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};

use super::client::{Client, Message};
use super::output::Printer;

pub async fn run(
    dir: PathBuf,
    space: Option<String>,
    choice: BackendChoice,
    json: bool,
    debug: bool,
    quiet: Duration,
) -> anyhow::Result<ExitCode> {
    let mut printer = Printer::new(json);
    let kind = choice.kind();
    if !kind.is_compiled() {
        // Said here, before a daemon is started for nothing.
        anyhow::bail!("{}", StartFailure::NotBuilt(kind));
    }
    // The daemon reads its own KUBECONFIG; explicit connection flags keep the session here.
    let explicit = matches!(&choice, BackendChoice::Kubernetes(o) if o.kubeconfig.is_some() || o.context.is_some());
    if std::env::var_os("DEVSPACES_NO_DAEMON").is_none() && !explicit {
        match Client::open(&record::state_dir(), true, "devspacesd up").await {
            Ok(Some(client)) => return through_daemon(client, dir, space, kind, debug, printer).await,
            Ok(None) => {}
            Err(e) => eprintln!("devspacesd: the daemon is unavailable ({e:#}); running the session in this process"),
        }
    }
    in_process(dir, space, choice, &mut printer, debug, quiet).await
}

/// Prints one notification if it is an event of `session` (or of any session before it is known).
fn print_note(printer: &mut Printer, session: Option<&str>, method: &str, params: &Value) -> Option<wire::Event> {
    let e: wire::Event = serde_json::from_value(json!({"method": method, "params": params})).ok()?;
    let of = params.get("session").and_then(Value::as_str);
    if let (Some(want), Some(got)) = (session, of) {
        if want != got {
            return None;
        }
    }
    printer.print_wire(&e);
    Some(e)
}

fn stopped(e: &wire::Event) -> bool {
    matches!(e, wire::Event::ServiceStatus(s) if s.phase == wire::Phase::Stopped)
}

async fn through_daemon(
    mut client: Client,
    dir: PathBuf,
    space: Option<String>,
    kind: BackendKind,
    debug: bool,
    mut printer: Printer,
) -> anyhow::Result<ExitCode> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    // This shell's environment: the session expands azds.yaml's ${VAR} and runs the app with it,
    // whoever started the daemon.
    let env = devspacesd::config::process_vars();
    let mut params = json!({"path": dir.display().to_string(), "backend": kind.name(), "env": env});
    if let Some(s) = &space {
        params["space"] = json!(s);
    }
    if debug {
        params["debug"] = json!(true);
    }
    let up = client.request(wire::UP, params).await?;
    let mut session: Option<String> = None;
    let mut down_id: Option<i64> = None;
    loop {
        let msg = tokio::select! {
            m = client.next() => m?,
            _ = int.recv() => { down_id = detach(&mut client, session.as_deref(), down_id).await?; if down_id.is_none() { return Ok(ExitCode::SUCCESS) } continue }
            _ = term.recv() => { down_id = detach(&mut client, session.as_deref(), down_id).await?; if down_id.is_none() { return Ok(ExitCode::SUCCESS) } continue }
        };
        match msg {
            None => {
                eprintln!("devspacesd: the daemon closed the connection");
                return Ok(ExitCode::FAILURE);
            }
            Some(Message::Response { id, result }) if id == up => match result {
                Ok(r) => {
                    let info: wire::UpResult = serde_json::from_value(r)?;
                    if info.attached {
                        // Show where the running session is, as a fresh `up` would have printed it.
                        for f in &info.session.port_forwards {
                            printer.print_wire(&wire::Event::PortForward(wire::PortForwardParams {
                                service: info.session.service.clone(),
                                session: info.session.session.clone(),
                                local_port: f.local_port,
                                remote_port: f.remote_port,
                                url: f.url.clone(),
                                state: f.state,
                            }));
                        }
                        printer.print_wire(&wire::Event::ServiceStatus(wire::ServiceStatusParams {
                            service: info.session.service.clone(),
                            session: info.session.session.clone(),
                            phase: info.session.phase,
                            detail: info.session.detail.clone(),
                            exit_code: None,
                            last_lines: None,
                        }));
                    }
                    if !printer.is_json() {
                        let target = if info.session.target.is_empty() { kind.name() } else { &info.session.target };
                        println!("Using dev space '{}' with target '{target}'", info.session.space);
                    }
                    session = Some(info.session.session);
                    if !printer.is_json() {
                        println!("Press Ctrl+C to stop (an editor that also watches keeps it running)");
                    }
                }
                Err(e) => {
                    let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
                    let message = e.get("message").and_then(Value::as_str).unwrap_or("unknown error");
                    if code == codes::INVALID_CONFIG {
                        printer.config_error_lines(message);
                    } else {
                        eprintln!("error: {message}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
            },
            Some(Message::Response { id, .. }) if Some(id) == down_id => {
                client.close().await;
                return Ok(ExitCode::SUCCESS);
            }
            Some(Message::Response { .. }) => {}
            Some(Message::Notification { method, params }) => {
                if let Some(e) = print_note(&mut printer, session.as_deref(), &method, &params) {
                    if stopped(&e) && down_id.is_none() && session.is_some() {
                        // Someone else stopped the session (`devspacesd down`, an editor).
                        client.close().await;
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
        }
    }
}

/// Ctrl-C: stop the session unless another client watches it, in which case only detach.
async fn detach(client: &mut Client, session: Option<&str>, pending: Option<i64>) -> anyhow::Result<Option<i64>> {
    if pending.is_some() {
        return Ok(pending);
    }
    let Some(session) = session else {
        // Not started yet: leaving the connection is a disconnect, which stops what nobody watches.
        return Ok(None);
    };
    Ok(Some(client.request(wire::DOWN, json!({"session": session, "keepIfWatched": true})).await?))
}

async fn in_process(
    dir: PathBuf,
    space: Option<String>,
    choice: BackendChoice,
    printer: &mut Printer,
    debug: bool,
    quiet: Duration,
) -> anyhow::Result<ExitCode> {
    let connected = backend::connect(choice, space.as_deref(), &record::state_dir()).await?;
    if !printer.is_json() {
        println!("Using dev space '{}' with {}", connected.space(), connected.describe());
    }
    let env = Some(std::sync::Arc::new(devspacesd::config::process_vars()));
    let handle = match backend::start(connected, &dir, quiet, env, None, debug).await {
        Ok(h) => h,
        Err(StartFailure::Session(session::StartError::Config(e))) => {
            printer.config_error(&e);
            return Ok(ExitCode::FAILURE);
        }
        Err(StartFailure::Session(session::StartError::Debug(e))) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    // The receiver made before the session started: its first events (warnings, deploy) are kept.
    let mut events = handle.take_first_receiver().unwrap_or_else(|| handle.events.subscribe());
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    if !printer.is_json() {
        println!("Press Ctrl+C to stop");
    }
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(e) => printer.print(&e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => printer.dropped(n),
                Err(_) => break,
            },
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
    }
    handle.stop().await;
    while let Ok(e) = events.try_recv() {
        printer.print(&e);
    }
    Ok(ExitCode::SUCCESS)
}

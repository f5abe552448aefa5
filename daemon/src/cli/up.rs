//! `devspacesd up`: runs a session in this process and prints what `azds up` printed, or JSON events.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use devspacesd::backend::local::Local;
use devspacesd::session::{self, SessionOptions};
use devspacesd::record;
use tokio::signal::unix::{signal, SignalKind};

use super::output::Printer;

pub async fn run(dir: PathBuf, space: String, json: bool, quiet: Duration) -> anyhow::Result<ExitCode> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let home = record::service_home(&record::state_dir(), &space, &name);
    let mut printer = Printer::new(json);
    if !json {
        println!("Using dev space '{space}' with target 'local'");
    }
    let opts = SessionOptions { service_dir: dir.clone(), space, quiet };
    let handle = match session::start(opts, Local::new(home.clone()), home).await {
        Ok(h) => h,
        Err(session::StartError::Config(e)) => {
            printer.config_error(&e);
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    let mut events = handle.events.subscribe();
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    if !json {
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

//! The local backend: a folder is the container, the agent is a child process, the app runs on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use devspaces_protocol::agent::{LISTENING_BANNER, TOKEN_ENV};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{new_token, Backend, BackendError, Capabilities, Deployed, Reporter};
use crate::agent::client::AgentClient;
use crate::backend::dockerfile;
use crate::config::Config;
use crate::session::record;

pub struct Local {
    /// `spaces/<space>/<service>/` under the state dir.
    pub home: PathBuf,
    agent: Option<Child>,
    agent_pid: Option<u32>,
    token: String,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io { what: what.to_string(), source }
}

impl Local {
    pub fn new(home: PathBuf) -> Self {
        Local { home, agent: None, agent_pid: None, token: new_token() }
    }

    pub fn fs_root(&self) -> PathBuf {
        self.home.join("fs")
    }

    fn agent_state(&self) -> PathBuf {
        self.home.join("agent")
    }

    /// Stops an agent left by an earlier `up` that died without cleaning up, by its recorded pid.
    async fn stop_stale_agent(&self) {
        let Some(rec) = record::read(&self.home) else { return };
        let Some(pid) = rec.agent_pid else { return };
        let root = self.fs_root();
        if record::pid_is(pid, &["devspacesd", "agent", &root.to_string_lossy()]) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
            for _ in 0..100 {
                if !record::pid_is(pid, &["agent"]) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Stops what the app of a killed agent left running (see `devspaces_agent::supervise::stop_leftover`).
    async fn stop_leftover_app(&self) -> Option<String> {
        let state = self.agent_state();
        tokio::task::spawn_blocking(move || devspaces_agent::supervise::stop_leftover(&state)).await.ok().flatten()
    }

    async fn spawn_agent(&mut self, sync_root: &Path) -> Result<u16, BackendError> {
        let exe = std::env::current_exe().map_err(io("finding the devspacesd binary"))?;
        std::fs::create_dir_all(self.home.join("logs")).map_err(io("creating the logs folder"))?;
        let stderr =
            std::fs::File::create(self.home.join("logs/agent.stderr")).map_err(io("creating the agent log"))?;
        let mut child = Command::new(exe)
            .arg("agent")
            .arg("--root")
            .arg(sync_root)
            .arg("--state")
            .arg(self.agent_state())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--exit-with-stdin")
            .env(TOKEN_ENV, &self.token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            // Its own group: a Ctrl-C in the terminal reaches `up`, which stops the agent in order.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(io("starting the agent"))?;
        self.agent_pid = child.id();
        let stdout = child.stdout.take().ok_or_else(|| BackendError::Agent("agent has no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let banner = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let port = match banner {
            Ok(Ok(Some(line))) => line.strip_prefix(LISTENING_BANNER).and_then(|p| p.trim().parse::<u16>().ok()),
            _ => None,
        };
        let Some(port) = port else {
            let log = std::fs::read_to_string(self.home.join("logs/agent.stderr")).unwrap_or_default();
            return Err(BackendError::Agent(format!("the agent did not start: {}", log.trim())));
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.agent = Some(child);
        Ok(port)
    }
}

/// Maps container paths under WORKDIR in the command to the local root.
fn map_command(cmd: &[String], workdir: &str, sync_root: &Path) -> Vec<String> {
    let wd = workdir.trim_end_matches('/');
    cmd.iter()
        .map(|a| {
            if !wd.is_empty() && (a == wd || a.starts_with(&format!("{wd}/"))) {
                format!("{}{}", sync_root.display(), &a[wd.len()..])
            } else {
                a.clone()
            }
        })
        .collect()
}

fn free_port() -> Result<u16, BackendError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port for the app"))?;
    l.local_addr().map(|a| a.port()).map_err(io("finding a free port for the app"))
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { serves_during_redeploy: false }
    }

    async fn deploy(&mut self, config: &Config, fresh: bool, report: &Reporter) -> Result<Deployed, BackendError> {
        self.teardown().await;
        self.stop_stale_agent().await;
        // Before a fresh deploy removes the agent's state, which records the app.
        if let Some(done) = self.stop_leftover_app().await {
            report.log(crate::events::LogStream::System, done);
        }
        let image = dockerfile::develop_image(config);
        let command = if !config.develop.container.command.is_empty() {
            config.develop.container.command.clone()
        } else {
            image.command()
        };
        if command.is_empty() {
            return Err(BackendError::Config(format!(
                "{}: no command to run: set configurations.develop.container.command or a CMD in the develop Dockerfile",
                config.file.display()
            )));
        }
        let root = self.fs_root();
        if fresh && root.exists() {
            std::fs::remove_dir_all(&root).map_err(io("removing the old container root"))?;
            let _ = std::fs::remove_dir_all(self.agent_state());
        }
        let workdir = if image.workdir.is_empty() { "/".to_string() } else { image.workdir.clone() };
        let sync_root = root.join(workdir.trim_start_matches('/'));
        std::fs::create_dir_all(&sync_root).map_err(io("creating the container root"))?;
        let port = self.spawn_agent(&sync_root).await?;
        let (agent, events) = AgentClient::connect(([127, 0, 0, 1], port).into(), &self.token, Some(0))
            .await
            .map_err(|e| BackendError::Agent(e.to_string()))?;
        let app_port = free_port()?;
        let mut env: BTreeMap<String, String> = image.env.clone();
        env.insert("PORT".into(), app_port.to_string());
        Ok(Deployed {
            agent,
            events,
            agent_pid: self.agent_pid,
            command: map_command(&command, &workdir, &sync_root),
            env,
            app_port,
            // The app shares this machine's network: its own port is taken by the app itself.
            preferred_local_port: image.expose.first().copied(),
            tunnel: None,
        })
    }

    async fn teardown(&mut self) {
        if let Some(mut child) = self.agent.take() {
            // Closing stdin asks the agent to stop the app and exit; SIGTERM does the same.
            drop(child.stdin.take());
            if let Some(pid) = child.id() {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
            self.stop_leftover_app().await;
        }
        self.agent_pid = None;
    }
}

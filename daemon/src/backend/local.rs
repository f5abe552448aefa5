//! The local backend: a folder is the container, the agent is a child process, the app runs on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use devspaces_protocol::agent::{LISTENING_BANNER, TOKEN_ENV};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{new_token, Backend, BackendError, Deployed, Reporter};
use crate::agent::client::AgentClient;
use crate::backend::dockerfile;
use crate::config::Config;
use crate::session::{record, ClientEnv};

pub struct Local {
    /// `spaces/<space>/<service>/` under the state dir.
    pub home: PathBuf,
    /// The client's environment, the agent's (hence the app's and its build commands'); `None`:
    /// this process's.
    env: Option<ClientEnv>,
    agent: Option<Child>,
    agent_pid: Option<u32>,
    token: String,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |source| BackendError::Io { what: what.to_string(), source }
}

impl Local {
    pub fn new(home: PathBuf, env: Option<ClientEnv>) -> Self {
        Local { home, env, agent: None, agent_pid: None, token: new_token() }
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
        let mut cmd = Command::new(exe);
        if let Some(env) = &self.env {
            // The user's environment, not the daemon's: PATH, HOME, the variables the app reads.
            cmd.env_clear().envs(env.iter());
        }
        let mut child = cmd
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

/// Where the agent syncs and the app runs, under the container root `fs/`, and the command as run.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The agent's `--root`: `fs/<syncTarget>`, else `fs/<WORKDIR>`.
    pub sync_root: PathBuf,
    /// The app's working directory: `fs/<WORKDIR>`, as the Dockerfile says.
    pub app_dir: PathBuf,
    pub command: Vec<String>,
}

/// Lays a container out under `root` (the local `fs/`): files sync to `syncTarget` (default the
/// WORKDIR) and the app starts in the WORKDIR. Arguments naming a path under the WORKDIR or the
/// sync target are rewritten under `root`. The agent starts the app in its root, so when the two
/// differ the command goes through `/bin/sh -c 'cd "$0" && exec "$@"'` (the app replaces the
/// shell: its name is still what processesToKill matches).
pub fn layout(root: &Path, workdir: &str, sync_target: Option<&str>, command: &[String]) -> Layout {
    let workdir = if workdir.is_empty() { "/" } else { workdir };
    let target = sync_target.unwrap_or(workdir);
    let under = |p: &str| match p.trim_start_matches('/') {
        "" => root.to_path_buf(),
        rel => root.join(rel),
    };
    let (sync_root, app_dir) = (under(target), under(workdir));
    let prefixes: Vec<&str> =
        [workdir, target].iter().map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()).collect();
    let mut mapped: Vec<String> = command
        .iter()
        .map(|a| match prefixes.iter().find(|p| a == *p || a.starts_with(&format!("{p}/"))) {
            Some(_) => under(a).display().to_string(),
            None => a.clone(),
        })
        .collect();
    if sync_root != app_dir && !mapped.is_empty() {
        let mut wrapped =
            vec!["/bin/sh".to_string(), "-c".into(), "cd \"$0\" && exec \"$@\"".into(), app_dir.display().to_string()];
        wrapped.append(&mut mapped);
        mapped = wrapped;
    }
    Layout { sync_root, app_dir, command: mapped }
}

fn free_port() -> Result<u16, BackendError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port for the app"))?;
    l.local_addr().map(|a| a.port()).map_err(io("finding a free port for the app"))
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn deploy(&mut self, config: &Config, fresh: bool, report: &Reporter) -> Result<Deployed, BackendError> {
        self.teardown().await;
        self.stop_stale_agent().await;
        // Before a fresh deploy removes the agent's state, which records the app.
        if let Some(done) = self.stop_leftover_app().await {
            report.log(crate::events::LogStream::System, done);
        }
        let image = dockerfile::develop_image(config);
        let command = super::app_command(config, image.command())?;
        let root = self.fs_root();
        if fresh && root.exists() {
            std::fs::remove_dir_all(&root).map_err(io("removing the old container root"))?;
            let _ = std::fs::remove_dir_all(self.agent_state());
        }
        // Files go where azds.yaml's syncTarget says, else where `COPY . <dest>` put the build
        // context, else the WORKDIR; the app starts in the WORKDIR either way.
        let target = config.develop.container.sync_target.as_deref().or(image.context_dir.as_deref());
        let layout = layout(&root, &image.workdir, target, &command);
        for dir in [&layout.sync_root, &layout.app_dir] {
            std::fs::create_dir_all(dir).map_err(io("creating the container root"))?;
        }
        let port = self.spawn_agent(&layout.sync_root).await?;
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
            command: layout.command,
            env,
            app_port,
            // The app shares this machine's network: its own port is taken by the app itself.
            preferred_local_port: image.expose.first().copied(),
            tunnel: None,
        })
    }

    fn command_as_run(&self, config: &Config, command: &[String]) -> Vec<String> {
        let image = dockerfile::develop_image(config);
        let target = config.develop.container.sync_target.as_deref().or(image.context_dir.as_deref());
        layout(&self.fs_root(), &image.workdir, target, command).command
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_table() {
        let root = Path::new("/s/fs");
        let cmd = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let sh = |dir: &str, rest: &[&str]| {
            let mut c = cmd(&["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", dir]);
            c.extend(cmd(rest));
            c
        };
        // (WORKDIR, syncTarget, command) -> (sync root, app dir, command as run)
        type Case<'a> = (&'a str, Option<&'a str>, Vec<String>, &'a str, &'a str, Vec<String>);
        let cases: &[Case] = &[
            // No syncTarget: both are the WORKDIR, paths under it are rewritten.
            (
                "/app",
                None,
                cmd(&["python3", "/app/app.py"]),
                "/s/fs/app",
                "/s/fs/app",
                cmd(&["python3", "/s/fs/app/app.py"]),
            ),
            ("", None, cmd(&["node", "server.js"]), "/s/fs", "/s/fs", cmd(&["node", "server.js"])),
            // syncTarget equal to WORKDIR (Microsoft's /src samples): nothing changes.
            ("/src", Some("/src"), cmd(&["dotnet", "run"]), "/s/fs/src", "/s/fs/src", cmd(&["dotnet", "run"])),
            // An nginx site: files go to the html folder, the server keeps its WORKDIR.
            (
                "/",
                Some("/usr/share/nginx/html"),
                cmd(&["python3", "-m", "http.server", "-d", "/usr/share/nginx/html"]),
                "/s/fs/usr/share/nginx/html",
                "/s/fs",
                sh("/s/fs", &["python3", "-m", "http.server", "-d", "/s/fs/usr/share/nginx/html"]),
            ),
            // WORKDIR /app, sources synced to /src: the app starts in /app.
            (
                "/app",
                Some("/src"),
                cmd(&["dotnet", "/app/web.dll"]),
                "/s/fs/src",
                "/s/fs/app",
                sh("/s/fs/app", &["dotnet", "/s/fs/app/web.dll"]),
            ),
        ];
        for (workdir, target, command, sync_root, app_dir, want) in cases {
            let got = layout(root, workdir, *target, command);
            assert_eq!(got.sync_root, PathBuf::from(sync_root), "{workdir} {target:?}");
            assert_eq!(got.app_dir, PathBuf::from(app_dir), "{workdir} {target:?}");
            assert_eq!(&got.command, want, "{workdir} {target:?}");
        }
    }
}

//! The container backend: the develop image built and run by a local engine (Docker, or Podman's
//! Docker-compatible API), through its Engine API with `bollard`, never by parsing CLI output.
//!
//! A deploy builds the develop Dockerfile (build args, the `.dockerignore`d context) as
//! `devspaces/<service>:<session>-<n>-base`, adds the agent layer (`FROM` that, `COPY` the static
//! agent) as `…:<session>-<n>`, and runs it with the agent as entrypoint and the original command
//! as its child. Every port (the agent's, the app's, the image's EXPOSE ports and the port a debug
//! server of the service listens on) is published on 127.0.0.1 only, on a port the engine picks; the
//! session's forwards keep their own local ports across redeploys. The container joins the
//! space's network (`devspaces-<space>`) under the service's name. A redeploy builds while the
//! old container serves, starts the new one, and removes the old one (and its images) once the
//! new agent answers, in the background. `finish` removes the container, the images of the session, and the network
//! when no other container is left in it.
//!
//! Architecture Invariant: only this module knows `bollard`; the session sees a `Backend`.

pub mod context;
pub mod engine;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, InspectNetworkOptions, LogsOptions, RemoveContainerOptions,
    RemoveImageOptions,
};
use bollard::Docker;
use devspaces_protocol::agent::TOKEN_ENV;
use futures_util::StreamExt;

pub use engine::Engine;

use super::agent_layer::{self, AGENT_BINARY_NAME, DEFAULT_AGENT_PATH};
use super::{new_token, Backend, BackendError, BuildOutput, Capabilities, Deployed, Reporter, Tunnel};
use crate::agent::client::AgentClient;
use crate::backend::dockerfile;
use crate::classify::{IgnoreFiles, Rules};
use crate::config::Config;
use crate::events::{EventKind, LogStream, Phase};

/// The agent's port inside the container.
pub const AGENT_PORT: u16 = 50051;
/// The network mode of build steps (`RUN`): the engine's default when unset; `host` lets a
/// `RUN npm install` reach a registry that only the host's network reaches.
pub const BUILD_NETWORK_ENV: &str = "DEVSPACES_BUILD_NETWORK";
/// How long a started container's agent may take to answer.
const AGENT_DEADLINE: Duration = Duration::from_secs(30);
/// The port the app is asked to listen on when the image says none (`PORT`, `EXPOSE`).
const DEFAULT_APP_PORT: u16 = 8080;
const LABEL_SESSION: &str = "devspaces.session";
const LABEL_SERVICE: &str = "devspaces.service";
const LABEL_SPACE: &str = "devspaces.space";

pub struct Container {
    engine: Engine,
    space: String,
    token: String,
    builds: u32,
    /// The running container and the images it was built as.
    current: Option<Run>,
    /// A container being created by a deploy not finished yet (removed if it is cancelled).
    starting: Option<String>,
    /// Images built by a deploy that did not get to run (a failed or cancelled one).
    spare_images: Vec<String>,
    ports: Arc<Published>,
    monitor: Option<tokio::task::JoinHandle<()>>,
}

struct Run {
    name: String,
    images: Vec<String>,
}

/// Container port -> the loopback port the engine published it on, for the current container.
#[derive(Default)]
pub struct Published(RwLock<HashMap<u16, u16>>);

impl Tunnel for Published {
    fn local_port(&self, remote: u16) -> Pin<Box<dyn Future<Output = std::io::Result<u16>> + Send + '_>> {
        let found = self.0.read().ok().and_then(|m| m.get(&remote).copied());
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::other(format!(
                    "container port {remote} is not published: only the app's port (PORT), the image's EXPOSE ports and the debug server's port are; add EXPOSE {remote} to the develop Dockerfile"
                ))
            })
        })
    }
}

/// A name the engine accepts (`[a-z0-9][a-z0-9_.-]*`) from a service, space or session name.
pub fn engine_name(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .collect();
    out = out.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// The network of a space: services of one space reach each other by name in it.
pub fn network_name(space: &str) -> String {
    format!("devspaces-{}", engine_name(&space.replace('/', ".")))
}

/// The agent's argv after the entrypoint: sync root and a listener on the container's own
/// address (published on the host's loopback only). The original command is not started here:
/// the session starts it after the first sync, with the build commands before it.
/// With `service_port`, the agent also relays the chart's Service port to the app's, as the
/// Service would in the cluster (`agent/src/relay.rs`).
pub fn agent_args(root: &str, service_port: Option<u16>, app_port: u16) -> Vec<String> {
    let mut args: Vec<String> =
        ["--root", root, "--listen", &format!("0.0.0.0:{AGENT_PORT}"), "--published"].map(String::from).into();
    if let Some(p) = service_port.filter(|p| *p != app_port && *p != AGENT_PORT) {
        args.extend(["--relay".to_string(), format!("{p}:{app_port}")]);
    }
    args
}

/// The port of the chart's Service (`service.port`, or `service.externalPort` of older charts),
/// from the merged values: where the other services call this one in the cluster.
pub fn service_port(values: &serde_json::Value) -> Option<u16> {
    let service = values.get("service")?;
    ["port", "externalPort"].iter().find_map(|k| {
        let v = service.get(*k)?;
        v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()).and_then(|p| u16::try_from(p).ok())
    })
}

/// The names the other services of the space call this one by: azds.yaml's `name` and the
/// chart's Service name (the folder, lowercased), as the engine's network aliases.
pub fn aliases(config: &Config) -> Vec<String> {
    let mut out = vec![engine_name(&config.name)];
    let folder = engine_name(&crate::config::workspace::service_name(&config.service_dir));
    if !out.contains(&folder) {
        out.push(folder);
    }
    out
}

fn deploy_err(e: impl std::fmt::Display) -> BackendError {
    BackendError::Deploy(e.to_string())
}

impl Container {
    pub fn new(engine: Engine, space: String) -> Self {
        Container {
            engine,
            space,
            token: new_token(),
            builds: 0,
            current: None,
            starting: None,
            spare_images: Vec::new(),
            ports: Arc::new(Published::default()),
            monitor: None,
        }
    }

    /// Builds one image from a tar context, streaming the engine's output as build logs.
    async fn build(
        &self,
        tar: Vec<u8>,
        dockerfile: &str,
        tag: &str,
        args: &BTreeMap<String, String>,
        report: &Reporter,
    ) -> Result<(), String> {
        let network = std::env::var(BUILD_NETWORK_ENV).ok().filter(|n| !n.trim().is_empty());
        let opts = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(args.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            networkmode: network,
            ..Default::default()
        };
        report.log(LogStream::Build, format!("$ {} build -f {dockerfile} -t {tag} (engine API)", self.engine.name));
        let mut stream = self.engine.docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
        let output = BuildOutput::new(report);
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.or(info.status) {
                        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                            output.line(line.to_string());
                        }
                    }
                    if let Some(e) = info.error_detail.and_then(|d| d.message).or(info.error) {
                        failure = Some(e);
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => Err(format!("building {tag} failed: {e}\n{}", output.last().join("\n"))),
        }
    }

    /// The develop image and the agent layer on it; returns the final tag.
    async fn build_images(
        &mut self,
        config: &Config,
        report: &Reporter,
    ) -> Result<(String, Vec<String>), BackendError> {
        let dockerfile = super::develop_dockerfile(config)?;
        self.builds += 1;
        let repo = format!("devspaces/{}", engine_name(&config.name));
        let tag = format!("{repo}:{}-{}", engine_name(&report.session), self.builds);
        let base = format!("{tag}-base");
        let context_dir = config.service_dir.join(config.context_prefix());
        let df_path = config.service_dir.join(&dockerfile);
        let df_in_context = df_path
            .strip_prefix(&context_dir)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|_| deploy_err(format!("{}: the Dockerfile {dockerfile} is outside the build context {}; the container backend sends the context only", config.file.display(), context_dir.display())))?;
        let rules = Rules::new(config, &IgnoreFiles::read(config)).map_err(|e| deploy_err(e.to_string()))?;
        let always = vec![df_in_context.clone(), ".dockerignore".to_string()];
        let prune = !rules.dockerignore_reincludes();
        report.progress("build", format!("{dockerfile} with {} {}", self.engine.name, self.engine.version), false);
        let dir = context_dir.clone();
        let tar =
            tokio::task::spawn_blocking(move || context::tar(&dir, |rel, _| rules.dockerignored(rel), prune, &always))
                .await
                .map_err(deploy_err)?
                .map_err(|e| deploy_err(format!("reading the build context {}: {e}", context_dir.display())))?;
        report.log(LogStream::Build, format!("build context: {} KiB", tar.len() / 1024));
        self.build(tar, &df_in_context, &base, &config.develop.build.args, report).await.map_err(deploy_err)?;
        self.spare_images.push(base.clone());
        let agent = agent_layer::agent_binary().map_err(deploy_err)?;
        let agent_bytes = std::fs::read(&agent).map_err(|e| deploy_err(format!("reading {}: {e}", agent.display())))?;
        let layer = agent_layer::dockerfile(&base, DEFAULT_AGENT_PATH);
        let tar =
            context::tar_files(&[("Dockerfile", 0o644, layer.as_bytes()), (AGENT_BINARY_NAME, 0o755, &agent_bytes)])
                .map_err(deploy_err)?;
        self.build(tar, "Dockerfile", &tag, &BTreeMap::new(), report).await.map_err(deploy_err)?;
        self.spare_images.push(tag.clone());
        Ok((tag.clone(), vec![tag, base]))
    }

    /// Creates the space's network unless it exists.
    async fn ensure_network(&self) -> Result<String, BackendError> {
        let name = network_name(&self.space);
        let docker = &self.engine.docker;
        if docker.inspect_network(&name, None::<InspectNetworkOptions>).await.is_ok() {
            return Ok(name);
        }
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(LABEL_SPACE.to_string(), self.space.clone())])),
            ..Default::default()
        };
        match docker.create_network(req).await {
            Ok(_) => Ok(name),
            // Another session of the space made it meanwhile.
            Err(_) if docker.inspect_network(&name, None::<InspectNetworkOptions>).await.is_ok() => Ok(name),
            Err(e) => Err(deploy_err(format!("creating the network {name}: {e}"))),
        }
    }

    fn stop_monitor(&mut self) {
        if let Some(m) = self.monitor.take() {
            m.abort();
        }
    }

    /// Reports the container's end in the engine's words when it stops by itself.
    fn watch(&mut self, name: String, report: &Reporter) {
        let (docker, r) = (self.engine.docker.clone(), report.clone());
        self.monitor = Some(tokio::spawn(async move {
            let mut wait = docker.wait_container(&name, None::<bollard::query_parameters::WaitContainerOptions>);
            while wait.next().await.is_some() {}
            let Some((why, code, last)) = why_stopped(&docker, &name).await else { return };
            r.log(LogStream::System, why.clone());
            r.emit(EventKind::Error { message: why.clone() });
            r.emit(EventKind::Status { phase: Phase::Failed, detail: why, exit_code: code, last_lines: Some(last) });
        }));
    }

    /// Connects to the agent of a started container, or says why the container ended.
    async fn connect_agent(
        &self,
        name: &str,
        addr: SocketAddr,
    ) -> Result<(AgentClient, tokio::sync::mpsc::UnboundedReceiver<crate::agent::client::AgentEvent>), BackendError>
    {
        let start = Instant::now();
        let mut last_err = String::new();
        while start.elapsed() < AGENT_DEADLINE {
            match AgentClient::connect(addr, &self.token, Some(0)).await {
                Ok(c) => return Ok(c),
                Err(e) => last_err = e.to_string(),
            }
            if let Some((why, _, last)) = why_stopped(&self.engine.docker, name).await {
                return Err(BackendError::Agent(format!("{why}; its last lines:\n{}", last.join("\n"))));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BackendError::Agent(format!(
            "the agent in container {name} did not answer in {} s: {last_err}",
            AGENT_DEADLINE.as_secs()
        )))
    }
}

async fn remove_container(docker: &Docker, name: &str) {
    let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    let _ = docker.remove_container(name, Some(opts)).await;
}

async fn remove_images(docker: &Docker, images: &[String], report: &Reporter) {
    for i in images {
        let opts = RemoveImageOptions { force: true, ..Default::default() };
        if let Err(e) = docker.remove_image(i, Some(opts), None).await {
            if !e.to_string().contains("No such image") {
                report.log(LogStream::System, format!("cannot remove image {i}: {e}"));
            }
        }
    }
}

/// The last lines a container printed (the agent's own output), for failure reports.
async fn last_lines(docker: &Docker, name: &str) -> Vec<String> {
    let opts = LogsOptions { stdout: true, stderr: true, tail: "20".into(), ..Default::default() };
    let mut s = docker.logs(name, Some(opts));
    let mut out = Vec::new();
    while let Some(Ok(chunk)) = s.next().await {
        out.extend(chunk.to_string().lines().map(str::to_string));
    }
    out
}

/// Why a container is not running, in the engine's words: exit code, OOM kill, the engine's error.
async fn why_stopped(docker: &Docker, name: &str) -> Option<(String, Option<i32>, Vec<String>)> {
    let c = docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>).await.ok()?;
    let st = c.state?;
    if st.running == Some(true) {
        return None;
    }
    let code = st.exit_code.map(|c| c as i32);
    let mut why = format!("container {name} exited with code {}", code.unwrap_or(-1));
    if st.oom_killed == Some(true) {
        why.push_str(" (OOMKilled: it ran out of memory)");
    }
    if let Some(e) = st.error.filter(|e| !e.is_empty()) {
        why.push_str(&format!(": {e}"));
    }
    Some((why, code, last_lines(docker, name).await))
}

impl Backend for Container {
    fn name(&self) -> &'static str {
        "container"
    }

    fn capabilities(&self) -> Capabilities {
        // The old container serves until the new one's agent answers.
        Capabilities { serves_during_redeploy: true, ..Default::default() }
    }

    async fn deploy(&mut self, config: &Config, _fresh: bool, report: &Reporter) -> Result<Deployed, BackendError> {
        // What a failed or cancelled deploy left.
        if let Some(name) = self.starting.take() {
            remove_container(&self.engine.docker, &name).await;
        }
        let spare = std::mem::take(&mut self.spare_images);
        remove_images(&self.engine.docker, &spare, report).await;

        let (tag, images) = self.build_images(config, report).await?;
        let inspected = self.engine.docker.inspect_image(&tag).await.map_err(deploy_err)?;
        let img_config = inspected.config.unwrap_or_default();
        let df = dockerfile::develop_image(config);
        let image_command = img_config.entrypoint.clone().unwrap_or_default().into_iter();
        let original =
            super::app_command(config, image_command.chain(img_config.cmd.clone().unwrap_or_default()).collect())?;
        let workdir = img_config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
        let target = config.develop.container.sync_target.as_deref().or(df.context_dir.as_deref());
        let layout = super::local::layout(std::path::Path::new("/"), &workdir, target, &original);
        let image_env: BTreeMap<String, String> = img_config
            .env
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let mut exposed: Vec<u16> = img_config
            .exposed_ports
            .clone()
            .unwrap_or_default()
            .keys()
            .filter_map(|k| k.split('/').next().and_then(|p| p.parse().ok()))
            .collect();
        exposed.sort_unstable();
        let app_port = image_env
            .get("PORT")
            .and_then(|p| p.parse().ok())
            .or_else(|| exposed.first().copied())
            .unwrap_or(DEFAULT_APP_PORT);
        let mut ports: Vec<u16> = vec![AGENT_PORT, app_port];
        ports.extend(exposed.iter().copied());
        // Where a debug server will listen (`up --debug`, or `devspaces/debug` later).
        ports.extend(crate::session::debug_ports_in_container(config));
        ports.sort_unstable();
        ports.dedup();

        // Where the others call it (`http://api/` is the Service's port 80 in the cluster).
        let svc_port = crate::config::values::merged(config).ok().as_ref().and_then(service_port);
        let network = self.ensure_network().await?;
        let service = engine_name(&config.name);
        // The session in the name: two sessions of same-named services in one space never meet.
        let name = format!(
            "devspaces-{}-{service}-{}-{}",
            engine_name(&self.space.replace('/', ".")),
            engine_name(&report.session),
            self.builds
        );
        let labels = HashMap::from([
            (LABEL_SESSION.to_string(), report.session.clone()),
            (LABEL_SERVICE.to_string(), config.name.clone()),
            (LABEL_SPACE.to_string(), self.space.clone()),
        ]);
        let published =
            |_: &u16| Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]);
        let body = ContainerCreateBody {
            image: Some(tag.clone()),
            entrypoint: Some(vec![DEFAULT_AGENT_PATH.to_string()]),
            cmd: Some(agent_args(&layout.sync_root.to_string_lossy(), svc_port, app_port)),
            env: Some(vec![format!("{TOKEN_ENV}={}", self.token), format!("PORT={app_port}")]),
            labels: Some(labels),
            exposed_ports: Some(ports.iter().map(|p| (format!("{p}/tcp"), HashMap::new())).collect()),
            host_config: Some(HostConfig {
                port_bindings: Some(ports.iter().map(|p| (format!("{p}/tcp"), published(p))).collect()),
                network_mode: Some(network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings { aliases: Some(aliases(config)), ..Default::default() },
                )])),
            }),
            ..Default::default()
        };
        // A container of this name left by a crashed daemon.
        remove_container(&self.engine.docker, &name).await;
        self.starting = Some(name.clone());
        let opts = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        self.engine
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| deploy_err(format!("creating container {name}: {e}")))?;
        report.progress("deploy", format!("starting container {name}"), false);
        self.engine
            .docker
            .start_container(&name, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| deploy_err(format!("starting container {name}: {e}")))?;
        let inspected = self
            .engine
            .docker
            .inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(deploy_err)?;
        let mut map = HashMap::new();
        for (k, v) in inspected.network_settings.and_then(|n| n.ports).unwrap_or_default() {
            let Some(port) = k.split('/').next().and_then(|p| p.parse::<u16>().ok()) else { continue };
            let host = v.unwrap_or_default().iter().find_map(|b| {
                (b.host_ip.as_deref() == Some("127.0.0.1"))
                    .then(|| b.host_port.as_deref()?.parse::<u16>().ok())
                    .flatten()
            });
            if let Some(h) = host {
                map.insert(port, h);
            }
        }
        let Some(agent_port) = map.get(&AGENT_PORT).copied() else {
            return Err(match why_stopped(&self.engine.docker, &name).await {
                Some((why, _, last)) => BackendError::Agent(format!("{why}; its last lines:\n{}", last.join("\n"))),
                None => deploy_err(format!("container {name}: the engine published no port for the agent")),
            });
        };
        let (agent, events) = self.connect_agent(&name, ([127, 0, 0, 1], agent_port).into()).await?;
        report.log(
            LogStream::System,
            format!("container {name} running ({tag}), network {network} as '{}'", aliases(config).join("', '")),
        );
        // The new container answers: the old one goes, with the images only it used, off the
        // path to the new app's start.
        self.stop_monitor();
        if let Some(old) = self.current.take() {
            let (docker, r) = (self.engine.docker.clone(), report.clone());
            tokio::spawn(async move {
                remove_container(&docker, &old.name).await;
                remove_images(&docker, &old.images, &r).await;
            });
        }
        if let Ok(mut m) = self.ports.0.write() {
            *m = map;
        }
        self.starting = None;
        self.spare_images.clear();
        self.current = Some(Run { name: name.clone(), images });
        self.watch(name, report);
        Ok(Deployed {
            agent,
            events,
            agent_pid: None,
            command: layout.command,
            env: BTreeMap::from([("PORT".to_string(), app_port.to_string())]),
            app_port,
            preferred_local_port: Some(app_port),
            tunnel: Some(self.ports.clone()),
        })
    }

    async fn teardown(&mut self) {
        self.stop_monitor();
        if let Some(name) = self.starting.take() {
            remove_container(&self.engine.docker, &name).await;
        }
        if let Some(run) = &self.current {
            remove_container(&self.engine.docker, &run.name).await;
        }
    }

    async fn finish(&mut self, report: &Reporter) {
        self.teardown().await;
        let mut images = std::mem::take(&mut self.spare_images);
        if let Some(run) = self.current.take() {
            images.extend(run.images);
        }
        remove_images(&self.engine.docker, &images, report).await;
        // The network goes with the last container in it.
        let name = network_name(&self.space);
        let docker = &self.engine.docker;
        if let Ok(n) = docker.inspect_network(&name, None::<InspectNetworkOptions>).await {
            let ours = n.labels.as_ref().and_then(|l| l.get(LABEL_SPACE)) == Some(&self.space);
            if ours && n.containers.as_ref().is_none_or(|c| c.is_empty()) {
                let _ = docker.remove_network(&name).await;
            }
        }
        report.log(LogStream::System, format!("removed the container and {} images", images.len()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The ports a container publishes for a debug server, from an azds.yaml's `develop` (and
    /// `develop.attach`) container keys.
    fn debug_ports(container: &str) -> Vec<u16> {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\nconfigurations:\n{container}"
        );
        std::fs::write(dir.path().join("azds.yaml"), yaml).unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        crate::session::debug_ports_in_container(&crate::config::load(dir.path()).unwrap())
    }

    #[test]
    fn the_debug_servers_port_is_published_with_and_without_develop_attach() {
        let develop = "  develop:\n    container:\n      command: [python3, app.py]\n";
        assert_eq!(debug_ports(develop), vec![5678], "debugpy's usual port");
        let node = "  develop:\n    container:\n      command: [node, server.js]\n      debug:\n        port: 9339\n";
        assert_eq!(debug_ports(node), vec![9339], "container.debug.port");
        let attach = format!("{develop}  develop.attach:\n    container:\n      debug:\n        port: 6000\n");
        assert_eq!(debug_ports(&attach), vec![5678, 6000], "a later devspaces/debug finds its port published too");
        let script = "  develop:\n    container:\n      command: [./start.sh]\n";
        assert_eq!(debug_ports(script), Vec::<u16>::new(), "nothing to debug: nothing more published");
    }

    #[test]
    fn names_the_engine_accepts() {
        assert_eq!(engine_name("WebApp"), "webapp");
        assert_eq!(engine_name("bikes api"), "bikes-api");
        assert_eq!(engine_name("-x-"), "x");
        assert_eq!(engine_name("///"), "x");
        assert_eq!(network_name("dev/alice"), "devspaces-dev.alice");
        assert_eq!(network_name("default"), "devspaces-default");
    }

    #[test]
    fn the_agent_listens_on_the_published_address() {
        assert_eq!(agent_args("/app", None, 8080), vec!["--root", "/app", "--listen", "0.0.0.0:50051", "--published"]);
        // The chart's Service port, relayed to the app's when they differ.
        assert_eq!(agent_args("/app", Some(80), 8080)[5..], ["--relay", "80:8080"]);
        assert_eq!(agent_args("/app", Some(8080), 8080).len(), 5);
    }

    #[test]
    fn the_service_port_comes_from_the_charts_values() {
        assert_eq!(service_port(&serde_json::json!({"service": {"type": "ClusterIP", "port": 80}})), Some(80));
        assert_eq!(service_port(&serde_json::json!({"service": {"externalPort": "10080"}})), Some(10080));
        assert_eq!(service_port(&serde_json::json!({"image": {}})), None);
        assert_eq!(service_port(&serde_json::json!({"service": {"port": 70000}})), None);
    }

    #[tokio::test]
    async fn an_unpublished_port_says_how_to_publish_it() {
        let p = Published::default();
        p.0.write().unwrap().insert(8080, 32768);
        assert_eq!(p.local_port(8080).await.unwrap(), 32768);
        let e = p.local_port(9229).await.unwrap_err().to_string();
        assert!(e.contains("add EXPOSE 9229"), "{e}");
    }
}

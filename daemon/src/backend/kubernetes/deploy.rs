//! The Kubernetes backend: build, deliver, `helm upgrade --install` through the post-renderer,
//! wait for the pod, and reach its agent and ports through kube-rs port-forwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::DeleteParams;
use kube::Api;
use tokio::process::Command;

use super::forward::{PodTunnels, TunnelHandle};
use super::image::{self, Builder, Delivery};
use super::post_render::{DEFAULT_AGENT_PATH, DEFAULT_AGENT_PORT, SESSION_LABEL};
use super::space::{self, SpaceName};
use super::{helm_plugin, peers, pods, stubs, Cluster};
use crate::agent::client::AgentClient;
use crate::backend::agent_layer;
use crate::backend::dockerfile::{self, Image};
use crate::backend::{new_token, Backend, BackendError, Capabilities, Deployed, Reporter};
use crate::config::placeholders::Placeholders;
use crate::config::{values, Config};
use crate::events::{EventKind, LogStream, Phase};

/// How long a deploy may wait for its pod; `DEVSPACES_KUBE_DEADLINE` (seconds) overrides it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(180);
pub const DEADLINE_ENV: &str = "DEVSPACES_KUBE_DEADLINE";
/// The Helm CLI to run; `helm` by default.
pub const HELM_ENV: &str = "DEVSPACES_HELM";

pub struct Kubernetes {
    cluster: Cluster,
    space: SpaceName,
    /// `spaces/<space>/<service>/` under the state dir: values files, the agent layer's context.
    home: PathBuf,
    token: String,
    builds: u32,
    builder: Option<Builder>,
    delivery: Option<Delivery>,
    /// Every image reference this session built (to remove at the end).
    images: Vec<String>,
    release: Option<Release>,
    tunnels: Option<Arc<PodTunnels>>,
    space_ready: bool,
    /// Watches the deployed pods for failures after they were ready (`pods::monitor`).
    monitor: Option<tokio::task::JoinHandle<()>>,
    /// Names the callers in the routing proxy's traces (kept across redeploys for its cache).
    peers: Option<Arc<peers::Peers>>,
    /// What the last install runs: the image reference and how many replicas.
    installed: Option<(String, usize)>,
    /// The agent was lost (`agent_lost`): the next deploy only reattaches to the replacement.
    reattach: bool,
}

struct Release {
    name: String,
    session: String,
}

fn deploy_err(e: impl std::fmt::Display) -> BackendError {
    BackendError::Deploy(e.to_string())
}

impl Kubernetes {
    pub fn new(cluster: Cluster, space: SpaceName, home: PathBuf) -> Self {
        Kubernetes {
            cluster,
            space,
            home,
            token: new_token(),
            builds: 0,
            builder: None,
            delivery: None,
            images: Vec::new(),
            release: None,
            tunnels: None,
            space_ready: false,
            monitor: None,
            peers: None,
            installed: None,
            reattach: false,
        }
    }

    fn namespace(&self) -> String {
        self.space.namespace().to_string()
    }

    fn deadline() -> Duration {
        std::env::var(DEADLINE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_DEADLINE)
    }

    async fn builder(&mut self) -> Result<Builder, BackendError> {
        if let Some(b) = &self.builder {
            return Ok(b.clone());
        }
        let b = Builder::find().await.map_err(deploy_err)?;
        self.builder = Some(b.clone());
        Ok(b)
    }

    fn delivery(&mut self) -> Result<Delivery, BackendError> {
        if let Some(d) = &self.delivery {
            return Ok(d.clone());
        }
        let d = Delivery::detect(&self.cluster.context).map_err(deploy_err)?;
        self.delivery = Some(d.clone());
        Ok(d)
    }

    /// Builds the develop image and the agent layer on it, and delivers the result.
    async fn build(&mut self, config: &Config, reference: &str, report: &Reporter) -> Result<(), BackendError> {
        let builder = self.builder().await?;
        let delivery = self.delivery()?;
        let dockerfile = crate::backend::develop_dockerfile(config)?;
        let context = config.service_dir.join(config.context_prefix());
        let qualified = image::qualified(reference);
        let base = format!("{qualified}-base");
        report.progress("build", format!("{} with {}", dockerfile, builder.program), false);
        builder
            .build(&context, &config.service_dir.join(&dockerfile), &config.develop.build.args, &base, report)
            .await
            .map_err(deploy_err)?;
        self.images.push(base.clone());
        let agent = agent_layer::agent_binary().map_err(deploy_err)?;
        let layer = self.home.join("agent-layer");
        let file = agent_layer::write_context(&layer, &base, &agent, DEFAULT_AGENT_PATH).map_err(deploy_err)?;
        builder.build(&layer, &file, &BTreeMap::new(), &qualified, report).await.map_err(deploy_err)?;
        self.images.push(qualified.clone());
        report.progress("build", delivery.describe(), false);
        builder.deliver(&qualified, &delivery, &self.home, report).await.map_err(deploy_err)?;
        report.progress("build", format!("built {reference}"), true);
        Ok(())
    }

    /// The values for this build: the design's precedence, placeholders rendered, the image's
    /// repository prefixed for a registry; returns them with the image reference the chart renders.
    fn values(&mut self, config: &Config, tag: &str) -> Result<(serde_json::Value, String), BackendError> {
        let delivery = self.delivery()?;
        let merged = values::merged(config).map_err(deploy_err)?;
        let ph = Placeholders::for_space(&self.space.path(), tag, &super::host_suffix());
        let mut v = ph.render_json(&merged);
        let image = v.get_mut("image").and_then(|i| i.as_object_mut()).ok_or_else(|| {
            deploy_err(format!("{}: the chart's values have no image.repository: set install.set.image.repository and image.tag: $(tag)", config.file.display()))
        })?;
        let repo = image.get("repository").and_then(|r| r.as_str()).filter(|r| !r.is_empty()).ok_or_else(|| {
            deploy_err(format!(
                "{}: set install.set.image.repository to the image the chart runs",
                config.file.display()
            ))
        })?;
        let repo = image::repository_for(&delivery, repo);
        let tag_value = image.get("tag").map(|t| match t {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if tag_value.as_deref() != Some(tag) {
            return Err(deploy_err(format!(
                "{}: image.tag is {}, not $(tag): every build gets a new tag so the pod is replaced; set install.set.image.tag: $(tag)",
                config.file.display(),
                tag_value.unwrap_or_else(|| "unset".into())
            )));
        }
        image.insert("repository".into(), serde_json::Value::String(repo.clone()));
        if delivery.is_push() && image.get("pullPolicy").and_then(|p| p.as_str()) == Some("Never") {
            // The image is in a registry now: the node has to pull it.
            image.insert("pullPolicy".into(), serde_json::Value::String("IfNotPresent".into()));
        }
        Ok((v, format!("{repo}:{tag}")))
    }

    fn helm() -> String {
        std::env::var(HELM_ENV).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "helm".into())
    }

    /// The Services the chart defines with these values (`helm template`, no cluster needed).
    async fn chart_services(
        &self,
        config: &Config,
        release: &str,
        values_file: &Path,
    ) -> Result<BTreeSet<String>, BackendError> {
        let helm = Self::helm();
        let Some(chart) = config.install.chart.as_ref() else { return Ok(BTreeSet::new()) };
        let out = Command::new(&helm)
            .args(["template", release])
            .arg(config.service_dir.join(&chart.value))
            .args(["--namespace", &self.namespace(), "-f"])
            .arg(values_file)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| deploy_err(format!("cannot run {helm}: {e}")))?;
        if !out.status.success() {
            return Err(deploy_err(format!(
                "helm template {release} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        stubs::service_names(&String::from_utf8_lossy(&out.stdout))
            .map_err(|e| deploy_err(format!("reading helm template {release}: {e}")))
    }

    /// In a child space: the parent's Services this chart does not define get their stand-ins,
    /// and the stand-ins it replaces go (`stubs.rs`).
    async fn stand_ins(&self, own: &BTreeSet<String>, report: &Reporter) -> Result<(), BackendError> {
        let plan = stubs::sync(&self.cluster, &self.space, own).await.map_err(deploy_err)?;
        if let Some(line) = stubs::describe(&self.namespace(), &plan) {
            report.log(LogStream::System, line);
        }
        Ok(())
    }

    /// In a root space whose services changed: its children's stand-ins (a failure is logged:
    /// the session itself is fine).
    async fn children_stand_ins(&self, report: &Reporter) {
        match stubs::sync_children(&self.cluster, &self.space.name).await {
            Ok(plans) => {
                for (ns, plan) in plans {
                    if let Some(line) = stubs::describe(&ns, &plan) {
                        report.log(LogStream::System, line);
                    }
                }
            }
            Err(e) => report.log(LogStream::System, format!("cannot update the child spaces' stand-ins: {e}")),
        }
    }

    async fn helm_major(helm: &str) -> Result<u32, BackendError> {
        let out = Command::new(helm)
            .args(["version", "--short"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| deploy_err(format!("cannot run {helm}: {e} (install Helm, or name it in {HELM_ENV})")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let major = text.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok());
        major.ok_or_else(|| deploy_err(format!("cannot read the version of {helm}: '{}'", text.trim())))
    }

    /// `helm upgrade --install` with the post-renderer in the form this Helm accepts.
    #[allow(clippy::too_many_arguments)]
    async fn helm_upgrade(
        &self,
        config: &Config,
        release: &str,
        session: &str,
        reference: &str,
        values_file: &Path,
        img: &Image,
        report: &Reporter,
    ) -> Result<(), BackendError> {
        let helm = Self::helm();
        let chart = config.install.chart.as_ref().ok_or_else(|| {
            deploy_err(format!(
                "{}: install.chart is not set: the Kubernetes backend deploys a Helm chart",
                config.file.display()
            ))
        })?;
        let chart = config.service_dir.join(&chart.value);
        let exe =
            std::env::current_exe().map_err(|e| deploy_err(format!("cannot find the devspacesd executable: {e}")))?;
        let mut pr_args = vec![
            "--session".to_string(),
            session.to_string(),
            "--image".into(),
            reference.to_string(),
            "--workdir".into(),
            img.workdir.clone(),
        ];
        if let Some(target) = &config.develop.container.sync_target {
            pr_args.push("--sync-target".into());
            pr_args.push(target.clone());
        }
        let command = img.command();
        if !command.is_empty() {
            pr_args.push("--command-json".into());
            pr_args.push(serde_json::to_string(&command).unwrap_or_default());
        }
        pr_args.push("--entrypoint-json".into());
        pr_args.push(serde_json::to_string(&img.entrypoint).unwrap_or_default());
        // Every pod of a session routes: the chart's Services reach the apps through the agent's
        // routing proxy, which sends a request for a child space to the child's instance.
        pr_args.push("--space".into());
        pr_args.push(self.space.path());
        pr_args.push("--cluster-domain".into());
        pr_args.push(stubs::cluster_domain());
        let mut cmd = Command::new(&helm);
        cmd.args(["upgrade", "--install", release])
            .arg(&chart)
            .args(["--namespace", &self.namespace(), "--history-max", "3", "-f"])
            .arg(values_file);
        cmd.args(["--kube-context", &self.cluster.context]);
        if let Some(k) = std::env::var_os("KUBECONFIG") {
            cmd.env("KUBECONFIG", k);
        }
        if Self::helm_major(&helm).await? >= 4 {
            let plugins = helm_plugin::write(&self.home.join("helm-plugins"), &exe).map_err(deploy_err)?;
            cmd.env("HELM_PLUGINS", plugins).args(["--post-renderer", helm_plugin::PLUGIN_NAME]);
        } else {
            cmd.arg("--post-renderer").arg(&exe).arg("--post-renderer-args=post-render");
        }
        for a in pr_args {
            cmd.arg(format!("--post-renderer-args={a}"));
        }
        report.log(
            LogStream::System,
            format!("helm upgrade --install {release} {} --namespace {}", chart.display(), self.namespace()),
        );
        // A cancelled deploy drops this future: the helm process goes with it.
        let out = cmd
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| deploy_err(format!("cannot run {helm}: {e}")))?;
        for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).take(6) {
            report.log(LogStream::System, line.to_string());
        }
        if !out.status.success() {
            return Err(deploy_err(format!(
                "helm upgrade --install {release} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The container port the chart declares for the built image, else the image's EXPOSE.
    async fn app_port(&self, pod: &str, reference: &str, img: &Image) -> u16 {
        let pods: Api<Pod> = Api::namespaced(self.cluster.client.clone(), &self.namespace());
        let declared = pods.get_opt(pod).await.ok().flatten().and_then(|p| {
            let spec = p.spec?;
            let c = spec
                .containers
                .into_iter()
                .find(|c| c.image.as_deref().is_some_and(|i| image::qualified(i) == image::qualified(reference)))?;
            c.ports?.first().map(|p| p.container_port as u16)
        });
        declared.or_else(|| img.expose.first().copied()).unwrap_or(80)
    }
}

impl Kubernetes {
    /// Waits for the session's pods running `reference` to be ready (`replicas` of them) and
    /// connects to their agents; the forwards follow the first pod.
    async fn connect(
        &mut self,
        config: &Config,
        session: &str,
        reference: &str,
        replicas: usize,
        report: &Reporter,
    ) -> Result<Deployed, BackendError> {
        let ns = self.namespace();
        let img = dockerfile::develop_image(config);
        let status = |detail: String| {
            report.emit(EventKind::Status { phase: Phase::Deploying, detail, exit_code: None, last_lines: None })
        };
        status(format!("waiting for the pod running {reference}"));
        let deadline = Self::deadline();
        let selector = format!("{SESSION_LABEL}={session}");
        let mut last = String::new();
        let ready =
            pods::wait_ready(&self.cluster.client, &ns, &selector, reference, replicas, deadline, |detail: &str| {
                if detail != last {
                    last = detail.to_string();
                    status(format!("waiting for the pod: {detail}"));
                }
            })
            .await
            .map_err(deploy_err)?;
        let Some(pod) = ready.first().cloned() else { return Err(deploy_err("no pod became ready")) };
        report.log(
            LogStream::System,
            format!("{} ready in namespace {ns}: {}", if ready.len() == 1 { "pod" } else { "pods" }, ready.join(", ")),
        );
        let tunnels = match &self.tunnels {
            Some(t) => t.clone(),
            None => {
                let t = PodTunnels::new(Api::namespaced(self.cluster.client.clone(), &ns));
                self.tunnels = Some(t.clone());
                t
            }
        };
        // The app's forwards follow the first pod; every replica's agent gets a port of its own.
        tunnels.set_pod(&pod);
        tunnels.unpin_except(&ready);
        let handle: Arc<dyn crate::backend::Tunnel> = Arc::new(TunnelHandle(tunnels.clone()));
        let mut targets = Vec::new();
        for p in &ready {
            let port = tunnels
                .pinned(p, DEFAULT_AGENT_PORT)
                .await
                .map_err(|e| BackendError::Agent(format!("opening a forward to the agent in {p}: {e}")))?;
            targets.push((p.clone(), std::net::SocketAddr::from(([127, 0, 0, 1], port))));
        }
        let mut connected = None;
        let mut last_err = String::new();
        // The pods are Ready, so the agents listen; a forward can still need a moment to settle.
        for _ in 0..20 {
            match AgentClient::connect_all(&targets, &self.token, Some(0)).await {
                Ok(c) => {
                    connected = Some(c);
                    break;
                }
                Err(e) => last_err = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let Some((agent, events)) = connected else {
            return Err(BackendError::Agent(format!("cannot reach the agent in pod {pod}: {last_err}")));
        };
        let names = self.peers.get_or_insert_with(|| peers::Peers::new(self.cluster.client.clone(), ns.clone()));
        let events = peers::relabel(events, names.clone());
        let app_port = self.app_port(&pod, reference, &img).await;
        let r = report.clone();
        self.monitor = Some(tokio::spawn(pods::monitor(
            self.cluster.client.clone(),
            ns.clone(),
            selector.clone(),
            reference.to_string(),
            move |message: String| {
                r.log(LogStream::System, message.clone());
                r.emit(EventKind::Error { message: message.clone() });
                r.emit(EventKind::Status { phase: Phase::Failed, detail: message, exit_code: None, last_lines: None });
            },
        )));
        Ok(Deployed {
            agent,
            events,
            agent_pid: None,
            command: config.develop.container.command.clone(),
            env: BTreeMap::new(),
            app_port,
            preferred_local_port: Some(app_port),
            tunnel: Some(handle),
        })
    }
}

impl Backend for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { serves_during_redeploy: true, replaces_lost_agent: true }
    }

    fn agent_lost(&mut self) {
        self.reattach = true;
    }

    async fn deploy(&mut self, config: &Config, _fresh: bool, report: &Reporter) -> Result<Deployed, BackendError> {
        if let Some(m) = self.monitor.take() {
            m.abort();
        }
        // The pod went away: its Deployment replaces it with the same image; find it and connect.
        if std::mem::take(&mut self.reattach) {
            if let (Some(session), Some((reference, replicas))) =
                (self.release.as_ref().map(|r| r.session.clone()), self.installed.clone())
            {
                return self.connect(config, &session, &reference, replicas, report).await;
            }
        }
        let ns = self.namespace();
        if !self.space_ready {
            let made = space::select(&self.cluster, &self.space).await.map_err(deploy_err)?;
            for n in made {
                report.log(LogStream::System, format!("created space namespace {n}"));
            }
            self.space_ready = true;
        }
        let session = report.session.clone();
        self.builds += 1;
        let tag = format!("{session}-{}", self.builds);
        std::fs::create_dir_all(&self.home)
            .map_err(|e| deploy_err(format!("creating {}: {e}", self.home.display())))?;
        let (vals, reference) = self.values(config, &tag)?;
        let status = |detail: String| {
            report.emit(EventKind::Status { phase: Phase::Deploying, detail, exit_code: None, last_lines: None })
        };
        status(format!("building {reference}"));
        self.build(config, &reference, report).await?;
        let img = dockerfile::develop_image(config);
        space::apply_session_secret(&self.cluster, &ns, &session, &self.token).await.map_err(deploy_err)?;
        let values_file = self.home.join("values.json");
        write_private(&values_file, &serde_json::to_vec_pretty(&vals).unwrap_or_default())
            .map_err(|e| deploy_err(format!("writing {}: {e}", values_file.display())))?;
        let release = config.name.clone();
        status(format!("helm upgrade --install {release} in namespace {ns}"));
        self.release = Some(Release { name: release.clone(), session: session.clone() });
        let child = self.space.parent.is_some();
        let own = if child { self.chart_services(config, &release, &values_file).await? } else { BTreeSet::new() };
        if child {
            self.stand_ins(&own, report).await?;
        }
        let installed = self.helm_upgrade(config, &release, &session, &reference, &values_file, &img, report).await;
        match installed {
            // A stand-in made between ours going and the install (by a parent's deploy): once more.
            Err(BackendError::Deploy(e)) if child && e.contains("exists and cannot be imported") => {
                report.log(LogStream::System, "a stand-in service was in the way of the install; trying again");
                self.stand_ins(&own, report).await?;
                self.helm_upgrade(config, &release, &session, &reference, &values_file, &img, report).await?;
            }
            other => other?,
        }
        if !child {
            self.children_stand_ins(report).await;
        }
        let replicas = replica_count(&vals);
        self.installed = Some((reference.clone(), replicas));
        self.connect(config, &session, &reference, replicas, report).await
    }

    async fn teardown(&mut self) {}

    async fn finish(&mut self, report: &Reporter) {
        if let Some(m) = self.monitor.take() {
            m.abort();
        }
        if let Some(t) = self.tunnels.take() {
            t.close();
        }
        let ns = self.namespace();
        if let Some(r) = self.release.take() {
            let helm = Self::helm();
            let out = Command::new(&helm)
                .args([
                    "uninstall",
                    &r.name,
                    "--namespace",
                    &ns,
                    "--kube-context",
                    &self.cluster.context,
                    "--wait",
                    "--timeout",
                    "60s",
                ])
                .stdin(Stdio::null())
                .output()
                .await;
            match out {
                Ok(o) if o.status.success() => {
                    report.log(LogStream::System, format!("helm uninstall {} --namespace {ns}: done", r.name))
                }
                Ok(o) => report.log(
                    LogStream::System,
                    format!("helm uninstall {} failed: {}", r.name, String::from_utf8_lossy(&o.stderr).trim()),
                ),
                Err(e) => report.log(LogStream::System, format!("cannot run {helm}: {e}")),
            }
            let secrets: Api<Secret> = Api::namespaced(self.cluster.client.clone(), &ns);
            let _ = secrets.delete(&space::session_secret_name(&r.session), &DeleteParams::default()).await;
            // What the release held: in a child, the parent's again; a parent's children lose
            // the stand-ins for what it no longer runs.
            if self.space.parent.is_some() {
                if let Err(e) = self.stand_ins(&BTreeSet::new(), report).await {
                    report
                        .log(LogStream::System, format!("cannot restore the stand-ins for the parent's services: {e}"));
                }
            } else {
                self.children_stand_ins(report).await;
            }
        }
        let images = std::mem::take(&mut self.images);
        if let Some(b) = &self.builder {
            b.remove(&images, report).await;
        }
        match &self.delivery {
            Some(Delivery::Containerd(address)) => {
                let finals: Vec<String> = images.iter().filter(|i| !i.ends_with("-base")).cloned().collect();
                image::remove_from_containerd(address, &finals, report).await;
            }
            Some(Delivery::Push(_)) => {
                let finals: Vec<String> = images.iter().filter(|i| !i.ends_with("-base")).cloned().collect();
                for i in &finals {
                    image::remove_from_registry(i, report).await;
                }
                // The node pulled them; where its containerd is known (a plain containerd node),
                // its copies go too. Elsewhere the kubelet's image GC removes them in time.
                if let Some(address) = std::env::var(image::CONTAINERD_ENV).ok().filter(|a| !a.is_empty()) {
                    image::remove_from_containerd(&address, &finals, report).await;
                }
            }
            _ => {}
        }
    }
}

/// Writes a file only its owner can read (mode 0600 from creation, whatever the umask): the
/// merged values hold `secrets.dev.yaml`. A temp file, then a rename, so a file an earlier
/// version left readable is replaced rather than rewritten with its old mode.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{name}.{hex}"));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How many pods the release runs: the chart's `replicaCount` (the Helm convention), else 1.
fn replica_count(values: &serde_json::Value) -> usize {
    let n = match values.get("replicaCount") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    n.map(|n| n.max(1) as usize).unwrap_or(1)
}

/// The space a session runs in: the one named, else the one `space select` recorded for this
/// context, else `default` (as Dev Spaces did).
pub fn resolve_space(state_dir: &Path, cluster: &Cluster, named: Option<&str>) -> Result<SpaceName, super::KubeError> {
    match named {
        Some(s) => SpaceName::parse(s),
        None => Ok(space::read_selection(state_dir, &cluster.context).unwrap_or(SpaceName::parse("default")?)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn merged_values_are_written_for_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.path().join("values.json");
        write_private(&fresh, b"{\"secret\": 1}").unwrap();
        assert_eq!(format!("{:o}", mode(&fresh)), "600");
        // A file an earlier version left readable by others is replaced, not rewritten in place.
        let old = dir.path().join("old.json");
        std::fs::write(&old, "{}").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&old, b"{\"secret\": 2}").unwrap();
        assert_eq!(
            (format!("{:o}", mode(&old)), std::fs::read_to_string(&old).unwrap()),
            ("600".into(), "{\"secret\": 2}".into())
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 2, "no temp file stays: {names:?}");
    }
}

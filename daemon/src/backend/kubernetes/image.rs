//! Building the develop image, adding the agent layer, and making the image reachable by the cluster.
//!
//! The builder is the first real one found (buildah, docker, podman, nerdctl) or `DEVSPACES_BUILDER`.
//! Delivery is a push to `DEVSPACES_REGISTRY` when set, else a load into the node that the
//! cluster's context reveals (kind, minikube) or `DEVSPACES_CONTAINERD_ADDRESS` names (plain
//! containerd); `DEVSPACES_IMAGE_DELIVERY` forces one (`push`, `containerd`, `kind`, `minikube`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::backend::{BuildOutput, Reporter};
use crate::events::LogStream;

pub const BUILDER_ENV: &str = "DEVSPACES_BUILDER";
pub const REGISTRY_ENV: &str = "DEVSPACES_REGISTRY";
pub const DELIVERY_ENV: &str = "DEVSPACES_IMAGE_DELIVERY";
pub const CONTAINERD_ENV: &str = "DEVSPACES_CONTAINERD_ADDRESS";

/// The CLIs that can build a Dockerfile, in the order they are tried.
const BUILDERS: &[&str] = &["buildah", "docker", "podman", "nerdctl"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Push to this registry (`host:port[/path]`); the chart's repository gets it as a prefix.
    Push(String),
    /// Import into the node's containerd (`ctr --address SOCK -n k8s.io images import`).
    Containerd(String),
    /// `kind load docker-image --name CLUSTER`.
    Kind(String),
    /// `minikube image load` (profile from the context name).
    Minikube(String),
}

impl Delivery {
    /// From the environment and the kubeconfig context name.
    pub fn detect(context: &str) -> Result<Delivery, String> {
        let var = |k: &str| std::env::var(k).ok();
        Self::choose(context, var(DELIVERY_ENV), var(REGISTRY_ENV), var(CONTAINERD_ENV))
    }

    /// The choice itself: a forced kind, else a registry, kind, minikube, a containerd socket.
    pub fn choose(
        context: &str,
        forced: Option<String>,
        registry: Option<String>,
        containerd: Option<String>,
    ) -> Result<Delivery, String> {
        let set = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (forced, containerd) = (set(forced), set(containerd));
        let registry = set(registry).map(|r| r.trim_end_matches('/').to_string());
        let kind = context.strip_prefix("kind-").map(str::to_string);
        let minikube = (context == "minikube").then(|| context.to_string());
        let need = |what: &str, v: Option<String>| {
            v.ok_or_else(|| {
                let needs = match what {
                    "push" => REGISTRY_ENV.to_string(),
                    "containerd" => CONTAINERD_ENV.to_string(),
                    "kind" => format!("a kind context (kind-NAME), not '{context}'"),
                    _ => format!("the minikube context, not '{context}'"),
                };
                format!("{DELIVERY_ENV}={what} needs {needs}")
            })
        };
        match forced.as_deref() {
            Some("push") => need("push", registry).map(Delivery::Push),
            Some("containerd") => need("containerd", containerd).map(Delivery::Containerd),
            Some("kind") => need("kind", kind).map(Delivery::Kind),
            Some("minikube") => need("minikube", minikube).map(Delivery::Minikube),
            Some(other) => Err(format!("{DELIVERY_ENV}={other}: expected push, containerd, kind or minikube")),
            None => registry.map(Delivery::Push).or(kind.map(Delivery::Kind)).or(minikube.map(Delivery::Minikube)).or(containerd.map(Delivery::Containerd)).ok_or_else(|| {
                format!("no way to get the image to the cluster of context '{context}': set {REGISTRY_ENV}=host:port (a registry the nodes can pull from), or {CONTAINERD_ENV}=SOCKET for a plain containerd node")
            }),
        }
    }

    /// Pushed images need a registry prefix and a pull policy that allows pulling.
    pub fn is_push(&self) -> bool {
        matches!(self, Delivery::Push(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Delivery::Push(r) => format!("push to {r}"),
            Delivery::Containerd(a) => format!("import into containerd at {a}"),
            Delivery::Kind(c) => format!("kind load into cluster {c}"),
            Delivery::Minikube(p) => format!("minikube image load ({p})"),
        }
    }
}

/// The repository the chart should use: `registry/repo` for a push, else `repo` unchanged.
pub fn repository_for(delivery: &Delivery, repo: &str) -> String {
    match delivery {
        Delivery::Push(r) if !repo.starts_with(&format!("{r}/")) => format!("{r}/{repo}"),
        _ => repo.to_string(),
    }
}

/// The name a builder must give an image so a node's containerd finds it under the chart's
/// reference: Docker Hub names are fully qualified (`docker.io/library/x`), as containerd
/// normalises them; buildah would otherwise store `localhost/x`.
pub fn qualified(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    let has_domain = reference.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_domain, reference.contains('/')) {
        (true, _) => reference.to_string(),
        (false, true) => format!("docker.io/{reference}"),
        (false, false) => format!("docker.io/library/{reference}"),
    }
}

#[derive(Debug, Clone)]
pub struct Builder {
    pub program: String,
}

impl Builder {
    /// `DEVSPACES_BUILDER`, else the first of buildah, docker, podman, nerdctl that runs (a docker
    /// CLI without an engine does not count).
    pub async fn find() -> Result<Builder, String> {
        if let Some(p) = std::env::var(BUILDER_ENV).ok().filter(|p| !p.trim().is_empty()) {
            return if works(&p).await {
                Ok(Builder { program: p })
            } else {
                Err(format!("{BUILDER_ENV}={p} does not run (tried `{p} info`)"))
            };
        }
        for p in BUILDERS {
            if works(p).await {
                return Ok(Builder { program: p.to_string() });
            }
        }
        Err(format!("no image builder found: install one of {} (or name it in {BUILDER_ENV})", BUILDERS.join(", ")))
    }

    fn is_buildah(&self) -> bool {
        Path::new(&self.program).file_name().is_some_and(|n| n == "buildah")
    }

    /// Builds `dockerfile` in `context` as `tag`, streaming every output line as a build log.
    pub async fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        args: &BTreeMap<String, String>,
        tag: &str,
        report: &Reporter,
    ) -> Result<(), String> {
        let cmd = self.build_command(context, dockerfile, args, tag)?;
        run(cmd, &format!("building {tag}"), report).await
    }

    fn build_command(
        &self,
        context: &Path,
        dockerfile: &Path,
        args: &BTreeMap<String, String>,
        tag: &str,
    ) -> Result<Command, String> {
        let mut cmd = Command::new(&self.program);
        if self.is_buildah() {
            // No network: the machine's builds must not reach out, and buildah's default network
            // needs a CNI configuration the host may not have. `--layers` keeps the cache.
            cmd.args(["bud", "--layers", "--network", "none"]);
        } else {
            cmd.arg("build");
        }
        cmd.arg("-f").arg(dockerfile).arg("-t").arg(tag);
        // Build args may hold secrets (a registry token): `--build-arg NAME` takes the value from
        // the builder's environment (buildah, docker, podman and nerdctl alike), so values never
        // show in argv (`ps`, /proc/<pid>/cmdline) or in the `$ command` log line.
        for (k, v) in args {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(format!("build arg '{}': a name cannot hold '=' or NUL", k.escape_debug()));
            }
            if builder_reads_itself(k) {
                // Set in its environment it would change how the builder runs: argv it is, and
                // `show` masks the value.
                cmd.arg("--build-arg").arg(format!("{k}={v}"));
            } else {
                cmd.arg("--build-arg").arg(k).env(k, v);
            }
        }
        cmd.arg(context);
        Ok(cmd)
    }

    /// Makes `tag` reachable by the cluster.
    pub async fn deliver(
        &self,
        tag: &str,
        delivery: &Delivery,
        scratch: &Path,
        report: &Reporter,
    ) -> Result<(), String> {
        match delivery {
            Delivery::Push(_) => {
                let mut cmd = Command::new(&self.program);
                if self.is_buildah() {
                    cmd.arg("push").arg(tag).arg(format!("docker://{tag}"));
                } else {
                    cmd.arg("push").arg(tag);
                }
                run(cmd, &format!("pushing {tag}"), report).await
            }
            Delivery::Containerd(address) => {
                let mut cmd = Command::new("ctr");
                cmd.arg("--address").arg(address).args(["-n", "k8s.io", "images", "import"]);
                self.load_archive(tag, cmd, "into the node", scratch, report).await
            }
            Delivery::Kind(cluster) => {
                let mut cmd = Command::new("kind");
                cmd.args(["load", "image-archive", "--name", cluster]);
                self.load_archive(tag, cmd, "into kind", scratch, report).await
            }
            Delivery::Minikube(profile) => {
                let mut cmd = Command::new("minikube");
                cmd.args(["image", "load", "-p", profile]);
                self.load_archive(tag, cmd, "into minikube", scratch, report).await
            }
        }
    }

    /// Saves the image as an archive in `scratch`, runs `load` with the archive's path appended,
    /// and removes the archive whatever happened.
    async fn load_archive(
        &self,
        tag: &str,
        mut load: Command,
        into: &str,
        scratch: &Path,
        report: &Reporter,
    ) -> Result<(), String> {
        let archive = scratch.join("image.tar");
        let _ = std::fs::remove_file(&archive);
        self.save(tag, &archive, report).await?;
        load.arg(&archive);
        let r = run(load, &format!("loading {tag} {into}"), report).await;
        let _ = std::fs::remove_file(&archive);
        r
    }

    async fn save(&self, tag: &str, archive: &Path, report: &Reporter) -> Result<(), String> {
        let mut cmd = Command::new(&self.program);
        if self.is_buildah() {
            cmd.arg("push").arg(tag).arg(format!("docker-archive:{}:{tag}", archive.display()));
        } else {
            cmd.arg("save").arg("-o").arg(archive).arg(tag);
        }
        run(cmd, &format!("saving {tag}"), report).await
    }

    /// Removes images from the builder's store (the session ends); failures are only reported.
    pub async fn remove(&self, tags: &[String], report: &Reporter) {
        if tags.is_empty() {
            return;
        }
        let mut cmd = Command::new(&self.program);
        cmd.arg("rmi");
        if self.is_buildah() {
            cmd.arg("-f");
        }
        cmd.args(tags);
        let _ = run(cmd, "removing the session's images", report).await;
    }
}

/// Removes images from the node's containerd (after a `Containerd` delivery).
pub async fn remove_from_containerd(address: &str, tags: &[String], report: &Reporter) {
    if tags.is_empty() {
        return;
    }
    let mut cmd = Command::new("ctr");
    cmd.arg("--address").arg(address).args(["-n", "k8s.io", "images", "rm"]).args(tags);
    let _ = run(cmd, "removing the session's images from the node", report).await;
}

/// Deletes a pushed image's manifest from its registry with `skopeo delete` (which honours
/// registries.conf, as buildah's push did); without skopeo the image stays and the log says so.
pub async fn remove_from_registry(reference: &str, report: &Reporter) {
    if !works_cmd("skopeo", "--version").await {
        report.log(
            LogStream::System,
            format!("{reference} stays in its registry: install skopeo to have sessions delete what they pushed"),
        );
        return;
    }
    let mut cmd = Command::new("skopeo");
    // skopeo reads CONTAINERS_REGISTRIES_CONF only when told (buildah reads it by itself).
    if let Some(conf) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|c| !c.is_empty()) {
        cmd.arg("--registries-conf").arg(conf);
    }
    cmd.arg("delete").arg(format!("docker://{reference}"));
    let _ = run(cmd, &format!("deleting {reference} from its registry"), report).await;
}

async fn works_cmd(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn works(program: &str) -> bool {
    let probe = if Path::new(program).file_name().is_some_and(|n| n == "buildah") { "version" } else { "info" };
    works_cmd(program, probe).await
}

/// Runs a command, streaming its output as build logs; the error carries the last lines.
async fn run(mut cmd: Command, doing: &str, report: &Reporter) -> Result<(), String> {
    report.log(LogStream::Build, format!("$ {}", show(&cmd)));
    let mut child =
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{doing}: cannot run {}: {e}", cmd.as_std().get_program().to_string_lossy()))?;
    let output = BuildOutput::new(report);
    let out = child.stdout.take().map(|s| pump(s, output.clone()));
    let err = child.stderr.take().map(|s| pump(s, output.clone()));
    let status = child.wait().await.map_err(|e| format!("{doing}: {e}"))?;
    for t in [out, err].into_iter().flatten() {
        let _ = t.await;
    }
    if status.success() {
        return Ok(());
    }
    Err(format!("{doing} failed ({status}):\n{}", output.last().join("\n")))
}

fn pump<R: AsyncRead + Unpin + Send + 'static>(r: R, output: BuildOutput) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.line(line);
        }
    })
}

/// Environment variables the builders (or the loader and the system under them) read for
/// themselves: a build arg of that name is passed in argv, never in the builder's environment.
fn builder_reads_itself(name: &str) -> bool {
    const NAMES: &[&str] = &["PATH", "HOME", "USER", "SHELL", "TMPDIR", "KUBECONFIG", "REGISTRY_AUTH_FILE"];
    const PREFIXES: &[&str] = &[
        "LD_",
        "XDG_",
        "DOCKER_",
        "BUILDAH_",
        "BUILDKIT_",
        "BUILDX_",
        "CONTAINERS_",
        "CONTAINERD_",
        "PODMAN_",
        "NERDCTL_",
        "STORAGE_",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A command as the log shows it: a `--build-arg NAME=value` shows as `NAME=…`.
fn show(cmd: &Command) -> String {
    let c = cmd.as_std();
    let mut out = vec![c.get_program().to_string_lossy().into_owned()];
    let mut build_arg = false;
    for a in c.get_args() {
        let a = a.to_string_lossy();
        let shown = match a.split_once('=') {
            Some((name, _)) if build_arg => format!("{name}=…"),
            _ => a.to_string(),
        };
        build_arg = a == "--build-arg";
        out.push(shown);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn build_arg_values_go_in_the_builders_environment_never_in_argv_or_the_log() {
        let b = Builder { program: "buildah".into() };
        let args = BTreeMap::from([
            ("NPM_TOKEN".to_string(), "s3cret-npm".to_string()),
            ("DOCKER_CONFIG".to_string(), "s3cret-dir".to_string()),
        ]);
        let cmd = b.build_command(Path::new("/ctx"), Path::new("/ctx/Dockerfile"), &args, "web:1").unwrap();
        let argv: Vec<String> = cmd.as_std().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(argv.windows(2).any(|w| w == ["--build-arg", "NPM_TOKEN"]), "{argv:?}");
        assert!(!argv.iter().any(|a| a.contains("s3cret-npm")), "{argv:?}");
        let envs: Vec<_> = cmd.as_std().get_envs().collect();
        assert!(envs.contains(&(OsStr::new("NPM_TOKEN"), Some(OsStr::new("s3cret-npm")))), "{envs:?}");
        // A name the builder reads itself cannot go in its environment: argv, masked in the log.
        assert!(argv.windows(2).any(|w| w == ["--build-arg", "DOCKER_CONFIG=s3cret-dir"]), "{argv:?}");
        assert!(!envs.iter().any(|(k, _)| *k == "DOCKER_CONFIG"), "{envs:?}");
        let line = show(&cmd);
        assert!(!line.contains("s3cret"), "{line}");
        assert!(line.contains(" --build-arg DOCKER_CONFIG=… --build-arg NPM_TOKEN "), "{line}");
        let bad = BTreeMap::from([("A=B".to_string(), "x".to_string())]);
        let e = b.build_command(Path::new("/ctx"), Path::new("/ctx/Dockerfile"), &bad, "web:1").err().unwrap();
        assert_eq!(e, "build arg 'A=B': a name cannot hold '=' or NUL");
    }

    #[test]
    fn qualified_names_match_containerd() {
        let cases = [
            ("python-web:s-1", "docker.io/library/python-web:s-1"),
            ("team/web:1", "docker.io/team/web:1"),
            ("172.30.213.2:5000/python-web:s-1", "172.30.213.2:5000/python-web:s-1"),
            ("ghcr.io/x/y:1", "ghcr.io/x/y:1"),
            ("localhost/web:1", "localhost/web:1"),
        ];
        for (input, want) in cases {
            assert_eq!(qualified(input), want, "{input}");
        }
    }

    #[test]
    fn push_prefixes_the_repository_once() {
        let d = Delivery::Push("reg:5000".into());
        assert_eq!(repository_for(&d, "web"), "reg:5000/web");
        assert_eq!(repository_for(&d, "reg:5000/web"), "reg:5000/web");
        assert_eq!(repository_for(&Delivery::Containerd("/s".into()), "web"), "web");
    }

    #[test]
    fn delivery_choice() {
        let s = |v: &str| Some(v.to_string());
        type Case<'a> = (&'a str, Option<String>, Option<String>, Option<String>, Result<Delivery, &'a str>);
        let cases: Vec<Case> = vec![
            ("devspaces", None, s("reg:5000/"), s("/run/c.sock"), Ok(Delivery::Push("reg:5000".into()))),
            ("devspaces", None, None, s("/run/c.sock"), Ok(Delivery::Containerd("/run/c.sock".into()))),
            ("kind-dev", None, None, None, Ok(Delivery::Kind("dev".into()))),
            ("minikube", None, s(" "), None, Ok(Delivery::Minikube("minikube".into()))),
            (
                "devspaces",
                s("containerd"),
                s("reg:5000"),
                s("/run/c.sock"),
                Ok(Delivery::Containerd("/run/c.sock".into())),
            ),
            ("devspaces", None, None, None, Err("set DEVSPACES_REGISTRY")),
            ("devspaces", s("kind"), None, None, Err("a kind context (kind-NAME), not 'devspaces'")),
            ("devspaces", s("ftp"), None, None, Err("expected push, containerd, kind or minikube")),
        ];
        for (ctx, forced, reg, ctrd, want) in cases {
            let got = Delivery::choose(ctx, forced.clone(), reg.clone(), ctrd.clone());
            match (&got, &want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{ctx} {forced:?} {reg:?} {ctrd:?}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{g}"),
                _ => panic!("{ctx} {forced:?} {reg:?} {ctrd:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

//! The one way a session gets its backend: `connect` reaches what the choice needs and resolves
//! the space, `start` builds the concrete backend and starts the session. The server and the CLI
//! both go through here; neither names a concrete backend.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "container")]
use super::container::{Container, Engine};
#[cfg(feature = "kubernetes")]
use super::kubernetes::{self, deploy::Kubernetes, space::SpaceName, Cluster};
use super::local::Local;
use crate::session::{self, record, ClientEnv, SessionHandle, SessionOptions, StartError};

/// The backends by name, whether or not this build has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    Kubernetes,
    Container,
}

impl BackendKind {
    /// The backends this build can run, in the order `initialize` lists them.
    pub const COMPILED: &'static [BackendKind] = &[
        BackendKind::Local,
        #[cfg(feature = "kubernetes")]
        BackendKind::Kubernetes,
        #[cfg(feature = "container")]
        BackendKind::Container,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Kubernetes => "kubernetes",
            BackendKind::Container => "container",
        }
    }

    pub fn is_compiled(self) -> bool {
        Self::COMPILED.contains(&self)
    }
}

/// `--kubeconfig` and `--context`; both optional, as with kubectl.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Where a caller asks a session to run.
#[derive(Debug, Clone)]
pub enum BackendChoice {
    Local,
    Kubernetes(ConnectOptions),
    /// `DOCKER_HOST` as the client sees it (`None`: unset there).
    Container(Option<String>),
}

impl BackendChoice {
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendChoice::Local => BackendKind::Local,
            BackendChoice::Kubernetes(_) => BackendKind::Kubernetes,
            BackendChoice::Container(_) => BackendKind::Container,
        }
    }
}

/// The choice when the caller names no backend, and a warning when it had to fall back.
#[derive(Debug)]
pub struct AutoChoice {
    pub choice: BackendChoice,
    pub warning: Option<String>,
}

/// `up` without a backend: `local` when the develop Dockerfile has no `RUN` step (the local
/// backend runs everything else a Dockerfile says); with some, `container` when an engine
/// answers, else `local` with a warning that names the steps that will not run. `env` is the
/// client's environment, as the session will read azds.yaml with it (and `DOCKER_HOST` from it).
pub async fn choose(service_dir: &Path, env: &BTreeMap<String, String>) -> AutoChoice {
    let local = AutoChoice { choice: BackendChoice::Local, warning: None };
    let docker_host = env.get("DOCKER_HOST").map(String::as_str);
    let Ok(config) = crate::config::load_with_vars(service_dir, env) else { return local };
    let Some(df) = config.develop_dockerfile() else { return local };
    let image = super::dockerfile::develop_image(&config);
    if image.run.is_empty() {
        return local;
    }
    #[cfg(feature = "container")]
    let why = match Engine::find(docker_host).await {
        Ok(_) => {
            return AutoChoice { choice: BackendChoice::Container(docker_host.map(str::to_string)), warning: None }
        }
        Err(e) => e,
    };
    #[cfg(not(feature = "container"))]
    let why = {
        let _ = docker_host;
        "this devspacesd was built without the container feature".to_string()
    };
    AutoChoice { choice: BackendChoice::Local, warning: Some(run_steps_warning(&df, &image.run, &why)) }
}

/// Names the `RUN` steps the local backend will not run, and how to get them run.
pub fn run_steps_warning(dockerfile: &str, run: &[(usize, String)], why: &str) -> String {
    let steps: Vec<String> = run.iter().map(|(line, cmd)| format!("  {dockerfile}:{line}: RUN {cmd}")).collect();
    format!(
        "using the local backend: it does not run the develop Dockerfile's RUN steps, so what they install is missing:\n{}\nTo run them, start a container engine (Docker, or Podman's API service) and run `up` again, or pass --backend container or kubernetes. ({why})",
        steps.join("\n")
    )
}

/// Why a session could not get its backend or start.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    /// This build does not have the backend (a cargo feature left out).
    #[error("this devspacesd was built without the {} feature", .0.name())]
    NotBuilt(BackendKind),
    /// The backend cannot be reached (no kubeconfig, a cluster that does not answer).
    #[error("{0}")]
    Unavailable(String),
    /// The space name is not valid for the backend.
    #[error("{0}")]
    Space(String),
    #[error("{0}")]
    Session(#[from] StartError),
}

/// A backend choice connected and its space resolved: everything `start` needs but the service.
pub struct Connected {
    space: String,
    state_dir: PathBuf,
    target: Target,
}

enum Target {
    Local,
    #[cfg(feature = "container")]
    Container(Engine),
    #[cfg(feature = "kubernetes")]
    Kubernetes(Cluster, SpaceName),
}

impl Connected {
    /// The resolved space (`name` or `parent/child`).
    pub fn space(&self) -> &str {
        &self.space
    }

    /// The target's name, as the first line of `up` gives it: `local`, `container (docker)`,
    /// the Kubernetes context.
    pub fn target(&self) -> String {
        match &self.target {
            Target::Local => "local".to_string(),
            #[cfg(feature = "container")]
            Target::Container(engine) => format!("container ({})", engine.name),
            #[cfg(feature = "kubernetes")]
            Target::Kubernetes(cluster, _) => cluster.context.clone(),
        }
    }

    /// Where sessions go, for a person: `target 'local'`, `target '<context>' (namespace <ns>)`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Local => format!("target '{}'", self.target()),
            #[cfg(feature = "container")]
            Target::Container(_) => format!("target '{}'", self.target()),
            #[cfg(feature = "kubernetes")]
            Target::Kubernetes(cluster, space) => {
                format!("target '{}' (namespace {})", cluster.context, space.namespace())
            }
        }
    }
}

/// Connects what the choice needs and resolves the space. Kubernetes: the kubeconfig and context
/// as kubectl finds them, the server asked for its version; the space is `space`, else the one
/// `space select` chose for the context, else `default`. Local: `space`, else `default`.
pub async fn connect(choice: BackendChoice, space: Option<&str>, state_dir: &Path) -> Result<Connected, StartFailure> {
    let (space, target) = match choice {
        BackendChoice::Local => {
            let space = space.unwrap_or("default");
            super::check_space_name(space).map_err(StartFailure::Space)?;
            (space.to_string(), Target::Local)
        }
        #[cfg(feature = "kubernetes")]
        BackendChoice::Kubernetes(opts) => {
            let cluster = Cluster::connect(&opts).await.map_err(|e| StartFailure::Unavailable(e.to_string()))?;
            let space = kubernetes::deploy::resolve_space(state_dir, &cluster, space)
                .map_err(|e| StartFailure::Space(e.to_string()))?;
            (space.path(), Target::Kubernetes(cluster, space))
        }
        #[cfg(not(feature = "kubernetes"))]
        BackendChoice::Kubernetes(_) => return Err(StartFailure::NotBuilt(BackendKind::Kubernetes)),
        #[cfg(feature = "container")]
        BackendChoice::Container(docker_host) => {
            let space = space.unwrap_or("default");
            super::check_space_name(space).map_err(StartFailure::Space)?;
            let engine = Engine::find(docker_host.as_deref()).await.map_err(StartFailure::Unavailable)?;
            (space.to_string(), Target::Container(engine))
        }
        #[cfg(not(feature = "container"))]
        BackendChoice::Container(_) => return Err(StartFailure::NotBuilt(BackendKind::Container)),
    };
    Ok(Connected { space, state_dir: state_dir.to_path_buf(), target })
}

/// Builds the concrete backend for the service (its home `spaces/<space>/<service>/` under the
/// state dir) and starts the session on it, with the client's environment `env` (`None`: this
/// process's), its app under its debug server when `debug`.
pub async fn start(
    connected: Connected,
    service_dir: &Path,
    quiet: Duration,
    env: Option<ClientEnv>,
    local_port: Option<u16>,
    debug: bool,
) -> Result<SessionHandle, StartFailure> {
    let Connected { space, state_dir, target } = connected;
    let name = service_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let home = record::service_home(&state_dir, &space, &name);
    let opts =
        SessionOptions { service_dir: service_dir.to_path_buf(), space, quiet, env: env.clone(), local_port, debug };
    let started = match target {
        Target::Local => session::start(opts, Local::new(home.clone(), env), home).await,
        #[cfg(feature = "container")]
        Target::Container(engine) => {
            let space = opts.space.clone();
            session::start(opts, Container::new(engine, space), home).await
        }
        #[cfg(feature = "kubernetes")]
        Target::Kubernetes(cluster, space) => {
            session::start(opts, Kubernetes::new(cluster, space, home.join("kubernetes")), home).await
        }
    };
    Ok(started?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn local_needs_no_connection_and_defaults_its_space() {
        let state = Path::new("/nonexistent/state");
        let c = connect(BackendChoice::Local, None, state).await.unwrap();
        assert_eq!((c.space(), c.describe().as_str()), ("default", "target 'local'"));
        let c = connect(BackendChoice::Local, Some("team/alice"), state).await.unwrap();
        assert_eq!(c.space(), "team/alice");
    }

    #[tokio::test]
    async fn local_refuses_a_space_that_would_leave_the_state_layout() {
        let state = Path::new("/nonexistent/state");
        for space in ["..", ".", "../x", "a/..", "a/b/c", ".hidden", "Team", "a\0b", "", "a/a"] {
            let e = connect(BackendChoice::Local, Some(space), state).await.err().unwrap();
            assert!(matches!(e, StartFailure::Space(_)), "{space:?}: {e}");
        }
        let e = connect(BackendChoice::Local, Some(".."), state).await.err().unwrap();
        assert!(e.to_string().starts_with("invalid space name '..': '..' must be a namespace name"), "{e}");
    }

    #[test]
    fn compiled_backends_follow_the_feature() {
        assert!(BackendKind::Local.is_compiled());
        assert_eq!(BackendKind::Kubernetes.is_compiled(), cfg!(feature = "kubernetes"));
        assert_eq!(BackendKind::Container.is_compiled(), cfg!(feature = "container"));
    }

    #[cfg(not(feature = "kubernetes"))]
    #[tokio::test]
    async fn kubernetes_is_refused_when_built_out() {
        let e =
            connect(BackendChoice::Kubernetes(ConnectOptions::default()), None, Path::new("/x")).await.err().unwrap();
        assert!(matches!(e, StartFailure::NotBuilt(BackendKind::Kubernetes)));
        assert_eq!(e.to_string(), "this devspacesd was built without the kubernetes feature");
    }

    #[test]
    fn the_warning_names_every_run_step_and_the_way_out() {
        let run = vec![(5, "npm install".to_string()), (9, "echo hi > /entrypoint.sh".to_string())];
        let w = run_steps_warning("Dockerfile.develop", &run, "no container engine answered");
        assert!(
            w.contains(
                "  Dockerfile.develop:5: RUN npm install\n  Dockerfile.develop:9: RUN echo hi > /entrypoint.sh\n"
            ),
            "{w}"
        );
        assert!(w.contains("--backend container"), "{w}");
        assert!(w.ends_with("(no container engine answered)"), "{w}");
    }

    #[tokio::test]
    async fn no_run_step_is_local_without_asking_an_engine() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("azds.yaml"),
            "kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\n",
        )
        .unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM python:3\nCOPY . /app\nCMD [\"python3\", \"/app/app.py\"]\n")
            .unwrap();
        let env = BTreeMap::from([("DOCKER_HOST".to_string(), "unix:///nonexistent.sock".to_string())]);
        let c = choose(d.path(), &env).await;
        assert!(matches!(c.choice, BackendChoice::Local) && c.warning.is_none(), "{c:?}");
    }
}

//! The one way a session gets its backend: `connect` reaches what the choice needs and resolves
//! the space, `start` builds the concrete backend and starts the session. The server and the CLI
//! both go through here; neither names a concrete backend.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "kubernetes")]
use super::kubernetes::{self, deploy::Kubernetes, space::SpaceName, Cluster};
use super::local::Local;
use crate::session::{self, record, ClientEnv, SessionHandle, SessionOptions, StartError};

/// The backends by name, whether or not this build has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    Kubernetes,
}

impl BackendKind {
    /// The backends this build can run, in the order `initialize` lists them.
    #[cfg(feature = "kubernetes")]
    pub const COMPILED: &'static [BackendKind] = &[BackendKind::Local, BackendKind::Kubernetes];
    #[cfg(not(feature = "kubernetes"))]
    pub const COMPILED: &'static [BackendKind] = &[BackendKind::Local];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Kubernetes => "kubernetes",
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
}

impl BackendChoice {
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendChoice::Local => BackendKind::Local,
            BackendChoice::Kubernetes(_) => BackendKind::Kubernetes,
        }
    }
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
    #[cfg(feature = "kubernetes")]
    Kubernetes(Cluster, SpaceName),
}

impl Connected {
    /// The resolved space (`name` or `parent/child`).
    pub fn space(&self) -> &str {
        &self.space
    }

    /// Where sessions go, for a person: `target 'local'`, `target '<context>' (namespace <ns>)`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Local => "target 'local'".to_string(),
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
    };
    Ok(Connected { space, state_dir: state_dir.to_path_buf(), target })
}

/// Builds the concrete backend for the service (its home `spaces/<space>/<service>/` under the
/// state dir) and starts the session on it, with the client's environment `env` (`None`: this
/// process's).
pub async fn start(
    connected: Connected,
    service_dir: &Path,
    quiet: Duration,
    env: Option<ClientEnv>,
) -> Result<SessionHandle, StartFailure> {
    let Connected { space, state_dir, target } = connected;
    let name = service_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let home = record::service_home(&state_dir, &space, &name);
    let opts = SessionOptions { service_dir: service_dir.to_path_buf(), space, quiet, env: env.clone() };
    let started = match target {
        Target::Local => session::start(opts, Local::new(home.clone(), env), home).await,
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
    }

    #[cfg(not(feature = "kubernetes"))]
    #[tokio::test]
    async fn kubernetes_is_refused_when_built_out() {
        let e =
            connect(BackendChoice::Kubernetes(ConnectOptions::default()), None, Path::new("/x")).await.err().unwrap();
        assert!(matches!(e, StartFailure::NotBuilt(BackendKind::Kubernetes)));
        assert_eq!(e.to_string(), "this devspacesd was built without the kubernetes feature");
    }
}

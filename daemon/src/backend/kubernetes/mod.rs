//! The Kubernetes backend: cluster connection, spaces, image build and delivery, the Helm
//! post-renderer, pod watches and port-forwards.
//!
//! Architecture Invariant: only this module (and the CLI that calls it) knows kube-rs and Helm;
//! `post_render` and `helm_plugin` are pure text transforms that need no cluster.

pub mod connect;
pub mod deploy;
pub mod forward;
pub mod helm_plugin;
pub mod image;
pub mod peers;
pub mod pods;
pub mod post_render;
pub mod routing;
pub mod space;
pub mod stubs;

pub use crate::backend::ConnectOptions;
pub use connect::Cluster;

/// Why a Kubernetes operation failed; every variant names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no kubeconfig found: KUBECONFIG is not set and {default} does not exist (pass --kubeconfig PATH, or set KUBECONFIG)")]
    NoKubeconfig { default: String },
    #[error("cannot load kubeconfig {source_desc}: {message}")]
    Kubeconfig { source_desc: String, message: String },
    #[error("cannot reach the Kubernetes API server {server} (context '{context}'): {message} (is the cluster running? check `kubectl --context {context} get ns`)")]
    Unreachable { server: String, context: String, message: String },
    #[error("kubernetes api ({doing}): {source}")]
    Api {
        doing: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Space(String),
    #[error("io({doing}): {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
}

impl KubeError {
    pub(crate) fn api(doing: impl Into<String>) -> impl FnOnce(kube::Error) -> KubeError {
        let doing = doing.into();
        move |source| KubeError::Api { doing, source }
    }
    pub(crate) fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> KubeError {
        let doing = doing.into();
        move |source| KubeError::Io { doing, source }
    }
}

/// The default `$(hostSuffix)`: `*.localhost` resolves to loopback on every modern resolver, so
/// rendered ingress hosts stay harmless and local.
pub const DEFAULT_HOST_SUFFIX: &str = ".devspaces.localhost";
/// Overrides [`DEFAULT_HOST_SUFFIX`]; a missing leading dot is added.
pub const HOST_SUFFIX_ENV: &str = "DEVSPACES_HOST_SUFFIX";

/// `$(hostSuffix)` from the environment (`DEVSPACES_HOST_SUFFIX`), else the default.
pub fn host_suffix() -> String {
    normalize_host_suffix(std::env::var(HOST_SUFFIX_ENV).ok().as_deref())
}

fn normalize_host_suffix(v: Option<&str>) -> String {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.starts_with('.') => s.to_string(),
        Some(s) => format!(".{s}"),
        None => DEFAULT_HOST_SUFFIX.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_suffix_default_and_override() {
        let cases = [
            (None, ".devspaces.localhost"),
            (Some(""), ".devspaces.localhost"),
            (Some("dev.example.com"), ".dev.example.com"),
            (Some(".x.io"), ".x.io"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_host_suffix(input), want, "{input:?}");
        }
    }
}

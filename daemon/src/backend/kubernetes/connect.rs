//! Finds the kubeconfig and context the way kubectl does and connects to the API server.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::KubeError;
use crate::backend::ConnectOptions;

/// A connected cluster: the client plus the names errors and state files need.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub context: String,
    pub server: String,
}

/// How long the first request may take before the server counts as unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

impl Cluster {
    /// Reads the kubeconfig (`--kubeconfig`, else `KUBECONFIG` with its `:`-separated merge, else
    /// `~/.kube/config`), picks the context (`--context`, else current-context) and checks the
    /// server answers. Never falls back to in-cluster configuration.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, KubeError> {
        let (kubeconfig, source_desc) = read_kubeconfig(opts.kubeconfig.as_ref())?;
        let context = match opts.context.clone().or_else(|| kubeconfig.current_context.clone()) {
            Some(c) => c,
            None => {
                return Err(KubeError::Kubeconfig {
                    source_desc,
                    message: "no current-context set (pass --context NAME)".into(),
                })
            }
        };
        if !kubeconfig.contexts.iter().any(|c| c.name == context) {
            let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(KubeError::Kubeconfig {
                source_desc,
                message: format!("no context '{context}' (known: {})", known.join(", ")),
            });
        }
        let options = KubeConfigOptions { context: Some(context.clone()), cluster: None, user: None };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| {
            KubeError::Kubeconfig { source_desc: source_desc.clone(), message: format!("context '{context}': {e}") }
        })?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let client = kube::Client::try_from(config).map_err(|e| KubeError::Unreachable {
            server: server.clone(),
            context: context.clone(),
            message: e.to_string(),
        })?;
        match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
            Ok(Ok(_)) => Ok(Cluster { client, context, server }),
            Ok(Err(e)) => Err(KubeError::Unreachable { server, context, message: error_chain(&e) }),
            Err(_) => Err(KubeError::Unreachable {
                server,
                context,
                message: format!("no answer within {} s", REACH_TIMEOUT.as_secs()),
            }),
        }
    }
}

fn read_kubeconfig(explicit: Option<&PathBuf>) -> Result<(Kubeconfig, String), KubeError> {
    if let Some(path) = explicit {
        let desc = path.display().to_string();
        return Kubeconfig::read_from(path)
            .map(|k| (k, desc.clone()))
            .map_err(|e| KubeError::Kubeconfig { source_desc: desc, message: e.to_string() });
    }
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let desc = format!("KUBECONFIG={}", v.to_string_lossy());
        return Kubeconfig::read()
            .map(|k| (k, desc.clone()))
            .map_err(|e| KubeError::Kubeconfig { source_desc: desc, message: e.to_string() });
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let default = home.join(".kube").join("config");
    if !default.exists() {
        return Err(KubeError::NoKubeconfig { default: default.display().to_string() });
    }
    let desc = default.display().to_string();
    Kubeconfig::read_from(&default)
        .map(|k| (k, desc.clone()))
        .map_err(|e| KubeError::Kubeconfig { source_desc: desc, message: e.to_string() })
}

/// An error and its sources on one line: kube-rs puts the useful part (connection refused) deep.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

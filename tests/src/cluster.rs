//! What the end-to-end tests on the test cluster (tests/cluster/) share: `devspacesd` pointed at
//! the cluster, a space of the test's own that is removed at the end, kubectl, the session's pods
//! and the registry's tags.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::{cluster_kubeconfig, ok, repo_root, short_id, Env, Up};

/// A build, a push and a rollout on two shared cores (a failure guard, never a timing assertion).
pub const ROLLOUT: Duration = Duration::from_secs(300);

/// The cluster's registry (`tests/cluster/env` sets it).
pub fn registry() -> String {
    std::env::var("DEVSPACES_REGISTRY").expect("DEVSPACES_REGISTRY: run `eval \"$(tests/cluster/env)\"` first")
}

pub fn kubectl(kc: &Path) -> Command {
    let mut c = Command::new("kubectl");
    c.env("KUBECONFIG", kc);
    c
}

/// Deletes the namespaces a test made, also when it fails half-way (the session's own `down`
/// removes the release and images; a namespace is the net under it).
pub struct Namespaces {
    pub kubeconfig: PathBuf,
    pub names: Vec<String>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = kubectl(&self.kubeconfig).args(["delete", "ns", ns, "--ignore-not-found", "--wait=false"]).output();
        }
    }
}

/// `devspacesd` with this test's state dir, Helm homes, the cluster and the deploy deadline.
pub fn ds(env: &Env, kc: &Path) -> Command {
    let mut c = env.command();
    let helm = env.dir.path().join("helm");
    c.env("KUBECONFIG", kc)
        .env("HELM_CACHE_HOME", helm.join("cache"))
        .env("HELM_CONFIG_HOME", helm.join("config"))
        .env("HELM_DATA_HOME", helm.join("data"))
        .env("PYTHON_IMAGE", format!("{}/devspaces/python:bookworm", registry()))
        .env("DEVSPACES_KUBE_DEADLINE", "120");
    c
}

/// Names of the live (not terminating) pods of a session.
pub fn pods(kc: &Path, ns: &str, session: &str) -> Vec<String> {
    let out =
        ok(kubectl(kc).args(["get", "pods", "-n", ns, "-l", &format!("devspaces.io/session={session}"), "-o", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut names: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The app's pid in a `running` status.
pub fn running_pid(s: &Value) -> u32 {
    s["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("pid "))
        .and_then(|p| p.parse().ok())
        .expect("running detail carries the pid")
}

/// Builds the static agent that goes into the images.
pub fn static_agent() {
    ok(Command::new(repo_root().join("scripts/build-static-agent.sh")).env_remove("RUSTFLAGS"));
}

/// Tags of `repo` in the cluster's registry.
pub fn registry_tags(repo: &str) -> Vec<String> {
    let out = ok(Command::new("curl").args(["-sf", &format!("http://{}/v2/{repo}/tags/list", registry())]));
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["tags"].as_array().map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The cluster's kubeconfig (and the static agent built), a new space `<prefix><id>` that is
/// removed at the end, and this test's own state.
pub fn in_new_space(prefix: &str) -> (PathBuf, String, Namespaces, Env) {
    let kc = cluster_kubeconfig();
    static_agent();
    let space = format!("{prefix}{}", short_id());
    let ns = Namespaces { kubeconfig: kc.clone(), names: vec![space.clone()] };
    (kc, space, ns, Env::new())
}

/// `devspacesd up --json` on the cluster, in `space` (`parent/child` for a child space), of a
/// service or a folder of services.
pub fn up_on_cluster(env: &Env, kc: &Path, path: &Path, space: &str) -> Up {
    up_on_cluster_with(env, kc, path, space, &[])
}

/// [`up_on_cluster`] with more flags of `up` (`--debug`).
pub fn up_on_cluster_with(env: &Env, kc: &Path, path: &Path, space: &str, flags: &[&str]) -> Up {
    let mut cmd = ds(env, kc);
    cmd.arg("up").arg(path).args(["--backend", "kubernetes", "--space", space, "--json"]).args(flags);
    Up::spawn(cmd)
}

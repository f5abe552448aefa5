//! Finding a container engine the way users have one: `DOCKER_HOST`, else Docker's socket, else
//! rootless Docker's, else Podman's Docker-compatible API service (rootless, then system). Every
//! candidate is asked `/_ping` and `/version`; the first that answers is the engine, named from
//! its components (`docker` or `podman`).

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

/// How long a candidate may take to answer `/_ping` before the next is tried.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Requests that stream for long (a build that runs `npm install`) must not be cut short.
const REQUEST_TIMEOUT: u64 = 3600;

#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    /// `docker` or `podman`, from the engine's own `/version`.
    pub name: String,
    /// Where it was found (`unix:///var/run/docker.sock`), for messages.
    pub host: String,
    pub version: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({} {} at {})", self.name, self.version, self.host)
    }
}

/// The places an engine is looked for, in order: `DOCKER_HOST` alone when it is set.
pub fn candidates(docker_host: Option<&str>, runtime_dir: Option<&str>) -> Vec<String> {
    if let Some(h) = docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        return vec![h.to_string()];
    }
    let mut out = vec!["unix:///var/run/docker.sock".to_string()];
    if let Some(rt) = runtime_dir.filter(|d| !d.is_empty()) {
        out.push(format!("unix://{rt}/docker.sock"));
        out.push(format!("unix://{rt}/podman/podman.sock"));
    }
    out.push("unix:///run/podman/podman.sock".to_string());
    out
}

/// What the engine calls itself: Podman's `/version` lists a "Podman Engine" component.
pub fn engine_name(components: &[String]) -> &'static str {
    if components.iter().any(|c| c.to_ascii_lowercase().contains("podman")) {
        "podman"
    } else {
        "docker"
    }
}

impl Engine {
    /// The first engine that answers, or why none did (each place tried, and how to get one).
    /// `docker_host` is `DOCKER_HOST` as the client that asked sees it.
    pub async fn find(docker_host: Option<&str>) -> Result<Engine, String> {
        let rt = std::env::var("XDG_RUNTIME_DIR").ok();
        let mut tried = Vec::new();
        for c in candidates(docker_host, rt.as_deref()) {
            match Self::try_one(&c).await {
                Ok(e) => return Ok(e),
                Err(why) => tried.push(format!("{c} ({why})")),
            }
        }
        Err(format!(
            "no container engine answered: tried {}. Start Docker (`sudo systemctl start docker`), or Podman's API service (`systemctl --user start podman.socket`), or set DOCKER_HOST",
            tried.join(", ")
        ))
    }

    async fn try_one(host: &str) -> Result<Engine, String> {
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            if !PathBuf::from(path).exists() {
                return Err("absent".into());
            }
            Docker::connect_with_unix(host, REQUEST_TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, REQUEST_TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else {
            return Err("only unix:// and tcp:// hosts are supported".into());
        }
        .map_err(|e| e.to_string())?;
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("no answer in {} s", PING_TIMEOUT.as_secs())),
        }
        let v = tokio::time::timeout(PING_TIMEOUT, docker.version())
            .await
            .map_err(|_| "no answer to /version".to_string())?
            .map_err(|e| e.to_string())?;
        let components: Vec<String> = v.components.unwrap_or_default().into_iter().map(|c| c.name).collect();
        Ok(Engine {
            docker,
            name: engine_name(&components).to_string(),
            host: host.to_string(),
            version: v.version.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_alone_else_the_usual_sockets() {
        assert_eq!(candidates(Some("tcp://127.0.0.1:2375"), Some("/run/user/1000")), vec!["tcp://127.0.0.1:2375"]);
        assert_eq!(
            candidates(Some(" "), Some("/run/user/1000")),
            vec![
                "unix:///var/run/docker.sock",
                "unix:///run/user/1000/docker.sock",
                "unix:///run/user/1000/podman/podman.sock",
                "unix:///run/podman/podman.sock"
            ]
        );
        assert_eq!(candidates(None, None), vec!["unix:///var/run/docker.sock", "unix:///run/podman/podman.sock"]);
    }

    #[test]
    fn podman_names_itself_in_its_components() {
        assert_eq!(engine_name(&["Engine".into(), "containerd".into(), "runc".into()]), "docker");
        assert_eq!(engine_name(&["Podman Engine".into()]), "podman");
        assert_eq!(engine_name(&[]), "docker");
    }

    #[tokio::test]
    async fn an_absent_socket_is_said_with_every_place_tried() {
        let e = Engine::try_one("unix:///nonexistent/docker.sock").await.err();
        assert_eq!(e.as_deref(), Some("absent"));
        let e = Engine::try_one("ssh://host").await.err();
        assert_eq!(e.as_deref(), Some("only unix:// and tcp:// hosts are supported"));
    }
}

//! Session records under the state dir, so `down`, `list-up` and `list-uris` find running sessions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `$DEVSPACES_STATE_DIR`, else `$XDG_STATE_HOME/devspaces`, else `~/.local/state/devspaces`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DEVSPACES_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("devspaces");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/state/devspaces")
}

/// The folder of one service in one space on the local backend: `spaces/<space>/<service>/`.
pub fn service_home(state: &Path, space: &str, service: &str) -> PathBuf {
    state.join("spaces").join(space.replace('/', "__")).join(service)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardRecord {
    pub local_port: u16,
    pub remote_port: u16,
    pub url: String,
}

/// On-disk record of a session (owned here, so it derives serde here; wire types live in `protocol/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session: String,
    pub service: String,
    pub service_dir: String,
    pub space: String,
    pub backend: String,
    /// The process that runs the session (`devspacesd up` or the daemon).
    pub owner_pid: u32,
    pub agent_pid: Option<u32>,
    pub phase: String,
    pub detail: String,
    pub forwards: Vec<ForwardRecord>,
}

pub fn record_path(home: &Path) -> PathBuf {
    home.join("session.json")
}

pub fn write(home: &Path, r: &SessionRecord) -> std::io::Result<()> {
    std::fs::create_dir_all(home)?;
    let tmp = home.join(format!(".session.json.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, record_path(home))
}

pub fn read(home: &Path) -> Option<SessionRecord> {
    serde_json::from_slice(&std::fs::read(record_path(home)).ok()?).ok()
}

/// Whether `pid` is alive and its command line contains every one of `needles` (never trust a bare pid).
pub fn pid_is(pid: u32, needles: &[&str]) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    // A zombie has an empty command line.
    !text.is_empty() && needles.iter().all(|n| text.contains(n))
}

/// Every record under the state dir whose owner is still alive.
pub fn live(state: &Path) -> Vec<SessionRecord> {
    let mut out = Vec::new();
    let Ok(spaces) = std::fs::read_dir(state.join("spaces")) else { return out };
    for space in spaces.flatten() {
        let Ok(services) = std::fs::read_dir(space.path()) else { continue };
        for svc in services.flatten() {
            if let Some(r) = read(&svc.path()) {
                if pid_is(r.owner_pid, &["devspacesd"]) && r.phase != "stopped" {
                    out.push(r);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.space, &a.service).cmp(&(&b.space, &b.service)));
    out
}

//! Session records under the state dir, so `down`, `list-up` and `list-uris` find running sessions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// The `${VAR}` names azds.yaml uses and a short hash of each one's value in the environment
    /// the session runs with (`None`: unset or empty). Never the values: see [`env_hashes`].
    #[serde(default)]
    pub env: EnvHashes,
}

/// Variable name -> [`value_hash`] of its value, `None` when unset or empty (`${VAR}` reads both alike).
pub type EnvHashes = BTreeMap<String, Option<String>>;

/// A short one-way fingerprint of a variable's value in a session: the first 12 hex digits of the
/// SHA-256 of the session ID, the name and the value. Enough to tell two values apart; the
/// session ID keeps equal values of different sessions from looking alike.
pub fn value_hash(session: &str, name: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [session, name, value] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The hashes of `names` as `lookup` gives their values (a client's environment).
pub fn env_hashes<'a>(
    session: &str,
    names: impl IntoIterator<Item = &'a String>,
    lookup: impl Fn(&str) -> Option<String>,
) -> EnvHashes {
    names
        .into_iter()
        .map(|n| (n.clone(), lookup(n).filter(|v| !v.is_empty()).map(|v| value_hash(session, n, &v))))
        .collect()
}

/// The recorded names whose value in `lookup` (another environment) is not the one recorded.
pub fn env_differs(session: &str, recorded: &EnvHashes, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let now = env_hashes(session, recorded.keys(), lookup);
    recorded.iter().filter(|(n, h)| now.get(*n) != Some(*h)).map(|(n, _)| n.clone()).collect()
}

/// "A", "A and B", "A, B and C".
pub fn names_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_hashes_tell_values_apart_without_keeping_them() {
        let names: Vec<String> = ["IMAGE", "EMPTY", "UNSET"].iter().map(|s| s.to_string()).collect();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        };
        let recorded = env_hashes("s1", &names, env(&[("IMAGE", "python:3.12"), ("EMPTY", "")]));
        let hash = recorded["IMAGE"].clone().unwrap();
        assert_eq!(hash.len(), 12);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()) && !hash.contains("python"));
        assert_eq!((recorded["EMPTY"].clone(), recorded["UNSET"].clone()), (None, None), "empty reads as unset");
        assert_ne!(value_hash("s2", "IMAGE", "python:3.12"), hash, "the session salts the hash");
        assert!(env_differs("s1", &recorded, env(&[("IMAGE", "python:3.12"), ("UNSET", "")])).is_empty());
        assert_eq!(env_differs("s1", &recorded, env(&[("IMAGE", "python:3.11")])), vec!["IMAGE".to_string()]);
        assert_eq!(env_differs("s1", &recorded, env(&[("UNSET", "x")])), vec!["IMAGE".to_string(), "UNSET".into()]);
    }

    #[test]
    fn an_older_record_without_env_still_reads() {
        let r: SessionRecord = serde_json::from_str(
            r#"{"session":"a","service":"s","serviceDir":"/s","space":"default","backend":"local",
                "ownerPid":1,"agentPid":null,"phase":"running","detail":"","forwards":[]}"#,
        )
        .unwrap();
        assert!(r.env.is_empty());
    }

    #[test]
    fn names_read_as_a_list() {
        let n = |v: &[&str]| names_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            (n(&["A"]), n(&["A", "B"]), n(&["A", "B", "C"])),
            ("A".into(), "A and B".into(), "A, B and C".into())
        );
    }
}

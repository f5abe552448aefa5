//! A workspace of services: the folders below a path that hold an `azds.yaml` (what `.gitignore`
//! ignores is skipped), and how the services of one `up` find each other.
//!
//! Discovery uses the variables Kubernetes gives every pod for each Service of its namespace
//! (`<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_PORT`), so code that reads them runs
//! unchanged on every backend. `<NAME>` is the Service name (the folder name, lowercased, as the
//! charts of `prep` and of the Dev Spaces samples name it) in capitals, `-` and `.` as `_`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::FILE_NAME;

/// The service folders of `paths`: a path holding `azds.yaml` is one; any other path contributes
/// every folder below it that holds one (`.gitignore`d and hidden folders skipped), sorted.
pub fn find_services(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let p = std::fs::canonicalize(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
        if p.join(FILE_NAME).is_file() {
            out.push(p);
            continue;
        }
        let mut found: Vec<PathBuf> = ignore::WalkBuilder::new(&p)
            .hidden(true)
            .git_ignore(true)
            .require_git(false)
            .build()
            .flatten()
            .filter(|e| e.file_name() == FILE_NAME && e.file_type().is_some_and(|t| t.is_file()))
            .filter_map(|e| e.path().parent().map(Path::to_path_buf))
            .collect();
        if found.is_empty() {
            return Err(format!(
                "no {FILE_NAME} in {} or any folder below it (write one with `devspacesd prep`)",
                p.display()
            ));
        }
        found.sort();
        out.append(&mut found);
    }
    out.dedup();
    Ok(out)
}

/// The Service name of a service folder: its name, lowercased.
pub fn service_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// `API_SERVICE` for the Service `api`, as Kubernetes forms its variables' prefix.
pub fn env_prefix(service: &str) -> String {
    service.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The variables that tell an app where the other services are: each service at `host:port`.
pub fn discovery_env(services: &[(String, String, u16)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (name, host, port) in services {
        let p = env_prefix(name);
        env.insert(format!("{p}_SERVICE_HOST"), host.clone());
        env.insert(format!("{p}_SERVICE_PORT"), port.to_string());
        env.insert(format!("{p}_PORT"), format!("tcp://{host}:{port}"));
    }
    env
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn services_below_a_folder_skip_what_gitignore_ignores() {
        let d = tempfile::tempdir().unwrap();
        for s in ["web", "api", "data", "build/old", ".hidden/x", "api/charts"] {
            std::fs::create_dir_all(d.path().join(s)).unwrap();
        }
        for s in ["web", "api", "data", "build/old", ".hidden/x"] {
            std::fs::write(d.path().join(s).join(FILE_NAME), "kind: helm-release\n").unwrap();
        }
        std::fs::write(d.path().join(".gitignore"), "build/\n").unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        let got = find_services(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(got, vec![root.join("api"), root.join("data"), root.join("web")]);
        // A service folder named directly is that service alone.
        assert_eq!(find_services(&[d.path().join("web")]).unwrap(), vec![root.join("web")]);
        let e = find_services(&[d.path().join("api/charts")]).unwrap_err();
        assert!(e.contains("no azds.yaml in ") && e.contains("devspacesd prep"), "{e}");
    }

    #[test]
    fn kubernetes_style_variables() {
        assert_eq!(service_name(Path::new("/src/BikeSharingApp/Bikes")), "bikes");
        assert_eq!(env_prefix("reservation-engine"), "RESERVATION_ENGINE");
        let env = discovery_env(&[("api".into(), "127.0.0.1".into(), 41234)]);
        assert_eq!(env["API_SERVICE_HOST"], "127.0.0.1");
        assert_eq!(env["API_SERVICE_PORT"], "41234");
        assert_eq!(env["API_PORT"], "tcp://127.0.0.1:41234");
    }
}

//! The build context an engine gets: a tar of the context folder without what `.dockerignore`
//! leaves out (as the Docker CLI sends it; the Engine API applies no ignore file itself). The
//! Dockerfile and `.dockerignore` always go in, as with the CLI. Symlinks go in as links, never
//! followed, so nothing outside the folder is read.

use std::path::Path;

/// Tars `dir`; `ignored(rel, is_dir)` leaves paths out; a left-out folder is not walked when
/// `prune` says nothing under it can come back. `always` are kept whatever `ignored` says.
pub fn tar(
    dir: &Path,
    ignored: impl Fn(&str, bool) -> bool,
    prune: bool,
    always: &[String],
) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    let mut stack = vec![walkdir(dir)];
    while let Some(entries) = stack.pop() {
        for entry in entries {
            let path = entry.path();
            let rel = match path.strip_prefix(dir) {
                Ok(r) => r.to_string_lossy().replace('\\', "/"),
                Err(_) => continue,
            };
            let ft = entry.file_type()?;
            let kept = always.iter().any(|a| a == &rel);
            if ft.is_dir() {
                let out = ignored(&rel, true);
                if !out {
                    b.append_dir(&rel, &path)?;
                }
                if !out || !prune {
                    stack.push(walkdir(&path));
                }
                continue;
            }
            if !kept && ignored(&rel, false) {
                continue;
            }
            if ft.is_symlink() || ft.is_file() {
                b.append_path_with_name(&path, &rel)?;
            }
        }
    }
    b.into_inner()
}

fn walkdir(dir: &Path) -> Vec<std::fs::DirEntry> {
    let mut v: Vec<std::fs::DirEntry> = std::fs::read_dir(dir).map(|r| r.flatten().collect()).unwrap_or_default();
    v.sort_by_key(|e| e.file_name());
    v
}

/// A context of the given files (name, mode, bytes): the agent layer's.
pub fn tar_files(files: &[(&str, u32, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, mode, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, name, *bytes)?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(bytes);
        let mut v: Vec<String> =
            a.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn ignored_paths_stay_out_the_dockerfile_goes_in_links_stay_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for (p, body) in [
            ("server.js", "x"),
            ("package.json", "{}"),
            ("node_modules/m/index.js", "m"),
            ("Dockerfile", "FROM x"),
            ("logs/a.log", "l"),
        ] {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), body).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let ignored = |rel: &str, _dir: bool| {
            rel == "node_modules" || rel.starts_with("node_modules/") || rel.ends_with(".log") || rel == "Dockerfile"
        };
        let t = tar(root, ignored, true, &["Dockerfile".into()]).unwrap();
        assert_eq!(names(&t), vec!["Dockerfile", "link", "logs", "package.json", "server.js"]);
        let mut a = tar::Archive::new(t.as_slice());
        let link =
            a.entries().unwrap().map(|e| e.unwrap()).find(|e| e.path().unwrap().to_str() == Some("link")).unwrap();
        assert!(link.header().entry_type().is_symlink(), "a symlink is sent as a link, never followed");
    }

    #[test]
    fn a_left_out_folder_is_walked_when_a_negation_may_keep_a_file_in_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("build")).unwrap();
        std::fs::write(d.path().join("build/keep.txt"), "k").unwrap();
        std::fs::write(d.path().join("build/drop.txt"), "d").unwrap();
        let ignored = |rel: &str, _dir: bool| rel == "build" || rel == "build/drop.txt";
        assert_eq!(names(&tar(d.path(), ignored, false, &[]).unwrap()), vec!["build/keep.txt"]);
        assert!(names(&tar(d.path(), ignored, true, &[]).unwrap()).is_empty());
    }
}

//! Keeps `docs/architecture.md` true to the tree, as rust-analyzer's tidy test keeps its docs:
//! every path the code map names exists, every module has a section, every source file is named.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root").to_path_buf()
}

fn architecture() -> String {
    std::fs::read_to_string(repo().join("docs/architecture.md")).expect("docs/architecture.md")
}

/// Inline code spans outside fenced blocks.
fn code_spans(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            out.push((n + 1, code.to_string()));
        }
    }
    out
}

const SOURCE_EXTENSIONS: &[&str] = &["rs", "ts", "lua", "sh", "md", "toml", "py", "mjs"];
/// A bare file name with one of these is a project's own file named in prose (`pyproject.toml`).
const GENERIC_EXTENSIONS: &[&str] = &["md", "toml"];

/// A span that names a file or a folder of the repository: path characters only, and a folder's
/// trailing slash or a source file's extension (protocol method names like `devspaces/up` are not).
fn names_a_path(code: &str) -> bool {
    let charset = code.chars().all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    let ext = Path::new(code).extension().and_then(|e| e.to_str()).is_some_and(|e| SOURCE_EXTENSIONS.contains(&e));
    let generic = !code.contains('/')
        && Path::new(code).extension().and_then(|e| e.to_str()).is_some_and(|e| GENERIC_EXTENSIONS.contains(&e));
    charset && !code.starts_with('.') && !generic && (code.ends_with('/') || ext)
}

/// Where a path in the code map may be relative to: the root, or a crate's or editor's sources.
fn bases() -> Vec<PathBuf> {
    let r = repo();
    ["", "daemon/src", "agent/src", "protocol/src", "tests", "editors/vscode/src", "editors/neovim/lua/devspaces"]
        .iter()
        .map(|b| r.join(b))
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The folder a heading is about: a crate for `### \`daemon/\``, a daemon module for
/// `#### \`server/\``. Bare file names in its section are found anywhere below it.
fn section_dir(heading: &str) -> Option<PathBuf> {
    let mut parts = heading.split('`');
    parts.next();
    let code = parts.next()?;
    if !code.ends_with('/') {
        return None;
    }
    let dir = if heading.starts_with("#### ") { repo().join("daemon/src").join(code) } else { repo().join(code) };
    dir.is_dir().then_some(dir)
}

/// Whether a file or folder of that name is somewhere below `dir`.
fn below(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        e.file_name().to_string_lossy() == name.trim_end_matches('/') || (p.is_dir() && below(&p, name))
    })
}

#[test]
fn every_path_the_architecture_names_exists() {
    let doc = architecture();
    let bases = bases();
    let lines: Vec<&str> = doc.lines().collect();
    let mut missing = Vec::new();
    for (line, code) in code_spans(&doc) {
        if !names_a_path(&code) {
            continue;
        }
        // The nearest heading above with a folder in it.
        let section = lines[..line].iter().rev().filter(|l| l.starts_with('#')).find_map(|h| section_dir(h));
        let bare = !code.trim_end_matches('/').contains('/');
        let found = bases.iter().any(|b| b.join(&code).exists())
            || section.as_ref().is_some_and(|d| d.join(&code).exists() || (bare && below(d, &code)));
        if !found {
            missing.push(format!("docs/architecture.md:{line}: `{code}` does not exist"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_module_has_a_section_and_every_source_file_is_named() {
    let doc = architecture();
    let headings: Vec<&str> = doc.lines().filter(|l| l.starts_with('#')).collect();
    let spans: BTreeSet<String> = code_spans(&doc).into_iter().map(|(_, c)| c).collect();
    let named = |name: &str| spans.iter().any(|s| s == name || s.ends_with(&format!("/{name}")));
    let mut problems = Vec::new();
    for krate in ["daemon", "agent", "protocol"] {
        let src = repo().join(krate).join("src");
        if !src.exists() {
            continue;
        }
        if !headings.iter().any(|h| h.contains(&format!("`{krate}/`"))) {
            problems.push(format!("the crate {krate}/ has no section"));
        }
        let Ok(entries) = std::fs::read_dir(&src) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let module = name.trim_end_matches(".rs");
            // The agent and protocol crates are small: their files are named, their modules need
            // no sections of their own.
            if ["lib", "main"].contains(&module) || krate != "daemon" {
                continue;
            }
            let as_heading = |h: &&str| h.contains(&format!("`{module}/`")) || h.contains(&format!("`{module}`"));
            if !headings.iter().any(as_heading) {
                problems.push(format!("{krate}/src/{name}: the module `{module}` has no section"));
            }
        }
        let mut files = Vec::new();
        sources(&src, &mut files);
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if ["mod.rs", "lib.rs", "main.rs"].contains(&name.as_str()) {
                continue;
            }
            if !named(&name) {
                let rel = f.strip_prefix(repo()).unwrap_or(&f).display().to_string();
                problems.push(format!("{rel} is not named in docs/architecture.md"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_catch_what_they_are_for() {
    assert!(names_a_path("daemon/src/session/runner.rs"));
    assert!(names_a_path("backend/kubernetes/"));
    assert!(!names_a_path("devspaces/up"), "a protocol method");
    assert!(!names_a_path("fs/<WORKDIR>"), "a placeholder");
    let spans = code_spans("a `x.rs` b `y/`\n```\n`z.rs`\n```\n");
    assert_eq!(spans, vec![(1, "x.rs".to_string()), (1, "y/".to_string())]);
    assert!(!bases().iter().any(|b| b.join("kube/backend.rs").exists()), "a path that moved away is caught");
}

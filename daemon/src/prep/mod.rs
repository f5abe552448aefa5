//! `devspacesd prep`: detects a project's stack and writes its Dockerfiles, Helm chart and azds.yaml.
//!
//! As the seed's `azds prep` did: `Dockerfile`, `Dockerfile.develop`, `charts/<name>/` and
//! `azds.yaml`, plus a `.dockerignore` when the project has none. [`plan`] only reads (it detects
//! the stack); [`write`] never overwrites a file unless asked to (`force`), and never the
//! project's own `.dockerignore`.

pub mod chart;
pub mod stacks;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use stacks::{detect, Kind, Stack};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Add an Ingress to the chart and the Dev Spaces host template to azds.yaml.
    pub enable_ingress: bool,
    /// Overwrite generated files that exist.
    pub force: bool,
}

/// One file `prep` writes, relative to the service folder.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: String,
    pub contents: String,
    /// Written only when absent, even with `force` (the project's own `.dockerignore`).
    pub only_if_absent: bool,
}

/// What `prep` would write for a folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stack: Stack,
    /// The service and chart name: the folder's name as a DNS label.
    pub name: String,
    pub files: Vec<File>,
    /// Things the user should check (a guessed entry point).
    pub notes: Vec<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Wrote(String),
    Overwrote(String),
    /// It existed and is the project's own (`.dockerignore`).
    Kept(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PrepError {
    #[error("{dir}: no project file found (looked for {looked}); prep knows Node.js, Python, .NET, Go and Java", dir = .dir.display(), looked = stacks::PROJECT_FILES)]
    NoStack { dir: PathBuf },
    #[error("{dir}: {} already exist{}; prep overwrites only with --force (nothing was written)", .files.join(", "), if .files.len() == 1 { "s" } else { "" }, dir = .dir.display())]
    Exists { dir: PathBuf, files: Vec<String> },
    #[error("io({what}): {source}")]
    Io { what: String, source: std::io::Error },
}

/// The folder's name as a Kubernetes name: lowercase letters, digits and `-`, at most 53
/// characters (Helm's release limit), `app` when nothing is left.
pub fn service_name(dir: &Path) -> String {
    let raw = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut name = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name: String = name.trim_end_matches('-').chars().take(53).collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "app".into()
    } else {
        name
    }
}

/// Detects the stack of `dir` and lays out every file to write. Reads, never writes.
pub fn plan(dir: &Path, opts: Options) -> Result<Plan, PrepError> {
    let stack = detect(dir).ok_or_else(|| PrepError::NoStack { dir: dir.to_path_buf() })?;
    let name = service_name(dir);
    let settings = stacks::settings(&stack, &name);
    let mut notes = Vec::new();
    if let (false, Some(entry)) = (stack.entry_found, &stack.entry) {
        notes.push(format!(
            "no entry point found: the command runs {entry}; change configurations.develop.container.command in azds.yaml and CMD in the Dockerfiles if the app starts elsewhere"
        ));
    }
    let mut files = vec![
        File { path: "Dockerfile".into(), contents: settings.dockerfile.clone(), only_if_absent: false },
        File {
            path: "Dockerfile.develop".into(),
            contents: settings.dockerfile_develop.clone(),
            only_if_absent: false,
        },
    ];
    for (rel, contents) in chart::files(&name, stack.kind.port(), opts.enable_ingress) {
        files.push(File { path: format!("charts/{name}/{rel}"), contents, only_if_absent: false });
    }
    files.push(File {
        path: "azds.yaml".into(),
        contents: azds_yaml(&name, &stack, &settings, opts.enable_ingress),
        only_if_absent: false,
    });
    files.push(File { path: ".dockerignore".into(), contents: dockerignore(&settings), only_if_absent: true });
    Ok(Plan { stack, name, files, notes })
}

/// Writes a plan: refuses, writing nothing, when a generated file exists and `force` is off.
pub fn write(dir: &Path, plan: &Plan, force: bool) -> Result<Vec<Outcome>, PrepError> {
    let existing: Vec<String> =
        plan.files.iter().filter(|f| !f.only_if_absent && dir.join(&f.path).exists()).map(|f| f.path.clone()).collect();
    if !existing.is_empty() && !force {
        return Err(PrepError::Exists { dir: dir.to_path_buf(), files: existing });
    }
    let mut out = Vec::new();
    for f in &plan.files {
        let path = dir.join(&f.path);
        let exists = path.exists();
        if exists && f.only_if_absent {
            out.push(Outcome::Kept(f.path.clone()));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| PrepError::Io { what: format!("creating {}", parent.display()), source })?;
        }
        std::fs::write(&path, &f.contents)
            .map_err(|source| PrepError::Io { what: format!("writing {}", path.display()), source })?;
        out.push(if exists { Outcome::Overwrote(f.path.clone()) } else { Outcome::Wrote(f.path.clone()) });
    }
    Ok(out)
}

fn dockerignore(settings: &stacks::Settings) -> String {
    let mut s = String::from(
        "# Kept out of the image (and out of devspaces' container root); azds.yaml, the chart and the\n# Dockerfiles still redeploy when they change.\n.git\n.gitignore\ncharts/\nazds.yaml\nDockerfile*\nvalues.dev.yaml\nsecrets.dev.yaml\n",
    );
    for line in settings.dockerignore {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// A YAML flow-list item: plain when it is safe, else double-quoted (JSON is valid YAML).
fn item(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '='))
        && s != "-";
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn flow(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| item(i)).collect::<Vec<_>>().join(", "))
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The generated azds.yaml: the seed's shape, with sync, static, command and iterate for the stack.
pub fn azds_yaml(name: &str, stack: &Stack, settings: &stacks::Settings, ingress: bool) -> String {
    let mut y = String::new();
    let _ =
        writeln!(y, "# Dev Spaces configuration for {name} ({}), written by `devspacesd prep`.", stack.kind.label());
    y.push_str("kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\n");
    let _ = writeln!(y, "install:\n  chart: charts/{name}\n  values:\n  - values.dev.yaml?\n  - secrets.dev.yaml?");
    let _ = writeln!(
        y,
        "  set:\n    replicaCount: 1\n    image:\n      repository: {name}\n      tag: $(tag)\n      pullPolicy: Never"
    );
    if ingress {
        let _ = writeln!(
            y,
            "    ingress:\n      hosts:\n      # This expands to [space.s.][rootSpace.]{name}<host suffix>\n      - $(spacePrefix)$(rootSpacePrefix){name}$(hostSuffix)"
        );
    }
    y.push_str(
        "configurations:\n  develop:\n    build:\n      dockerfile: Dockerfile.develop\n      useGitIgnore: true\n",
    );
    if !settings.build_args.is_empty() {
        y.push_str("      args:\n");
        for (k, v) in &settings.build_args {
            let _ = writeln!(y, "        {k}: {}", quoted(v));
        }
    }
    y.push_str("    container:\n");
    let _ = writeln!(
        y,
        "      # Synced files restart the app, except static ones, which are only copied in.\n      # Anything else in the build context ({}, say) rebuilds and redeploys.",
        stack.project_file
    );
    y.push_str("      sync:\n");
    for s in &settings.sync {
        let _ = writeln!(y, "      - {}", quoted(s));
    }
    y.push_str("      static:\n");
    for s in &settings.statics {
        let _ = writeln!(y, "      - {}", quoted(s));
    }
    let _ = writeln!(y, "      command: {}", flow(&settings.command));
    y.push_str("      iterate:\n");
    let _ = writeln!(y, "        processesToKill: {}", flow(&settings.processes_to_kill));
    if !settings.build_commands.is_empty() {
        y.push_str("        buildCommands:\n");
        for c in &settings.build_commands {
            let _ = writeln!(y, "        - {}", flow(c));
        }
    }
    y
}

#[cfg(test)]
mod tests;

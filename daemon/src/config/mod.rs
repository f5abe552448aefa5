//! `azds.yaml`: the Dev Spaces service configuration, read unchanged, with positioned diagnostics.

mod env;
mod load;
pub mod placeholders;
pub mod values;
pub mod workspace;
pub mod yaml;

pub use env::{expand, parse_dotenv, process_vars, EnvSource};
pub use load::{diagnose, load, load_with_env, load_with_vars};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::config::yaml::Range;

pub const FILE_NAME: &str = "azds.yaml";

/// The static rules used when `configurations.develop.container.static` is absent.
pub const DEFAULT_STATIC: &[&str] =
    &["**/*.{html,htm,css,cshtml,svg,png,jpg,jpeg,gif,ico,webp,woff,woff2,ttf,eot}", "**/wwwroot/**"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a configuration file, with the exact range it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub range: Range,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {sev}: {}", self.file.display(), self.range.start.line, self.range.start.col, self.message)
    }
}

/// A configuration that could not be used; every diagnostic found is kept, warnings included.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.diagnostics.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// A text setting with where it was written, for later errors about its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub value: String,
    pub range: Range,
}

/// A values file named by `install.values` or `container.values`; `optional` when written with `?`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValuesFile {
    pub path: String,
    pub optional: bool,
    pub range: Range,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Build {
    /// Relative to the service folder; `.` when absent.
    pub context: String,
    pub context_range: Range,
    pub dockerfile: Option<Spanned>,
    /// Where `dockerfile` was found, relative to the service folder: beside azds.yaml as Dev
    /// Spaces looked first, else in the build context. `None` when it is absent or missing.
    pub dockerfile_path: Option<String>,
    pub args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Install {
    pub chart: Option<Spanned>,
    pub values: Vec<ValuesFile>,
    /// Helm values with `$(...)` placeholders still in place.
    pub set: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container {
    pub sync: Vec<String>,
    /// `None` means [`DEFAULT_STATIC`].
    pub static_rules: Option<Vec<String>>,
    pub command: Vec<String>,
    pub processes_to_kill: Vec<String>,
    pub build_commands: Vec<Vec<String>>,
    pub values: Vec<ValuesFile>,
    /// `container.syncTarget`: where synced files go in the container, an absolute path without a
    /// trailing slash (`/` for the root). `None`: the image's WORKDIR.
    pub sync_target: Option<String>,
    /// `container.debug`: how the app runs under a debugger (`up --debug`).
    pub debug: Debug,
}

/// The debuggers devspaces starts apps under (`container.debug.adapter`), one per stack: the
/// wire's type, whose names azds.yaml uses.
pub use devspaces_protocol::editor::DebugAdapter;

/// `container.debug`; every part optional. With `command`, that command runs as written (it must
/// start a debug server on `port`, default the adapter's usual one); without it, devspaces starts
/// the app's own command under the adapter's debug server (`session::debug`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Debug {
    pub command: Vec<String>,
    pub port: Option<u16>,
    pub adapter: Option<DebugAdapter>,
}

/// One entry of `configurations` (Dev Spaces uses `develop`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Configuration {
    pub build: Build,
    pub use_git_ignore: bool,
    pub container: Container,
    /// The `container` keys the file gives (`sync`, `iterate.processesToKill`, `debug`...): what
    /// `develop.attach` replaces of develop's when debugging.
    pub container_keys: std::collections::BTreeSet<String>,
    pub set: serde_json::Value,
}

/// A loaded azds.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Absolute path of azds.yaml.
    pub file: PathBuf,
    /// Absolute service folder (azds.yaml's folder).
    pub service_dir: PathBuf,
    /// The service's name: its folder's name.
    pub name: String,
    pub kind: String,
    pub api_version: String,
    pub build: Build,
    pub install: Install,
    /// The selected configuration (`develop` unless asked otherwise); defaults when absent.
    pub develop: Configuration,
    /// Dev Spaces' `develop.attach` configuration (a key of `configurations` beside `develop`):
    /// the settings of a debugging session, whose `container` keys replace develop's.
    pub attach: Option<Configuration>,
    pub warnings: Vec<Diagnostic>,
    /// Every `${VAR}` name the file refers to, and whether it was set (in the environment the
    /// configuration was loaded with, or `.env`). What a session's record hashes, never the values.
    pub variables: BTreeMap<String, bool>,
}

impl Config {
    /// The build context, relative to the service folder, `""` for the folder itself.
    pub fn context_prefix(&self) -> String {
        normalize_rel(&self.develop.build.context)
    }

    /// Where the build context lies relative to the service folder.
    pub fn context_place(&self) -> ContextPlace {
        context_place(&self.service_dir, &self.develop.build.context)
    }

    /// The develop Dockerfile relative to the service folder, where the load found it.
    pub fn develop_dockerfile(&self) -> Option<String> {
        self.develop.build.dockerfile_path.clone()
    }

    /// The configuration a debugging session runs with: each `container` key that
    /// `configurations.develop.attach` gives replaces develop's (sync, static, command,
    /// iterate.processesToKill, iterate.buildCommands, values, syncTarget, debug); the rest is
    /// develop's. Without `develop.attach`, the same configuration.
    pub fn for_debugging(mut self) -> Config {
        let Some(attach) = self.attach.take() else { return self };
        let (to, from) = (&mut self.develop.container, attach.container);
        for key in &attach.container_keys {
            match key.as_str() {
                "sync" => to.sync = from.sync.clone(),
                "static" => to.static_rules = from.static_rules.clone(),
                "command" => to.command = from.command.clone(),
                "iterate.processesToKill" => to.processes_to_kill = from.processes_to_kill.clone(),
                "iterate.buildCommands" => to.build_commands = from.build_commands.clone(),
                "values" => to.values = from.values.clone(),
                "syncTarget" => to.sync_target = from.sync_target.clone(),
                "debug" => to.debug = from.debug.clone(),
                _ => {}
            }
        }
        self.attach = Some(Configuration { container: from, ..attach });
        self
    }

    pub fn static_rules(&self) -> Vec<String> {
        match &self.develop.container.static_rules {
            Some(r) => r.clone(),
            None => DEFAULT_STATIC.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Where a build context lies relative to the service folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextPlace {
    /// The context is the service folder (`""`) or a folder inside it (`src`): a service path
    /// under this prefix is in the context, at the rest of its path.
    Inside(String),
    /// The context is a folder above the service (`..`): every service path is in the context,
    /// under this prefix (the service folder's path inside the context, `web` for `..`).
    Above(String),
    /// The context is elsewhere (`../other`): no service path is in it.
    Apart(String),
}

impl ContextPlace {
    /// The path inside the build context of a service-relative path, if it is in the context.
    pub fn in_context<'p>(&self, rel: &'p str) -> Option<std::borrow::Cow<'p, str>> {
        match self {
            ContextPlace::Inside(p) if p.is_empty() => Some(rel.into()),
            ContextPlace::Inside(p) => rel.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('/')).map(Into::into),
            ContextPlace::Above(p) => Some(format!("{p}/{rel}").into()),
            ContextPlace::Apart(_) => None,
        }
    }

    /// The context as written relative to the service folder, normalised, for messages.
    pub fn describe(&self) -> String {
        match self {
            ContextPlace::Inside(p) => p.clone(),
            ContextPlace::Above(p) => {
                let up = vec![".."; p.split('/').filter(|s| !s.is_empty()).count()];
                up.join("/")
            }
            ContextPlace::Apart(p) => p.clone(),
        }
    }
}

/// Places `context` (relative to `service_dir`, which should be absolute) by lexical
/// normalisation; symlinks are not followed.
pub fn context_place(service_dir: &Path, context: &str) -> ContextPlace {
    let rel = normalize_rel(context);
    if !rel.split('/').any(|s| s == "..") {
        return ContextPlace::Inside(rel);
    }
    let lexical = |p: &Path| {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        out
    };
    let service = lexical(service_dir);
    let ctx = lexical(&service_dir.join(&rel));
    if ctx.len() >= service.len() && ctx[..service.len()] == service[..] {
        ContextPlace::Inside(ctx[service.len()..].join("/"))
    } else if service[..ctx.len()] == ctx[..] {
        ContextPlace::Above(service[ctx.len()..].join("/"))
    } else {
        ContextPlace::Apart(rel)
    }
}

/// `./a/b/` -> `a/b`; `.` -> ``.
pub fn normalize_rel(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    parts.join("/")
}

/// Joins two relative paths, normalising `.` and empty parts.
pub fn join_rel(base: &str, p: &str) -> String {
    normalize_rel(&format!("{base}/{p}"))
}

//! `azds.yaml`: the Dev Spaces service configuration, read unchanged, with positioned diagnostics.

mod env;
mod load;
pub mod placeholders;
pub mod values;
pub mod yaml;

pub use env::{expand, parse_dotenv, EnvSource};
pub use load::{diagnose, load, load_with_env};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

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
}

/// One entry of `configurations` (Dev Spaces uses `develop`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Configuration {
    pub build: Build,
    pub use_git_ignore: bool,
    pub container: Container,
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
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    /// The build context, relative to the service folder, `""` for the folder itself.
    pub fn context_prefix(&self) -> String {
        normalize_rel(&self.develop.build.context)
    }

    /// The develop Dockerfile relative to the service folder, if one is configured or present.
    pub fn develop_dockerfile(&self) -> Option<String> {
        let df = self.develop.build.dockerfile.as_ref().or(self.build.dockerfile.as_ref())?;
        Some(join_rel(&self.context_prefix(), &df.value))
    }

    pub fn static_rules(&self) -> Vec<String> {
        match &self.develop.container.static_rules {
            Some(r) => r.clone(),
            None => DEFAULT_STATIC.iter().map(|s| s.to_string()).collect(),
        }
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

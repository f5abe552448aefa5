//! Reads azds.yaml into [`Config`], collecting positioned errors and did-you-mean warnings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::env::{expand, EnvSource};
use super::placeholders;
use super::{
    Build, Config, ConfigError, Configuration, Container, Debug, DebugAdapter, Diagnostic, Install, Severity, Spanned,
    ValuesFile,
};
use crate::classify::patterns::{Anchoring, PatternList};
use crate::config::yaml::{self, Node, Range, Value};

const ROOT_KEYS: &[&str] = &["kind", "apiVersion", "build", "install", "configurations"];
const BUILD_KEYS: &[&str] = &["context", "dockerfile", "args", "useGitIgnore"];
const INSTALL_KEYS: &[&str] = &["chart", "values", "set"];
const CONFIGURATION_KEYS: &[&str] = &["build", "container", "install"];
const CONTAINER_KEYS: &[&str] = &["sync", "static", "command", "iterate", "values", "syncTarget", "debug"];
const DEBUG_KEYS: &[&str] = &["command", "port", "adapter"];
/// Dev Spaces' configuration for debugging, a key of `configurations` beside `develop`.
pub const ATTACH: &str = "develop.attach";
/// Keys early Dev Spaces files spelled differently, read as the key they became: `(old, new)`.
const OLD_SPELLINGS: &[(&str, &str)] = &[("refresh", "iterate")];
const ITERATE_KEYS: &[&str] = &["processesToKill", "buildCommands"];

/// Loads `<service>/azds.yaml` with the process environment and the `.env` beside it.
pub fn load(service_dir: &Path) -> Result<Config, ConfigError> {
    let dotenv = std::fs::read_to_string(service_dir.join(".env")).ok();
    load_with_env(service_dir, &EnvSource::from_process(dotenv.as_deref()))
}

/// Loads `<service>/azds.yaml` with these variables (a client's environment) and the `.env` beside it.
pub fn load_with_vars(service_dir: &Path, vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let dotenv = std::fs::read_to_string(service_dir.join(".env")).ok();
    let dotenv = dotenv.as_deref().map(super::env::parse_dotenv).unwrap_or_default();
    load_with_env(service_dir, &EnvSource { process: vars.clone(), dotenv })
}

pub fn load_with_env(service_dir: &Path, env: &EnvSource) -> Result<Config, ConfigError> {
    let file = service_dir.join(super::FILE_NAME);
    let text = std::fs::read_to_string(&file).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            file: file.clone(),
            range: Range::default(),
            severity: Severity::Error,
            message: format!("cannot read {}: {e} (is this a service folder?)", super::FILE_NAME),
        }],
    })?;
    let (config, diagnostics) = analyze(&file, &text, env);
    match config {
        Some(c) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => Ok(c),
        _ => Err(ConfigError { diagnostics }),
    }
}

/// Every diagnostic for `text` as the content of `file` (what editors show while typing).
pub fn diagnose(file: &Path, text: &str) -> Vec<Diagnostic> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let dotenv = std::fs::read_to_string(dir.join(".env")).ok();
    analyze(file, text, &EnvSource::from_process(dotenv.as_deref())).1
}

fn analyze(file: &Path, text: &str, env: &EnvSource) -> (Option<Config>, Vec<Diagnostic>) {
    let mut w = Walker { file: file.to_path_buf(), env, diags: Vec::new(), variables: BTreeMap::new() };
    let root = match yaml::parse(text) {
        Ok(n) => n,
        Err(e) => {
            w.error(Range { start: e.pos, end: e.pos }, format!("invalid yaml: {}", e.message));
            return (None, w.diags);
        }
    };
    let service_dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let service_dir = std::fs::canonicalize(&service_dir).unwrap_or(service_dir);
    let name = service_dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "service".into());
    let mut config = Config {
        file: service_dir.join(super::FILE_NAME),
        service_dir: service_dir.clone(),
        name,
        kind: String::new(),
        api_version: String::new(),
        build: Build { context: ".".into(), ..Build::default() },
        install: Install { set: serde_json::json!({}), ..Install::default() },
        develop: Configuration { set: serde_json::json!({}), ..Configuration::default() },
        attach: None,
        warnings: Vec::new(),
        variables: BTreeMap::new(),
    };
    if matches!(root.value, Value::Null) {
        let first = crate::config::yaml::Pos { line: 1, col: 1 };
        w.error(
            Range { start: first, end: first },
            "azds.yaml is empty (expected kind, build, install and configurations)".into(),
        );
        return (None, w.diags);
    }
    let Some(entries) = w.mapping(&root, "the document", ROOT_KEYS) else { return (None, w.diags) };
    for (key, value) in entries {
        match key.as_str() {
            "kind" => config.kind = w.string(value, "kind").unwrap_or_default(),
            "apiVersion" => config.api_version = w.string(value, "apiVersion").unwrap_or_default(),
            "build" => config.build = w.build(value, "build"),
            "install" => {
                let (install, _) = w.install(value, "install");
                config.install = install;
            }
            "configurations" => {
                if let Some(confs) = w.mapping(value, "configurations", &[]) {
                    if let Value::Map(entries) = &value.value {
                        for (k, _) in entries {
                            let name = k.as_text().unwrap_or_default();
                            if name != "develop" && did_you_mean(&name, &["develop"]).is_some() {
                                w.warning(
                                    k.range,
                                    format!("unknown key '{name}' in configurations (did you mean 'develop'?)"),
                                );
                            }
                        }
                    }
                    for (cname, cnode) in confs {
                        let c = w.configuration(cnode, &format!("configurations.{cname}"));
                        if cname == "develop" {
                            config.develop = c;
                        } else if cname == ATTACH {
                            config.attach = Some(c);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !config.kind.is_empty() && config.kind != "helm-release" {
        w.warning(
            find_key_range(&root, "kind"),
            format!("kind '{}' is not 'helm-release'; devspaces reads it as one", config.kind),
        );
    }
    // The develop build inherits the top-level build where it says nothing.
    if config.develop.build.dockerfile.is_none() {
        config.develop.build.dockerfile = config.build.dockerfile.clone();
    }
    if config.develop.build.context.is_empty() {
        config.develop.build.context = config.build.context.clone();
        config.develop.build.context_range = config.build.context_range;
    }
    let mut args = config.build.args.clone();
    args.extend(config.develop.build.args.clone());
    config.develop.build.args = args;
    w.check_files(&mut config);
    config.warnings = w.diags.iter().filter(|d| d.severity == Severity::Warning).cloned().collect();
    config.variables = std::mem::take(&mut w.variables);
    (Some(config), w.diags)
}

fn find_key_range(root: &Node, key: &str) -> Range {
    if let Value::Map(entries) = &root.value {
        for (k, v) in entries {
            if k.as_text().as_deref() == Some(key) {
                return v.range;
            }
        }
    }
    root.range
}

struct Walker<'a> {
    file: PathBuf,
    env: &'a EnvSource,
    diags: Vec<Diagnostic>,
    /// The `${VAR}` names expanded so far, and whether each was set.
    variables: BTreeMap<String, bool>,
}

impl Walker<'_> {
    fn push(&mut self, range: Range, severity: Severity, message: String) {
        self.diags.push(Diagnostic { file: self.file.clone(), range, severity, message });
    }
    fn error(&mut self, range: Range, message: String) {
        self.push(range, Severity::Error, message);
    }
    fn warning(&mut self, range: Range, message: String) {
        self.push(range, Severity::Warning, message);
    }

    /// Entries of a mapping; unknown keys (when `known` is not empty) become warnings.
    fn mapping<'n>(&mut self, node: &'n Node, at: &str, known: &[&str]) -> Option<Vec<(String, &'n Node)>> {
        match &node.value {
            Value::Map(entries) => {
                let mut out = Vec::new();
                let written: Vec<String> = entries.iter().filter_map(|(k, _)| k.as_text()).collect();
                for (k, v) in entries {
                    let key = k.as_text().unwrap_or_default();
                    let renamed = OLD_SPELLINGS.iter().find(|(old, new)| *old == key && known.contains(new));
                    if let Some((old, new)) = renamed {
                        if written.iter().any(|w| w == new) {
                            self.warning(
                                k.range,
                                format!("'{old}' in {at} is an early spelling of '{new}', which is also set: '{old}' is ignored (remove it)"),
                            );
                        } else {
                            self.warning(
                                k.range,
                                format!("'{old}' in {at} is an early spelling of '{new}': devspaces reads it as '{new}' (rename it)"),
                            );
                            out.push((new.to_string(), v));
                        }
                        continue;
                    }
                    if !known.is_empty() && !known.contains(&key.as_str()) {
                        let hint = match did_you_mean(&key, known) {
                            Some(s) => format!("did you mean '{s}'?"),
                            None => format!("known keys: {}", known.join(", ")),
                        };
                        self.warning(k.range, format!("unknown key '{key}' in {at} ({hint})"));
                        continue;
                    }
                    out.push((key, v));
                }
                Some(out)
            }
            Value::Null => Some(Vec::new()),
            _ => {
                self.error(node.range, format!("{at} must be a mapping, found {}", node.kind()));
                None
            }
        }
    }

    fn expand(&mut self, text: &str, range: Range) -> String {
        let e = expand(text, self.env);
        self.variables.extend(e.used);
        for name in e.unset {
            self.warning(
                range,
                format!("environment variable '{name}' is not set and has no default (write ${{{name}:-default}})"),
            );
        }
        e.text
    }

    fn string(&mut self, node: &Node, at: &str) -> Option<String> {
        match &node.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let text = node.as_text().unwrap_or_default();
                Some(self.expand(&text, node.range))
            }
            _ => {
                self.error(node.range, format!("{at} must be a string, found {}", node.kind()));
                None
            }
        }
    }

    fn spanned(&mut self, node: &Node, at: &str) -> Option<Spanned> {
        self.string(node, at).map(|value| Spanned { value, range: node.range })
    }

    fn bool(&mut self, node: &Node, at: &str) -> bool {
        match &node.value {
            Value::Bool(b) => *b,
            _ => {
                self.error(node.range, format!("{at} must be true or false, found {}", node.kind()));
                false
            }
        }
    }

    fn string_list(&mut self, node: &Node, at: &str) -> Vec<Spanned> {
        match &node.value {
            Value::Seq(items) => items.iter().filter_map(|n| self.spanned(n, &format!("each entry of {at}"))).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.error(node.range, format!("{at} must be a list of strings, found {}", node.kind()));
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, node: &Node, at: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(entries) = self.mapping(node, at, &[]) {
            for (k, v) in entries {
                if let Some(s) = self.string(v, &format!("{at}.{k}")) {
                    out.insert(k, s);
                }
            }
        }
        out
    }

    fn values_files(&mut self, node: &Node, at: &str) -> Vec<ValuesFile> {
        self.string_list(node, at)
            .into_iter()
            .map(|s| match s.value.strip_suffix('?') {
                Some(p) => ValuesFile { path: p.to_string(), optional: true, range: s.range },
                None => ValuesFile { path: s.value, optional: false, range: s.range },
            })
            .collect()
    }

    fn helm_values(&mut self, node: &Node) -> serde_json::Value {
        let mut found = Vec::new();
        let mut unset = Vec::new();
        let env = self.env;
        let variables = &mut self.variables;
        let json = node.to_json(&mut |s, range| {
            for p in placeholders::unknown(s) {
                found.push((p, range));
            }
            let e = expand(s, env);
            variables.extend(e.used);
            for name in e.unset {
                unset.push((name, range));
            }
            e.text
        });
        for (p, range) in found {
            let hint = match did_you_mean(&p, placeholders::KNOWN) {
                Some(s) => format!("did you mean '$({s})'?"),
                None => format!(
                    "known: {}",
                    placeholders::KNOWN.iter().map(|k| format!("$({k})")).collect::<Vec<_>>().join(", ")
                ),
            };
            self.warning(range, format!("unknown placeholder '$({p})' ({hint})"));
        }
        for (name, range) in unset {
            self.warning(
                range,
                format!("environment variable '{name}' is not set and has no default (write ${{{name}:-default}})"),
            );
        }
        match json {
            serde_json::Value::Null => serde_json::json!({}),
            v => v,
        }
    }

    fn build(&mut self, node: &Node, at: &str) -> Build {
        let mut b = Build::default();
        for (k, v) in self.mapping(node, at, BUILD_KEYS).unwrap_or_default() {
            match k.as_str() {
                "context" => {
                    b.context = self.string(v, &format!("{at}.context")).unwrap_or_default();
                    b.context_range = v.range;
                }
                "dockerfile" => b.dockerfile = self.spanned(v, &format!("{at}.dockerfile")),
                "args" => b.args = self.string_map(v, &format!("{at}.args")),
                _ => {} // useGitIgnore is read by configuration(), where Dev Spaces puts it
            }
        }
        b
    }

    fn install(&mut self, node: &Node, at: &str) -> (Install, bool) {
        let mut i = Install { set: serde_json::json!({}), ..Install::default() };
        let Some(entries) = self.mapping(node, at, INSTALL_KEYS) else { return (i, false) };
        for (k, v) in entries {
            match k.as_str() {
                "chart" => i.chart = self.spanned(v, &format!("{at}.chart")),
                "values" => i.values = self.values_files(v, &format!("{at}.values")),
                "set" => {
                    if !matches!(v.value, Value::Map(_) | Value::Null) {
                        self.error(v.range, format!("{at}.set must be a mapping of Helm values, found {}", v.kind()));
                    } else {
                        i.set = self.helm_values(v);
                    }
                }
                _ => {}
            }
        }
        (i, true)
    }

    fn configuration(&mut self, node: &Node, at: &str) -> Configuration {
        let mut c = Configuration { set: serde_json::json!({}), ..Configuration::default() };
        for (k, v) in self.mapping(node, at, CONFIGURATION_KEYS).unwrap_or_default() {
            match k.as_str() {
                "build" => {
                    c.build = self.build(v, &format!("{at}.build"));
                    if let Value::Map(entries) = &v.value {
                        for (bk, bv) in entries {
                            if bk.as_text().as_deref() == Some("useGitIgnore") {
                                c.use_git_ignore = self.bool(bv, &format!("{at}.build.useGitIgnore"));
                            }
                        }
                    }
                }
                "container" => (c.container, c.container_keys) = self.container(v, &format!("{at}.container")),
                "install" => {
                    let (install, _) = self.install(v, &format!("{at}.install"));
                    c.set = install.set;
                    c.container.values.extend(install.values);
                }
                _ => {}
            }
        }
        c
    }

    /// The container settings and the keys given (`iterate`'s as `iterate.<key>`).
    fn container(&mut self, node: &Node, at: &str) -> (Container, std::collections::BTreeSet<String>) {
        let mut c = Container::default();
        let mut given = std::collections::BTreeSet::new();
        for (k, v) in self.mapping(node, at, CONTAINER_KEYS).unwrap_or_default() {
            let here = format!("{at}.{k}");
            if k != "iterate" {
                given.insert(k.clone());
            }
            match k.as_str() {
                "sync" | "static" => {
                    let list = self.string_list(v, &here);
                    self.check_globs(&list, &here);
                    let texts = list.into_iter().map(|s| s.value).collect();
                    if k == "sync" {
                        c.sync = texts;
                    } else {
                        c.static_rules = Some(texts);
                    }
                }
                "command" => c.command = self.string_list(v, &here).into_iter().map(|s| s.value).collect(),
                "values" => c.values = self.values_files(v, &here),
                "syncTarget" => c.sync_target = self.sync_target(v, &here),
                "debug" => c.debug = self.debug(v, &here),
                "iterate" => {
                    for (ik, iv) in self.mapping(v, &here, ITERATE_KEYS).unwrap_or_default() {
                        let ihere = format!("{here}.{ik}");
                        given.insert(format!("iterate.{ik}"));
                        if ik == "processesToKill" {
                            c.processes_to_kill = self.string_list(iv, &ihere).into_iter().map(|s| s.value).collect();
                        } else {
                            c.build_commands = self.command_list(iv, &ihere);
                        }
                    }
                }
                _ => {}
            }
        }
        (c, given)
    }

    /// `container.debug`: `command` (a list of strings), `port` (1-65535) and `adapter`.
    fn debug(&mut self, node: &Node, at: &str) -> Debug {
        let mut d = Debug::default();
        for (k, v) in self.mapping(node, at, DEBUG_KEYS).unwrap_or_default() {
            let here = format!("{at}.{k}");
            match k.as_str() {
                "command" => {
                    d.command = self.string_list(v, &here).into_iter().map(|s| s.value).collect();
                    if d.command.is_empty() || d.command[0].trim().is_empty() {
                        self.error(v.range, format!("{here} must name a program to run, like [dlv, exec, ./app, ...]"));
                    }
                }
                "port" => {
                    let text = self.string(v, &here).unwrap_or_default();
                    match text.trim().parse::<u16>() {
                        Ok(p) if p > 0 => d.port = Some(p),
                        _ => self.error(v.range, format!("{here} must be a TCP port (1-65535), found '{text}'")),
                    }
                }
                _ => {
                    let Some(text) = self.string(v, &here) else { continue };
                    match DebugAdapter::parse(text.trim()) {
                        Some(a) => d.adapter = Some(a),
                        None => {
                            let names: Vec<&str> = DebugAdapter::ALL.iter().map(|a| a.name()).collect();
                            let hint = match did_you_mean(text.trim(), &names) {
                                Some(s) => format!(" (did you mean '{s}'?)"),
                                None => String::new(),
                            };
                            self.error(
                                v.range,
                                format!("{here} must be one of {}, found '{text}'{hint}", names.join(", ")),
                            );
                        }
                    }
                }
            }
        }
        d
    }

    /// An absolute container path; a trailing slash is dropped (`/usr/share/nginx/` is `/usr/share/nginx`).
    fn sync_target(&mut self, node: &Node, at: &str) -> Option<String> {
        let text = self.string(node, at)?;
        let text = text.trim();
        if !text.starts_with('/') {
            self.error(
                node.range,
                format!("{at} must be an absolute path in the container (like /app), found '{text}'"),
            );
            return None;
        }
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.contains(&"..") {
            self.error(node.range, format!("{at} must not contain '..', found '{text}'"));
            return None;
        }
        Some(format!("/{}", parts.join("/")))
    }

    fn command_list(&mut self, node: &Node, at: &str) -> Vec<Vec<String>> {
        if let Value::Seq(items) = &node.value {
            if !items.is_empty()
                && items.iter().all(|i| matches!(i.value, Value::Str(_) | Value::Int(_) | Value::Float(_)))
            {
                self.error(node.range, format!("{at} must be a list of commands, found a list of strings (write one command as [[make, build]])"));
                return Vec::new();
            }
        }
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| match &item.value {
                    Value::Seq(_) => Some(
                        self.string_list(item, &format!("each command of {at}")).into_iter().map(|s| s.value).collect(),
                    ),
                    _ => {
                        self.error(
                            item.range,
                            format!("each command of {at} must be a list like [make, build], found {}", item.kind()),
                        );
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.error(node.range, format!("{at} must be a list of commands, found {}", node.kind()));
                Vec::new()
            }
        }
    }

    fn check_globs(&mut self, list: &[Spanned], at: &str) {
        for s in list {
            if let Err(bad) = PatternList::new(std::slice::from_ref(&s.value), Anchoring::Floating) {
                self.error(s.range, format!("invalid glob '{}' in {at}: {}", bad.pattern, bad.reason));
            }
        }
    }

    fn check_files(&mut self, c: &mut Config) {
        let dir = c.service_dir.clone();
        if let Some(chart) = &c.install.chart {
            if !dir.join(&chart.value).join("Chart.yaml").is_file() {
                self.error(
                    chart.range,
                    format!(
                        "chart '{}' not found (install.chart): no Chart.yaml in {}",
                        chart.value,
                        dir.join(&chart.value).display()
                    ),
                );
            }
        }
        let context = super::normalize_rel(&c.develop.build.context);
        if !dir.join(&context).is_dir() {
            self.error(
                c.develop.build.context_range,
                format!("build context '{}' is not a folder", c.develop.build.context),
            );
        }
        // The develop build inherits the top-level Dockerfile; report it once, where it is written.
        let inherited = c.develop.build.dockerfile == c.build.dockerfile;
        for (build, at) in
            [(&mut c.build, "build.dockerfile"), (&mut c.develop.build, "configurations.develop.build.dockerfile")]
        {
            let Some(df) = build.dockerfile.as_ref() else { continue };
            match find_dockerfile(&dir, &build.context, &df.value) {
                Ok(found) => build.dockerfile_path = Some(found),
                Err(looked) if !(inherited && at.starts_with("configurations")) => {
                    let range = df.range;
                    let message = format!("dockerfile '{}' not found ({at}, looked {looked})", df.value);
                    self.error(range, message);
                }
                Err(_) => {}
            }
        }
        for v in c.install.values.iter().chain(&c.develop.container.values) {
            if !v.optional && !dir.join(&v.path).is_file() {
                self.error(
                    v.range,
                    format!("values file '{}' not found (add '?' to make it optional: '{}?')", v.path, v.path),
                );
            }
        }
    }
}

/// Finds a Dockerfile as Dev Spaces did: beside azds.yaml first, then in the build context (where
/// `docker build -f` from the context folder and compose look). Returns the service-relative path,
/// or where it looked (with a hint when only the letter case differs).
fn find_dockerfile(dir: &Path, context: &str, name: &str) -> Result<String, String> {
    let beside = super::normalize_rel(name);
    let in_context = super::join_rel(&super::normalize_rel(context), name);
    let mut candidates = vec![beside.clone()];
    if in_context != beside {
        candidates.push(in_context);
    }
    if let Some(found) = candidates.iter().find(|c| !c.is_empty() && dir.join(c).is_file()) {
        return Ok(found.clone());
    }
    let mut looked = match candidates.get(1) {
        Some(_) => format!("beside azds.yaml and in the build context '{context}'"),
        None => "beside azds.yaml".to_string(),
    };
    for c in &candidates {
        let path = dir.join(c);
        let (Some(parent), Some(file)) = (path.parent(), path.file_name()) else { continue };
        let want = file.to_string_lossy().to_lowercase();
        let other = std::fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().to_lowercase() == want && e.path().is_file());
        if let Some(other) = other {
            looked.push_str(&format!("; there is '{}': names are case-sensitive", other.file_name().to_string_lossy()));
            break;
        }
    }
    Err(looked)
}

/// The closest known word within a small edit distance.
pub(crate) fn did_you_mean<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = word.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

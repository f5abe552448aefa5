//! The change classifier: a pure function from a changed path to its class and the rule that decided.

pub mod dockerignore;
pub mod patterns;

use std::fmt;
use std::path::PathBuf;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::classify::patterns::{Anchoring, PatternList, Verdict};
use crate::config::yaml::{Pos, Range};
use crate::config::{self, Config, ContextPlace, Diagnostic, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Ignored,
    StaticSync,
    ProcessRestart,
    Redeploy,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ignored => "ignored",
            Class::StaticSync => "static-sync",
            Class::ProcessRestart => "process-restart",
            Class::Redeploy => "redeploy",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path's class and the rule (number and pattern) that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub class: Class,
    pub rule: String,
}

/// The ignore files' contents, read by the caller so that classifying stays free of I/O.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFiles {
    pub dockerignore: Option<String>,
    /// Where `dockerignore` was read, for positions in messages (`.dockerignore` when unknown).
    pub dockerignore_file: Option<PathBuf>,
    /// `(folder relative to the service, contents)` for each `.gitignore`, the root's as `""`.
    pub gitignores: Vec<(String, String)>,
}

impl IgnoreFiles {
    /// Reads `.dockerignore` of the build context and every `.gitignore` under the service (not in `.git`).
    pub fn read(config: &Config) -> Self {
        let file = config.service_dir.join(config.context_prefix()).join(".dockerignore");
        let dockerignore = std::fs::read_to_string(&file).ok();
        let mut gitignores = Vec::new();
        if config.develop.use_git_ignore {
            let walker = ignore::WalkBuilder::new(&config.service_dir)
                .hidden(false)
                .git_ignore(true)
                .git_global(false)
                .git_exclude(false)
                .require_git(false)
                .filter_entry(|e| e.file_name() != ".git")
                .build();
            for entry in walker.flatten() {
                if entry.file_name() == ".gitignore" {
                    if let (Ok(text), Some(parent)) = (std::fs::read_to_string(entry.path()), entry.path().parent()) {
                        let rel = parent.strip_prefix(&config.service_dir).unwrap_or(parent);
                        gitignores.push((rel.to_string_lossy().replace('\\', "/"), text));
                    }
                }
            }
        }
        IgnoreFiles { dockerignore, dockerignore_file: Some(file), gitignores }
    }
}

#[derive(Debug, Clone)]
enum Redeploy {
    File(String, &'static str),
    Folder(String, &'static str),
}

/// The compiled rules of one service.
#[derive(Debug, Clone)]
pub struct Rules {
    redeploy: Vec<Redeploy>,
    context: ContextPlace,
    dockerignore: PatternList,
    /// The `.dockerignore` line for each compiled pattern, as written.
    dockerignore_text: Vec<String>,
    warnings: Vec<Diagnostic>,
    gitignores: Vec<(String, Gitignore)>,
    sync: PatternList,
    statics: PatternList,
}

/// A rule set that could not be compiled (a bad glob in an ignore file; azds.yaml globs are checked on load).
#[derive(Debug, Clone, PartialEq)]
pub struct RulesError(pub String);

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RulesError {}

const EDITOR_DROPPINGS: &[&str] = &["4913"];

/// Vim swap and backup files, Emacs lock and auto-save files, VS Code's temp files, vim's `4913` probe.
fn is_editor_temp(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let vim_swap = name.starts_with('.') && [".swp", ".swo", ".swx"].iter().any(|e| name.ends_with(e));
    vim_swap
        || name.ends_with(".swp")
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.len() > 2 && name.starts_with('#') && name.ends_with('#'))
        || name.ends_with(".vsctmp")
        || EDITOR_DROPPINGS.contains(&name)
}

impl Rules {
    pub fn new(config: &Config, files: &IgnoreFiles) -> Result<Self, RulesError> {
        let mut redeploy =
            vec![Redeploy::File(config::FILE_NAME.into(), "azds.yaml"), Redeploy::File(".env".into(), "env file")];
        if let Some(chart) = &config.install.chart {
            redeploy.push(Redeploy::Folder(config::normalize_rel(&chart.value), "chart"));
        }
        for v in config.install.values.iter().chain(&config.develop.container.values) {
            redeploy.push(Redeploy::File(config::normalize_rel(&v.path), "values"));
        }
        let context = config.context_place();
        for df in [&config.build.dockerfile_path, &config.develop.build.dockerfile_path].into_iter().flatten() {
            redeploy.push(Redeploy::File(df.clone(), "dockerfile"));
        }
        // `.dockerignore` decides what the image holds: a change to it rebuilds.
        if let ContextPlace::Inside(prefix) = &context {
            redeploy.push(Redeploy::File(config::join_rel(prefix, ".dockerignore"), "dockerignore"));
        }
        let file = files.dockerignore_file.clone().unwrap_or_else(|| PathBuf::from(".dockerignore"));
        let (lines, findings) = dockerignore::parse(files.dockerignore.as_deref().unwrap_or_default());
        let positioned = |line: usize, col: usize, severity, message: String| Diagnostic {
            file: file.clone(),
            range: Range { start: Pos { line, col }, end: Pos { line, col } },
            severity,
            message,
        };
        let mut warnings = Vec::new();
        for f in findings {
            if f.fatal {
                return Err(RulesError(positioned(f.line, f.col, Severity::Error, f.message).to_string()));
            }
            warnings.push(positioned(f.line, f.col, Severity::Warning, f.message));
        }
        let mut globs = Vec::new();
        let mut dockerignore_text = Vec::new();
        for l in &lines {
            // A pattern Go accepts that globset cannot read (`a**b`) is skipped, not fatal.
            if let Err(b) = PatternList::new(std::slice::from_ref(&l.glob), Anchoring::Rooted) {
                warnings.push(positioned(
                    l.line,
                    1,
                    Severity::Warning,
                    format!("devspaces cannot read the pattern '{}' ({}): the line is skipped", l.docker, b.reason),
                ));
                continue;
            }
            globs.push(l.glob.clone());
            dockerignore_text.push(l.written.clone());
        }
        let dockerignore = PatternList::new(&globs, Anchoring::Rooted)
            .map_err(|b| RulesError(format!("invalid pattern '{}' in {}: {}", b.pattern, file.display(), b.reason)))?;
        let mut gitignores = Vec::new();
        if config.develop.use_git_ignore {
            for (dir, text) in &files.gitignores {
                let mut b = GitignoreBuilder::new(if dir.is_empty() { "." } else { dir.as_str() });
                for line in text.lines() {
                    b.add_line(None, line)
                        .map_err(|e| RulesError(format!("invalid pattern in {dir}/.gitignore: {e}")))?;
                }
                let gi = b.build().map_err(|e| RulesError(format!("invalid {dir}/.gitignore: {e}")))?;
                gitignores.push((dir.clone(), gi));
            }
        }
        let sync = PatternList::new(&config.develop.container.sync, Anchoring::Floating).map_err(|b| {
            RulesError(format!("invalid glob '{}' in configurations.develop.container.sync: {}", b.pattern, b.reason))
        })?;
        let statics = PatternList::new(&config.static_rules(), Anchoring::Floating).map_err(|b| {
            RulesError(format!("invalid glob '{}' in configurations.develop.container.static: {}", b.pattern, b.reason))
        })?;
        Ok(Rules { redeploy, context, dockerignore, dockerignore_text, warnings, gitignores, sync, statics })
    }

    /// Lines of the ignore files that were skipped, with their positions (`file:line:col`).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// Whether a folder's contents can be skipped entirely (never watched, never walked).
    pub fn skips_folder(&self, rel: &str) -> bool {
        self.ignored(rel, true).is_some() && !self.redeploy_under(rel)
    }

    /// Whether a redeploy file lies under `folder`, or `folder` is (inside) a redeploy folder.
    fn redeploy_under(&self, folder: &str) -> bool {
        let prefix = format!("{folder}/");
        self.redeploy.iter().any(|r| match r {
            Redeploy::File(f, _) => f.starts_with(&prefix),
            Redeploy::Folder(d, _) => d == folder || d.starts_with(&prefix) || folder.starts_with(&format!("{d}/")),
        })
    }

    /// Whether a file belongs to the image's content: in the build context and not ignored
    /// (`COPY . .` would copy it). A redeploy file the `.dockerignore` lists is not content.
    pub fn in_image(&self, path: &str) -> bool {
        self.ignored(path, false).is_none()
    }

    /// Whether the `.dockerignore` leaves `ctx_rel` (a path in the build context) out of the
    /// context an engine gets, as the Docker CLI does; `.gitignore` has no say there.
    pub fn dockerignored(&self, ctx_rel: &str) -> bool {
        self.dockerignore.last_match(ctx_rel).is_some()
    }

    /// Whether a folder the `.dockerignore` leaves out may still hold a file it keeps (`!x`).
    pub fn dockerignore_reincludes(&self) -> bool {
        self.dockerignore.has_negation()
    }

    /// Rule 2: why a path is ignored, if it is.
    fn ignored(&self, path: &str, is_dir: bool) -> Option<String> {
        if path.split('/').any(|c| c == ".git") {
            return Some("2: ignored .git/".into());
        }
        if is_editor_temp(path) {
            return Some("2: ignored editor temporary file".into());
        }
        let Some(ctx_rel) = self.context.in_context(path) else {
            return Some(format!("2: outside the build context '{}'", self.context.describe()));
        };
        if let Some(i) = self.dockerignore.last_match(&ctx_rel) {
            return Some(format!("2: .dockerignore {}", self.dockerignore_text[i]));
        }
        for (dir, gi) in &self.gitignores {
            let rel = match dir.as_str() {
                "" => Some(path),
                d => path.strip_prefix(d).and_then(|r| r.strip_prefix('/')),
            };
            if let Some(rel) = rel {
                if let ignore::Match::Ignore(g) = gi.matched_path_or_any_parents(rel, is_dir) {
                    return Some(format!("2: .gitignore {}", g.original()));
                }
            }
        }
        None
    }

    /// Classifies one path, relative to the service folder with `/` separators.
    pub fn classify(&self, path: &str) -> Decision {
        let path = path.trim_start_matches("./");
        // Editor droppings are never content, not even inside a chart (Helm's .helmignore drops them too).
        if is_editor_temp(path) {
            return decision(Class::Ignored, "2: ignored editor temporary file".into());
        }
        for r in &self.redeploy {
            match r {
                Redeploy::File(f, what) if f == path => return decision(Class::Redeploy, format!("1: {what} {f}")),
                Redeploy::Folder(d, what) if path == d || path.starts_with(&format!("{d}/")) => {
                    return decision(Class::Redeploy, format!("1: {what} {d}/"))
                }
                _ => {}
            }
        }
        if let Some(rule) = self.ignored(path, false) {
            return decision(Class::Ignored, rule);
        }
        if self.sync.is_empty() {
            return decision(Class::Redeploy, "4: no sync rules, build context".into());
        }
        match self.sync.verdict(path) {
            Verdict::Included(p) => {
                if self.statics.includes(path) {
                    decision(Class::StaticSync, format!("3: sync {p}, static"))
                } else {
                    decision(Class::ProcessRestart, format!("3: sync {p}, restart"))
                }
            }
            Verdict::Excluded(p) => decision(Class::Redeploy, format!("4: build context, excluded by sync {p}")),
            Verdict::Unmatched => decision(Class::Redeploy, "4: build context, no sync rule matched".into()),
        }
    }
}

fn decision(class: Class, rule: String) -> Decision {
    Decision { class, rule }
}

/// What a batch of changes asks for: the paths per class and the strongest class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub sync: Vec<String>,
    pub ignored: Vec<String>,
    pub class: Option<Class>,
    /// The path and rule that made the batch a redeploy or restart, for messages.
    pub reason: Option<(String, String)>,
}

/// Plans a batch: a batch takes its strongest class (redeploy > process-restart > static-sync).
pub fn plan<S: AsRef<str>>(rules: &Rules, paths: &[S]) -> Plan {
    let mut p = Plan::default();
    for path in paths {
        let path = path.as_ref();
        let d = rules.classify(path);
        if d.class == Class::Ignored {
            p.ignored.push(path.to_string());
            continue;
        }
        p.sync.push(path.to_string());
        if p.class.is_none_or(|c| d.class > c) {
            p.class = Some(d.class);
            p.reason = Some((path.to_string(), d.rule));
        }
    }
    p
}

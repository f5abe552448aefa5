//! Table test for azds.yaml loading: every folder of tests/fixtures/config is a service whose expected.txt holds the exact outcome.
//!
//! `expected.txt` is either the diagnostics of a rejected file, one per line as `devspacesd` prints
//! them (file paths relative to the case folder), or `ok` followed by the warnings and then the
//! facts of the loaded configuration, one `key: value` per line (only settings that are present).
//! Variables come from a fixed process environment (below) and the case's own `.env`, never from
//! the real environment. Adding a folder adds a case. `BLESS=1` rewrites every expected.txt from
//! the current behaviour: read each line critically before committing it.

use std::path::{Path, PathBuf};

use devspacesd::config::{self, Config, EnvSource};

/// The process environment every case sees.
const PROCESS_ENV: &[(&str, &str)] =
    &[("FROM_PROCESS", "process-value"), ("IN_BOTH", "process-wins"), ("EMPTY_IN_PROCESS", "")];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/config")
}

fn env_for(dir: &Path) -> EnvSource {
    let dotenv = std::fs::read_to_string(dir.join(".env")).map(|t| config::parse_dotenv(&t)).unwrap_or_default();
    EnvSource { process: PROCESS_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), dotenv }
}

/// Removes the case folder's absolute path (as given and canonical) so lines read `azds.yaml:3:1: ...`.
fn relative(line: String, dir: &Path) -> String {
    let mut line = line;
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for d in [dir.to_path_buf(), canonical] {
        line = line.replace(&format!("{}/", d.display()), "");
    }
    line
}

/// A list in YAML flow style; items with spaces, commas or brackets are quoted.
fn flow(items: &[String]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|s| if s.is_empty() || s.contains([' ', ',', '[', ']', '"']) { format!("{s:?}") } else { s.clone() })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Helm values flattened to `prefix.a.b: value` and `prefix.list[0]: value` lines.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        serde_json::Value::String(s) => out.push(format!("{prefix}: {s}")),
        other => out.push(format!("{prefix}: {other}")),
    }
}

/// The facts of a build section (`build` or `develop.build`), named below `prefix`.
fn build_facts(prefix: &str, b: &config::Build, fact: &mut impl FnMut(&str, String)) {
    fact(&format!("{prefix}.context"), b.context.clone());
    if let Some(df) = &b.dockerfile {
        fact(&format!("{prefix}.dockerfile"), df.value.clone());
    }
    if let Some(found) = &b.dockerfile_path {
        fact(&format!("{prefix}.dockerfile found at"), found.clone());
    }
    for (k, v) in &b.args {
        fact(&format!("{prefix}.args.{k}"), v.clone());
    }
}

/// The facts of a container section, named after `prefix`.
fn container_facts(prefix: &str, c: &config::Container, fact: &mut impl FnMut(&str, String)) {
    let values = |vs: &[config::ValuesFile]| {
        vs.iter().map(|v| format!("{}{}", v.path, if v.optional { "?" } else { "" })).collect::<Vec<_>>().join(", ")
    };
    if !c.sync.is_empty() {
        fact(&format!("{prefix}sync"), c.sync.join(", "));
    }
    match &c.static_rules {
        Some(r) => fact(&format!("{prefix}static"), r.join(", ")),
        None => fact(&format!("{prefix}static"), "(default)".into()),
    }
    if let Some(t) = &c.sync_target {
        fact(&format!("{prefix}syncTarget"), t.clone());
    }
    if !c.command.is_empty() {
        fact(&format!("{prefix}command"), flow(&c.command));
    }
    if !c.processes_to_kill.is_empty() {
        fact(&format!("{prefix}processesToKill"), flow(&c.processes_to_kill));
    }
    for cmd in &c.build_commands {
        fact(&format!("{prefix}buildCommand"), flow(cmd));
    }
    if !c.values.is_empty() {
        fact(&format!("{prefix}develop.values"), values(&c.values));
    }
    if !c.debug.command.is_empty() {
        fact(&format!("{prefix}debug.command"), flow(&c.debug.command));
    }
    if let Some(p) = c.debug.port {
        fact(&format!("{prefix}debug.port"), p.to_string());
    }
    if let Some(a) = c.debug.adapter {
        fact(&format!("{prefix}debug.adapter"), a.name().to_string());
    }
}

fn facts(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut fact = |k: &str, v: String| out.push(format!("{k}: {v}"));
    for (k, v) in [("kind", &c.kind), ("apiVersion", &c.api_version)] {
        if !v.is_empty() {
            fact(k, v.clone());
        }
    }
    build_facts("build", &c.build, &mut fact);
    if let Some(chart) = &c.install.chart {
        fact("install.chart", chart.value.clone());
    }
    let values = |vs: &[config::ValuesFile]| {
        vs.iter().map(|v| format!("{}{}", v.path, if v.optional { "?" } else { "" })).collect::<Vec<_>>().join(", ")
    };
    if !c.install.values.is_empty() {
        fact("install.values", values(&c.install.values));
    }
    let d = &c.develop;
    build_facts("develop.build", &d.build, &mut fact);
    fact("develop.useGitIgnore", d.use_git_ignore.to_string());
    container_facts("", &d.container, &mut fact);
    if let Some(attach) = &c.attach {
        let keys: Vec<String> = attach.container_keys.iter().cloned().collect();
        fact("develop.attach keys", flow(&keys));
        // The configuration a debugging session runs with: attach's keys replace develop's.
        container_facts("debugging ", &c.clone().for_debugging().develop.container, &mut fact);
    }
    flatten("set", &c.install.set, &mut out);
    flatten("develop.set", &d.set, &mut out);
    for (name, set) in &c.variables {
        out.push(format!("variable {name}: {}", if *set { "set" } else { "unset" }));
    }
    out
}

fn outcome(dir: &Path) -> Vec<String> {
    match config::load_with_env(dir, &env_for(dir)) {
        Ok(c) => {
            let mut lines = vec!["ok".to_string()];
            lines.extend(c.warnings.iter().map(|w| relative(w.to_string(), dir)));
            lines.extend(facts(&c));
            lines
        }
        Err(e) => e.diagnostics.iter().map(|d| relative(d.to_string(), dir)).collect(),
    }
}

#[test]
fn config_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/config exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", fixtures().display());
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let got = outcome(dir);
        let expected_path = dir.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, got.join("\n") + "\n").expect("write expected.txt");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        let want: Vec<&str> = expected.lines().collect();
        if got != want {
            failures.push(format!(
                "case {name}\n  expected:\n    {}\n  got:\n    {}",
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} config cases differ:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}

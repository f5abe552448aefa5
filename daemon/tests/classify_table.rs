//! Table test for the change classifier: every folder of tests/fixtures/classify holds a cases.tsv of `path<TAB>class<TAB>rule`.
//!
//! A case folder is the service itself (its azds.yaml, .dockerignore, .gitignore, chart ...) or
//! holds a `service.txt` naming a service folder relative to the repository root (the examples).
//! Classification needs only paths, so the listed paths need not exist. Lines starting with `# `
//! (hash, space) and blank lines in cases.tsv are skipped, so `#app.py#` is a path. Adding a folder adds a case.
//! A `warnings.txt` beside cases.tsv lists the rules' warnings (ignore-file lines that were
//! skipped), one per line with paths relative to the service; without it there must be none.

use std::path::{Path, PathBuf};

use devspacesd::classify::{IgnoreFiles, Rules};
use devspacesd::config::{self, EnvSource};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The service a case folder describes: itself, or the folder its service.txt names.
fn service_dir(case: &Path) -> PathBuf {
    match std::fs::read_to_string(case.join("service.txt")) {
        Ok(rel) => repo_root().join(rel.trim()),
        Err(_) => case.to_path_buf(),
    }
}

/// A fixed environment (no process variables, the service's .env) so results never depend on the machine.
fn env_for(dir: &Path) -> EnvSource {
    let dotenv = std::fs::read_to_string(dir.join(".env")).map(|t| config::parse_dotenv(&t)).unwrap_or_default();
    EnvSource { process: Default::default(), dotenv }
}

/// Every mismatch of one case, as readable lines.
fn check_case(case: &Path) -> Result<usize, Vec<String>> {
    let dir = service_dir(case);
    let config =
        config::load_with_env(&dir, &env_for(&dir)).map_err(|e| vec![format!("azds.yaml does not load:\n{e}")])?;
    if !config.warnings.is_empty() {
        let w: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        return Err(vec![format!("azds.yaml has warnings (classify fixtures must be clean):\n{}", w.join("\n"))]);
    }
    let rules =
        Rules::new(&config, &IgnoreFiles::read(&config)).map_err(|e| vec![format!("rules do not compile: {e}")])?;
    let want_warnings = std::fs::read_to_string(case.join("warnings.txt")).unwrap_or_default();
    let canonical = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    let got_warnings: Vec<String> =
        rules.warnings().iter().map(|w| w.to_string().replace(&format!("{}/", canonical.display()), "")).collect();
    if got_warnings != want_warnings.lines().collect::<Vec<_>>() {
        return Err(vec![format!(
            "rule warnings differ\n    expected:\n      {}\n    got:\n      {}",
            want_warnings.lines().collect::<Vec<_>>().join("\n      "),
            got_warnings.join("\n      ")
        )]);
    }
    let table =
        std::fs::read_to_string(case.join("cases.tsv")).map_err(|e| vec![format!("cannot read cases.tsv: {e}")])?;
    let mut errors = Vec::new();
    let mut count = 0;
    for (n, line) in table.lines().enumerate() {
        if line.trim().is_empty() || line == "#" || line.starts_with("# ") {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [path, class, rule] = fields[..] else {
            errors.push(format!("cases.tsv:{}: expected path<TAB>class<TAB>rule, got {line:?}", n + 1));
            continue;
        };
        count += 1;
        let d = rules.classify(path);
        if (d.class.as_str(), d.rule.as_str()) != (class, rule) {
            errors.push(format!(
                "cases.tsv:{}: {path}\n    expected {class}\t{rule}\n    got      {}\t{}",
                n + 1,
                d.class,
                d.rule
            ));
        }
    }
    if count == 0 {
        errors.push("cases.tsv has no cases".into());
    }
    if errors.is_empty() {
        Ok(count)
    } else {
        Err(errors)
    }
}

#[test]
fn classify_cases() {
    let root = repo_root().join("tests/fixtures/classify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures/classify exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Err(errors) = check_case(case) {
            failures.push(format!("case {name}:\n  {}", errors.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} classify cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

//! Real Dev Spaces services as they are: every service of `../shared/corpus/azds` loads and classifies.
//!
//! The corpus (outside the project, beside it) holds the configuration of 67 services from public
//! repositories: azds.yaml, the charts' Chart.yaml and values.yaml, .dockerignore, .gitignore, and
//! `files.txt`, every file of the repository at that commit. `MANIFEST.tsv` names, per folder, the
//! files taken and the placeholders: files azds.yaml names that the repository itself lacked
//! (those services are broken in their own repository). Each service is rebuilt in a temporary
//! folder as a clone would lay it out (`<tmp>/checkout/<repository name>/`, so `context: ..` has
//! a parent): every listed file empty, the shipped configuration files copied over them, and
//! placeholders left out. Build recipes are not in the corpus: Dockerfiles are the empty files.
//!
//! Every service that is not broken must load with no error and no unknown-key warning, and every
//! path of its repository must get a class by one of the four rules; the table below adds the
//! classes that show each rule at work. Broken services must keep an error naming the missing file.
//! `DEVSPACES_CORPUS` overrides where the corpus is.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use devspacesd::classify::{Class, IgnoreFiles, Rules};
use devspacesd::config::{self, Config, ContextPlace, EnvSource, Severity};

fn corpus() -> PathBuf {
    match std::env::var_os("DEVSPACES_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/azds"),
    }
}

/// One line of MANIFEST.tsv.
struct Row {
    dir: String,
    repo: String,
    placeholders: Vec<String>,
}

fn manifest(root: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(root.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}/MANIFEST.tsv: {e} (set DEVSPACES_CORPUS)", root.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header[..5], ["dir", "repo", "commit", "files fetched", "placeholders"], "MANIFEST.tsv columns changed");
    let list = |s: Option<&str>| -> Vec<String> {
        s.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    };
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row { dir: f[0].into(), repo: f[1].into(), placeholders: list(f.get(4).copied()) }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The repository rebuilt under `tmp`: returns the service folder and the repository's files.
fn workspace(root: &Path, row: &Row, tmp: &Path) -> (PathBuf, Vec<String>) {
    let name = row.repo.rsplit('/').next().unwrap();
    let service = tmp.join("checkout").join(name);
    let src = root.join(&row.dir);
    let files: Vec<String> = std::fs::read_to_string(src.join("files.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    for f in &files {
        let p = service.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"").unwrap();
    }
    let mut shipped = Vec::new();
    walk(&src, &mut shipped);
    for p in shipped {
        let rel = p.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if rel == "files.txt" || row.placeholders.contains(&rel) {
            continue;
        }
        assert!(files.contains(&rel), "{}: shipped file {rel} is not in files.txt", row.dir);
        std::fs::copy(&p, service.join(&rel)).unwrap();
    }
    (service, files)
}

fn env_for(dir: &Path) -> EnvSource {
    let dotenv = std::fs::read_to_string(dir.join(".env")).map(|t| config::parse_dotenv(&t)).unwrap_or_default();
    EnvSource { process: Default::default(), dotenv }
}

/// What one service came to.
enum Outcome {
    Loaded { config: Box<Config>, rules: Box<Rules>, files: Vec<String> },
    Refused(Vec<String>),
}

fn outcome(root: &Path, row: &Row, tmp: &Path) -> Outcome {
    let (service, files) = workspace(root, row, tmp);
    let config = match config::load_with_env(&service, &env_for(&service)) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Refused(
                e.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.message.clone()).collect(),
            )
        }
    };
    match Rules::new(&config, &IgnoreFiles::read(&config)) {
        Ok(rules) => Outcome::Loaded { config: Box::new(config), rules: Box::new(rules), files },
        Err(e) => Outcome::Refused(vec![e.to_string()]),
    }
}

/// Services broken in their own repository (MANIFEST.tsv's placeholders): the errors they must keep.
const BROKEN: &[(&str, &[&str])] = &[
    (
        "ContosoBikeRental__BikeSharingSampleApp",
        &["chart 'charts/package' not found", "dockerfile 'Dockerfile' not found (build.dockerfile, looked beside azds.yaml)"],
    ),
    ("MohanrasuG__AspnetcoreApp", &["chart 'charts/aspdotnetcoreapp' not found"]),
    ("Sasidharand__ContainerProject", &["chart 'charts/containerproject' not found"]),
    ("johnsta__staticfrontend", &["chart 'charts/staticfrontend' not found"]),
    ("maana-io__maana-azure-storage", &["chart 'charts/maana-google-storage' not found"]),
    ("nirajp82__WorkerService", &["chart 'charts/websitestatus' not found"]),
    ("ontoneio__crafterAKS-setup", &["dockerfile 'Dockerfile' not found"]),
    ("seanmck__fnwdemo", &["chart 'charts/devspaces-temp' not found"]),
    (
        "software-bvrd__GeoApp",
        &[
            "chart 'charts/geoapp' not found",
            "dockerfile 'Dockerfile' not found (build.dockerfile, looked beside azds.yaml; there is 'dockerfile': names are case-sensitive)",
        ],
    ),
    ("sriramja__CategoryAPI", &["chart 'charts/trainingapp' not found"]),
    ("t1agob__DevSpacesSample", &["dockerfile 'Dockerfile' not found"]),
];

/// The only warnings left on services that load, and why they stay: the file says something
/// devspaces reads differently from what is written.
const WARNINGS: &[(&str, &str)] = &[
    // `refresh` is read as `iterate`; the warning asks to rename it.
    ("stepro__service-a", "'refresh' in configurations.develop.container is an early spelling of 'iterate': devspaces reads it as 'iterate' (rename it)"),
    ("stepro__service-b", "'refresh' in configurations.develop.container is an early spelling of 'iterate': devspaces reads it as 'iterate' (rename it)"),
];

/// Settings read from the services that exercise this cases.
const FACTS: &[(&str, &str)] = &[
    // The Visual Studio layout: context `..`, Dockerfiles beside azds.yaml.
    ("LaboduNET__angularMVC", "context Above(\"angularMVC\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget None, kill [\"dotnet\", \"vsdbg\", \"angularMVC\"]"),
    ("YesUnO__sudokuBackEnd", "context Above(\"sudokuBackEnd\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget None, kill [\"dotnet\", \"vsdbg\", \"sudokuBackEnd\"]"),
    ("abhi421__MicroService", "context Above(\"MicroService\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget None, kill [\"dotnet\", \"vsdbg\", \"ProductMicroService\"]"),
    ("emonarafat__KubTest", "context Above(\"KubTest\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget None, kill [\"dotnet\", \"vsdbg\", \"Kub\"]"),
    // syncTarget, and `refresh` read as `iterate`.
    ("johnsta__bikesharingweb", "context Inside(\"\"), dockerfile Some(\"Dockerfile\"), syncTarget Some(\"/usr/share/nginx\"), kill []"),
    ("johnsta__mywebapi", "context Inside(\"\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget Some(\"/src\"), kill [\"dotnet\"]"),
    ("spboyer__aks-signalr-demo", "context Inside(\"\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget Some(\"/src\"), kill [\"dotnet\"]"),
    ("stepro__service-a", "context Inside(\"\"), dockerfile Some(\"Dockerfile\"), syncTarget Some(\"/app\"), kill [\"node\"]"),
    ("stepro__service-b", "context Inside(\"\"), dockerfile Some(\"Dockerfile.develop\"), syncTarget Some(\"/src\"), kill [\"dotnet\"]"),
];

/// Classes of real paths that show each rule at work: `(service, path, class, rule)`.
const CLASSES: &[(&str, &str, &str, &str)] = &[
    // Context `..`: the service is inside the context; its sync rules apply as written.
    ("LaboduNET__angularMVC", "Dockerfile.develop", "redeploy", "1: dockerfile Dockerfile.develop"),
    ("LaboduNET__angularMVC", "Pages/Error.cshtml", "static-sync", "3: sync **/Pages/**, static"),
    ("LaboduNET__angularMVC", "Pages/Error.cshtml.cs", "process-restart", "3: sync **/Pages/**, restart"),
    ("LaboduNET__angularMVC", "wwwroot/favicon.ico", "static-sync", "3: sync **/wwwroot/**, static"),
    ("LaboduNET__angularMVC", "angularMVC.csproj", "redeploy", "4: build context, excluded by sync !**/*.{sln,csproj}"),
    ("LaboduNET__angularMVC", "ClientApp/package.json", "redeploy", "4: build context, no sync rule matched"),
    // With context `..` the solution's .dockerignore decides; the project's own is image content.
    ("YesUnO__sudokuBackEnd", ".dockerignore", "redeploy", "4: build context, no sync rule matched"),
    ("YesUnO__sudokuBackEnd", "sudokuBackEnd.sln", "redeploy", "4: build context, excluded by sync !**/*.{sln,csproj}"),
    // .dockerignore: it decides what the image holds (rule 1), even where it lists itself;
    // the Dockerfile redeploys though `**/Dockerfile*` lists it; CRLF lines read as Docker does.
    ("garrardkitchen__dotnet-counters-docker", ".dockerignore", "redeploy", "1: dockerignore .dockerignore"),
    ("garrardkitchen__dotnet-counters-docker", "Dockerfile", "redeploy", "1: dockerfile Dockerfile"),
    ("garrardkitchen__dotnet-counters-docker", "Dockerfile.original", "ignored", "2: .dockerignore **/Dockerfile*"),
    ("garrardkitchen__dotnet-counters-docker", "README.md", "ignored", "2: .dockerignore README.md"),
    (
        "garrardkitchen__dotnet-counters-docker",
        "monitor.sln",
        "redeploy",
        "4: build context, excluded by sync !**/*.{sln,csproj}",
    ),
    ("johnsta__mywebapi", "obj/project.assets.json", "ignored", "2: .dockerignore **/obj"),
    ("johnsta__mywebapi", "mywebapi.csproj", "redeploy", "4: build context, excluded by sync !**/*.{sln,csproj}"),
    ("johnsta__mywebapi", "Controllers/ValuesController.cs", "redeploy", "4: build context, no sync rule matched"),
    ("johnsta__bikesharingweb", "components/Header.js", "ignored", "2: .dockerignore components"),
    // A sync list of only negations starts from `**`; other charts in the repository are ignored.
    ("stepro__service-a", "public/index.html", "static-sync", "3: sync **, static"),
    ("stepro__service-a", "propagateHeaders.js", "process-restart", "3: sync **, restart"),
    ("stepro__service-a", "package.json", "redeploy", "4: build context, excluded by sync !**/package.json"),
    ("stepro__service-a", "charts/baseline/service-a/Chart.yaml", "ignored", "2: .dockerignore charts"),
    ("stepro__service-a", "charts/service-a/values.yaml", "redeploy", "1: chart charts/service-a/"),
    ("spboyer__aks-signalr-demo", "wwwroot/css/site.css", "static-sync", "3: sync **/wwwroot/**, static"),
    (
        "luna1230__azure-vote",
        "src/main/resources/static/resources/fonts/montserrat-webfont.svg",
        "static-sync",
        "3: sync **/**, static",
    ),
    (
        "andxu__springboot-multiple-module-sample",
        "multiple-module-entity/pom.xml",
        "process-restart",
        "3: sync **/**, restart",
    ),
    ("smartpcr__devspace-quickstart", "HelloWorld.sln", "redeploy", "4: no sync rules, build context"),
    ("vishwam__pcs-remote-monitoring-webui", ".env", "redeploy", "1: env file .env"),
    ("vishwam__pcs-remote-monitoring-webui", "public/index.html", "static-sync", "3: sync **, static"),
    ("Chronasorg__chronas-api", "Dockerfile.Develop", "redeploy", "1: dockerfile Dockerfile.Develop"),
    ("Chronasorg__chronas-api", "appversion.json", "ignored", "2: .gitignore appversion.json"),
];

/// Checks the four rules on every path of one loaded service; returns the mismatches.
fn check_rules(dir: &str, config: &Config, rules: &Rules, files: &[String]) -> Vec<String> {
    let mut bad = Vec::new();
    let chart = config.install.chart.as_ref().map(|c| config::normalize_rel(&c.value));
    let dockerfiles: BTreeSet<&String> =
        [&config.build.dockerfile_path, &config.develop.build.dockerfile_path].into_iter().flatten().collect();
    let place = config.context_place();
    let no_sync = config.develop.container.sync.is_empty();
    for f in files {
        let d = rules.classify(f);
        let number = d.rule.split(':').next().unwrap_or_default();
        let class_fits = match number {
            "1" | "4" => d.class == Class::Redeploy,
            "2" => d.class == Class::Ignored,
            "3" => matches!(d.class, Class::StaticSync | Class::ProcessRestart),
            _ => false,
        };
        let mut why = Vec::new();
        if !class_fits {
            why.push("class does not fit the rule");
        }
        if f == "azds.yaml" && d.rule != "1: azds.yaml azds.yaml" {
            why.push("azds.yaml must be rule 1");
        }
        if chart.as_ref().is_some_and(|c| f.starts_with(&format!("{c}/"))) && !d.rule.starts_with("1: chart ") {
            why.push("chart files must be rule 1");
        }
        if dockerfiles.contains(f) && d.rule != format!("1: dockerfile {f}") {
            why.push("the Dockerfiles must be rule 1");
        }
        if let ContextPlace::Inside(p) = &place {
            if *f == config::join_rel(p, ".dockerignore") && d.rule != format!("1: dockerignore {f}") {
                why.push("the context's .dockerignore must be rule 1");
            }
        }
        if !matches!(place, ContextPlace::Apart(_)) && d.rule.starts_with("2: outside the build context") {
            why.push("the context holds the service: nothing is outside it");
        }
        if no_sync && number == "3" || !no_sync && d.rule.contains("no sync rules") {
            why.push("rule 3 applies exactly when there are sync rules");
        }
        if !why.is_empty() {
            bad.push(format!("{dir}: {f} -> {} {} ({})", d.class, d.rule, why.join("; ")));
        }
    }
    bad
}

fn facts(config: &Config) -> String {
    format!(
        "context {:?}, dockerfile {:?}, syncTarget {:?}, kill {:?}",
        config.context_place(),
        config.develop_dockerfile(),
        config.develop.container.sync_target,
        config.develop.container.processes_to_kill
    )
}

#[test]
fn corpus_services_load_and_classify() {
    let root = corpus();
    let rows = manifest(&root);
    assert!(rows.len() >= 60, "the corpus has {} services, expected 67", rows.len());
    let broken: BTreeMap<&str, &[&str]> = BTreeMap::from_iter(BROKEN.iter().copied());
    let with_placeholders: BTreeSet<&str> =
        rows.iter().filter(|r| !r.placeholders.is_empty()).map(|r| r.dir.as_str()).collect();
    assert_eq!(
        broken.keys().copied().collect::<BTreeSet<_>>(),
        with_placeholders,
        "the broken services are exactly those whose repository lacks a file azds.yaml names"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let (mut loaded, mut refused, mut paths) = (0, 0, 0);
    let mut classes_checked = 0;
    for (i, row) in rows.iter().enumerate() {
        let ws = tmp.path().join(i.to_string());
        match (outcome(&root, row, &ws), broken.get(row.dir.as_str())) {
            (Outcome::Refused(errors), Some(want)) => {
                refused += 1;
                for w in *want {
                    if !errors.iter().any(|e| e.contains(w)) {
                        failures.push(format!("{}: expected an error containing {w:?}, got {errors:?}", row.dir));
                    }
                }
                for e in &errors {
                    let names_missing = row.placeholders.iter().any(|p| {
                        let folder = p.strip_suffix("/Chart.yaml").unwrap_or(p);
                        e.contains(&format!("'{folder}'"))
                    });
                    if !names_missing {
                        failures
                            .push(format!("{}: error {e:?} names none of the missing {:?}", row.dir, row.placeholders));
                    }
                }
            }
            (Outcome::Refused(errors), None) => failures.push(format!("{}: refused: {errors:?}", row.dir)),
            (Outcome::Loaded { .. }, Some(_)) => {
                failures.push(format!("{}: loads, though its repository lacks {:?}", row.dir, row.placeholders))
            }
            (Outcome::Loaded { config, rules, files }, None) => {
                loaded += 1;
                paths += files.len();
                for w in config.warnings.iter().chain(rules.warnings()) {
                    warnings.push((row.dir.clone(), w.message.clone()));
                }
                failures.extend(check_rules(&row.dir, &config, &rules, &files));
                for (dir, want) in FACTS.iter().filter(|(d, _)| *d == row.dir) {
                    let got = facts(&config);
                    if got != *want {
                        failures.push(format!("{dir}: facts\n    expected {want}\n    got      {got}"));
                    }
                }
                for (dir, path, class, rule) in CLASSES.iter().filter(|(d, ..)| *d == row.dir) {
                    classes_checked += 1;
                    if !files.iter().any(|f| f == path) {
                        failures.push(format!("{dir}: {path} is not a file of the repository"));
                    }
                    let d = rules.classify(path);
                    if (d.class.as_str(), d.rule.as_str()) != (*class, *rule) {
                        failures.push(format!(
                            "{dir}: {path}\n    expected {class}\t{rule}\n    got      {}\t{}",
                            d.class, d.rule
                        ));
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&ws);
    }
    let want_warnings: Vec<(String, String)> = WARNINGS.iter().map(|(d, m)| (d.to_string(), m.to_string())).collect();
    if warnings != want_warnings {
        failures.push(format!("warnings differ:\n    expected {want_warnings:#?}\n    got {warnings:#?}"));
    }
    if warnings.iter().any(|(_, m)| m.starts_with("unknown key")) {
        failures.push("an unknown-key warning is left".into());
    }
    assert_eq!(classes_checked, CLASSES.len(), "every CLASSES row names a service that loads");
    eprintln!(
        "corpus: {} services; {loaded} load ({paths} paths classified), {refused} broken in their own repository, {} warnings",
        rows.len(),
        warnings.len()
    );
    assert!(failures.is_empty(), "{} corpus findings:\n{}", failures.len(), failures.join("\n"));
}

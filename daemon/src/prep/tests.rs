//! Tables for `prep`: each stack's generated files load with no warning and classify as intended.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::classify::{IgnoreFiles, Rules};
use crate::config::{self, EnvSource};

/// A small project: `(path, contents)`.
type Project = &'static [(&'static str, &'static str)];

/// `(path, class, rule number)` after `prep`.
type Classes = &'static [(&'static str, &'static str, &'static str)];

struct Case {
    folder: &'static str,
    project: Project,
    kind: Kind,
    command: &'static [&'static str],
    classes: Classes,
}

const COMMON: Classes = &[
    ("azds.yaml", "redeploy", "1"),
    ("Dockerfile", "redeploy", "1"),
    ("Dockerfile.develop", "redeploy", "1"),
    (".dockerignore", "redeploy", "1"),
    ("README.md", "redeploy", "4"),
    (".git/HEAD", "ignored", "2"),
];

fn cases() -> Vec<Case> {
    vec![
        Case {
            folder: "Node Shop",
            project: &[
                ("package.json", "{\"name\": \"shop\", \"main\": \"server.js\"}"),
                ("server.js", "require('http')"),
                ("public/index.html", "<h1>hi</h1>"),
            ],
            kind: Kind::Node,
            command: &["node", "server.js"],
            classes: &[
                ("public/index.html", "static-sync", "3"),
                ("public/app.js", "static-sync", "3"),
                ("server.js", "process-restart", "3"),
                ("lib/util.mjs", "process-restart", "3"),
                ("config/default.json", "process-restart", "3"),
                ("views/home.ejs", "process-restart", "3"),
                ("package.json", "redeploy", "4"),
                ("package-lock.json", "redeploy", "4"),
                ("node_modules/express/index.js", "ignored", "2"),
                ("charts/node-shop/values.yaml", "redeploy", "1"),
            ],
        },
        Case {
            folder: "py_api",
            project: &[("requirements.txt", "flask\n"), ("main.py", "print(1)\n"), ("static/site.css", "a{}")],
            kind: Kind::Python,
            command: &["python3", "main.py"],
            classes: &[
                ("static/site.css", "static-sync", "3"),
                ("main.py", "process-restart", "3"),
                ("pkg/models.py", "process-restart", "3"),
                ("templates/index.html", "process-restart", "3"),
                ("requirements.txt", "redeploy", "4"),
                ("__pycache__/main.cpython-312.pyc", "ignored", "2"),
                ("charts/py-api/templates/deployment.yaml", "redeploy", "1"),
            ],
        },
        Case {
            folder: "pyproj",
            project: &[("pyproject.toml", "[project]\nname = \"p\"\n"), ("app.py", "")],
            kind: Kind::Python,
            command: &["python3", "app.py"],
            classes: &[("pyproject.toml", "redeploy", "4"), ("app.py", "process-restart", "3")],
        },
        Case {
            folder: "gosvc",
            project: &[("go.mod", "module example.com/gosvc\n\ngo 1.22\n"), ("main.go", "package main\n")],
            kind: Kind::Go,
            command: &["/src/app"],
            classes: &[
                ("static/index.html", "static-sync", "3"),
                ("main.go", "process-restart", "3"),
                ("internal/db/db.go", "process-restart", "3"),
                ("go.mod", "redeploy", "4"),
                ("go.sum", "redeploy", "4"),
            ],
        },
        Case {
            folder: "WebApp",
            project: &[
                ("WebApp.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"></Project>"),
                ("Program.cs", ""),
                ("ClientApp/package.json", "{}"),
                ("package.json", "{}"),
            ],
            kind: Kind::Dotnet,
            command: &["dotnet", "run", "--no-restore", "--no-build", "--no-launch-profile", "-c", "Debug"],
            classes: &[
                ("wwwroot/css/site.css", "static-sync", "3"),
                ("Pages/Index.cshtml", "static-sync", "3"),
                ("Views/Home/Index.cshtml", "static-sync", "3"),
                ("Program.cs", "process-restart", "3"),
                ("Pages/Index.cshtml.cs", "process-restart", "3"),
                ("appsettings.Development.json", "process-restart", "3"),
                ("WebApp.csproj", "redeploy", "4"),
                ("WebApp.sln", "redeploy", "4"),
                ("bin/Debug/net8.0/WebApp.dll", "ignored", "2"),
                ("obj/project.assets.json", "ignored", "2"),
                ("charts/webapp/Chart.yaml", "redeploy", "1"),
            ],
        },
        Case {
            folder: "orders",
            project: &[("pom.xml", "<project/>"), ("src/main/java/App.java", "class App {}")],
            kind: Kind::Java(stacks::JavaBuild::Maven),
            command: &["/bin/sh", "-c", "exec java -jar $(ls target/*.jar | head -n 1)"],
            classes: &[
                ("src/main/resources/static/index.html", "static-sync", "3"),
                ("src/main/resources/public/app.js", "static-sync", "3"),
                ("src/main/java/com/example/App.java", "process-restart", "3"),
                ("src/main/resources/application.properties", "process-restart", "3"),
                ("pom.xml", "redeploy", "4"),
                ("target/orders-0.1.jar", "ignored", "2"),
            ],
        },
        Case {
            folder: "billing",
            project: &[("build.gradle", ""), ("settings.gradle", "")],
            kind: Kind::Java(stacks::JavaBuild::Gradle),
            command: &["/bin/sh", "-c", "exec java -jar $(ls build/libs/*[!n].jar | head -n 1)"],
            classes: &[
                ("src/main/java/App.java", "process-restart", "3"),
                ("build.gradle", "redeploy", "4"),
                ("settings.gradle", "redeploy", "4"),
                ("build/libs/billing.jar", "ignored", "2"),
            ],
        },
    ]
}

fn write_project(dir: &Path, project: Project) {
    for (path, contents) in project {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
}

#[test]
fn each_stack_loads_clean_and_classifies_as_intended() {
    let tmp = tempfile::tempdir().unwrap();
    for case in cases() {
        let dir = tmp.path().join(case.folder);
        write_project(&dir, case.project);
        let plan = plan(&dir, Options { enable_ingress: case.kind == Kind::Node, force: false }).unwrap();
        assert_eq!(plan.stack.kind, case.kind, "{}", case.folder);
        let wrote = write(&dir, &plan, false).unwrap();
        assert!(wrote.iter().all(|o| matches!(o, Outcome::Wrote(_))), "{}: {wrote:?}", case.folder);
        let env = EnvSource { process: Default::default(), dotenv: Default::default() };
        let config = config::load_with_env(&dir, &env).unwrap_or_else(|e| panic!("{}: {e}", case.folder));
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert!(warnings.is_empty(), "{}: {warnings:?}\n{}", case.folder, plan.files[plan.files.len() - 2].contents);
        assert_eq!(config.develop.container.command, case.command, "{}", case.folder);
        let rules = Rules::new(&config, &IgnoreFiles::read(&config)).unwrap();
        assert!(rules.warnings().is_empty(), "{}: {:?}", case.folder, rules.warnings());
        for (path, class, rule) in COMMON.iter().chain(case.classes) {
            let d = rules.classify(path);
            assert_eq!(
                (d.class.as_str(), d.rule.split(':').next().unwrap()),
                (*class, *rule),
                "{}: {path} ({})",
                case.folder,
                d.rule
            );
        }
    }
}

#[test]
fn names_and_detection() {
    let names =
        [("Node Shop", "node-shop"), ("py_api", "py-api"), ("WebApp", "webapp"), ("--", "app"), ("a..b", "a-b")];
    for (folder, want) in names {
        assert_eq!(service_name(Path::new(folder)), want, "{folder}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let err = plan(tmp.path(), Options::default()).unwrap_err().to_string();
    assert!(err.contains("no project file found") && err.contains("package.json"), "{err}");
    // A guessed entry point is pointed out.
    std::fs::write(tmp.path().join("package.json"), "{}").unwrap();
    let p = plan(tmp.path(), Options::default()).unwrap();
    assert_eq!(p.stack.entry.as_deref(), Some("server.js"));
    assert!(p.notes[0].contains("no entry point found"), "{:?}", p.notes);
}

#[test]
fn never_overwrites_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("web");
    write_project(&dir, &[("package.json", "{}"), ("index.js", ""), (".dockerignore", "mine\n")]);
    std::fs::write(dir.join("Dockerfile"), "FROM mine\n").unwrap();
    let p = plan(&dir, Options::default()).unwrap();
    let err = write(&dir, &p, false).unwrap_err().to_string();
    assert!(err.contains("Dockerfile already exists") && err.contains("--force"), "{err}");
    assert!(!dir.join("azds.yaml").exists(), "nothing is written when one file exists");
    let out = write(&dir, &p, true).unwrap();
    assert!(out.contains(&Outcome::Overwrote("Dockerfile".into())), "{out:?}");
    assert!(out.contains(&Outcome::Wrote("azds.yaml".into())), "{out:?}");
    assert!(out.contains(&Outcome::Kept(".dockerignore".into())), "{out:?}");
    assert_eq!(std::fs::read_to_string(dir.join(".dockerignore")).unwrap(), "mine\n", "the project's own is kept");
}

#[test]
fn chart_labels_are_defined_once_in_helpers() {
    let files = chart::files("shop", 3000, true);
    let text = |name: &str| &files.iter().find(|(p, _)| p == name).unwrap_or_else(|| panic!("{name} written")).1;
    let helpers = text("templates/_helpers.tpl");
    for define in ["shop.selectorLabels", "shop.labels", "shop.metadata"] {
        assert!(helpers.contains(&format!("define \"{define}\"")), "{define}: {helpers}");
    }
    for t in ["templates/deployment.yaml", "templates/service.yaml", "templates/ingress.yaml"] {
        assert!(text(t).contains("include \"shop.metadata\" . | nindent 2"), "{t}");
        assert!(!text(t).contains("app.kubernetes.io/"), "{t} takes its labels from _helpers.tpl");
    }
}

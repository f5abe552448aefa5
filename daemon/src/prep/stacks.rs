//! The five stacks `prep` knows: how each is detected, built, run and classified.
//!
//! The generated `azds.yaml` gives static-sync to folders served as they are (`public/`,
//! `static/`, `wwwroot/`), process-restart to sources, and leaves the project file (package.json,
//! requirements.txt, *.csproj, go.mod, pom.xml) unmatched so that rule 4 redeploys it. The develop
//! command starts with tools on the developer's machine, since the local backend runs it there.

use std::path::Path;

/// A detected stack with what the project tells about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub kind: Kind,
    /// The file that identified the stack (`package.json`, `web.csproj`, ...).
    pub project_file: String,
    /// The program to start, relative to the service (`server.js`, `app.py`); `None` where the
    /// build names it (.NET, Go, Java).
    pub entry: Option<String>,
    /// Whether the entry was found, or guessed (then `prep` says so).
    pub entry_found: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node,
    Python,
    Dotnet,
    Go,
    Java(JavaBuild),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JavaBuild {
    Maven,
    Gradle,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Node => "Node.js",
            Kind::Python => "Python",
            Kind::Dotnet => ".NET",
            Kind::Go => "Go",
            Kind::Java(JavaBuild::Maven) => "Java (Maven)",
            Kind::Java(JavaBuild::Gradle) => "Java (Gradle)",
        }
    }

    /// The port the app listens on in the image (`PORT` says it; the local backend picks its own).
    pub fn port(self) -> u16 {
        match self {
            Kind::Node => 3000,
            _ => 8080,
        }
    }
}

/// The project files that identify a stack, in the order they are looked for.
pub const PROJECT_FILES: &str =
    "*.csproj, pom.xml, build.gradle(.kts), go.mod, requirements.txt, pyproject.toml, package.json";

/// Finds the stack of the project in `dir` from its project file. A .NET or Java project that
/// also has a package.json (a front end) is .NET or Java.
pub fn detect(dir: &Path) -> Option<Stack> {
    let has = |f: &str| dir.join(f).is_file();
    let first = |names: &[&str]| names.iter().find(|n| has(n)).map(|n| n.to_string());
    let stack = |kind, project_file: String, entry: Option<(String, bool)>| Stack {
        kind,
        project_file,
        entry_found: entry.as_ref().is_none_or(|(_, found)| *found),
        entry: entry.map(|(e, _)| e),
    };
    let mut csproj: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csproj") && dir.join(n).is_file())
        .collect();
    csproj.sort();
    if let Some(p) = csproj.into_iter().next() {
        return Some(stack(Kind::Dotnet, p, None));
    }
    if has("pom.xml") {
        return Some(stack(Kind::Java(JavaBuild::Maven), "pom.xml".into(), None));
    }
    if let Some(p) = first(&["build.gradle", "build.gradle.kts"]) {
        return Some(stack(Kind::Java(JavaBuild::Gradle), p, None));
    }
    if has("go.mod") {
        return Some(stack(Kind::Go, "go.mod".into(), None));
    }
    if let Some(p) = first(&["requirements.txt", "pyproject.toml"]) {
        let entry = entry(dir, &["app.py", "main.py", "server.py", "wsgi.py"]);
        return Some(stack(Kind::Python, p, Some(entry)));
    }
    if has("package.json") {
        let main = std::fs::read_to_string(dir.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("main").and_then(|m| m.as_str()).map(|m| m.trim_start_matches("./").to_string()))
            .filter(|m| dir.join(m).is_file());
        let entry = match main {
            Some(m) => (m, true),
            None => entry(dir, &["server.js", "index.js", "app.js", "main.js"]),
        };
        return Some(stack(Kind::Node, "package.json".into(), Some(entry)));
    }
    None
}

/// The first candidate that exists, else the first one, guessed.
fn entry(dir: &Path, candidates: &[&str]) -> (String, bool) {
    match candidates.iter().find(|c| dir.join(c).is_file()) {
        Some(c) => (c.to_string(), true),
        None => (candidates[0].to_string(), false),
    }
}

/// What the generated files say for one stack and service.
pub struct Settings {
    pub dockerfile: String,
    pub dockerfile_develop: String,
    /// Extra `.dockerignore` lines (build output, installed packages).
    pub dockerignore: &'static [&'static str],
    pub build_args: Vec<(&'static str, &'static str)>,
    pub sync: Vec<String>,
    pub statics: Vec<String>,
    pub command: Vec<String>,
    pub processes_to_kill: Vec<String>,
    pub build_commands: Vec<Vec<String>>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Folders whose files are served as they are: copied in, nothing restarts.
const STATIC_FOLDERS: &[&str] = &["public/**", "static/**", "wwwroot/**"];

const DEVELOP_HEADER: &str =
    "the development image (configurations.develop.build); devspaces runs its agent in place of CMD.";

pub fn settings(stack: &Stack, name: &str) -> Settings {
    let port = stack.kind.port();
    let entry = stack.entry.clone().unwrap_or_default();
    match stack.kind {
        Kind::Node => {
            let image = |what: &str, env: &str, install: &str| {
                format!(
                    "# {name}: {what}\nFROM node:20-slim\nWORKDIR /app\nCOPY package*.json ./\nRUN {install}\nCOPY . .\nENV NODE_ENV={env}\nENV PORT={port}\nEXPOSE {port}\nCMD [\"node\", \"{entry}\"]\n"
                )
            };
            Settings {
                dockerfile: image("the production image.", "production", "npm install --omit=dev"),
                dockerfile_develop: image(DEVELOP_HEADER, "development", "npm install"),
                dockerignore: &["node_modules/", "npm-debug.log*"],
                build_args: Vec::new(),
                sync: strings(&[
                    "**/*.{js,mjs,cjs,json}",
                    "public/**",
                    "static/**",
                    "views/**",
                    "!**/package.json",
                    "!**/package-lock.json",
                    "!**/node_modules/**",
                ]),
                statics: strings(STATIC_FOLDERS),
                command: vec!["node".into(), entry.clone()],
                processes_to_kill: strings(&["node"]),
                build_commands: vec![vec!["node".into(), "--check".into(), entry]],
            }
        }
        Kind::Python => {
            let install = if stack.project_file == "requirements.txt" {
                "COPY requirements.txt ./\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . ."
            } else {
                "COPY . .\nRUN pip install --no-cache-dir ."
            };
            let image = |what: &str| {
                format!(
                    "# {name}: {what}\nFROM python:3.12-slim\nWORKDIR /app\n{install}\nENV PYTHONUNBUFFERED=1\nENV PORT={port}\nEXPOSE {port}\nCMD [\"python3\", \"{entry}\"]\n"
                )
            };
            Settings {
                dockerfile: image("the production image."),
                dockerfile_develop: image(DEVELOP_HEADER),
                dockerignore: &["__pycache__/", "*.pyc", ".venv/", "venv/"],
                build_args: Vec::new(),
                sync: strings(&["**/*.py", "public/**", "static/**", "templates/**", "!**/__pycache__/**"]),
                statics: strings(STATIC_FOLDERS),
                command: vec!["python3".into(), entry.clone()],
                processes_to_kill: strings(&["python3", "python"]),
                build_commands: vec![vec!["python3".into(), "-m".into(), "py_compile".into(), entry]],
            }
        }
        Kind::Go => Settings {
            dockerfile: format!(
                "# {name}: the production image.\nFROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /out/app .\n\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /out/app /app\nENV PORT={port}\nEXPOSE {port}\nCMD [\"/app\"]\n"
            ),
            dockerfile_develop: format!(
                "# {name}: {DEVELOP_HEADER}\nFROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build -o app .\nENV PORT={port}\nEXPOSE {port}\nCMD [\"/src/app\"]\n"
            ),
            dockerignore: &["/app"],
            build_args: Vec::new(),
            sync: strings(&["**/*.go", "public/**", "static/**", "templates/**"]),
            statics: strings(STATIC_FOLDERS),
            command: strings(&["/src/app"]),
            processes_to_kill: strings(&["app"]),
            build_commands: vec![strings(&["go", "build", "-o", "app", "."])],
        },
        Kind::Dotnet => {
            let project = stack.project_file.clone();
            let assembly = project.trim_end_matches(".csproj").to_string();
            Settings {
                dockerfile: format!(
                    "# {name}: the production image.\nFROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\nWORKDIR /src\nCOPY [\"{project}\", \"./\"]\nRUN dotnet restore \"{project}\"\nCOPY . .\nRUN dotnet publish \"{project}\" -c Release -o /app\n\nFROM mcr.microsoft.com/dotnet/aspnet:8.0\nWORKDIR /app\nCOPY --from=build /app .\nENV ASPNETCORE_URLS=http://+:{port}\nEXPOSE {port}\nENTRYPOINT [\"dotnet\", \"{assembly}.dll\"]\n"
                ),
                dockerfile_develop: format!(
                    "# {name}: {DEVELOP_HEADER}\nFROM mcr.microsoft.com/dotnet/sdk:8.0\nARG BUILD_CONFIGURATION=Debug\nENV ASPNETCORE_ENVIRONMENT=Development\nENV DOTNET_USE_POLLING_FILE_WATCHER=true\nENV ASPNETCORE_URLS=http://+:{port}\nEXPOSE {port}\nWORKDIR /src\nCOPY [\"{project}\", \"./\"]\nRUN dotnet restore \"{project}\"\nCOPY . .\nRUN dotnet build --no-restore -c $BUILD_CONFIGURATION\nCMD [\"dotnet\", \"run\", \"--no-restore\", \"--no-build\", \"--no-launch-profile\", \"-c\", \"Debug\"]\n"
                ),
                dockerignore: &["bin/", "obj/", ".vs/", "*.user"],
                build_args: vec![("BUILD_CONFIGURATION", "${BUILD_CONFIGURATION:-Debug}")],
                sync: strings(&[
                    "**/*.cs",
                    "**/*.cshtml",
                    "**/*.razor",
                    "**/appsettings*.json",
                    "**/wwwroot/**",
                    "!**/*.{sln,csproj}",
                    "!**/{bin,obj}/**",
                ]),
                statics: strings(&["**/wwwroot/**", "**/*.cshtml"]),
                command: strings(&[
                    "dotnet",
                    "run",
                    "--no-restore",
                    "--no-build",
                    "--no-launch-profile",
                    "-c",
                    "${BUILD_CONFIGURATION:-Debug}",
                ]),
                processes_to_kill: vec!["dotnet".into(), "vsdbg".into(), assembly],
                build_commands: vec![strings(&["dotnet", "build", "--no-restore", "-c", "${BUILD_CONFIGURATION:-Debug}"])],
            }
        }
        Kind::Java(build) => {
            let (tool_image, copy_build, package, jar) = match build {
                JavaBuild::Maven => (
                    "maven:3.9-eclipse-temurin-17",
                    "COPY pom.xml ./\nRUN mvn -q dependency:go-offline\nCOPY . .",
                    "mvn -q package -DskipTests",
                    "target/*.jar",
                ),
                JavaBuild::Gradle => {
                    ("gradle:8-jdk17", "COPY . .", "gradle --no-daemon -q build -x test", "build/libs/*[!n].jar")
                }
            };
            let package_cmd: Vec<String> = package.split(' ').map(String::from).collect();
            let run = format!("exec java -jar $(ls {jar} | head -n 1)");
            Settings {
                dockerfile: format!(
                    "# {name}: the production image.\nFROM {tool_image} AS build\nWORKDIR /src\n{copy_build}\nRUN {package}\nRUN cp $(ls {jar} | head -n 1) /app.jar\n\nFROM eclipse-temurin:17-jre\nCOPY --from=build /app.jar /app/app.jar\nENV PORT={port}\nEXPOSE {port}\nCMD [\"java\", \"-jar\", \"/app/app.jar\"]\n"
                ),
                dockerfile_develop: format!(
                    "# {name}: {DEVELOP_HEADER}\nFROM {tool_image}\nWORKDIR /src\n{copy_build}\nRUN {package}\n# Spring serves static files from the synced folder, so a static edit needs no rebuild.\nENV SPRING_WEB_RESOURCES_STATICLOCATIONS=file:src/main/resources/static/,file:src/main/resources/public/,classpath:/static/\nENV PORT={port}\nEXPOSE {port}\nCMD [\"/bin/sh\", \"-c\", \"{run}\"]\n"
                ),
                dockerignore: &["target/", "build/", ".gradle/", "*.class"],
                build_args: Vec::new(),
                sync: strings(&["src/**"]),
                statics: strings(&["src/main/resources/static/**", "src/main/resources/public/**"]),
                command: vec!["/bin/sh".into(), "-c".into(), run],
                processes_to_kill: strings(&["java"]),
                build_commands: vec![package_cmd],
            }
        }
    }
}

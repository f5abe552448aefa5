//! Command-line parsing and the subcommands; `anyhow` lives only at this edge.

mod client;
mod output;
#[cfg(feature = "kubernetes")]
mod post_render;
#[cfg(feature = "kubernetes")]
mod space;
mod up;
mod up_many;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use devspacesd::backend::{BackendChoice, ConnectOptions};
use devspacesd::classify::{IgnoreFiles, Rules};
use devspacesd::config;
use devspacesd::server::to_proto;
use devspacesd::session::record;

#[derive(Parser)]
#[command(name = "devspacesd", version, about = "The devspaces daemon: Dev Spaces' `azds up`, locally first")]
#[command(args_conflicts_with_subcommands = true, subcommand_required = false)]
struct Cli {
    /// Speak the editor protocol (LSP-framed JSON-RPC) on standard input and output, through the
    /// shared daemon (started if absent).
    #[arg(long)]
    stdio: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a service (the folder holding azds.yaml), or every service below a folder, and keep
    /// them in sync with your edits.
    Up {
        /// Service folders, or folders with services below them (default: the current folder).
        /// Several services run in one space, each with a stable local port, and every app gets
        /// `<NAME>_SERVICE_HOST`/`<NAME>_SERVICE_PORT` of the others.
        paths: Vec<PathBuf>,
        /// The space to run in (`name` or `parent/child`; default: `default`, or on Kubernetes the
        /// space `space select` chose).
        #[arg(long)]
        space: Option<String>,
        /// Where to run it. Default: `local` when the develop Dockerfile has no RUN step; with
        /// some, `container` when a container engine answers (DOCKER_HOST, Docker's or Podman's
        /// socket), else `local` with a warning naming the steps that will not run.
        #[arg(long, value_parser = ["local", "kubernetes", "container"])]
        backend: Option<String>,
        /// Kubernetes: the kubeconfig file (default: KUBECONFIG, else ~/.kube/config). Given
        /// with --context, the session runs in this process rather than in the daemon.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Kubernetes: the kubeconfig context (default: its current-context).
        #[arg(long)]
        context: Option<String>,
        /// Print one JSON event per line instead of text.
        #[arg(long)]
        json: bool,
        /// Run the app under its stack's debug server (debugpy, node --inspect, Delve, netcoredbg,
        /// JDWP) and print where a debugger attaches (configurations.develop.container.debug in
        /// azds.yaml says how when the command does not).
        #[arg(long)]
        debug: bool,
        /// Quiet time in milliseconds that closes a batch of file events (a batch whose files were
        /// all closed after writing, as an in-place save does, closes 0.2 ms after the close).
        #[arg(long, default_value_t = devspacesd::session::DEFAULT_QUIET.as_millis() as u64)]
        quiet_ms: u64,
    },
    /// The shared daemon: serves editors and `up` on a Unix socket in the state dir (started by
    /// `--stdio` and `up` when absent; exits after 10 idle minutes).
    Daemon,
    /// Stop a service started with `up`, or every service below a folder.
    Down {
        path: Option<PathBuf>,
        /// The space it runs in (default: the only session of the service, else `default`).
        #[arg(long)]
        space: Option<String>,
    },
    /// List services that are up and their phase.
    ListUp {
        #[arg(long)]
        json: bool,
    },
    /// List the URLs of services that are up.
    ListUris {
        #[arg(long)]
        json: bool,
    },
    /// Print the change class of each path and the rule that decided it.
    Classify {
        /// The service folder (default: the current folder).
        #[arg(long)]
        service: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Write a Dockerfile, Dockerfile.develop, Helm chart and azds.yaml for the project in PATH
    /// (Node.js, Python, .NET, Go or Java), as `azds prep` did.
    Prep {
        /// The project folder (default: the current folder).
        path: Option<PathBuf>,
        /// Add an Ingress to the chart and a public host name to azds.yaml.
        #[arg(long)]
        enable_ingress: bool,
        /// Overwrite generated files that exist (never the project's own .dockerignore).
        #[arg(long)]
        force: bool,
    },
    /// The in-container agent (started by devspaces, not by hand); the same as `devspaces-agent`.
    Agent(devspaces_agent::AgentArgs),
    /// Spaces on Kubernetes: list, select (creating) and remove labelled namespaces.
    #[cfg(feature = "kubernetes")]
    Space(space::SpaceArgs),
    /// Helm's post-renderer: makes the agent the command of the container running the built image.
    #[cfg(feature = "kubernetes")]
    PostRender(post_render::PostRenderArgs),
    /// Spaces on Kubernetes (not in this build: it has no kubernetes feature).
    #[cfg(not(feature = "kubernetes"))]
    Space(BuiltWithout),
    /// Helm's post-renderer (not in this build: it has no kubernetes feature).
    #[cfg(not(feature = "kubernetes"))]
    PostRender(BuiltWithout),
}

/// The arguments of a Kubernetes subcommand in a build without the kubernetes feature: any, all refused.
#[cfg(not(feature = "kubernetes"))]
#[derive(clap::Args)]
struct BuiltWithout {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Cmd::Daemon | Cmd::Up { .. })) {
        // Forwards hold two descriptors per connection; the usual soft limit (1024) is soon spent.
        if let Err(e) = devspacesd::forward::limits::raise_nofile_limit() {
            eprintln!("devspacesd: cannot raise the open-files limit: {e}");
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.stdio {
        let code = rt.block_on(devspacesd::server::bridge::run(&record::state_dir()));
        // Standard input may still be blocked in a read; do not wait for it.
        std::process::exit(code);
    }
    let Some(command) = cli.command else {
        eprintln!("error: a command is required (or --stdio); see devspacesd --help");
        return ExitCode::from(2);
    };
    let result = rt.block_on(run(command));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn service_dir(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let p = path.unwrap_or_else(|| PathBuf::from("."));
    let p =
        std::fs::canonicalize(&p).map_err(|e| anyhow::anyhow!("cannot open service folder {}: {e}", p.display()))?;
    Ok(p)
}

async fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Daemon => {
            let ended = devspacesd::server::run(devspacesd::server::DaemonOptions::from_env()).await?;
            let _ = ended;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Up { paths, space, backend, kubeconfig, context, json, debug, quiet_ms } => {
            let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths };
            let mut dirs = config::workspace::find_services(&paths).map_err(|e| anyhow::anyhow!("{e}"))?;
            if dirs.len() > 1 {
                if kubeconfig.is_some() || context.is_some() {
                    anyhow::bail!("--kubeconfig and --context apply to one service (several run through the daemon)");
                }
                return up_many::run(dirs, space, backend, json, debug).await;
            }
            let dir = dirs.remove(0);
            let env = config::process_vars();
            let docker_host = env.get("DOCKER_HOST").cloned();
            if backend.as_deref() != Some("kubernetes") && (kubeconfig.is_some() || context.is_some()) {
                anyhow::bail!("--kubeconfig and --context apply to --backend kubernetes");
            }
            let choice = match backend.as_deref() {
                Some("kubernetes") => BackendChoice::Kubernetes(ConnectOptions { kubeconfig, context }),
                Some("container") => BackendChoice::Container(docker_host),
                Some(_) => BackendChoice::Local,
                None => {
                    let auto = devspacesd::backend::choose(&dir, &env).await;
                    if let Some(w) = &auto.warning {
                        eprintln!("warning: {w}");
                    }
                    auto.choice
                }
            };
            up::run(dir, space, choice, json, debug, std::time::Duration::from_millis(quiet_ms)).await
        }
        Cmd::Down { path, space } => {
            let dir = service_dir(path)?;
            if dir.join(config::FILE_NAME).is_file() {
                return down(dir, space.as_deref()).await;
            }
            // A folder of services: each that is up.
            let dirs = config::workspace::find_services(&[dir]).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut code = ExitCode::FAILURE;
            for d in dirs {
                if down(d, space.as_deref()).await? == ExitCode::SUCCESS {
                    code = ExitCode::SUCCESS;
                }
            }
            Ok(code)
        }
        Cmd::ListUp { json } => {
            for r in record::live(&record::state_dir()) {
                // The variables azds.yaml names whose value in this shell is not the session's.
                let differs = record::env_differs(&r.session, &r.env, |n| std::env::var(n).ok());
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"service": r.service, "session": r.session, "space": r.space, "backend": r.backend, "phase": r.phase, "detail": r.detail, "path": r.service_dir, "envDiffers": differs})
                    );
                } else {
                    let note = if differs.is_empty() {
                        String::new()
                    } else {
                        format!("  (env differs: {})", differs.join(", "))
                    };
                    println!("{:<20} {:<12} {:<10} {:<10} {}{note}", r.service, r.space, r.backend, r.phase, r.detail);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ListUris { json } => {
            for r in record::live(&record::state_dir()) {
                for f in &r.forwards {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"service": r.service, "session": r.session, "url": f.url, "remotePort": f.remote_port})
                        );
                    } else {
                        println!("{:<20} {}  (remote port {})", r.service, f.url, f.remote_port);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Classify { service, json, paths } => classify(service_dir(service)?, json, &paths),
        Cmd::Prep { path, enable_ingress, force } => prep(service_dir(path)?, enable_ingress, force),
        Cmd::Agent(args) => {
            devspaces_agent::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "kubernetes")]
        Cmd::Space(args) => space::run(args).await,
        #[cfg(feature = "kubernetes")]
        Cmd::PostRender(args) => post_render::run(args),
        #[cfg(not(feature = "kubernetes"))]
        Cmd::Space(_) | Cmd::PostRender(_) => {
            anyhow::bail!(
                "{}",
                devspacesd::backend::StartFailure::NotBuilt(devspacesd::backend::BackendKind::Kubernetes)
            )
        }
    }
}

fn classify(dir: PathBuf, json: bool, paths: &[String]) -> anyhow::Result<ExitCode> {
    let config = config::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &config.warnings {
        eprintln!("{w}");
    }
    let rules = Rules::new(&config, &IgnoreFiles::read(&config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in rules.warnings() {
        eprintln!("{w}");
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    for p in paths {
        // Paths may be given relative to the current folder or absolute; output is relative to the service.
        let abs = if PathBuf::from(p).is_absolute() { PathBuf::from(p) } else { cwd.join(p) };
        let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
        let rel = match abs.strip_prefix(&config.service_dir) {
            Ok(r) => r.to_string_lossy().replace('\\', "/"),
            Err(_) => p.trim_start_matches("./").to_string(),
        };
        let d = rules.classify(&rel);
        if json {
            let wire =
                devspaces_protocol::editor::Classification { path: rel, class: to_proto::class(d.class), rule: d.rule };
            println!("{}", serde_json::to_string(&wire)?);
        } else if std::io::stdout().is_terminal() {
            println!("{rel}\t\x1b[1m{}\x1b[0m\t{}", d.class, d.rule);
        } else {
            println!("{rel}\t{}\t{}", d.class, d.rule);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn prep(dir: PathBuf, enable_ingress: bool, force: bool) -> anyhow::Result<ExitCode> {
    use devspacesd::prep::{self, Outcome};
    let plan = prep::plan(&dir, prep::Options { enable_ingress, force })?;
    let outcomes = prep::write(&dir, &plan, force)?;
    println!(
        "{}: {} project ({}), service '{}'",
        dir.display(),
        plan.stack.kind.label(),
        plan.stack.project_file,
        plan.name
    );
    for o in &outcomes {
        match o {
            Outcome::Wrote(p) => println!("wrote {p}"),
            Outcome::Overwrote(p) => println!("overwrote {p}"),
            Outcome::Kept(p) => println!("kept {p} (the project's own)"),
        }
    }
    for n in &plan.notes {
        println!("note: {n}");
    }
    println!("next: devspacesd up {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

async fn down(dir: PathBuf, space: Option<&str>) -> anyhow::Result<ExitCode> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(mut c) = client::Client::open(&record::state_dir(), false, "devspacesd down").await? {
        let params = match space {
            Some(space) => serde_json::json!({"path": dir.display().to_string(), "space": space}),
            None => serde_json::json!({"path": dir.display().to_string()}),
        };
        let answer = c.call(devspaces_protocol::editor::DOWN, params, |_, _| {}).await?;
        c.close().await;
        match answer {
            Ok(_) => {
                println!("service '{name}' stopped");
                return Ok(ExitCode::SUCCESS);
            }
            Err(e)
                if e.get("code").and_then(serde_json::Value::as_i64)
                    == Some(devspaces_protocol::editor::codes::UNKNOWN_SESSION) => {}
            Err(e) => anyhow::bail!(
                "{}",
                e.get("message").and_then(serde_json::Value::as_str).unwrap_or("the daemon refused down")
            ),
        }
    }
    // A session run in-process by `up` (no daemon): signal its owner, never the daemon itself.
    let state = record::state_dir();
    let space = match space {
        Some(s) => s.to_string(),
        None => record::live(&state)
            .into_iter()
            .find(|r| r.service_dir == dir.display().to_string())
            .map(|r| r.space)
            .unwrap_or_else(|| "default".into()),
    };
    let space = space.as_str();
    let home = record::service_home(&state, space, &name);
    let Some(r) =
        record::read(&home).filter(|r| r.phase != "stopped" && record::pid_is(r.owner_pid, &["devspacesd up"]))
    else {
        eprintln!("service '{name}' is not up in space '{space}'");
        return Ok(ExitCode::FAILURE);
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.owner_pid as i32), nix::sys::signal::Signal::SIGTERM)?;
    for _ in 0..600 {
        if !record::pid_is(r.owner_pid, &["devspacesd up"]) {
            println!("service '{name}' stopped");
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("service '{name}' (pid {}) did not stop within 30 s", r.owner_pid)
}

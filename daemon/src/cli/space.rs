//! `devspacesd space list|select|remove`: spaces as labelled namespaces, the selection per kube context.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use devspacesd::backend::kubernetes::space::{self, SpaceName};
use devspacesd::backend::kubernetes::Cluster;
use devspacesd::backend::ConnectOptions;
use devspacesd::config::placeholders::Placeholders;
use devspacesd::session::record;

#[derive(Args)]
pub struct SpaceArgs {
    /// The kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current-context).
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(subcommand)]
    cmd: SpaceCmd,
}

#[derive(Subcommand)]
enum SpaceCmd {
    /// List the spaces (namespaces labelled azds.io/space=true) and the services each runs; `*`
    /// marks the selected one.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Select a space (`name` or `parent/child`), creating its namespace(s) when missing.
    Select { space: String },
    /// Remove a space and everything in it (its namespace).
    Remove {
        space: String,
        /// Also remove its child spaces.
        #[arg(long)]
        recursive: bool,
    },
}

pub async fn run(args: SpaceArgs) -> anyhow::Result<ExitCode> {
    // Validate names before touching the network, so a typo never waits on a dead cluster.
    let name = match &args.cmd {
        SpaceCmd::Select { space } | SpaceCmd::Remove { space, .. } => Some(SpaceName::parse(space)?),
        SpaceCmd::List { .. } => None,
    };
    let cluster = Cluster::connect(&ConnectOptions { kubeconfig: args.kubeconfig, context: args.context }).await?;
    let state = record::state_dir();
    let selected = space::read_selection(&state, &cluster.context);
    match (args.cmd, name) {
        (SpaceCmd::List { json }, _) => {
            let entries = space::list(&cluster).await?;
            let running = space::running(&cluster).await?;
            if json {
                for e in &entries {
                    let is_selected = selected.as_ref().is_some_and(|s| s.name == e.space.name);
                    let services = running.get(e.space.namespace()).cloned().unwrap_or_default();
                    println!(
                        "{}",
                        serde_json::json!({"space": e.space.path(), "namespace": e.space.namespace(), "parent": e.space.parent, "selected": is_selected, "terminating": e.terminating, "services": services})
                    );
                }
            } else if entries.is_empty() {
                eprintln!(
                    "no spaces in context '{}' (create one with `devspacesd space select NAME`)",
                    cluster.context
                );
            } else {
                for line in space::render_list(&entries, selected.as_ref(), &running) {
                    println!("{line}");
                }
            }
        }
        (SpaceCmd::Select { .. }, Some(name)) => {
            let changed = space::select(&cluster, &name).await?;
            space::write_selection(&state, &cluster.context, &name)?;
            println!(
                "selected space '{}' (namespace {}) in context '{}'",
                name.path(),
                name.namespace(),
                cluster.context
            );
            if !changed.is_empty() {
                println!("created or labelled namespaces: {}", changed.join(", "));
            }
            let p = Placeholders::for_space(&name.path(), "", &devspacesd::backend::kubernetes::host_suffix());
            println!("ingress hosts render as {}", p.render("$(spacePrefix)$(rootSpacePrefix)<service>$(hostSuffix)"));
        }
        (SpaceCmd::Remove { recursive, .. }, Some(name)) => {
            let removed = space::remove(&cluster, &name, recursive).await?;
            if selected.as_ref().is_some_and(|s| removed.contains(&s.name)) {
                space::clear_selection(&state, &cluster.context)?;
            }
            println!("removed space(s): {}", removed.join(", "));
        }
        _ => anyhow::bail!("a space name is required"),
    }
    Ok(ExitCode::SUCCESS)
}

//! `devspacesd post-render`: Helm's post-renderer (stdin to stdout), and the Helm 4 plugin folder that runs it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use devspacesd::backend::kubernetes::post_render::{self, Options, DEFAULT_AGENT_PATH, DEFAULT_AGENT_PORT};
use devspacesd::backend::kubernetes::{helm_plugin, space};

#[derive(Args)]
pub struct PostRenderArgs {
    /// The session ID: labels every object and names the token Secret.
    #[arg(long, required_unless_present = "write_helm_plugin")]
    session: Option<String>,
    /// The built image (`REPO:TAG`); containers running it get the agent.
    #[arg(long, required_unless_present = "write_helm_plugin")]
    image: Option<String>,
    /// Where the agent binary is inside the image.
    #[arg(long, default_value = DEFAULT_AGENT_PATH)]
    agent_path: String,
    /// The agent's port on the pod's loopback.
    #[arg(long, default_value_t = DEFAULT_AGENT_PORT)]
    agent_port: u16,
    /// The image's WORKDIR (default: the container's workingDir, else /): the sync root unless
    /// --sync-target is given.
    #[arg(long)]
    workdir: Option<String>,
    /// azds.yaml's container.syncTarget: the agent's sync root.
    #[arg(long)]
    sync_target: Option<String>,
    /// The image's ENTRYPOINT + CMD as a JSON list, for containers that set neither command nor args.
    #[arg(long)]
    command_json: Option<String>,
    /// The image's ENTRYPOINT alone as a JSON list, for containers that set only args.
    #[arg(long)]
    entrypoint_json: Option<String>,
    /// The Secret holding the session token (key `token`; default devspaces-session-<session>).
    #[arg(long)]
    token_secret: Option<String>,
    /// The space the release is in (`dev`, `dev/alice`): the chart's Services then go through the
    /// agent's routing proxy in the pods, which sends a request for a child space to its instance.
    #[arg(long)]
    space: Option<String>,
    /// The cluster's DNS domain, where the routing proxy looks a child's Service up (the agent's
    /// default: cluster.local).
    #[arg(long)]
    cluster_domain: Option<String>,
    /// Write the Helm 4 plugin folder into DIR (use `HELM_PLUGINS=DIR helm ... --post-renderer
    /// devspaces-post-render --post-renderer-args ...`), print DIR and exit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["session", "image"])]
    write_helm_plugin: Option<PathBuf>,
}

fn json_list(flag: &str, v: Option<String>) -> anyhow::Result<Option<Vec<String>>> {
    v.map(|t| {
        serde_json::from_str::<Vec<String>>(&t).map_err(|e| {
            anyhow::anyhow!("{flag} must be a JSON list of strings such as '[\"python3\", \"app.py\"]', got '{t}': {e}")
        })
    })
    .transpose()
}

pub fn run(args: PostRenderArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.write_helm_plugin {
        let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find the devspacesd executable: {e}"))?;
        let dir = helm_plugin::write(&dir, &exe)?;
        println!("{}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(session), Some(image)) = (args.session, args.image) else {
        anyhow::bail!("post-render needs --session and --image")
    };
    let opts = Options {
        token_secret: args.token_secret.unwrap_or_else(|| space::session_secret_name(&session)),
        session,
        image,
        agent_path: args.agent_path,
        agent_port: args.agent_port,
        workdir: args.workdir,
        sync_target: args.sync_target,
        image_command: json_list("--command-json", args.command_json)?,
        image_entrypoint: json_list("--entrypoint-json", args.entrypoint_json)?,
        space: args.space,
        cluster_domain: args.cluster_domain,
    };
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| anyhow::anyhow!("post-render: reading the manifests from stdin: {e}"))?;
    let rendered = post_render::post_render(&input, &opts)?;
    std::io::stdout().write_all(rendered.text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

//! The in-container agent, the seed's devhostagent: receives files, supervises and restarts the app.
//!
//! Run as `devspaces-agent` (the static binary added to images) or as `devspacesd agent` (the local
//! backend's child process); both parse [`AgentArgs`] and call [`run`].

pub mod fs;
pub mod procs;
pub mod relay;
pub mod route;
mod server;
pub mod supervise;
pub mod tunnel;

use std::net::SocketAddr;
use std::path::PathBuf;

/// The agent's flags, shared by `devspaces-agent` and `devspacesd agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// The sync root (the image's WORKDIR); also the app's working directory.
    #[arg(long)]
    pub root: PathBuf,
    /// Where the agent keeps its sync state.
    #[arg(long, default_value = "/tmp/devspaces-agent")]
    pub state: PathBuf,
    /// The loopback address to listen on (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Exit when standard input closes: the local backend's daemon holds the other end.
    #[arg(long)]
    pub exit_with_stdin: bool,
    /// Allows a `--listen` address that is not loopback: a container's own interface, which the
    /// engine publishes on the host's loopback only (the container backend). The session token
    /// guards it as it guards every connection.
    #[arg(long)]
    pub published: bool,
    /// `PORT:TARGET`: the container's Service port, relayed to the app's (with `--published` only:
    /// the container backend; see `relay`). Repeatable.
    #[arg(long = "relay", value_parser = relay::parse)]
    pub relay: Vec<(u16, u16)>,
    /// `LISTEN:APP:SERVICE:SERVICE_PORT`: a routing proxy in front of the app, which the chart's
    /// Service targets instead of the app (see `route`). Repeatable.
    #[arg(long = "route", value_parser = route::parse)]
    pub route: Vec<route::RouteSpec>,
    /// A loopback address where the daemon's forwards keep warm connections to the pod's ports
    /// (see `tunnel`): a pod's agent, reached by Kubernetes port-forwards.
    #[arg(long)]
    pub tunnel: Option<SocketAddr>,
    /// The space this pod serves (`dev`, `dev/alice`): a root space's routing proxy sends a
    /// request for a child that runs the service to the child's instance.
    #[arg(long, default_value = "")]
    pub space: String,
    /// The cluster's DNS domain (where a child's Service is looked up).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Milliseconds between SIGTERM and SIGKILL when stopping the app.
    #[arg(long, default_value_t = 3000)]
    pub grace_ms: u64,
    /// The app's command, started at once (in a pod the original command goes here); on the
    /// local backend the daemon sends a restart instead.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Runs the agent until SIGTERM, SIGINT, a `Shutdown`, or (with `--exit-with-stdin`) the end of
/// standard input. The session token comes from `DEVSPACES_AGENT_TOKEN`.
pub async fn run(args: AgentArgs) -> std::io::Result<()> {
    use devspaces_protocol::agent::TOKEN_ENV;
    let token = std::env::var(TOKEN_ENV)
        .map_err(|_| std::io::Error::other(format!("the agent needs its session token in {TOKEN_ENV}")))?;
    server::run(args, token).await
}

//! `devspaces-agent`: the agent alone, built static for images by `scripts/build-static-agent.sh`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "devspaces-agent",
    version,
    about = "The devspaces in-container agent (started by devspaces, not by hand)"
)]
struct Cli {
    #[command(flatten)]
    args: devspaces_agent::AgentArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match devspaces_agent::run(Cli::parse().args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

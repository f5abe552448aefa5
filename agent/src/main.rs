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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(devspaces_agent::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

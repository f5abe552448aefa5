//! The `devspacesd` binary: CLI, agent and (soon) the editor server, all in one executable.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

//! The `devspacesd` binary: the CLI, the shared daemon, and `devspacesd agent` (the `devspaces-agent` crate).

mod cli;

fn main() -> std::process::ExitCode {
    devspacesd::sync::tune_allocator();
    cli::main()
}

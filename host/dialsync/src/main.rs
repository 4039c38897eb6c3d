//! The `dialsync` command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dialsync::cli::Cli::parse();
    dialsync::cli::run(cli)
}

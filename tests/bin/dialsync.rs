//! The `dialsync` command, built in this package so the process-level tests can run it
//! (`CARGO_BIN_EXE_*` names only a package's own binaries).

use clap::Parser;

fn main() -> std::process::ExitCode {
    dialsync::cli::run(dialsync::cli::Cli::parse())
}

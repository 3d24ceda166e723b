//! The `mtls-sandbox` binary: parse arguments, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use mtls_sandbox::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let label = if cli::output::colour_stderr() {
                "\x1b[1;31merror:\x1b[0m"
            } else {
                "error:"
            };
            eprintln!("{label} {:#}", failure.error);
            ExitCode::from(failure.code as u8)
        }
    }
}

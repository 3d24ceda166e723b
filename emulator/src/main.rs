//! The `mtls-sandbox` binary: parse arguments, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use mtls_sandbox::cli::{self, Cli};

/// mimalloc rather than glibc malloc: per-thread free lists make the small,
/// short-lived allocations of a request (headers, JSON, TLS records) cheaper:
/// a keep-alive app-token request went from 42.1k to 38.9k instructions
/// (`bench/callgrind.py`), for +0.6 MiB of idle RSS and -1.3 MiB at 1,000
/// open connections (`bench/run.py --only rss`). Built with `no_thp` (the
/// workspace Cargo.toml says why). The binary only: the library's users keep
/// their own allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            cli::output::error_line(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // A detached thread (the key pool's refill) must not start drawing
    // random bytes from aws-lc while the process exits.
    mtls_sandbox::exit_gate::close_for_exit();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let label = if cli::output::colour_stderr() {
                "\x1b[1;31merror:\x1b[0m"
            } else {
                "error:"
            };
            cli::output::error_line(&format!("{label} {:#}", failure.error));
            ExitCode::from(failure.code as u8)
        }
    }
}

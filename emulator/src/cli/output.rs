//! Writing command output: a closed stdout ends the command quietly, and
//! colour only on a terminal without `NO_COLOR`.
//!
//! `println!` panics with "Broken pipe" when the reader went away
//! (`mtls-sandbox env | head`); like ripgrep, we treat that as "nobody wants
//! the rest" and exit 0. `up` keeps serving instead (see [`write_lossy`]).

use std::fmt;
use std::io::{self, IsTerminal, Write};

/// `out!(...)`: `println!` that never panics on a closed stdout.
macro_rules! out {
    () => { $crate::cli::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use out;

/// Writes to stdout; exits 0 at once if the reader closed it.
pub fn write(args: fmt::Arguments) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        crate::exit_gate::close_for_exit();
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        error_line(&format!("error: cannot write to standard output: {e}"));
        std::process::exit(1);
    }
}

/// Writes to stdout and ignores failures: for a server, whose job goes on
/// when nobody reads its summary any more.
pub fn write_lossy(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Writes a line to stderr in one write and ignores failures: `eprintln!`
/// panics when stderr's reader went away (`2>&1 | head -3` before a
/// five-line error ends), and the exit status became 101 instead of the
/// error's own.
pub fn error_line(text: &str) {
    let _ = io::stderr().lock().write_all(format!("{text}\n").as_bytes());
}

/// Whether stdout is a terminal (a person reading), not a file or a pipe.
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Whether to colour what goes to stdout (<https://no-color.org>).
pub fn colour_stdout() -> bool {
    stdout_is_terminal() && no_color_unset()
}

/// Whether to colour what goes to stderr (log lines, `error:`).
pub fn colour_stderr() -> bool {
    io::stderr().is_terminal() && no_color_unset()
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

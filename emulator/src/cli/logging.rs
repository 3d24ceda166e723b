//! How the binary writes its log: one event, one line on stderr.
//!
//! Log lines carry text the sandbox does not control — a client
//! certificate's subject (sent before any authentication), request paths,
//! error details. A newline in such text would start a line of the
//! attacker's choosing that reads like the sandbox's own, so every field
//! value, the message included, is written with its control characters
//! escaped (`\n`, `\r`, `\u{1b}`).

use std::fmt::{self, Write as _};

use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// Installs the global subscriber: level from `MTLS_SANDBOX_LOG` (default
/// `info`), colour on a terminal without `NO_COLOR`.
///
/// A log line that cannot be written is dropped. tracing-subscriber would
/// otherwise report the failure with `eprintln!`, which panics when stderr
/// is the closed pipe that made the write fail: `up 2>&1 | head` stopped
/// the sandbox at its first log line, exit 101.
pub fn init() {
    let filter = EnvFilter::try_from_env("MTLS_SANDBOX_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(fields())
        .with_writer(std::io::stderr)
        .with_ansi(super::output::colour_stderr())
        .log_internal_errors(false)
        .init();
}

/// The field formatter: the default layout (the message bare, then
/// `name=value` separated by spaces) with control characters escaped.
///
/// Values are escaped on their way into the line ([`Escaping`]), not
/// formatted into a `String` first: the INFO line of every request goes
/// through here, five fields each.
pub fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
        if field.name() != "message" {
            write!(writer, "{}=", field.name().trim_start_matches("r#"))?;
        }
        write!(Escaping(writer), "{value:?}")
    })
    .delimited(" ")
}

/// `text` with every control character written as its Rust escape.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    Escaping(&mut out).write_str(text).expect("a String takes any text");
    out
}

/// Writes through to `W` with control characters escaped: runs without
/// one are passed on whole.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| c.is_control()) {
            self.0.write_str(&rest[..at])?;
            for escaped in c.escape_default() {
                self.0.write_char(escaped)?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape_controls("CN=a\nb\r\u{1b}[31m\tc é"),
            "CN=a\\nb\\r\\u{1b}[31m\\tc é"
        );
    }

    /// Every field goes through the escaping formatter, the message (built
    /// with `format!` arguments, so not quoted by `Debug`) included.
    #[test]
    fn an_event_with_a_newline_stays_on_one_line() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields())
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        let subject = "CN=x\nFORGED line";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(listener = %"mtls", subject = %subject, "handshake refused: {subject}");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("handshake refused: CN=x\\nFORGED line listener=mtls subject=CN=x\\nFORGED line"),
            "{text}"
        );
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

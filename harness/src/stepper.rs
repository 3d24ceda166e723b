//! `harness run --step`: before each request the runner shows it in full
//! and waits here for Enter, so a presenter can talk about one exchange
//! at a time on a projector.
//!
//! It reads a line from standard input whatever that is (a terminal or a
//! pipe), so a script or a test can drive it line by line. At end of input
//! (stdin closed or `/dev/null`, as in CI) it stops waiting for good and
//! the run goes on at full speed, still showing every exchange in full:
//! `--step` can never hang a job that has no one at the keyboard.

use std::io::{self, BufRead, Write};

/// Waits for a line before each request, until its input ends.
pub struct Stepper {
    input: Option<Box<dyn BufRead + Send + Sync>>,
}

impl Stepper {
    /// Reads Enter from standard input.
    pub fn stdin() -> Self {
        Self::reading(io::BufReader::new(io::stdin()))
    }

    /// Reads Enter from `input` (a test's script of lines).
    pub fn reading(input: impl BufRead + Send + Sync + 'static) -> Self {
        Self {
            input: Some(Box::new(input)),
        }
    }

    /// Asks for Enter and waits for a line; returns at once when the input
    /// has ended (saying so the first time).
    pub fn pause(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let Some(input) = &mut self.input else {
            return Ok(());
        };
        writeln!(out, "   ⏎ Enter sends it")?;
        // The prompt must be on screen before the wait.
        out.flush()?;
        let mut line = String::new();
        let read = tokio::task::block_in_place(|| input.read_line(&mut line))?;
        if read == 0 {
            self.input = None;
            writeln!(out, "   (standard input is closed: no more pauses)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn each_pause_takes_one_line_and_closed_input_stops_the_pausing() {
        let mut stepper = Stepper::reading(io::Cursor::new("\nnext\n"));
        let mut out = Vec::new();
        for _ in 0..4 {
            stepper.pause(&mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("Enter sends it").count(), 3, "{text}");
        assert_eq!(text.matches("standard input is closed").count(), 1, "{text}");
        assert!(
            text.ends_with("no more pauses)\n"),
            "the fourth pause returned at once: {text}"
        );
    }
}

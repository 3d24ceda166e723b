//! The JUnit XML report (`harness run --junit FILE`), the format CI
//! services read (GitLab's `artifacts:reports:junit`, Jenkins, the GitHub
//! test-report actions): one `<testsuite>` per scenario file, one
//! `<testcase>` per step, a `<failure>` with expected vs got. A file that
//! could not run is one `<testcase>` with an `<error>`.
//!
//! Written with quick-xml's writer, which escapes every attribute and text
//! node; characters XML 1.0 cannot carry at all (control characters in a
//! response body) are replaced first, by [`xml_safe`].

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use time::macros::format_description;

use super::{Counts, FileReport, seconds, totals};
use crate::outcome::{Failure, StepOutcome, StepResult};

type Xml = Writer<Vec<u8>>;

pub fn render(files: &[FileReport]) -> io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let all = counts("harness", totals(files));
    w.create_element("testsuites")
        .with_attributes(attrs(&all))
        .write_inner_content(|w| files.iter().try_for_each(|f| suite(w, f)))?;
    let mut xml = w.into_inner();
    xml.push(b'\n');
    Ok(xml)
}

fn counts(name: &str, c: Counts) -> Vec<(&'static str, String)> {
    vec![
        ("name", xml_safe(name)),
        ("tests", c.tests.to_string()),
        ("failures", c.failures.to_string()),
        ("errors", c.errors.to_string()),
        ("skipped", "0".into()),
        ("time", seconds(c.duration).to_string()),
    ]
}

fn attrs<'a>(list: &'a [(&'static str, String)]) -> impl Iterator<Item = (&'a str, &'a str)> {
    list.iter().map(|(k, v)| (*k, v.as_str()))
}

fn suite(w: &mut Xml, report: &FileReport) -> io::Result<()> {
    let mut list = counts(&report.name, report.counts());
    let timestamp = report
        .started
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap_or_default();
    list.push(("timestamp", timestamp));
    list.push(("file", xml_safe(&report.file.display().to_string())));
    let classname = xml_safe(&report.stem());
    w.create_element("testsuite")
        .with_attributes(attrs(&list))
        .write_inner_content(|w| match &report.run {
            Ok(result) => result
                .steps
                .iter()
                .enumerate()
                .try_for_each(|(i, step)| case(w, &classname, i + 1, step)),
            Err(error) => {
                let name = format!("{}: could not run", report.name);
                w.create_element("testcase")
                    .with_attributes([("name", xml_safe(&name).as_str()), ("classname", &classname)])
                    .write_inner_content(|w| {
                        let first = first_line(error);
                        w.create_element("error")
                            .with_attributes([("message", first.as_str()), ("type", "error")])
                            .write_text_content(BytesText::new(&xml_safe(error)))?;
                        Ok(())
                    })?;
                Ok(())
            }
        })?;
    Ok(())
}

fn case(w: &mut Xml, classname: &str, n: usize, step: &StepResult) -> io::Result<()> {
    let name = xml_safe(&format!("{n}. {}", step.name));
    let time = seconds(step.duration).to_string();
    let element = w.create_element("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", classname),
        ("time", time.as_str()),
    ]);
    let StepOutcome::Failed(failure) = &step.outcome else {
        element.write_empty()?;
        return Ok(());
    };
    element.write_inner_content(|w| {
        let (kind, text) = match failure {
            Failure::Mismatch { expected, got, body } => {
                let mut text = format!("expected: {expected}\ngot: {got}");
                if let Some(body) = body {
                    text.push_str(&format!("\nbody: {body}"));
                }
                ("expectation", text)
            }
            Failure::Error(message) => ("step error", message.clone()),
        };
        let message = first_line(&failure.headline());
        w.create_element("failure")
            .with_attributes([("message", message.as_str()), ("type", kind)])
            .write_text_content(BytesText::new(&xml_safe(&text)))?;
        Ok(())
    })?;
    Ok(())
}

/// An attribute keeps one line: parsers turn a raw newline in an
/// attribute into a space anyway.
fn first_line(text: &str) -> String {
    xml_safe(text.lines().next().unwrap_or(""))
}

/// `text` with every character XML 1.0 forbids (C0 controls other than
/// tab, newline and carriage return; U+FFFE, U+FFFF) replaced by U+FFFD.
/// Escaping cannot help those: no parser accepts them, even as `&#1;`.
pub fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::outcome::ScenarioResult;

    fn report(steps: Vec<StepResult>) -> FileReport {
        FileReport {
            file: PathBuf::from("dir/a&b.toml"),
            name: "a <scenario> & \"more\"".into(),
            started: time::OffsetDateTime::UNIX_EPOCH,
            run: Ok(ScenarioResult {
                name: "a".into(),
                steps,
                duration: Duration::from_millis(1500),
            }),
        }
    }

    #[test]
    fn escapes_markup_and_replaces_what_xml_cannot_carry() {
        let failed = StepResult {
            name: "say <b>hi</b> & 'bye'".into(),
            outcome: StepOutcome::Failed(
                Failure::mismatch("status 200", "401").with_body("{\"x\":\"\u{1b}[31m</failure>\"}".into()),
            ),
            duration: Duration::from_millis(12),
        };
        let xml = String::from_utf8(render(&[report(vec![failed])]).unwrap()).unwrap();
        assert!(
            xml.contains("name=\"a &lt;scenario&gt; &amp; &quot;more&quot;\""),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"1. say &lt;b&gt;hi&lt;/b&gt; &amp; &apos;bye&apos;\""),
            "{xml}"
        );
        assert!(xml.contains("&lt;/failure&gt;") && !xml.contains('\u{1b}'), "{xml}");
        assert!(xml.contains("message=\"expected status 200, got 401\""), "{xml}");
        assert!(
            xml.contains("classname=\"a&amp;b\"") && xml.contains("time=\"0.012\""),
            "{xml}"
        );
        assert!(xml.contains("timestamp=\"1970-01-01T00:00:00\""), "{xml}");
    }

    #[test]
    fn a_file_that_could_not_run_is_an_error() {
        let mut broken = report(Vec::new());
        broken.run = Err("cannot make identity 'x'\nbecause".into());
        let xml = String::from_utf8(render(&[broken]).unwrap()).unwrap();
        assert!(
            xml.contains("errors=\"1\"") && xml.contains("<error message=\"cannot make identity &apos;x&apos;\""),
            "{xml}"
        );
    }
}

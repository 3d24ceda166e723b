//! The portal's downloads: zips of PEM files, named as a hosted portal
//! names them, and the HTTP response that makes a browser save one.

use std::io::Write;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use zip::write::SimpleFileOptions;

/// A file inside a download, with its Unix mode (0600 for a private key,
/// which `unzip` restores).
pub struct Entry<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub mode: u32,
}

/// A zip archive of `entries`, stored uncompressed (a few small PEM files).
pub fn zip(entries: &[Entry<'_>]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(entry.mode);
        writer.start_file(entry.name, options)?;
        writer.write_all(entry.bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// A response the browser saves as `filename`; never cached (it may hold a
/// private key).
pub fn attachment(filename: &str, bytes: Vec<u8>) -> Response {
    let disposition = HeaderValue::try_from(format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/zip")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn zips_round_trip_with_their_modes() {
        let bytes = zip(&[
            Entry {
                name: "a.pem",
                bytes: b"A",
                mode: 0o644,
            },
            Entry {
                name: "key.pem",
                bytes: b"KEY",
                mode: 0o600,
            },
        ])
        .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 2);
        let mut key = archive.by_name("key.pem").unwrap();
        assert_eq!(key.unix_mode().map(|m| m & 0o777), Some(0o600));
        let mut text = String::new();
        key.read_to_string(&mut text).unwrap();
        assert_eq!(text, "KEY");
    }
}

//! Small filesystem primitives shared by everything that writes state:
//! atomic replacement and owner-only permissions.
//!
//! Why atomic: users copy `my_app_cert.crt` elsewhere and CI scripts poll
//! `sandbox.json`; a reader must never observe a half-written file, and a
//! crash must leave either the old or the new content, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Permission bits for files holding secrets (private keys, credentials).
pub const SECRET_MODE: u32 = 0o600;
/// Permission bits for public material (certificates, chains).
pub const PUBLIC_MODE: u32 = 0o644;

/// Writes `bytes` to `path` by writing a sibling temp file, syncing it and
/// renaming it over `path`. The temp file is created with `mode` so secret
/// material is never readable by others, not even for an instant.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace(path, bytes, mode, true)
}

/// Like [`write_atomic`] but without fsync: readers still never see a
/// partial file, but a power loss may lose it. For files rewritten on every
/// start (`sandbox.json`, the server certificate), where durability buys
/// nothing and each fsync costs start-up time.
pub fn write_replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace(path, bytes, mode, false)
}

fn replace(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            // Make the rename itself durable.
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"one", SECRET_MODE).unwrap();
        write_atomic(&path, b"two", SECRET_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temp files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! Small filesystem primitives shared by everything that writes state:
//! atomic replacement, owner-only permissions, and never following a link.
//!
//! Why atomic: users copy `my_app_cert.crt` elsewhere and CI scripts poll
//! `sandbox.json`; a reader must never observe a half-written file, and a
//! crash must leave either the old or the new content, never a mix.
//!
//! Why no links: the state dir holds private keys and secrets. A symlink
//! planted where the sandbox writes (a temp file, the lock, the database)
//! would make it write those secrets, or change permissions, outside the
//! state dir; so every open here refuses to follow one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Permission bits for files holding secrets (private keys, credentials).
pub const SECRET_MODE: u32 = 0o600;
/// Permission bits for public material (certificates, chains).
pub const PUBLIC_MODE: u32 = 0o644;
/// Permission bits for the state dir itself: only its owner may list it or
/// plant files in it, whatever the umask.
pub const DIR_MODE: u32 = 0o700;

/// Makes `options` fail (ELOOP) when the path's last component is a symlink.
pub fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
}

/// Sets the permission bits of the file at `path` itself, refusing a symlink
/// (the change goes through the opened file, so it cannot be redirected).
pub fn set_mode_no_follow(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = no_follow(OpenOptions::new().read(true)).open(path)?;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Refuses `path` if it is a symlink, with an error that says what to do.
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; the sandbox does not follow links in its state dir. Remove it and re-run.",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

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
    // Unpredictable, and created only if nothing (not even a dangling link)
    // is there yet: a name planted in advance cannot redirect the write.
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut file = no_follow(OpenOptions::new().write(true).create_new(true).mode(mode)).open(&tmp)?;
    let result = (|| {
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

    /// Issue #18 item 8: the temp name was `.NAME.tmp-PID`, opened without
    /// O_EXCL, so a link planted there received the secret.
    #[test]
    fn a_planted_symlink_never_receives_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "precious").unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let path = state.join("key.pem");
        std::os::unix::fs::symlink(&outside, state.join(format!(".key.pem.tmp-{}", std::process::id()))).unwrap();
        write_atomic(&path, b"secret", SECRET_MODE).unwrap();
        write_replace(&path, b"secret", SECRET_MODE).unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
        assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&path).unwrap(), b"secret");
    }

    #[test]
    fn modes_and_symlink_checks_do_not_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, "x").unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(set_mode_no_follow(&link, 0o600).is_err());
        assert_eq!(fs::metadata(&outside).unwrap().permissions().mode() & 0o777, 0o644);
        let err = refuse_symlink(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link") && err.contains("Remove it"), "{err}");
        assert!(refuse_symlink(&outside).is_ok());
        assert!(refuse_symlink(&dir.path().join("missing")).is_ok());
    }
}

//! The state dir's own storage failing under the sandbox: a full file
//! system, a read-only one, a directory it may not write.
//!
//! Why a type of its own: these are not the request's fault and not a bug
//! in the sandbox; they are the machine's, and only the person running the
//! sandbox can fix them. So every such failure carries the file it was
//! writing and a sentence saying what to do, and the HTTP edge answers it
//! with a status that says "storage", not a bare 500 (see `web::error`).
//! A failed write never costs what was stored before: files are replaced
//! atomically (`fsutil`) and a failed SQLite transaction rolls back.
//!
//! This module classifies; it knows nothing of HTTP.

use std::io;
use std::path::{Path, PathBuf};

/// What is wrong with the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No space left (ENOSPC, EDQUOT, SQLITE_FULL).
    Full,
    /// The file system is mounted read-only (EROFS, SQLITE_READONLY).
    ReadOnly,
    /// The sandbox's user may not write there (EACCES, EPERM).
    Denied,
    /// Any other I/O error of the device.
    Io,
}

impl Problem {
    /// Classifies an I/O error; `None` when it is not about the storage.
    pub fn of_io(err: &io::Error) -> Option<Self> {
        match err.raw_os_error()? {
            libc::ENOSPC | libc::EDQUOT => Some(Self::Full),
            libc::EROFS => Some(Self::ReadOnly),
            libc::EACCES | libc::EPERM => Some(Self::Denied),
            libc::EIO => Some(Self::Io),
            _ => None,
        }
    }

    /// Classifies a SQLite error; `None` for errors that are not about the
    /// storage (a constraint, a bad query).
    pub fn of_sqlite(err: &rusqlite::Error) -> Option<Self> {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code()? {
            ErrorCode::DiskFull => Some(Self::Full),
            ErrorCode::ReadOnly => Some(Self::ReadOnly),
            ErrorCode::PermissionDenied => Some(Self::Denied),
            // "unable to open database file": SQLite does not say why.
            ErrorCode::CannotOpen | ErrorCode::SystemIoFailure => Some(Self::Io),
            _ => None,
        }
    }
}

/// A write to `path` failed because of the storage under it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot write {}: {}", path.display(), self.explain())]
pub struct StorageFailure {
    pub path: PathBuf,
    pub problem: Problem,
    /// The operating system's or SQLite's own words.
    pub detail: String,
}

impl StorageFailure {
    pub fn new(path: &Path, problem: Problem, detail: impl ToString) -> Self {
        Self {
            path: path.to_path_buf(),
            problem,
            detail: detail.to_string(),
        }
    }

    /// The failure `err` names, if it is the storage's.
    pub fn from_io(path: &Path, err: &io::Error) -> Option<Self> {
        Problem::of_io(err).map(|problem| Self::new(path, problem, err))
    }

    /// The failure `err` names, if it is the storage's.
    pub fn from_sqlite(path: &Path, err: &rusqlite::Error) -> Option<Self> {
        Problem::of_sqlite(err).map(|problem| Self::new(path, problem, err))
    }

    fn explain(&self) -> String {
        let dir = self.path.parent().unwrap_or(Path::new(".")).display();
        match self.problem {
            Problem::Full => format!(
                "the file system is full ({}). Nothing stored before was lost: free space on the file system \
                 of {dir} and retry",
                self.detail
            ),
            Problem::ReadOnly => format!(
                "the file system is read-only ({}). Make {dir} writable (mount it read-write), or use another \
                 --state-dir",
                self.detail
            ),
            Problem::Denied => format!(
                "permission denied ({}). Let the sandbox's user write {dir}, or use another --state-dir",
                self.detail
            ),
            Problem::Io => format!("the storage failed ({}). Check the disk under {dir}", self.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_errno() {
        let of = |errno| Problem::of_io(&io::Error::from_raw_os_error(errno));
        assert_eq!(of(libc::ENOSPC), Some(Problem::Full));
        assert_eq!(of(libc::EDQUOT), Some(Problem::Full));
        assert_eq!(of(libc::EROFS), Some(Problem::ReadOnly));
        assert_eq!(of(libc::EACCES), Some(Problem::Denied));
        assert_eq!(of(libc::ENOENT), None);
        assert_eq!(Problem::of_io(&io::Error::other("x")), None);
    }

    #[test]
    fn the_message_names_the_file_and_the_fix() {
        let err = io::Error::from_raw_os_error(libc::ENOSPC);
        let failure = StorageFailure::from_io(Path::new("/s/records.db"), &err).unwrap();
        let text = failure.to_string();
        assert!(
            text.starts_with("cannot write /s/records.db: the file system is full"),
            "{text}"
        );
        assert!(text.contains("free space on the file system of /s"), "{text}");
        let ro = StorageFailure::new(Path::new("/s/sandbox.lock"), Problem::ReadOnly, "os error 30").to_string();
        assert!(ro.contains("read-only") && ro.contains("--state-dir"), "{ro}");
    }

    #[test]
    fn sqlite_errors_are_classified_by_code() {
        let sqlite = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert_eq!(
            Problem::of_sqlite(&sqlite(rusqlite::ffi::SQLITE_FULL)),
            Some(Problem::Full)
        );
        assert_eq!(
            Problem::of_sqlite(&sqlite(rusqlite::ffi::SQLITE_READONLY)),
            Some(Problem::ReadOnly)
        );
        assert_eq!(Problem::of_sqlite(&sqlite(rusqlite::ffi::SQLITE_CONSTRAINT)), None);
        assert_eq!(Problem::of_sqlite(&rusqlite::Error::QueryReturnedNoRows), None);
    }
}

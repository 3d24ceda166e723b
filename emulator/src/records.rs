//! Durable records in an embedded SQLite database, `records.db` in the
//! state dir: customers, transactions, revoked and issued certificates, and
//! the authorization server's clients, secrets and token state.
//!
//! Why SQLite: several record kinds change at runtime and must survive a
//! `kill -9` without hand-written journaling; SQLite's WAL gives that for
//! free. Keys and certificates stay PEM files that users can open.
//!
//! This module owns the connection, the schema (every table, the OAuth ones
//! too) and the queries on its own tables; it knows nothing of HTTP. The
//! authorization server's queries live with the code that gives them
//! meaning — `oauth::registry` (clients and secrets) and `oauth::store`
//! (opaque tokens, revoked token ids, used assertions) — and run on the
//! shared connection through [`Records::with_conn`].

use crate::entropy::Entropy;
use crate::storage::StorageFailure;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("records database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("records database: {0}")]
    Io(#[from] std::io::Error),
    #[error("a customer with app_user_id '{app_user_id}' already exists (customer_id {customer_id})")]
    DuplicateAppUser { app_user_id: String, customer_id: String },
    /// The disk under `records.db` is full, read-only or failing.
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl RecordsError {
    /// The disk's failure behind this error, if that is what it is.
    pub fn storage(&self) -> Option<&StorageFailure> {
        match self {
            RecordsError::Storage(failure) => Some(failure),
            _ => None,
        }
    }

    /// This error as a [`StorageFailure`] of the database at `path` when
    /// SQLite or the OS says the storage is at fault.
    fn in_file(self, path: &Path) -> Self {
        let failure = match &self {
            RecordsError::Sqlite(e) => StorageFailure::from_sqlite(path, e),
            RecordsError::Io(e) => StorageFailure::from_io(path, e),
            _ => None,
        };
        failure.map_or(self, RecordsError::Storage)
    }
}

/// Schema migrations, applied in order; `user_version` records progress.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE customers (
        customer_id TEXT PRIMARY KEY,
        app_user_id TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE transactions (
        transaction_id TEXT PRIMARY KEY,
        body           TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );
",
    "
    CREATE TABLE revoked_certificates (
        serial     TEXT PRIMARY KEY,
        subject    TEXT NOT NULL,
        revoked_at TEXT NOT NULL
    );
",
    "
    CREATE TABLE oauth_clients (
        client_id    TEXT PRIMARY KEY,
        registration TEXT NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE TABLE oauth_opaque_tokens (
        reference  TEXT PRIMARY KEY,
        jwt        TEXT NOT NULL,
        jti        TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE oauth_revoked_tokens (
        jti        TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE oauth_used_assertions (
        client_id  TEXT NOT NULL,
        jti        TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (client_id, jti)
    );
",
    "
    CREATE TABLE issued_certificates (
        serial     TEXT PRIMARY KEY,
        subject    TEXT NOT NULL,
        not_after  TEXT NOT NULL,
        cert_pem   TEXT NOT NULL,
        issued_at  TEXT NOT NULL
    );
",
    // The provider profile's generic object store (see provider::store).
    "
    CREATE TABLE provider_objects (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        collection  TEXT NOT NULL,
        id          TEXT NOT NULL,
        parent_id   TEXT,
        customer_id TEXT,
        created_at  TEXT NOT NULL,
        body        TEXT NOT NULL,
        UNIQUE (collection, id)
    );
    CREATE INDEX provider_objects_parent ON provider_objects (collection, parent_id, seq);
",
    // Objects on their lifecycle's failure path, and how far each object's
    // lifecycle events have been sent (see provider::events).
    "
    ALTER TABLE provider_objects ADD COLUMN fails INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE provider_progress (
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        sent       INTEGER NOT NULL,
        due_at     INTEGER NOT NULL,
        PRIMARY KEY (collection, id)
    );
    CREATE INDEX provider_progress_due ON provider_progress (due_at);
",
    // Many applications (issue #17): customers, transactions and objects
    // belong to the application that created them; what existed before
    // belongs to the default one. An app_user_id is unique per application
    // (the provider's rule), so the customers table is rebuilt without its
    // global UNIQUE.
    "
    CREATE TABLE customers_by_app (
        customer_id TEXT PRIMARY KEY,
        app         TEXT NOT NULL DEFAULT 'my_app',
        app_user_id TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        UNIQUE (app, app_user_id)
    );
    INSERT INTO customers_by_app (customer_id, app_user_id, created_at)
        SELECT customer_id, app_user_id, created_at FROM customers ORDER BY rowid;
    DROP TABLE customers;
    ALTER TABLE customers_by_app RENAME TO customers;
    ALTER TABLE transactions ADD COLUMN app TEXT NOT NULL DEFAULT 'my_app';
    ALTER TABLE provider_objects ADD COLUMN app TEXT NOT NULL DEFAULT 'my_app';
",
];

/// The owner of everything stored before there were several applications,
/// and of everything the default application creates: its id (`apps`).
pub const DEFAULT_OWNER: &str = "my_app";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Customer {
    pub customer_id: String,
    pub app_user_id: String,
    pub created_at: String,
    /// The application that created it (its id); not part of the
    /// provider's answer.
    #[serde(skip)]
    pub app: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub status: &'static str,
    pub created_at: String,
    pub details: serde_json::Value,
}

/// A connection to the database at `path` (created if missing) in WAL mode
/// with `synchronous` set before anything is written, migrated.
fn connect(path: &Path, synchronous: &str) -> Result<Connection, RecordsError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        crate::fsutil::refuse_symlink(Path::new(&file))?;
    }
    let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags)?;
    crate::fsutil::set_mode_no_follow(path, crate::fsutil::SECRET_MODE)?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&conn)?;
    Ok(conn)
}

/// A handle on `records.db`. One connection behind a mutex: the write rate of
/// a sandbox is tiny, and reads are single-row lookups.
pub struct Records {
    conn: Mutex<Connection>,
    /// The database file, named in storage failures.
    path: PathBuf,
    /// Ids of new records (and of everything the OAuth layer creates).
    entropy: Entropy,
}

impl Records {
    /// Opens (creating if needed) the database at `path` and applies any
    /// pending migrations. The file is made owner-only: it will hold hashed
    /// client secrets.
    ///
    /// A symlink in place of the database (or its WAL files) is refused:
    /// following it would store secrets, and chmod a file, outside the state dir.
    pub fn open(path: &Path) -> Result<Self, RecordsError> {
        Self::open_unnamed(path).map_err(|e| e.in_file(path))
    }

    fn open_unnamed(path: &Path) -> Result<Self, RecordsError> {
        // NORMAL is durable against process crashes (kill -9) in WAL mode;
        // only an OS crash could lose the last transactions.
        let conn = connect(path, "NORMAL")?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            entropy: Entropy::SYSTEM,
        })
    }

    /// Creates the database at `path` with its schema, for a state dir being
    /// assembled in a temp dir: without SQLite's own fsyncs (about eight for
    /// a new file: its journal, the switch to WAL, the checkpoint at close;
    /// tens of ms each on a busy disk, and on the path to a first start's
    /// ready), then one fsync of the finished file. Nothing opens it before
    /// the directory is renamed into place, after its own fsync, so the
    /// result is as durable as [`Records::open`]'s.
    pub fn create(path: &Path) -> Result<(), RecordsError> {
        let created = connect(path, "OFF").and_then(|conn| conn.close().map_err(|(_, e)| e.into()));
        created
            .and_then(|()| Ok(std::fs::File::open(path)?.sync_all()?))
            .map_err(|e: RecordsError| e.in_file(path))
    }

    /// Draws new ids from `entropy` (seeded in deterministic mode).
    pub fn with_entropy(mut self, entropy: Entropy) -> Self {
        self.entropy = entropy;
        self
    }

    /// Where ids, secrets and token ids of this sandbox come from.
    pub fn entropy(&self) -> &Entropy {
        &self.entropy
    }

    /// Runs `f` with the connection. For modules that own their own tables.
    /// A failure of the disk comes back as [`RecordsError::Storage`].
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T, RecordsError>) -> Result<T, RecordsError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|e| e.in_file(&self.path))
    }

    /// A new customer of the application `app`; its `app_user_id` must be
    /// new to that application (another application may use the same).
    pub fn create_customer(&self, app: &str, app_user_id: &str, now: OffsetDateTime) -> Result<Customer, RecordsError> {
        self.with_conn(|conn| {
            if let Some(existing) = conn
                .query_row(
                    "SELECT customer_id FROM customers WHERE app = ?1 AND app_user_id = ?2",
                    [app, app_user_id],
                    |row| row.get::<_, String>(0),
                )
                .optional()?
            {
                return Err(RecordsError::DuplicateAppUser {
                    app_user_id: app_user_id.into(),
                    customer_id: existing,
                });
            }
            let customer = Customer {
                customer_id: self.entropy.uuid(),
                app_user_id: app_user_id.into(),
                created_at: rfc3339(now),
                app: app.into(),
            };
            conn.execute(
                "INSERT INTO customers (customer_id, app, app_user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    customer.customer_id,
                    customer.app,
                    customer.app_user_id,
                    customer.created_at
                ],
            )?;
            Ok(customer)
        })
    }

    /// The customer `customer_id` if it belongs to `app` (`None`: whoever
    /// owns it, for the admin API that links customers to banks).
    pub fn customer(&self, app: Option<&str>, customer_id: &str) -> Result<Option<Customer>, RecordsError> {
        self.with_conn(|conn| {
            Ok(conn
                .query_row(
                    "SELECT customer_id, app_user_id, created_at, app FROM customers \
                     WHERE customer_id = ?1 AND (?2 IS NULL OR app = ?2)",
                    params![customer_id, app],
                    |row| {
                        Ok(Customer {
                            customer_id: row.get(0)?,
                            app_user_id: row.get(1)?,
                            created_at: row.get(2)?,
                            app: row.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    /// A transaction of the application `app`.
    pub fn create_transaction(
        &self,
        app: &str,
        details: serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Transaction, RecordsError> {
        let tx = Transaction {
            transaction_id: self.entropy.uuid(),
            status: "CREATED",
            created_at: rfc3339(now),
            details,
        };
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO transactions (transaction_id, app, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![tx.transaction_id, app, tx.details.to_string(), tx.created_at],
            )?;
            Ok(())
        })?;
        Ok(tx)
    }
}

impl Records {
    /// Records a revoked certificate by serial (hex). Returns false if it
    /// was already revoked.
    pub fn revoke_certificate(
        &self,
        serial_hex: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<bool, RecordsError> {
        self.with_conn(|conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO revoked_certificates (serial, subject, revoked_at) VALUES (?1, ?2, ?3)",
                params![serial_hex, subject, rfc3339(now)],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Every revoked certificate as (serial hex, revocation time).
    pub fn revoked_certificates(&self) -> Result<Vec<(String, OffsetDateTime)>, RecordsError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT serial, revoked_at FROM revoked_certificates ORDER BY revoked_at")?;
            let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (serial, at) = row?;
                let at = OffsetDateTime::parse(&at, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
                out.push((serial, at));
            }
            Ok(out)
        })
    }
}

/// A client certificate issued at runtime (by the portal). Its private key
/// is never stored: it went to the user in the download, as on a hosted
/// portal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedCertificate {
    pub serial_hex: String,
    pub subject: String,
    pub not_after: String,
    pub cert_pem: String,
    pub issued_at: String,
}

impl Records {
    pub fn add_issued_certificate(&self, cert: &IssuedCertificate) -> Result<(), RecordsError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO issued_certificates (serial, subject, not_after, cert_pem, issued_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    cert.serial_hex,
                    cert.subject,
                    cert.not_after,
                    cert.cert_pem,
                    cert.issued_at
                ],
            )?;
            Ok(())
        })
    }

    /// Every certificate issued at runtime, oldest first.
    pub fn issued_certificates(&self) -> Result<Vec<IssuedCertificate>, RecordsError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT serial, subject, not_after, cert_pem, issued_at FROM issued_certificates ORDER BY issued_at, rowid",
            )?;
            let rows = stmt.query_map([], issued_certificate)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The certificate issued at runtime with serial `serial_hex` (lower
    /// case), if any. Revoking one must not read them all: their number only
    /// grows, and a soak saw each revocation's list stay as resident memory.
    pub fn issued_certificate(&self, serial_hex: &str) -> Result<Option<IssuedCertificate>, RecordsError> {
        self.with_conn(|conn| {
            Ok(conn
                .query_row(
                    "SELECT serial, subject, not_after, cert_pem, issued_at FROM issued_certificates WHERE serial = ?1",
                    [serial_hex],
                    issued_certificate,
                )
                .optional()?)
        })
    }
}

fn issued_certificate(row: &rusqlite::Row<'_>) -> rusqlite::Result<IssuedCertificate> {
    Ok(IssuedCertificate {
        serial_hex: row.get(0)?,
        subject: row.get(1)?,
        not_after: row.get(2)?,
        cert_pem: row.get(3)?,
        issued_at: row.get(4)?,
    })
}

/// Applies the pending migrations in one transaction: a new database
/// (every first start) gets its schema in one commit instead of one per
/// migration, and a crash still leaves the old schema or the new one.
fn migrate(conn: &Connection) -> Result<(), RecordsError> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let Some(pending) = MIGRATIONS.get(done..).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut batch = String::from("BEGIN;");
    for sql in pending {
        batch.push_str(sql);
        batch.push(';');
    }
    batch.push_str(&format!("PRAGMA user_version = {}; COMMIT;", MIGRATIONS.len()));
    conn.execute_batch(&batch)?;
    Ok(())
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("RFC 3339 formatting of a valid time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_persist_and_duplicates_are_refused_within_one_application() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        let now = OffsetDateTime::now_utc();
        let created = Records::open(&path).unwrap().create_customer("a", "001", now).unwrap();
        let reopened = Records::open(&path).unwrap();
        assert_eq!(
            reopened.customer(Some("a"), &created.customer_id).unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            reopened.customer(None, &created.customer_id).unwrap(),
            Some(created.clone())
        );
        assert_eq!(
            reopened.customer(Some("b"), &created.customer_id).unwrap(),
            None,
            "another application's"
        );
        assert_eq!(reopened.customer(Some("a"), "nope").unwrap(), None);
        let err = reopened.create_customer("a", "001", now).unwrap_err().to_string();
        assert!(err.contains(&created.customer_id), "{err}");
        let other = reopened.create_customer("b", "001", now).unwrap();
        assert_ne!(
            other.customer_id, created.customer_id,
            "the same app_user_id in another application"
        );
    }

    /// A records.db from before applications: its rows become the default
    /// application's, nothing is lost.
    #[test]
    fn existing_records_belong_to_the_default_application_after_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..MIGRATIONS.len() - 1] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", MIGRATIONS.len() - 1).unwrap();
            conn.execute_batch(
                "INSERT INTO customers VALUES ('c1', 'u1', '2030-01-01T00:00:00Z');
                 INSERT INTO customers VALUES ('c2', 'u2', '2030-01-01T00:00:00Z');
                 INSERT INTO transactions VALUES ('t1', '{}', '2030-01-01T00:00:00Z');
                 INSERT INTO provider_objects (collection, id, created_at, body) VALUES ('x', 'o1', 't', '{}');",
            )
            .unwrap();
        }
        let records = Records::open(&path).unwrap();
        for id in ["c1", "c2"] {
            let customer = records.customer(Some(DEFAULT_OWNER), id).unwrap().unwrap();
            assert_eq!(customer.app, DEFAULT_OWNER);
        }
        let owners: Vec<String> = records
            .with_conn(|conn| {
                let mut stmt =
                    conn.prepare("SELECT app FROM transactions UNION ALL SELECT app FROM provider_objects")?;
                Ok(stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(owners, [DEFAULT_OWNER, DEFAULT_OWNER]);
        let err = records
            .create_customer(DEFAULT_OWNER, "u1", OffsetDateTime::now_utc())
            .unwrap_err();
        assert!(err.to_string().contains("c1"), "{err}");
    }

    #[test]
    fn a_new_database_gets_every_migration() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("records.db")).unwrap();
        let version: usize = records
            .with_conn(|conn| Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn a_non_database_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        assert!(Records::open(&path).is_err());
    }

    /// Issue #18 item 8: a `records.db` link made the sandbox chmod (and
    /// write into) its target.
    #[test]
    fn a_symlinked_database_is_refused_and_its_target_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.db");
        std::fs::write(&outside, "").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        for name in ["records.db", "records.db-wal"] {
            let state = dir.path().join(format!("state-{name}"));
            std::fs::create_dir(&state).unwrap();
            std::os::unix::fs::symlink(&outside, state.join(name)).unwrap();
            let err = Records::open(&state.join("records.db")).err().unwrap().to_string();
            assert!(err.contains("symbolic link"), "{name}: {err}");
        }
        assert_eq!(std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::metadata(&outside).unwrap().len(), 0);
    }
}

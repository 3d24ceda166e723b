//! What the authorization server remembers about tokens: opaque references
//! and the JWTs behind them (phantom tokens), revoked token ids, and client
//! assertion ids already used (replay protection). All in `records.db`.

use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::{OptionalExtension, params};

use crate::records::{Records, RecordsError};

/// Stores an opaque reference for `jwt`; returns the reference. References
/// whose token has expired by `now` are deleted first: they resolve to a
/// token nobody accepts, and would otherwise pile up for ever.
pub fn put_opaque(records: &Records, jwt: &str, jti: &str, expires_at: i64, now: i64) -> Result<String, RecordsError> {
    let reference = super::client::generate_secret(records.entropy());
    records.with_conn(|conn| {
        conn.execute("DELETE FROM oauth_opaque_tokens WHERE expires_at < ?1", [now])?;
        conn.execute(
            "INSERT INTO oauth_opaque_tokens (reference, jwt, jti, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![reference, jwt, jti, expires_at],
        )?;
        Ok(())
    })?;
    Ok(reference)
}

/// The JWT behind an opaque reference, if it exists.
pub fn resolve_opaque(records: &Records, reference: &str) -> Result<Option<String>, RecordsError> {
    records.with_conn(|conn| {
        Ok(conn
            .query_row(
                "SELECT jwt FROM oauth_opaque_tokens WHERE reference = ?1",
                [reference],
                |r| r.get(0),
            )
            .optional()?)
    })
}

pub fn revoke(records: &Records, jti: &str, expires_at: i64) -> Result<(), RecordsError> {
    records.with_conn(|conn| {
        conn.execute(
            "INSERT OR IGNORE INTO oauth_revoked_tokens (jti, expires_at) VALUES (?1, ?2)",
            params![jti, expires_at],
        )?;
        Ok(())
    })
}

pub fn is_revoked(records: &Records, jti: &str) -> Result<bool, RecordsError> {
    records.with_conn(|conn| {
        Ok(conn
            .query_row("SELECT 1 FROM oauth_revoked_tokens WHERE jti = ?1", [jti], |_| Ok(()))
            .optional()?
            .is_some())
    })
}

/// Records a client assertion's `jti`; false if it was already used by an
/// assertion that has not expired by `now`.
///
/// The decision looks at this `(client, jti)` row only: an expired row is
/// overwritten, a live one refuses. Rows of other expired assertions are
/// deleted every [`PURGE_EVERY`] calls, not on each: the table has no index
/// on `expires_at`, so that `DELETE` reads every assertion used in the last
/// hour, and it was most of a `private_key_jwt` token request's
/// non-cryptographic cost (callgrind, issue #15).
pub fn first_use_of_assertion(
    records: &Records,
    client_id: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, RecordsError> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let purge = CALLS.fetch_add(1, Ordering::Relaxed).is_multiple_of(PURGE_EVERY);
    records.with_conn(|conn| {
        if purge {
            conn.execute("DELETE FROM oauth_used_assertions WHERE expires_at < ?1", [now])?;
        }
        let recorded = conn.execute(
            "INSERT INTO oauth_used_assertions (client_id, jti, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE oauth_used_assertions.expires_at < ?4",
            params![client_id, jti, expires_at, now],
        )?;
        Ok(recorded == 1)
    })
}

/// Calls of [`first_use_of_assertion`] between purges of expired rows.
const PURGE_EVERY: u32 = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_opaque_references_are_purged_when_a_new_one_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let old = put_opaque(&records, "old.jwt.x", "jti-old", 100, 0).unwrap();
        let live = put_opaque(&records, "live.jwt.x", "jti-live", 500, 0).unwrap();
        let count = || {
            records
                .with_conn(|c| Ok(c.query_row("SELECT COUNT(*) FROM oauth_opaque_tokens", [], |r| r.get::<_, i64>(0))?))
                .unwrap()
        };
        assert_eq!(count(), 2);
        put_opaque(&records, "new.jwt.x", "jti-new", 900, 200).unwrap();
        assert_eq!(count(), 2, "the expired reference is gone");
        assert_eq!(resolve_opaque(&records, &old).unwrap(), None);
        assert!(resolve_opaque(&records, &live).unwrap().is_some());
    }

    #[test]
    fn opaque_revocation_and_replay_records() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let reference = put_opaque(&records, "a.b.c", "jti-1", 100, 50).unwrap();
        assert_eq!(resolve_opaque(&records, &reference).unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(resolve_opaque(&records, "nope").unwrap(), None);

        assert!(!is_revoked(&records, "jti-1").unwrap());
        revoke(&records, "jti-1", 100).unwrap();
        revoke(&records, "jti-1", 100).unwrap();
        assert!(is_revoked(&records, "jti-1").unwrap());

        assert!(first_use_of_assertion(&records, "c", "a1", 200, 50).unwrap());
        assert!(!first_use_of_assertion(&records, "c", "a1", 200, 60).unwrap());
        assert!(
            first_use_of_assertion(&records, "other", "a1", 200, 60).unwrap(),
            "per client"
        );
        assert!(
            !first_use_of_assertion(&records, "c", "a1", 300, 200).unwrap(),
            "still refused at its expiry"
        );
        assert!(
            first_use_of_assertion(&records, "c", "a1", 400, 201).unwrap(),
            "an expired assertion's id may be used again"
        );
        assert!(
            !first_use_of_assertion(&records, "c", "a1", 500, 300).unwrap(),
            "and is then recorded"
        );
    }
}

//! The provider profile's objects (entities, accounts, transactions,
//! intents, payments, ...) in the records database, so what a client
//! creates survives a restart as customers do.
//!
//! One generic table, `provider_objects(collection, id, parent_id,
//! customer_id, created_at, body, fails, app)`: the profile decides what
//! collections exist; this module only stores and finds JSON objects in
//! insertion order. Customers stay in their own table (`records::Customer`);
//! the collection name `customers` reads it. `provider_progress` keeps how
//! far each object's lifecycle events have been sent ([`Progress`]). No
//! HTTP here.
//!
//! A store belongs to one application (its id, `app` in every table): it
//! reads, changes and lists only that application's customers and objects,
//! and stamps what it makes with it. Another application's object is
//! therefore simply not found — the answer an unknown id gets, so a caller
//! learns nothing of other tenants' ids. The unscoped store (`None`) is for
//! the sandbox's own work: the lifecycle watcher, the admin link.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::records::{DEFAULT_OWNER, Records, RecordsError};

/// The pseudo-collection backed by the customers table.
pub const CUSTOMERS: &str = "customers";

/// A stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub collection: String,
    pub id: String,
    pub parent_id: Option<String>,
    /// The customer it belongs to, for customer-scoped tokens.
    pub customer_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub body: Value,
    /// On its lifecycle's failure path (a fault rule's `fail`).
    pub fails: bool,
}

/// How far an object's lifecycle events have been sent: `sent` is the
/// index of the last step sent (-1 for none), `due_at` (unix seconds on
/// the sandbox clock) when the next step is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub collection: String,
    pub id: String,
    pub sent: i64,
    pub due_at: i64,
}

/// A page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub items: Vec<Object>,
    pub total: u64,
}

/// What a list selects.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub parent_id: Option<&'a str>,
    /// (field, value): the body's top-level `field` equals `value`.
    pub fields: Vec<(&'a str, &'a str)>,
    /// `created_at` from this date (inclusive) to this one (inclusive).
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub offset: u64,
    pub limit: u64,
}

pub struct Store<'a> {
    records: &'a Records,
    /// The application whose objects these are; `None`: every application's.
    owner: Option<&'a str>,
}

const COLUMNS: &str = "collection, id, parent_id, customer_id, created_at, body, fails";

fn object(row: &rusqlite::Row) -> rusqlite::Result<Object> {
    let created: String = row.get(4)?;
    let body: String = row.get(5)?;
    Ok(Object {
        collection: row.get(0)?,
        id: row.get(1)?,
        parent_id: row.get(2)?,
        customer_id: row.get(3)?,
        created_at: OffsetDateTime::parse(&created, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        fails: row.get(6)?,
    })
}

impl<'a> Store<'a> {
    /// The store of the application `owner` (its id), or of every
    /// application with `None`.
    pub fn new(records: &'a Records, owner: Option<&'a str>) -> Self {
        Self { records, owner }
    }

    /// The application that owns what this store makes (the default one
    /// for the unscoped store).
    pub fn owner(&self) -> &str {
        self.owner.unwrap_or(DEFAULT_OWNER)
    }

    pub fn insert(&self, object: &Object) -> Result<(), RecordsError> {
        self.records.with_conn(|conn| {
            conn.execute(
                &format!("INSERT INTO provider_objects ({COLUMNS}, app) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    object.collection,
                    object.id,
                    object.parent_id,
                    object.customer_id,
                    super::template::timestamp(object.created_at),
                    object.body.to_string(),
                    object.fails,
                    self.owner()
                ],
            )?;
            Ok(())
        })
    }

    /// Replaces the body of a stored object.
    pub fn update(&self, object: &Object) -> Result<(), RecordsError> {
        self.records.with_conn(|conn| {
            conn.execute(
                "UPDATE provider_objects SET body = ?3 WHERE collection = ?1 AND id = ?2 AND (?4 IS NULL OR app = ?4)",
                params![object.collection, object.id, object.body.to_string(), self.owner],
            )?;
            Ok(())
        })
    }

    /// One object, by id or (with `field`) by a top-level body field.
    pub fn get(&self, collection: &str, id: &str, field: Option<&str>) -> Result<Option<Object>, RecordsError> {
        if collection == CUSTOMERS {
            return Ok(self.records.customer(self.owner, id)?.map(|c| Object {
                collection: CUSTOMERS.into(),
                id: c.customer_id.clone(),
                parent_id: None,
                customer_id: Some(c.customer_id.clone()),
                created_at: OffsetDateTime::parse(&c.created_at, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                body: serde_json::json!({"customer_id": c.customer_id, "app_user_id": c.app_user_id}),
                fails: false,
            }));
        }
        self.records.with_conn(|conn| {
            let found = match field {
                None => conn
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM provider_objects WHERE collection = ?1 AND id = ?2 \
                             AND (?3 IS NULL OR app = ?3)"
                        ),
                        params![collection, id, self.owner],
                        object,
                    )
                    .optional()?,
                Some(field) => conn
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM provider_objects WHERE collection = ?1 \
                             AND json_extract(body, '$.' || ?3) = ?2 AND (?4 IS NULL OR app = ?4) ORDER BY seq LIMIT 1"
                        ),
                        params![collection, id, field, self.owner],
                        object,
                    )
                    .optional()?,
            };
            Ok(found)
        })
    }

    /// The id of the application that owns an object of this store (the
    /// lifecycle watcher's unscoped store: any application's), so its
    /// events go to that application.
    pub fn owner_of(&self, collection: &str, id: &str) -> Result<Option<String>, RecordsError> {
        if collection == CUSTOMERS {
            return Ok(self.records.customer(self.owner, id)?.map(|c| c.app));
        }
        self.records.with_conn(|conn| {
            Ok(conn
                .query_row(
                    "SELECT app FROM provider_objects WHERE collection = ?1 AND id = ?2 AND (?3 IS NULL OR app = ?3)",
                    params![collection, id, self.owner],
                    |row| row.get(0),
                )
                .optional()?)
        })
    }

    pub fn delete(&self, collection: &str, id: &str) -> Result<bool, RecordsError> {
        self.records.with_conn(|conn| {
            Ok(conn.execute(
                "DELETE FROM provider_objects WHERE collection = ?1 AND id = ?2 AND (?3 IS NULL OR app = ?3)",
                params![collection, id, self.owner],
            )? > 0)
        })
    }

    /// Objects of `collection` that `query` selects, oldest first.
    pub fn list(&self, collection: &str, query: &Query) -> Result<Slice, RecordsError> {
        let mut filter = String::from("collection = ?");
        let mut args: Vec<String> = vec![collection.into()];
        if let Some(owner) = self.owner {
            filter.push_str(" AND app = ?");
            args.push(owner.into());
        }
        if let Some(parent) = query.parent_id {
            filter.push_str(" AND parent_id = ?");
            args.push(parent.into());
        }
        for (field, value) in &query.fields {
            filter.push_str(" AND CAST(json_extract(body, '$.' || ?) AS TEXT) = ?");
            args.push((*field).into());
            args.push((*value).into());
        }
        if let Some(from) = query.from {
            filter.push_str(" AND substr(created_at, 1, 10) >= ?");
            args.push(from.into());
        }
        if let Some(to) = query.to {
            filter.push_str(" AND substr(created_at, 1, 10) <= ?");
            args.push(to.into());
        }
        self.records.with_conn(|conn| {
            let total: u64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM provider_objects WHERE {filter}"),
                rusqlite::params_from_iter(&args),
                |row| row.get(0),
            )?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM provider_objects WHERE {filter} ORDER BY seq LIMIT {} OFFSET {}",
                query.limit.min(i64::MAX as u64),
                query.offset.min(i64::MAX as u64)
            ))?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(&args), object)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Slice { items, total })
        })
    }

    /// Every customer, oldest first, as the provider shows them.
    pub fn customers(&self, offset: u64, limit: u64) -> Result<Slice, RecordsError> {
        self.records.with_conn(|conn| {
            let total: u64 = conn.query_row(
                "SELECT COUNT(*) FROM customers WHERE (?1 IS NULL OR app = ?1)",
                [self.owner],
                |row| row.get(0),
            )?;
            let mut stmt = conn.prepare(&format!(
                "SELECT customer_id, app_user_id, created_at FROM customers WHERE (?1 IS NULL OR app = ?1) \
                 ORDER BY created_at, rowid LIMIT {} OFFSET {}",
                limit.min(i64::MAX as u64),
                offset.min(i64::MAX as u64)
            ))?;
            let items = stmt
                .query_map([self.owner], |row| {
                    let id: String = row.get(0)?;
                    let app_user_id: String = row.get(1)?;
                    let created: String = row.get(2)?;
                    Ok(Object {
                        collection: CUSTOMERS.into(),
                        id: id.clone(),
                        parent_id: None,
                        customer_id: Some(id.clone()),
                        created_at: OffsetDateTime::parse(&created, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                        body: serde_json::json!({"customer_id": id, "app_user_id": app_user_id}),
                        fails: false,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Slice { items, total })
        })
    }

    /// Records (or replaces) how far an object's lifecycle events went.
    pub fn set_progress(&self, progress: &Progress) -> Result<(), RecordsError> {
        self.records.with_conn(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO provider_progress (collection, id, sent, due_at) VALUES (?1, ?2, ?3, ?4)",
                params![progress.collection, progress.id, progress.sent, progress.due_at],
            )?;
            Ok(())
        })
    }

    /// Forgets an object's progress (its lifecycle is over, or it is gone).
    pub fn end_progress(&self, collection: &str, id: &str) -> Result<(), RecordsError> {
        self.records.with_conn(|conn| {
            conn.execute(
                "DELETE FROM provider_progress WHERE collection = ?1 AND id = ?2",
                params![collection, id],
            )?;
            Ok(())
        })
    }

    /// At most `limit` progress records due at `now` (unix seconds, the
    /// sandbox clock), the earliest first. An object whose application runs
    /// ahead or behind (`offsets`: seconds by application id,
    /// [`Clock::now_for`](crate::clock::Clock::now_for)) is due by its
    /// application's time.
    pub fn due(&self, now: i64, offsets: &BTreeMap<String, i64>, limit: u64) -> Result<Vec<Progress>, RecordsError> {
        let ahead = offsets.values().copied().max().unwrap_or(0).max(0);
        let offsets = serde_json::to_string(offsets).expect("offsets serialise");
        self.records.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT p.collection, p.id, p.sent, p.due_at FROM provider_progress p \
                 LEFT JOIN provider_objects o ON o.collection = p.collection AND o.id = p.id \
                 WHERE p.due_at <= ?1 + ?3 \
                 AND p.due_at <= ?1 + COALESCE((SELECT value FROM json_each(?4) WHERE key = o.app), 0) \
                 ORDER BY p.due_at, p.rowid LIMIT ?2",
            )?;
            let due = stmt
                .query_map(params![now, limit.min(i64::MAX as u64) as i64, ahead, offsets], |row| {
                    Ok(Progress {
                        collection: row.get(0)?,
                        id: row.get(1)?,
                        sent: row.get(2)?,
                        due_at: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(due)
        })
    }

    /// The customer with this `app_user_id`.
    pub fn customer_by_app_user_id(&self, app_user_id: &str) -> Result<Option<Value>, RecordsError> {
        self.records.with_conn(|conn| {
            Ok(conn
                .query_row(
                    "SELECT customer_id, app_user_id FROM customers WHERE app_user_id = ?1 \
                     AND (?2 IS NULL OR app = ?2) ORDER BY rowid LIMIT 1",
                    params![app_user_id, self.owner],
                    |row| {
                        Ok(serde_json::json!({
                            "customer_id": row.get::<_, String>(0)?,
                            "app_user_id": row.get::<_, String>(1)?,
                        }))
                    },
                )
                .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(day: u8) -> OffsetDateTime {
        time::Date::from_calendar_date(2030, time::Month::January, day)
            .unwrap()
            .midnight()
            .assume_utc()
    }

    #[test]
    fn objects_persist_and_lists_filter_page_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        {
            let records = Records::open(&path).unwrap();
            let store = Store::new(&records, Some("a"));
            for i in 0..5u8 {
                store
                    .insert(&Object {
                        collection: "accounts".into(),
                        id: format!("a{i}"),
                        parent_id: Some(if i < 3 { "e1" } else { "e2" }.into()),
                        customer_id: Some("c1".into()),
                        created_at: at(i + 1),
                        body: json!({"account_id": format!("a{i}"), "status": if i == 0 { "OPEN" } else { "CLOSED" }}),
                        fails: i == 4,
                    })
                    .unwrap();
            }
        }
        let records = Records::open(&path).unwrap();
        let store = Store::new(&records, Some("a"));
        let q = |parent, offset, limit| Query {
            parent_id: parent,
            offset,
            limit,
            ..Default::default()
        };
        let page = store.list("accounts", &q(Some("e1"), 1, 1)).unwrap();
        assert_eq!((page.total, page.items[0].id.as_str()), (3, "a1"));
        assert_eq!(store.list("accounts", &q(None, 0, 10)).unwrap().total, 5);
        let open = Query {
            fields: vec![("status", "OPEN")],
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.list("accounts", &open).unwrap().items[0].id, "a0");
        let range = Query {
            from: Some("2030-01-02"),
            to: Some("2030-01-03"),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.list("accounts", &range).unwrap().total, 2);
        let found = store.get("accounts", "a4", Some("account_id")).unwrap().unwrap();
        assert_eq!(
            (found.parent_id.as_deref(), found.created_at, found.fails),
            (Some("e2"), at(5), true)
        );
        assert!(store.delete("accounts", "a4").unwrap());
        assert_eq!(store.get("accounts", "a4", None).unwrap(), None);

        let progress = |id: &str, due_at| Progress {
            collection: "accounts".into(),
            id: id.into(),
            sent: 0,
            due_at,
        };
        store.set_progress(&progress("a0", 50)).unwrap();
        store.set_progress(&progress("a1", 10)).unwrap();
        store.set_progress(&progress("a2", 99)).unwrap();
        store
            .set_progress(&Progress {
                sent: 1,
                ..progress("a0", 20)
            })
            .unwrap();
        let due = store.due(60, &Default::default(), 10).unwrap();
        assert_eq!(
            due,
            [
                progress("a1", 10),
                Progress {
                    sent: 1,
                    ..progress("a0", 20)
                }
            ]
        );
        assert_eq!(store.due(60, &Default::default(), 1).unwrap().len(), 1, "bounded");
        store.end_progress("accounts", "a1").unwrap();
        assert_eq!(store.due(60, &Default::default(), 10).unwrap().len(), 1);
    }

    #[test]
    fn a_store_sees_and_changes_only_its_own_applications_objects() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("records.db")).unwrap();
        let (a, b, all) = (
            Store::new(&records, Some("a")),
            Store::new(&records, Some("b")),
            Store::new(&records, None),
        );
        let mut object = Object {
            collection: "accounts".into(),
            id: "x1".into(),
            parent_id: None,
            customer_id: None,
            created_at: at(1),
            body: json!({"account_id": "x1"}),
            fails: false,
        };
        a.insert(&object).unwrap();
        let customer = records.create_customer("a", "u1", at(1)).unwrap();
        let page = Query {
            limit: 10,
            ..Default::default()
        };
        assert!(a.get("accounts", "x1", None).unwrap().is_some());
        assert!(all.get("accounts", "x1", None).unwrap().is_some());
        assert_eq!(b.get("accounts", "x1", None).unwrap(), None);
        assert_eq!(b.get("accounts", "x1", Some("account_id")).unwrap(), None);
        assert_eq!(b.list("accounts", &page).unwrap().total, 0);
        assert_eq!(a.list("accounts", &page).unwrap().total, 1);
        assert_eq!(b.get(CUSTOMERS, &customer.customer_id, None).unwrap(), None);
        assert_eq!(b.customers(0, 10).unwrap().total, 0);
        assert_eq!(a.customers(0, 10).unwrap().total, 1);
        assert_eq!(b.customer_by_app_user_id("u1").unwrap(), None);
        assert!(a.customer_by_app_user_id("u1").unwrap().is_some());
        object.body = json!({"account_id": "x1", "changed": true});
        b.update(&object).unwrap();
        assert!(!b.delete("accounts", "x1").unwrap());
        let kept = a.get("accounts", "x1", None).unwrap().unwrap();
        assert_eq!(
            kept.body["changed"],
            serde_json::Value::Null,
            "b's update changed nothing"
        );
        assert_eq!(b.owner(), "b");
        assert_eq!(all.owner(), DEFAULT_OWNER);
        assert_eq!(all.owner_of("accounts", "x1").unwrap().as_deref(), Some("a"));
        assert_eq!(b.owner_of("accounts", "x1").unwrap(), None, "not b's to know");
        assert_eq!(
            all.owner_of(CUSTOMERS, &customer.customer_id).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(all.owner_of("accounts", "nope").unwrap(), None);
    }
}

//! Where clients live: static clients (config file, the default app) in
//! memory, dynamic ones (created through the API or CLI) in `records.db`.
//!
//! Dynamic clients are read from the database on every lookup, so clients
//! and secrets created with the CLI work in an already running sandbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::client::{
    AuthMethod, Client, MAX_SECRETS_PER_CLIENT, SecretRecord, TokenFormat, validate_jwks, validate_jwks_uri,
};
use super::dn::Dn;
use crate::records::{Records, RecordsError, rfc3339};

/// Most dynamic clients (created through the API, the CLI or the portal).
/// Each is read from `records.db`; a runaway test creating one per run
/// should hit a clear error, not a slowly filling disk.
pub const MAX_DYNAMIC_CLIENTS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what}: at most {limit} allowed. {fix}")]
    LimitReached {
        what: &'static str,
        limit: usize,
        fix: &'static str,
    },
    #[error("no client with id '{0}'")]
    UnknownClient(String),
    #[error(
        "client '{0}' is defined in the config file or is an application's own client; change it there \
         (`mtls-sandbox apps` manages applications)"
    )]
    StaticClient(String),
    #[error("client '{client}' has no secret with id '{secret}'")]
    UnknownSecret { client: String, secret: String },
    #[error("a client with id '{0}' already exists")]
    Exists(String),
    #[error(
        "client '{0}' already has {MAX_SECRETS_PER_CLIENT} secrets, the most one client may hold; \
         delete one it no longer uses first"
    )]
    TooManySecrets(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Records(#[from] RecordsError),
}

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Records(e.into())
    }
}

/// What a new dynamic client looks like; unset fields get defaults.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_format: Option<TokenFormat>,
    /// self_signed_tls_client_auth: the registered certificates (base64 DER),
    /// as an alternative to a JWKS holding their keys.
    #[serde(default)]
    pub certificates: Option<Vec<String>>,
    /// The application (by name) whose customers its tokens reach
    /// [default: my_app].
    #[serde(default)]
    pub app: Option<String>,
}

pub struct Registry {
    /// Behind a lock only because the portal rotates the default
    /// application's secret; everything else about them is fixed at start.
    statics: RwLock<BTreeMap<String, Client>>,
    /// Where dynamic clients live.
    records: Arc<Records>,
    /// Application name → id, for the applications whose clients are
    /// served here: what a new client's `app` may name.
    apps: RwLock<HashMap<String, String>>,
}

impl Registry {
    pub fn new(statics: Vec<Client>, records: Arc<Records>) -> Self {
        Self {
            statics: RwLock::new(statics.into_iter().map(|c| (c.client_id.clone(), c)).collect()),
            records,
            apps: RwLock::default(),
        }
    }

    fn statics(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Client>> {
        self.statics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn is_static(&self, client_id: &str) -> bool {
        self.statics().contains_key(client_id)
    }

    /// Replaces the secrets of a static client (the default application's,
    /// whose secret the portal rotates and `state.json` keeps).
    pub fn replace_static_secrets(&self, client_id: &str, secrets: Vec<SecretRecord>) -> Result<(), RegistryError> {
        let mut statics = self.statics.write().unwrap_or_else(|p| p.into_inner());
        let client = statics
            .get_mut(client_id)
            .ok_or_else(|| RegistryError::UnknownClient(client_id.into()))?;
        client.secrets = secrets;
        Ok(())
    }

    /// Serves the application `app_name`'s own client (a static client
    /// that lives as long as the application; see `apps`), and lets new
    /// clients name the application.
    pub fn add_app_client(&self, app_name: &str, client: Client) -> Result<(), RegistryError> {
        let mut statics = self.statics.write().unwrap_or_else(|p| p.into_inner());
        if statics.contains_key(&client.client_id) {
            return Err(RegistryError::Exists(client.client_id));
        }
        if let Some(id) = &client.app {
            self.apps
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(app_name.to_owned(), id.clone());
        }
        statics.insert(client.client_id.clone(), client);
        Ok(())
    }

    /// Lets new clients name the application `name` (id `id`), whose own
    /// client is not served here (the command line, with no sandbox).
    pub fn know_app(&self, name: &str, id: &str) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), id.to_owned());
    }

    /// Stops serving an application's client added with
    /// [`Registry::add_app_client`] (the application was deleted). Tokens
    /// it was issued are refused from then on: the resource API finds no
    /// application they belong to.
    pub fn remove_app_client(&self, client_id: &str) {
        let removed = self
            .statics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(client_id);
        if let Some(id) = removed.and_then(|c| c.app) {
            self.apps
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, v| *v != id);
        }
    }

    /// The id of the application `name` names for a new client (`None`:
    /// the default application).
    fn app_id(&self, name: Option<&str>) -> Result<Option<String>, RegistryError> {
        match name {
            None | Some(crate::records::DEFAULT_OWNER) => Ok(None),
            Some(name) => self
                .apps
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(name)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "app: no application named '{name}' (GET /admin/apps lists them)"
                    ))
                }),
        }
    }

    pub fn get(&self, client_id: &str) -> Result<Option<Client>, RegistryError> {
        if let Some(client) = self.statics().get(client_id) {
            return Ok(Some(client.clone()));
        }
        Ok(self
            .records
            .with_conn(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT registration FROM oauth_clients WHERE client_id = ?1",
                        [client_id],
                        |row| row.get::<_, String>(0),
                    )
                    .optional()?)
            })?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub fn list(&self) -> Result<Vec<Client>, RegistryError> {
        let mut clients: Vec<Client> = self.statics().values().cloned().collect();
        let rows = self.records.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT registration FROM oauth_clients ORDER BY created_at")?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        clients.extend(rows.iter().filter_map(|json| serde_json::from_str(json).ok()));
        Ok(clients)
    }

    pub fn create(&self, new: NewClient, now: OffsetDateTime) -> Result<Client, RegistryError> {
        let method = new.token_endpoint_auth_method.unwrap_or(AuthMethod::ClientSecretPost);
        let missing = match method {
            AuthMethod::PrivateKeyJwt if new.jwks.is_none() && new.jwks_uri.is_none() => Some("jwks or jwks_uri"),
            AuthMethod::SelfSignedTlsClientAuth if new.jwks.is_none() && new.certificates.is_none() => {
                Some("jwks (the key of its certificate) or its certificate")
            }
            AuthMethod::TlsClientAuth if new.tls_client_auth_subject_dn.is_none() => Some("tls_client_auth_subject_dn"),
            _ => None,
        };
        if let Some(field) = missing {
            return Err(RegistryError::Invalid(format!(
                "a {} client needs {field}",
                method.name()
            )));
        }
        if let Some(jwks) = &new.jwks {
            validate_jwks(jwks).map_err(RegistryError::Invalid)?;
        }
        if let Some(uri) = &new.jwks_uri {
            validate_jwks_uri(uri).map_err(RegistryError::Invalid)?;
        }
        if let Some(dn) = &new.tls_client_auth_subject_dn {
            Dn::parse(dn).map_err(|why| RegistryError::Invalid(format!("tls_client_auth_subject_dn: {why}")))?;
        }
        let app = self.app_id(new.app.as_deref())?;
        let client = Client {
            client_id: self.records.entropy().uuid(),
            name: new.name,
            auth_method: method,
            scopes: new.scopes.unwrap_or_else(|| vec!["api".into(), "customer.*".into()]),
            secrets: Vec::new(),
            tls_subject_dn: new.tls_client_auth_subject_dn,
            jwks: new.jwks,
            jwks_uri: new.jwks_uri,
            certificates: new.certificates.unwrap_or_default(),
            token_format: new.token_format.unwrap_or_default(),
            static_client: false,
            app,
        };
        let mut full = false;
        self.records.with_conn(|conn| {
            // Counted and inserted in one write transaction, so a CLI and a
            // running sandbox cannot both squeeze in past the limit.
            let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
            let existing: i64 = tx.query_row("SELECT COUNT(*) FROM oauth_clients", [], |r| r.get(0))?;
            if usize::try_from(existing).unwrap_or(usize::MAX) >= MAX_DYNAMIC_CLIENTS {
                full = true;
                return Ok(());
            }
            tx.execute(
                "INSERT INTO oauth_clients (client_id, registration, created_at) VALUES (?1, ?2, ?3)",
                params![
                    client.client_id,
                    serde_json::to_string(&client).expect("client serialises"),
                    rfc3339(now)
                ],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        if full {
            return Err(RegistryError::LimitReached {
                what: "dynamic clients",
                limit: MAX_DYNAMIC_CLIENTS,
                fix: "Delete unused ones (DELETE /clients/{id}) first",
            });
        }
        Ok(client)
    }

    pub fn delete(&self, client_id: &str) -> Result<(), RegistryError> {
        if self.is_static(client_id) {
            return Err(RegistryError::StaticClient(client_id.into()));
        }
        let deleted = self
            .records
            .with_conn(|conn| Ok(conn.execute("DELETE FROM oauth_clients WHERE client_id = ?1", [client_id])?))?;
        if deleted == 0 {
            return Err(RegistryError::UnknownClient(client_id.into()));
        }
        Ok(())
    }

    /// Adds a secret; returns its record and the clear text (shown once).
    /// Stored hashed — except for client_secret_jwt clients, whose secret is
    /// the HMAC key the server must verify assertions with (as in every
    /// authorization server supporting that method).
    pub fn add_secret(&self, client_id: &str, name: &str) -> Result<(SecretRecord, String), RegistryError> {
        self.new_secret(client_id, name, false)
    }

    /// The portal's "reveal": a new secret named `name` replaces every
    /// earlier secret of that name (other secrets stay). Secrets are stored
    /// hashed, so one can be shown only once; revealing again rotates it and
    /// the one shown before stops working, as on a hosted portal.
    pub fn rotate_secret(&self, client_id: &str, name: &str) -> Result<(SecretRecord, String), RegistryError> {
        self.new_secret(client_id, name, true)
    }

    fn new_secret(&self, client_id: &str, name: &str, replace: bool) -> Result<(SecretRecord, String), RegistryError> {
        let mut added = None;
        self.update(client_id, |client| {
            let keep_clear = client.auth_method == AuthMethod::ClientSecretJwt;
            if replace {
                client.secrets.retain(|s| s.name != name);
            }
            if client.secrets.len() >= MAX_SECRETS_PER_CLIENT {
                return Err(RegistryError::TooManySecrets(client_id.into()));
            }
            let (record, clear) = SecretRecord::generate(name, keep_clear, self.records.entropy());
            client.secrets.push(record.clone());
            added = Some((record, clear));
            Ok(())
        })?;
        Ok(added.expect("set by a successful update"))
    }

    pub fn delete_secret(&self, client_id: &str, secret_id: &str) -> Result<(), RegistryError> {
        self.update(client_id, |client| {
            let before = client.secrets.len();
            client.secrets.retain(|s| s.id != secret_id);
            if client.secrets.len() == before {
                return Err(RegistryError::UnknownSecret {
                    client: client_id.into(),
                    secret: secret_id.into(),
                });
            }
            Ok(())
        })
    }

    /// Read-modify-write of one dynamic client inside a write transaction,
    /// so a CLI and a running sandbox never lose each other's changes.
    fn update(
        &self,
        client_id: &str,
        change: impl FnOnce(&mut Client) -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        if self.is_static(client_id) {
            return Err(RegistryError::StaticClient(client_id.into()));
        }
        let mut outcome = Ok(());
        self.records.with_conn(|conn| {
            let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
            let json: Option<String> = tx
                .query_row(
                    "SELECT registration FROM oauth_clients WHERE client_id = ?1",
                    [client_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(mut client) = json.and_then(|j| serde_json::from_str::<Client>(&j).ok()) else {
                outcome = Err(RegistryError::UnknownClient(client_id.into()));
                return Ok(());
            };
            if let Err(e) = change(&mut client) {
                outcome = Err(e);
                return Ok(());
            }
            tx.execute(
                "UPDATE oauth_clients SET registration = ?2 WHERE client_id = ?1",
                params![client_id, serde_json::to_string(&client).expect("client serialises")],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Arc<Records>, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("r.db")).unwrap();
        let testing = Client {
            client_id: "testing".into(),
            name: "testing".into(),
            auth_method: AuthMethod::ClientSecretPost,
            scopes: vec!["api".into()],
            secrets: vec![SecretRecord::new(
                "default",
                "testing",
                true,
                &crate::entropy::Entropy::SYSTEM,
            )],
            tls_subject_dn: None,
            jwks: None,
            jwks_uri: None,
            certificates: vec![],
            token_format: TokenFormat::Jwt,
            static_client: true,
            app: None,
        };
        let records = Arc::new(records);
        (dir, records.clone(), Registry::new(vec![testing], records))
    }

    #[test]
    fn dynamic_clients_and_secrets_persist_and_static_ones_are_protected() {
        let (dir, _, registry) = setup();
        let now = OffsetDateTime::now_utc();
        let client = registry
            .create(
                NewClient {
                    name: "myclient".into(),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        let (first, first_clear) = registry.add_secret(&client.client_id, "one").unwrap();
        let (_, second_clear) = registry.add_secret(&client.client_id, "two").unwrap();

        let reopened = Registry::new(vec![], Arc::new(Records::open(&dir.path().join("r.db")).unwrap()));
        let loaded = reopened.get(&client.client_id).unwrap().unwrap();
        assert!(loaded.secret_matches(&first_clear) && loaded.secret_matches(&second_clear));
        assert!(
            !serde_json::to_string(&loaded).unwrap().contains(&first_clear),
            "stored hashed"
        );

        registry.delete_secret(&client.client_id, &first.id).unwrap();
        let loaded = registry.get(&client.client_id).unwrap().unwrap();
        assert!(!loaded.secret_matches(&first_clear) && loaded.secret_matches(&second_clear));
        assert!(matches!(
            registry.delete_secret(&client.client_id, &first.id),
            Err(RegistryError::UnknownSecret { .. })
        ));

        assert_eq!(registry.list().unwrap().len(), 2);
        let keyless = NewClient {
            name: "k".into(),
            token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
            ..Default::default()
        };
        assert!(matches!(registry.create(keyless, now), Err(RegistryError::Invalid(m)) if m.contains("jwks")));
        assert!(matches!(
            registry.delete("testing"),
            Err(RegistryError::StaticClient(_))
        ));
        assert!(matches!(
            registry.add_secret("testing", "x"),
            Err(RegistryError::StaticClient(_))
        ));
        registry.delete(&client.client_id).unwrap();
        assert!(registry.get(&client.client_id).unwrap().is_none());
        assert!(matches!(
            registry.delete(&client.client_id),
            Err(RegistryError::UnknownClient(_))
        ));
    }

    /// #18 item 5: secrets without a limit made every token request slower.
    #[test]
    fn a_client_holds_at_most_the_secret_limit() {
        let (_dir, _, registry) = setup();
        let new = NewClient {
            name: "hoarder".into(),
            ..Default::default()
        };
        let id = registry.create(new, OffsetDateTime::now_utc()).unwrap().client_id;
        for i in 0..MAX_SECRETS_PER_CLIENT {
            registry.add_secret(&id, &format!("s{i}")).unwrap();
        }
        let refused = registry.add_secret(&id, "one too many").unwrap_err();
        assert!(matches!(refused, RegistryError::TooManySecrets(_)));
        assert!(refused.to_string().contains("20 secrets") && refused.to_string().contains("delete one"));
        registry
            .rotate_secret(&id, "s0")
            .expect("rotating replaces, so it stays within the limit");
        let client = registry.get(&id).unwrap().unwrap();
        assert_eq!(client.secrets.len(), MAX_SECRETS_PER_CLIENT);
    }

    #[test]
    fn dynamic_clients_are_capped_and_the_refusal_names_the_limit() {
        let (_dir, records, registry) = setup();
        let now = OffsetDateTime::now_utc();
        let new = |name: &str| NewClient {
            name: name.into(),
            ..Default::default()
        };
        let client = registry.create(new("first"), now).unwrap();

        // Fill up to the limit in one transaction (one insert each would be slow).
        records
            .with_conn(|conn| {
                let tx = conn.unchecked_transaction()?;
                for i in 1..MAX_DYNAMIC_CLIENTS {
                    tx.execute(
                        "INSERT INTO oauth_clients (client_id, registration, created_at) VALUES (?1, '{}', ?2)",
                        params![format!("filler-{i}"), rfc3339(now)],
                    )?;
                }
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        let err = registry.create(new("over"), now).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("dynamic clients: at most {MAX_DYNAMIC_CLIENTS}")),
            "{err}"
        );
        registry.delete(&client.client_id).unwrap();
        assert!(registry.create(new("fits again"), now).is_ok());
    }

    #[test]
    fn revealing_again_rotates_only_the_revealed_secret() {
        let (_dir, _, registry) = setup();
        let new = NewClient {
            name: "portal".into(),
            ..Default::default()
        };
        let id = registry.create(new, OffsetDateTime::now_utc()).unwrap().client_id;
        let (_, added) = registry.add_secret(&id, "ci").unwrap();
        let (_, first) = registry.rotate_secret(&id, "portal").unwrap();
        let (_, second) = registry.rotate_secret(&id, "portal").unwrap();
        let client = registry.get(&id).unwrap().unwrap();
        assert!(!client.secret_matches(&first), "the first reveal stops working");
        assert!(client.secret_matches(&second) && client.secret_matches(&added));
        assert_eq!(client.secrets.len(), 2);
    }
}

//! OAuth client registrations: how each client authenticates at the token
//! endpoint, what it may ask for, and its secrets.
//!
//! Secrets created over the API, CLI or portal are stored as salted
//! PBKDF2-HMAC-SHA256 (100k iterations): a stolen records.db must not hand
//! out working secrets. Each such secret carries its record id
//! (`<id>.<random>`), so a token request costs one PBKDF2 run however many
//! secrets the client has, and a verified secret is remembered in memory so
//! token throughput — what CI suites hammer — does not pay it again.
//! Secrets whose clear text is kept anyway (static clients from the config
//! file, where it is in clear; the HMAC keys of `client_secret_jwt`) get one
//! salted SHA-256 instead, and records written before PBKDF2 still verify.

use crate::entropy::Entropy;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// `token_endpoint_auth_method` values (RFC 7591, RFC 8705).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Whether the client proves itself with a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost | AuthMethod::ClientSecretJwt
        )
    }
}

/// JWT access tokens, or opaque references resolved by introspection
/// (the phantom-token pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    #[default]
    Jwt,
    Opaque,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretRecord {
    pub id: String,
    pub name: String,
    pub salt: String,
    pub hash: String,
    /// PBKDF2-HMAC-SHA256 iterations of `hash`; 0 means one salted SHA-256
    /// (secrets whose clear text is kept anyway, and records written
    /// before PBKDF2).
    #[serde(default)]
    pub iterations: u32,
    /// The clear secret, kept only for static clients (from the config
    /// file, where it is in clear anyway): `client_secret_jwt` needs it as
    /// the HMAC key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<String>,
    /// The secret begins with `<id>.` (every secret the sandbox issues
    /// since #18 item 5), so a presented secret names the one record to
    /// hash it against. False for config-file secrets and older records,
    /// which are tried in turn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identified: bool,
}

impl SecretRecord {
    /// Hashes `clear` under a fresh salt: with PBKDF2 when only the hash is
    /// stored, with one SHA-256 when the clear text is kept anyway (static
    /// clients from the config file, `client_secret_jwt` keys), where a slow
    /// hash would only slow every start down.
    pub fn new(name: &str, clear: &str, keep_clear: bool, entropy: &Entropy) -> Self {
        Self::with_id(entropy.uuid(), name, clear, keep_clear, entropy)
    }

    /// A fresh random secret (returned in clear, to be shown once) that
    /// carries its record's id: `<id>.<256 random bits, base64url>`.
    pub fn generate(name: &str, keep_clear: bool, entropy: &Entropy) -> (Self, String) {
        let id = entropy.uuid();
        let clear = format!("{id}{ID_SEPARATOR}{}", generate_secret(entropy));
        let record = Self {
            identified: true,
            ..Self::with_id(id, name, &clear, keep_clear, entropy)
        };
        (record, clear)
    }

    fn with_id(id: String, name: &str, clear: &str, keep_clear: bool, entropy: &Entropy) -> Self {
        let salt = URL_SAFE_NO_PAD.encode(entropy.array::<16>());
        let iterations = if keep_clear { 0 } else { PBKDF2_ITERATIONS };
        Self {
            id,
            name: name.into(),
            hash: hash(&salt, clear, iterations),
            salt,
            iterations,
            clear: keep_clear.then(|| clear.to_owned()),
            identified: false,
        }
    }

    /// Whether [`SecretRecord::matches`] runs without PBKDF2: a salted
    /// SHA-256 record, or one a secret matched before (remembered).
    fn is_cheap(&self) -> bool {
        self.iterations == 0
            || verified_secrets()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&self.hash)
    }

    /// Whether `presented` is this secret. A PBKDF2 match is remembered (as
    /// a SHA-256 of the secret, in memory only) so a client presenting the
    /// same secret for every token does not pay the slow hash each time.
    pub fn matches(&self, presented: &str) -> bool {
        if self.iterations == 0 {
            return verify_slices_are_equal(hash(&self.salt, presented, 0).as_bytes(), self.hash.as_bytes()).is_ok();
        }
        let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
        let verified = verified_secrets();
        if let Some(known) = verified.lock().unwrap_or_else(|p| p.into_inner()).get(&self.hash) {
            return verify_slices_are_equal(known, fingerprint.as_ref()).is_ok();
        }
        let Ok(stored) = URL_SAFE_NO_PAD.decode(&self.hash) else {
            return false;
        };
        let Some(iterations) = std::num::NonZeroU32::new(self.iterations) else {
            return false;
        };
        #[cfg(test)]
        hook::record(&self.salt);
        let ok = aws_lc_rs::pbkdf2::verify(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            self.salt.as_bytes(),
            presented.as_bytes(),
            &stored,
        )
        .is_ok();
        if ok {
            let mut cache = verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= 10_000 {
                cache.clear();
            }
            cache.insert(self.hash.clone(), fingerprint.as_ref().to_vec());
        }
        ok
    }
}

/// Separates a record id from the random part of an issued secret; not in
/// the base64url alphabet, so no secret of the older, id-less shape has it.
const ID_SEPARATOR: char = '.';

/// Most secrets one client may hold: verification tries every secret
/// without an id, and rotation seldom needs more than two or three.
pub const MAX_SECRETS_PER_CLIENT: usize = 20;

/// PBKDF2-HMAC-SHA256 iterations for stored client secrets (OWASP's 2023
/// figure is 600,000 for passwords; generated secrets carry 256 bits of
/// entropy, so this only guards hand-picked ones, at ~10 ms per first use).
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// Stored hash → SHA-256 of the secret that matched it.
fn verified_secrets() -> &'static std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn hash(salt: &str, secret: &str, iterations: u32) -> String {
    match std::num::NonZeroU32::new(iterations) {
        None => {
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            ctx.update(salt.as_bytes());
            ctx.update(b":");
            ctx.update(secret.as_bytes());
            URL_SAFE_NO_PAD.encode(ctx.finish().as_ref())
        }
        Some(iterations) => {
            let mut out = [0u8; 32];
            aws_lc_rs::pbkdf2::derive(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                salt.as_bytes(),
                secret.as_bytes(),
                &mut out,
            );
            URL_SAFE_NO_PAD.encode(out)
        }
    }
}

/// A fresh random client secret (256 bits, base64url).
pub fn generate_secret(entropy: &Entropy) -> String {
    URL_SAFE_NO_PAD.encode(entropy.array::<32>())
}

/// Reads a registered certificate file (self_signed_tls_client_auth) into
/// the form a registration stores: base64 DER, one per certificate in the PEM.
pub fn read_certificates(path: &std::path::Path) -> Result<Vec<String>, String> {
    let what = path.display().to_string();
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{what}: cannot read it: {e}"))?;
    let ders = crate::pki::certs_from_pem(&pem, &what).map_err(|e| e.to_string())?;
    Ok(ders
        .iter()
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
        .collect())
}

/// Checks a client's published keys: a JWKS object whose every key
/// jsonwebtoken can use for verification. Returns what is wrong, naming the
/// key by position.
pub fn validate_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|e| format!("jwks must be a JSON Web Key Set {{\"keys\": [...]}}: {e}"))?;
    if set.keys.is_empty() {
        return Err("jwks has no keys".into());
    }
    for (i, key) in set.keys.iter().enumerate() {
        jsonwebtoken::DecodingKey::from_jwk(key).map_err(|e| format!("jwks.keys[{i}] is not a usable key: {e}"))?;
    }
    Ok(())
}

/// Checks a `jwks_uri`: an absolute http(s) URL.
pub fn validate_jwks_uri(uri: &str) -> Result<(), String> {
    match reqwest::Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        _ => Err(format!("jwks_uri '{uri}' must be an absolute http:// or https:// URL")),
    }
}

/// Registered scopes that let a client introspect any client's tokens.
pub const INTROSPECTION_SCOPES: [&str; 2] = ["introspect", "admin"];

/// A registered client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub auth_method: AuthMethod,
    /// Scopes the client may request; `customer.*` allows `customer.<id>`
    /// for any existing customer.
    pub scopes: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretRecord>,
    /// tls_client_auth: the subject DN its certificate must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_subject_dn: Option<String>,
    /// private_key_jwt (and self_signed_tls_client_auth): its public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// private_key_jwt: where its JWKS is published (fetched and cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// self_signed_tls_client_auth: its certificates (DER, base64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
    #[serde(default)]
    pub token_format: TokenFormat,
    /// Defined in the config file (cannot be deleted through the API).
    #[serde(default)]
    pub static_client: bool,
    /// The application it belongs to (its id): an application's own client.
    /// `None`: the default application's (the config's clients, `/clients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

impl Client {
    /// An application's own client, as its portal shows it: one secret, the
    /// scopes `api` and `customer.*`, JWT tokens, defined by the sandbox
    /// (not deletable through `/clients`). `app` is the application's id,
    /// `None` for the default application.
    pub fn of_application(
        client_id: &str,
        name: String,
        auth_method: AuthMethod,
        secret: SecretRecord,
        app: Option<String>,
    ) -> Self {
        Client {
            client_id: client_id.to_owned(),
            name,
            auth_method,
            scopes: vec!["api".into(), "customer.*".into()],
            secrets: vec![secret],
            tls_subject_dn: None,
            jwks: None,
            jwks_uri: None,
            certificates: Vec::new(),
            token_format: TokenFormat::Jwt,
            static_client: true,
            app,
        }
    }

    /// The application whose customers its tokens reach (its id).
    pub fn owner(&self) -> &str {
        self.app.as_deref().unwrap_or(crate::records::DEFAULT_OWNER)
    }

    /// Scopes granted when the request names none.
    pub fn default_scope(&self) -> &str {
        if self.scopes.iter().any(|s| s == "api") {
            "api"
        } else {
            self.scopes.first().map(String::as_str).unwrap_or("")
        }
    }

    /// Whether this client may learn about a token issued to
    /// `token_client_id` at the introspection endpoint. RFC 7662 §4 asks
    /// the server to limit who may introspect: a token's own client may,
    /// and so may a resource server or gateway registered with one of
    /// [`INTROSPECTION_SCOPES`] (the built-in `testing` client has
    /// `admin`). For anyone else the token is reported inactive, so the
    /// answer says nothing about whether it exists.
    pub fn may_introspect(&self, token_client_id: &str) -> bool {
        self.client_id == token_client_id || self.scopes.iter().any(|s| INTROSPECTION_SCOPES.contains(&s.as_str()))
    }

    /// Whether `presented` is one of the client's secrets. A secret that
    /// names its record (`<id>.…`) is hashed against that record only, so
    /// the cost does not grow with the number of secrets; anything else is
    /// tried against every record without an id (config-file and older
    /// secrets). Slow (PBKDF2) on first use: call it through
    /// [`Client::secret_matches_off_workers`] from async code.
    pub fn secret_matches(&self, presented: &str) -> bool {
        // Check every candidate (no early exit) so timing says nothing about which.
        self.candidates(presented)
            .fold(false, |found, s| s.matches(presented) | found)
    }

    /// The records `presented` is checked against: the one it names, else
    /// every record without an id.
    fn candidates(&self, presented: &str) -> impl Iterator<Item = &SecretRecord> {
        let named = presented
            .split_once(ID_SEPARATOR)
            .and_then(|(id, _)| self.secrets.iter().find(|s| s.identified && s.id == id));
        let unnamed = named.is_none().then(|| self.secrets.iter().filter(|s| !s.identified));
        named.into_iter().chain(unnamed.into_iter().flatten())
    }

    /// [`Client::secret_matches`] on tokio's blocking pool when it would run
    /// PBKDF2: a run takes ~10 ms, and wrong guesses are never cached, so on
    /// an async worker a burst of them would stall every other request
    /// (`/health` included). A check that needs no PBKDF2 (a SHA-256, or a
    /// secret that matched before) runs here: the hand-off to the pool cost
    /// a token request more than the check (callgrind, issue #15).
    pub async fn secret_matches_off_workers(&self, presented: &str) -> bool {
        if self.candidates(presented).all(SecretRecord::is_cheap) {
            return self.secret_matches(presented);
        }
        let (client, presented) = (self.clone(), presented.to_owned());
        tokio::task::spawn_blocking(move || client.secret_matches(&presented))
            .await
            .unwrap_or(false)
    }

    /// The view shown by the management API (never secrets' hashes).
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.client_id,
            "name": self.name,
            "token_endpoint_auth_method": self.auth_method,
            "scopes": self.scopes,
            "token_format": self.token_format,
            "static": self.static_client,
            "secrets": self.secrets.iter().map(|s| serde_json::json!({"id": s.id, "name": s.name})).collect::<Vec<_>>(),
        })
    }
}

/// Test hook: which thread ran each PBKDF2 verification, by record salt.
#[cfg(test)]
pub(crate) mod hook {
    use std::sync::Mutex;
    use std::thread::ThreadId;

    static RUNS: Mutex<Vec<(String, ThreadId)>> = Mutex::new(Vec::new());

    pub fn record(salt: &str) {
        let mut runs = RUNS.lock().unwrap_or_else(|p| p.into_inner());
        runs.push((salt.to_owned(), std::thread::current().id()));
    }

    /// The threads that ran PBKDF2 for any of these records.
    pub fn runs_for(records: &[super::SecretRecord]) -> Vec<ThreadId> {
        let runs = RUNS.lock().unwrap_or_else(|p| p.into_inner());
        runs.iter()
            .filter(|(salt, _)| records.iter().any(|r| r.salt == *salt))
            .map(|(_, thread)| *thread)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_with(secrets: Vec<SecretRecord>) -> Client {
        test_client("many", &["api"], secrets)
    }

    /// A dynamic client_secret_post client with these scopes and secrets.
    fn test_client(id: &str, scopes: &[&str], secrets: Vec<SecretRecord>) -> Client {
        Client {
            client_id: id.into(),
            name: id.into(),
            auth_method: AuthMethod::ClientSecretPost,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            secrets,
            tls_subject_dn: None,
            jwks: None,
            jwks_uri: None,
            certificates: vec![],
            token_format: TokenFormat::Jwt,
            static_client: false,
            app: None,
        }
    }

    /// #18 item 5: with 50 secrets every request ran 50 PBKDF2 hashes.
    #[test]
    fn an_issued_secret_is_hashed_against_its_own_record_only() {
        let issued: Vec<(SecretRecord, String)> = (0..MAX_SECRETS_PER_CLIENT)
            .map(|i| SecretRecord::generate(&format!("s{i}"), false, &Entropy::SYSTEM))
            .collect();
        let records: Vec<SecretRecord> = issued.iter().map(|(r, _)| r.clone()).collect();
        let client = client_with(records.clone());
        let (last, clear) = issued.last().unwrap();
        assert!(clear.starts_with(&format!("{}.", last.id)) && last.identified);
        assert!(client.secret_matches(clear));
        assert_eq!(hook::runs_for(&records).len(), 1, "one PBKDF2 run, not one per secret");
        let wrong = format!("{}.guess", issued[3].0.id);
        assert!(!client.secret_matches(&wrong) && !client.secret_matches("no-id-at-all"));
        assert_eq!(hook::runs_for(&records).len(), 2, "a wrong guess: at most one run");
    }

    #[test]
    fn config_and_older_secrets_without_an_id_still_verify() {
        let config = SecretRecord::new("config", "testing", true, &Entropy::SYSTEM);
        let older = SecretRecord::new("old", "an-older-generated-secret", false, &Entropy::SYSTEM);
        let (issued, clear) = SecretRecord::generate("new", false, &Entropy::SYSTEM);
        let client = client_with(vec![config, older, issued]);
        assert!(client.secret_matches("testing"));
        assert!(client.secret_matches("an-older-generated-secret"));
        assert!(client.secret_matches(&clear));
        assert!(!client.secret_matches("testing.x"));
    }

    /// Wrong guesses are not cached, so their PBKDF2 run must not hold an
    /// async worker: on a current-thread runtime, it runs on another thread.
    #[tokio::test]
    async fn the_hash_runs_on_the_blocking_pool() {
        let (record, clear) = SecretRecord::generate("s", false, &Entropy::SYSTEM);
        let client = client_with(vec![record.clone()]);
        assert!(!client.secret_matches_off_workers(&format!("{}.wrong", record.id)).await);
        assert!(client.secret_matches_off_workers(&clear).await);
        let threads = hook::runs_for(&[record]);
        assert_eq!(threads.len(), 2);
        assert!(
            !threads.contains(&std::thread::current().id()),
            "not on the async worker"
        );
    }

    #[test]
    fn secrets_verify_only_against_their_clear_text() {
        let clear = generate_secret(&Entropy::SYSTEM);
        assert_eq!(clear.len(), 43);
        let record = SecretRecord::new("ci", &clear, false, &Entropy::SYSTEM);
        assert_eq!(record.iterations, PBKDF2_ITERATIONS);
        assert!(record.matches(&clear));
        assert!(record.matches(&clear), "again, from the in-memory cache");
        assert!(!record.matches("wrong"));
        let legacy = SecretRecord {
            iterations: 0,
            hash: hash(&record.salt, &clear, 0),
            ..record.clone()
        };
        assert!(
            legacy.matches(&clear) && !legacy.matches("wrong"),
            "records from before PBKDF2 still verify"
        );
        let kept = SecretRecord::new("static", "testing", true, &Entropy::SYSTEM);
        assert!(kept.iterations == 0 && kept.matches("testing"));
        assert!(record.clear.is_none() && !record.hash.contains(&clear));
        let other = SecretRecord::new("ci", &clear, false, &Entropy::SYSTEM);
        assert_ne!(record.hash, other.hash, "salted");
    }

    #[test]
    fn only_the_own_client_or_an_introspect_or_admin_client_may_introspect() {
        let with_scopes = |id: &str, scopes: &[&str]| test_client(id, scopes, vec![]);
        let customer_only = with_scopes("app", &["api", "customer.*"]);
        assert!(customer_only.may_introspect("app"));
        assert!(!customer_only.may_introspect("testing"));
        assert!(!customer_only.may_introspect("partner-client"));
        assert!(with_scopes("gateway", &["introspect"]).may_introspect("partner-client"));
        assert!(with_scopes("testing", &["api", "admin"]).may_introspect("app"));
    }

    #[test]
    fn method_names_match_the_registry_spelling() {
        for method in AuthMethod::ALL {
            assert_eq!(serde_json::to_value(method).unwrap(), method.name());
        }
    }
}

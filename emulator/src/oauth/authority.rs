//! The authorization server's state and its core operations — grant a
//! token, resolve and verify a presented token, rotate the signing key —
//! shared by the HTTP endpoints, the resource servers' bearer check
//! (`oauth::bearer`) and the CLI.
//!
//! It owns what those operations touch: the records store (clients, opaque
//! tokens, revocations), its entropy and the sandbox clock, and the signing
//! key file in the state dir. Callers say `authority.grant(..)`, never
//! which store to use.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use rustls::server::danger::ClientCertVerifier;
use time::OffsetDateTime;

use super::client::{Client, TokenFormat};
use super::client_auth::{self, AuthContext, Authenticated, CertMemo, Presented};
use super::error::OAuthError;
use super::jwks_fetch::JwksFetcher;
use super::keys::{KeyInProgress, KeySet, SigningAlg, SigningKey};
use super::registry::Registry;
use super::store;
use super::token::{self, AccessClaims, TokenError};
use super::verified::{Verified, VerifiedTokens};
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::records::Records;
use crate::state::State;

/// The `aud` of every access token: the emulated resource API.
pub const AUDIENCE: &str = "mtls-sandbox-api";

/// Where the authorization server is reachable.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `https://host:auth_port` — also the issuer.
    pub auth: String,
    /// `https://host:mtls_port` — the mTLS endpoint aliases.
    pub mtls: String,
}

pub struct Authority {
    pub urls: Urls,
    pub registry: Registry,
    pub require_binding: bool,
    keys: RwLock<KeySet>,
    ca_verifier: RwLock<Arc<dyn ClientCertVerifier>>,
    clock: Arc<Clock>,
    records: Arc<Records>,
    /// Where the signing key is kept.
    state: State,
    /// One key rotation at a time: the file and the served key must agree.
    rotating: Mutex<()>,
    jwks_fetcher: JwksFetcher,
    /// Presented tokens that verified.
    verified: VerifiedTokens,
    /// Token ids revoked by this process (older ones are in records.db,
    /// checked when a token is first verified).
    revoked: RwLock<HashSet<String>>,
    /// Thumbprints and subjects of the client certificates presented.
    pub(super) certs: CertMemo,
}

/// A granted token, ready for the token response.
#[derive(Debug)]
pub struct Grant {
    pub access_token: String,
    pub scope: String,
    pub claims: AccessClaims,
}

/// What an authorization server is made of, besides its runtime
/// dependencies.
pub struct Setup {
    pub urls: Urls,
    /// Clients from the configuration (the default application's included).
    pub statics: Vec<Client>,
    pub key: SigningKey,
    /// Verifies client certificates against the sandbox CA (tls_client_auth).
    pub ca_verifier: Arc<dyn ClientCertVerifier>,
    /// Refuse unbound bearer tokens on the mtls host.
    pub require_binding: bool,
}

impl Authority {
    /// An authorization server over `records`, keeping its signing key in
    /// `state`'s dir, on the sandbox clock.
    pub fn new(setup: Setup, records: Arc<Records>, state: State, clock: Arc<Clock>) -> Self {
        Self {
            urls: setup.urls,
            registry: Registry::new(setup.statics, records.clone()),
            require_binding: setup.require_binding,
            keys: RwLock::new(KeySet::new(setup.key)),
            ca_verifier: RwLock::new(setup.ca_verifier),
            clock,
            records,
            state,
            rotating: Mutex::default(),
            jwks_fetcher: JwksFetcher::default(),
            verified: VerifiedTokens::default(),
            revoked: RwLock::default(),
            certs: CertMemo::default(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.urls.auth
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// "Now" for the application with this id ([`Clock::now_for`]): when
    /// what it creates is created.
    pub fn now_for_app(&self, app_id: &str) -> OffsetDateTime {
        self.clock.now_for(app_id)
    }

    /// "Now" for `client`'s tokens: its application's time
    /// ([`Clock::now_for`]).
    pub fn now_for(&self, client: &Client) -> OffsetDateTime {
        self.now_for_app(client.owner())
    }

    /// "Now" for the tokens of the client with this id. Only when some
    /// application's time is its own does this look the client up.
    fn now_for_client_id(&self, client_id: &str) -> OffsetDateTime {
        if self.clock.app_offsets_are_empty() {
            return self.now();
        }
        match self.registry.get(client_id) {
            Ok(Some(client)) => self.now_for(&client),
            _ => self.now(),
        }
    }

    /// Where token ids and new keys come from: the store's entropy (seeded
    /// under `--deterministic`).
    pub fn entropy(&self) -> &Entropy {
        self.records.entropy()
    }

    /// The records store this server keeps its clients and tokens in.
    pub fn records(&self) -> &Arc<Records> {
        &self.records
    }

    pub fn keys(&self) -> KeySet {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the signing key with a new one (persisted in the state dir).
    /// The old key leaves the JWKS at once and the tokens it signed stop
    /// verifying: what a client with a stale JWKS cache sees after a
    /// provider's key rotation.
    pub fn rotate_signing_key(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        let alg = self.keys().active.alg;
        let pem = alg.generate_pem_with(self.entropy())?;
        let key = SigningKey::from_pem(alg, &pem, alg.file_name())?;
        self.state.write(alg.file_name(), pem.as_bytes(), true)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = KeySet::new(key);
        self.verified.clear();
        Ok(())
    }

    /// Replaces the CA verifier (after a certificate revocation).
    pub fn set_ca_verifier(&self, verifier: Arc<dyn ClientCertVerifier>) {
        *self.ca_verifier.write().unwrap_or_else(|p| p.into_inner()) = verifier;
    }

    /// The sandbox CA's client-certificate verifier, as of the last CRL
    /// (the mtls handshake's; a certificate forwarded by a proxy meets it too).
    pub fn ca_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.ca_verifier.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The token endpoint URLs a client assertion may name as `aud`.
    pub fn assertion_audiences(&self) -> Vec<String> {
        vec![
            format!("{}/oauth2/token", self.urls.auth),
            format!("{}/oauth2/token", self.urls.mtls),
            self.urls.auth.clone(),
        ]
    }

    /// Identifies and authenticates the client behind a request (fetching
    /// its JWKS from its jwks_uri when it registered one).
    pub async fn authenticate(&self, presented: &Presented) -> Result<Authenticated, OAuthError> {
        let client_id = client_auth::claimed_client_id(presented)?;
        let client = self
            .registry
            .get(&client_id)
            .map_err(|e| OAuthError::server_error(e.to_string()))?;
        let client = client.ok_or_else(|| {
            OAuthError::invalid_client(format!(
                "unknown client '{client_id}' (list clients with `mtls-sandbox clients list`)"
            ))
        })?;
        let mut client = client;
        if let (None, Some(uri), Some(assertion)) = (&client.jwks, &client.jwks_uri, &presented.assertion) {
            let kid = jsonwebtoken::decode_header(assertion).ok().and_then(|h| h.kid);
            client.jwks = Some(
                self.jwks_fetcher
                    .get(&client.client_id, uri, kid.as_deref(), self.now())
                    .await?,
            );
        }
        let secret_verdict = match client_auth::presented_secret(presented, &client) {
            Some(secret) => Some(client.secret_matches_off_workers(secret).await),
            None => None,
        };
        let verifier = self.ca_verifier();
        // Only a client assertion is checked against these URLs: three
        // strings built per token request for nothing otherwise.
        let audiences = match presented.assertion {
            Some(_) => self.assertion_audiences(),
            None => Vec::new(),
        };
        let now = self.now_for(&client);
        let first_use = |client: &str, jti: &str, exp: i64| {
            store::first_use_of_assertion(&self.records, client, jti, exp, now.unix_timestamp())
                .map_err(OAuthError::from)
        };
        let cx = AuthContext {
            ca_verifier: verifier.as_ref(),
            certs: &self.certs,
            audiences: &audiences,
            now,
            first_use: &first_use,
            secret_verdict,
        };
        client_auth::authenticate(presented, client, &cx)
    }

    /// Checks the requested scopes against the client's registration.
    pub fn grant_scope(&self, client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
        let requested = requested
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(client.default_scope());
        let mut granted = Vec::new();
        for scope in requested.split_whitespace() {
            let allowed = if let Some(customer) = scope.strip_prefix("customer.") {
                if !client.scopes.iter().any(|s| s == "customer.*" || s == scope) {
                    false
                } else if self.records.customer(Some(client.owner()), customer)?.is_none() {
                    // Another application's customer is not found either:
                    // its id says nothing to this client.
                    return Err(OAuthError::invalid_scope(format!(
                        "scope {scope}: there is no customer '{customer}' (create one with POST /customers/v1)"
                    )));
                } else {
                    true
                }
            } else {
                client.scopes.iter().any(|s| s == scope)
            };
            if !allowed {
                return Err(OAuthError::invalid_scope(format!(
                    "client '{}' may not request scope '{scope}' (registered: {})",
                    client.client_id,
                    client.scopes.join(" ")
                )));
            }
            if !granted.contains(&scope) {
                granted.push(scope);
            }
        }
        if granted.is_empty() {
            return Err(OAuthError::invalid_scope(
                "no scope requested and the client has no default scope",
            ));
        }
        Ok(granted.join(" "))
    }

    /// Issues an access token to an authenticated client.
    pub fn grant(&self, who: &Authenticated, scope: String) -> Result<Grant, OAuthError> {
        let claims = AccessClaims::new(
            self.issuer(),
            AUDIENCE,
            &who.client.client_id,
            &scope,
            who.thumbprint.clone(),
            self.now_for(&who.client),
            self.entropy().uuid(),
        );
        let keys = self.keys();
        let jwt = token::issue(&claims, &keys.active)
            .map_err(|e| OAuthError::server_error(format!("signing failed: {e}")))?;
        let access_token = match who.client.token_format {
            TokenFormat::Jwt => jwt,
            TokenFormat::Opaque => store::put_opaque(&self.records, &jwt, &claims.jti, claims.exp, claims.iat)?,
        };
        Ok(Grant {
            access_token,
            scope,
            claims,
        })
    }

    /// The JWT behind a presented token (itself, or what an opaque
    /// reference stands for). `None` for an unknown reference.
    pub fn resolve(&self, presented: &str) -> Result<Option<String>, OAuthError> {
        if token::looks_like_jwt(presented) {
            return Ok(Some(presented.to_owned()));
        }
        Ok(store::resolve_opaque(&self.records, presented)?)
    }

    /// Resolves and verifies a presented access token, revocation included.
    ///
    /// Tokens verified once are cached (signature, issuer and audience do
    /// not change); each use still checks the validity window against the
    /// clock and the revocations made since. A CI suite presents the same
    /// token thousands of times: this keeps a bearer call as cheap as an
    /// app-token call.
    pub fn verify(&self, presented: &str) -> Result<Arc<Verified>, VerifyError> {
        let verified = match self.verified.get(presented) {
            Some(hit) => hit,
            None => {
                let jwt = self
                    .resolve(presented)?
                    .ok_or(VerifyError::Token(TokenError::Malformed))?;
                let claims = token::verify_signed(&jwt, &self.keys(), self.issuer(), AUDIENCE)?;
                token::check_window(&claims, self.now_for_client_id(&claims.client_id))?;
                if store::is_revoked(&self.records, &claims.jti)? {
                    return Err(TokenError::Revoked.into());
                }
                self.verified.insert(presented, Verified { jwt, claims })
            }
        };
        token::check_window(&verified.claims, self.now_for_client_id(&verified.claims.client_id))?;
        if self
            .revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&verified.claims.jti)
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(verified)
    }

    /// Revokes a token presented by its own client (RFC 7009). Unknown or
    /// invalid tokens are not an error.
    pub fn revoke(&self, client_id: &str, presented: &str) -> Result<(), OAuthError> {
        let Some(jwt) = self.resolve(presented)? else {
            return Ok(());
        };
        let Ok(claims) = token::verify(
            &jwt,
            &self.keys(),
            self.issuer(),
            AUDIENCE,
            self.now_for_client_id(client_id),
        ) else {
            return Ok(());
        };
        if claims.client_id != client_id {
            return Err(OAuthError::unauthorized_client(
                "this token was issued to another client; only its own client may revoke it",
            ));
        }
        store::revoke(&self.records, &claims.jti, claims.exp)?;
        self.revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(claims.jti);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

impl From<crate::records::RecordsError> for VerifyError {
    fn from(e: crate::records::RecordsError) -> Self {
        VerifyError::OAuth(e.into())
    }
}

impl std::error::Error for OAuthError {}

/// Loads the signing key for `alg` from the state dir, creating it on first
/// use (0600): from `early` when a key was started on another thread
/// before the state dir existed.
pub fn load_signing_key(
    state: &State,
    alg: SigningAlg,
    entropy: &Entropy,
    early: Option<KeyInProgress>,
) -> anyhow::Result<SigningKey> {
    let path = state.path(alg.file_name());
    let pem = match std::fs::read_to_string(&path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = match early.and_then(|key| key.join(alg)) {
                Some(pem) => pem?,
                None => alg.generate_pem_with(entropy)?,
            };
            state.write(alg.file_name(), pem.as_bytes(), true)?;
            pem
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    Ok(SigningKey::from_pem(alg, &pem, &path.display().to_string())?)
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;

//! One application as requests see it: its name, owner id, auth mode,
//! credentials to compare against, and its own portal login. The running
//! set of them is [`super::Apps`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::record::AppRecord;
use crate::entropy::Entropy;

/// How an application authenticates on the resource API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `lean-app-token` header or a bearer token.
    #[default]
    AppToken,
    /// Bearer token only, as after the provider switches an app to OAuth.
    Oauth,
}

impl AuthMode {
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::AppToken => "app_token",
            AuthMode::Oauth => "oauth",
        }
    }
}

/// An application declared in the config file (`[[apps]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub name: String,
    #[serde(default)]
    pub auth_mode: AuthMode,
}

/// One application of the running sandbox, as requests see it.
#[derive(Debug)]
pub struct App {
    pub name: String,
    /// Owner of its customers and objects ([`record::AppRecord::id`]);
    /// `my_app` for the default application.
    pub id: String,
    pub auth_mode: AuthMode,
    pub client_id: String,
    pub(super) app_token: String,
    pub created_at: OffsetDateTime,
    /// Its record; `None` for the default application (`application` keeps
    /// its credentials, its files are the state dir's own).
    pub(super) record: Option<AppRecord>,
    /// Its own portal login, which sees only this application; `None` for
    /// the default application, whose link is the owner's (it sees all).
    pub portal: Option<PortalLink>,
}

/// An application's portal login: a token (its `sandbox.json`'s
/// `portal_url`) and the path segment of its browser session
/// (`/portal/<session>/`, in no file). Both new at every start and random
/// even under `--deterministic`, like the owner's (`server`).
#[derive(Debug)]
pub struct PortalLink {
    pub token: String,
    pub session: String,
}

impl PortalLink {
    pub(super) fn new() -> Self {
        Self {
            token: Entropy::SYSTEM.alphanumeric(32),
            session: Entropy::SYSTEM.alphanumeric(32),
        }
    }
}

/// One application is one id: a name deleted and created again is another.
impl PartialEq for App {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl App {
    /// Whether `presented` is this application's token (constant time).
    pub fn token_matches(&self, presented: &str) -> bool {
        same_secret(presented, &self.app_token)
    }

    pub fn is_default(&self) -> bool {
        self.record.is_none()
    }
}

pub(super) fn same_secret(presented: &str, secret: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), secret.as_bytes()).is_ok()
}

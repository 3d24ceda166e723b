//! The default application: its credentials (app token, client id and
//! secret) and the `sandbox.json` that publishes them, with one owner.
//!
//! The portal's "Reveal secret" rotates the application's client secret.
//! The secret is printed at startup and kept in `state.json` (so it
//! survives restarts) and `sandbox.json` (so scripts find it). A rotation
//! updates both files, the running authorization server and the copy every
//! reader gets from here, so the old secret stops working at once and
//! nobody shows it again.

use std::sync::{Arc, Mutex, RwLock};

use crate::info::SandboxInfo;
use crate::oauth::Authority;
use crate::oauth::client::SecretRecord;
use crate::oauth::registry::RegistryError;
use crate::state::{AppCredentials, State, StateError};

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The current credentials and published info of the default application.
pub struct Application {
    state: State,
    authority: Arc<Authority>,
    current: RwLock<(Arc<AppCredentials>, Arc<SandboxInfo>)>,
    /// Two reveals at once must not interleave their file writes. One lock
    /// per sandbox: in-process sandboxes (the harness) do not wait on each
    /// other.
    rotating: Mutex<()>,
}

impl Application {
    /// The application as `state` has it, published as `info`; its OAuth
    /// client is served by `authority`.
    pub fn new(state: State, info: SandboxInfo, authority: Arc<Authority>) -> Self {
        let credentials = Arc::new(state.app.clone());
        Self {
            state,
            authority,
            current: RwLock::new((credentials, Arc::new(info))),
            rotating: Mutex::default(),
        }
    }

    /// The credentials as they are now.
    pub fn credentials(&self) -> Arc<AppCredentials> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// What `sandbox.json` says now.
    pub fn info(&self) -> Arc<SandboxInfo> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    /// Issues a new client secret for the default application and returns it.
    pub fn rotate_secret(&self) -> Result<String, RotateError> {
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        let entropy = self.authority.entropy();
        // The same shape as the secret made with the state dir.
        let clear = entropy.alphanumeric(40);
        let credentials = AppCredentials {
            client_secret: clear.clone(),
            ..(*self.credentials()).clone()
        };
        // Durable first: the manifest is what the next start believes.
        self.state.save_app(&credentials)?;
        let mut info = (*self.info()).clone();
        info.client_secret = clear.clone();
        if let Err(e) = self.install(&credentials, &info) {
            // A rotation that failed half-way (the disk filled up after the
            // manifest) must change nothing: the secret the user holds keeps
            // working now and after a restart.
            let old = self.credentials();
            if let Err(undo) = self
                .state
                .save_app(&old)
                .map_err(RotateError::from)
                .and_then(|()| self.install(&old, &self.info()))
            {
                tracing::error!("a failed secret rotation could not be undone: {undo}");
            }
            return Err(e);
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(credentials), Arc::new(info));
        Ok(clear)
    }

    /// Makes `credentials` the ones the authorization server accepts and
    /// `info` what `sandbox.json` says.
    fn install(&self, credentials: &AppCredentials, info: &SandboxInfo) -> Result<(), RotateError> {
        let record = SecretRecord::new("default", &credentials.client_secret, true, self.authority.entropy());
        self.authority
            .registry
            .replace_static_secrets(&credentials.client_id, vec![record])?;
        info.publish(&self.state)?;
        Ok(())
    }
}

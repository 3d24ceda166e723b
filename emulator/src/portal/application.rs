//! Rotating the default application's client secret, the portal's "Reveal
//! secret" for the application. The secret is printed at startup and kept
//! in `state.json` (so it survives restarts) and `sandbox.json` (so scripts
//! find it). A rotation updates all three places and the running
//! authorization server, so the old secret stops working at once.

use std::sync::Mutex;

use crate::context::Context;
use crate::oauth::client::SecretRecord;
use crate::oauth::registry::RegistryError;
use crate::state::{AppCredentials, StateError};

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Two reveals at once must not interleave their file writes.
static ROTATING: Mutex<()> = Mutex::new(());

/// Issues a new client secret for the default application and returns it.
pub fn rotate_secret(ctx: &Context) -> Result<String, RotateError> {
    let _one_at_a_time = ROTATING.lock().unwrap_or_else(|p| p.into_inner());
    let entropy = ctx.records.entropy();
    // The same shape as the secret made with the state dir.
    let clear = entropy.alphanumeric(40);
    // Durable first: if anything below fails, the next start still agrees
    // with what the portal showed.
    ctx.state.save_app(&AppCredentials {
        client_secret: clear.clone(),
        ..ctx.app.clone()
    })?;
    let record = SecretRecord::new("default", &clear, true, entropy);
    ctx.oauth
        .registry
        .replace_static_secrets(&ctx.app.client_id, vec![record])?;
    let mut info = ctx.info.clone();
    info.client_secret = clear.clone();
    info.publish(&ctx.state)?;
    Ok(clear)
}

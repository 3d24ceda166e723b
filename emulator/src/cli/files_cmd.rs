//! Commands about the state dir's files: `certs` (create them), `env`
//! (point a shell at them, or at one application's) and `revoke` (a certificate, in force at once).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::output::out;
use super::{Failure, GlobalArgs, resolve_config, usage};
use crate::entropy::Entropy;
use crate::info;
use crate::instance;
use crate::key_type::describe_certificate_key;
use crate::records::Records;
use crate::state::{State, files};

/// How long `revoke` waits for a running sandbox to load the new CRL (it
/// polls the file twice a second).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

pub fn certs(global: &GlobalArgs) -> Result<(), Failure> {
    let dir = global.state_dir_or_new();
    let config = resolve_config(global, &dir).map_err(usage)?;
    let state = State::load_or_create_with(&dir, &Entropy::SYSTEM, config.client_key)?;
    let verb = if state.fresh { "Created" } else { "Reusing" };
    out!("{verb} sandbox state in {}", state.dir.display());
    let key_kind = state
        .client
        .cert_der()
        .ok()
        .and_then(|der| describe_certificate_key(&der))
        .map(|kind| format!(" ({kind})"))
        .unwrap_or_default();
    for (label, name, kind) in [
        ("CA chain (trust this)", files::CA_CHAIN, ""),
        ("client certificate", files::CLIENT_CERT, ""),
        ("client private key", files::CLIENT_KEY, key_kind.as_str()),
        ("PKCS#12 bundle", files::CLIENT_P12, ""),
    ] {
        out!("  {label:<22} {}{kind}", state.path(name).display());
    }
    out!("  {:<22} {}", "PKCS#12 password", state.app.p12_password);
    Ok(())
}

/// `env`, or `env --app NAME`: that application's credentials and files
/// with the sandbox's URLs (what its `sandbox.env` holds).
pub fn env(global: &GlobalArgs, app: Option<&str>) -> Result<(), Failure> {
    let dir = global.state_dir()?;
    let state = State::load(&dir)?;
    let config = resolve_config(global, &dir).map_err(usage)?;
    let (info, running) = match instance::probe(&dir).and_then(|r| r.info) {
        Some(info) => (info, true),
        None => {
            // Not running: describe the sandbox as `up` would start it.
            let ports = [config.ports.sandbox, config.ports.mtls, config.ports.auth];
            (
                config.sandbox_info(&state, ports, &crate::clock::Clock::system()),
                false,
            )
        }
    };
    let info = match app {
        Some(name) => crate::apps::describe(&info, name, config.app_auth_method).map_err(|e| match e {
            crate::apps::AppError::Unknown(_) | crate::apps::AppError::InvalidName { .. } => usage(anyhow::anyhow!(
                "{e}; applications of {} are under {}",
                dir.display(),
                dir.join(crate::apps::record::APPS_DIR).display()
            )),
            other => other.into(),
        })?,
        None => info,
    };
    let bundle = info::write_trust_bundle(&state)?;
    out!("{}", info.to_exports(&bundle, running).trim_end());
    Ok(())
}

pub async fn revoke(global: &GlobalArgs, cert: Option<PathBuf>) -> Result<(), Failure> {
    let state = State::load(&global.state_dir()?)?;
    let path = cert.unwrap_or_else(|| state.path(files::CLIENT_CERT));
    let pem = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let records = Records::open(&state.path(files::RECORDS))?;
    let what = path.display().to_string();
    let done = crate::revocation::revoke(&state, &records, &pem, &what, time::OffsetDateTime::now_utc())?;
    let verb = if done.newly { "Revoked" } else { "Already revoked:" };
    out!("{verb} \"{}\" (serial {}).", done.subject, done.serial_hex);
    let Some(running) = instance::probe(&state.dir) else {
        out!(
            "No sandbox is running; the next one started on {} refuses it (CRL: {}).",
            state.dir.display(),
            state.path(files::CRL).display()
        );
        return Ok(());
    };
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    while !crate::revocation::is_loaded(&state) {
        if instance::probe(&state.dir).is_none() {
            out!("The sandbox stopped meanwhile; the next one started on it refuses the certificate.");
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(anyhow::anyhow!(
                "the revocation is recorded, but the running sandbox did not reload its CRL within {RELOAD_TIMEOUT:?}; \
                 check its log for \"revocation list\""
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = running.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    out!("The running sandbox{pid} now refuses it at every new handshake.");
    Ok(())
}

//! `mtls-sandbox doctor`: resolves which files to check, runs the offline
//! checks of [`crate::doctor`], then the live handshakes of
//! [`crate::doctor::probe`] — or says plainly
//! why they were skipped — and turns failures into exit code 1.
//!
//! Warnings (a file that works for some client families only, as providers
//! hand it out) do not fail the command.

use std::path::PathBuf;

use clap::Args;

use super::output::out;
use super::{Failure, GlobalArgs};
use crate::doctor::{self, Credentials, Finding, Level, probe};
use crate::pki;
use crate::state::{State, files};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Your client certificate file (PEM or DER) [default: my_app_cert.crt in the state dir].
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Your private key file (PEM) [default: my_app_private_key.pem in the state dir].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The CA file your client trusts (should be lean_public_cert_chain.pem).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Also try a real handshake against this mtls URL [default: the running sandbox's mtls host].
    #[arg(long)]
    pub url: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: DoctorArgs) -> Result<(), Failure> {
    // Your own files can be checked without a sandbox; the defaults need one.
    let dir = match global.state_dir() {
        Ok(dir) => Some(dir),
        Err(_) if args.cert.is_some() && args.key.is_some() => None,
        Err(e) => return Err(e),
    };
    let state = dir.as_deref().and_then(|d| State::load(d).ok());
    let default = |name: &str| {
        state
            .as_ref()
            .map(|s| s.path(name))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let cert = args.cert.clone().unwrap_or_else(|| default(files::CLIENT_CERT));
    let key = args.key.clone().unwrap_or_else(|| default(files::CLIENT_KEY));
    match &state {
        Some(s) => out!(
            "Checking {} and {} against the sandbox in {}\n",
            cert.display(),
            key.display(),
            s.dir.display()
        ),
        None => out!(
            "Checking {} and {} (no sandbox state found: cannot tell whether they were issued by it)\n",
            cert.display(),
            key.display(),
        ),
    }
    let (creds, mut findings) = doctor::read_credentials(&cert, &key);
    let now = time::OffsetDateTime::now_utc();
    let revoked = revoked_serials(state.as_ref());
    findings.extend(doctor::check(&creds, state.as_ref(), now, &|serial| {
        revoked.iter().any(|r| r == serial)
    }));
    if let (Some(ca), Some(state)) = (&args.ca, &state) {
        findings.push(doctor::check_ca_file(ca, state));
    }
    findings.extend(handshakes(&args, state.as_ref(), &creds).await);

    for finding in &findings {
        out!("{finding}");
    }
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    let failed = count(Level::Fail);
    if failed > 0 {
        return Err(anyhow::anyhow!("{failed} problem(s) found; each has its fix above").into());
    }
    match count(Level::Warn) {
        0 => out!("\nNo problems found."),
        n => out!("\nNo problems found; {n} warning(s) above concern some clients only."),
    }
    Ok(())
}

fn revoked_serials(state: Option<&State>) -> Vec<String> {
    state
        .and_then(|s| crate::records::Records::open(&s.path(files::RECORDS)).ok())
        .and_then(|r| r.revoked_certificates().ok())
        .map(|list| list.into_iter().map(|(serial, _)| serial).collect())
        .unwrap_or_default()
}

/// The live handshakes, or one sentence saying why there are none.
async fn handshakes(args: &DoctorArgs, state: Option<&State>, creds: &Credentials) -> Vec<Finding> {
    if let Some(reason) = doctor::handshake_blocker(creds) {
        return vec![Finding::skipped(format!(
            "handshake check skipped: {reason}, so no client gets as far as a handshake. Fix the file and re-run"
        ))];
    }
    let running = state.and_then(|s| crate::instance::probe(&s.dir)).and_then(|r| r.info);
    let behind_proxy = running.as_ref().and_then(|info| info.behind_proxy.clone());
    let running = running.map(|info| info.mtls_url);
    let Some(url) = args.url.clone().or(running) else {
        let dir = state
            .map(|s| s.dir.display().to_string())
            .unwrap_or_else(|| "DIR".into());
        return vec![Finding::skipped(format!(
            "handshake check skipped: no sandbox is running on {dir} and no --url was given. Start one with \
             `mtls-sandbox up --state-dir {dir}` and re-run, or pass --url https://HOST:PORT"
        ))];
    };
    let roots = match trusted_roots(args, state) {
        Ok(roots) => roots,
        Err(reason) => return vec![Finding::skipped(format!("handshake check skipped: {reason}"))],
    };
    let intermediate = state.and_then(|s| s.intermediate.cert_der().ok());
    let mut findings = probe::probe_families(&url, creds, intermediate, &roots).await;
    if let Some(proxy) = behind_proxy.filter(|_| args.url.is_none()) {
        findings.push(Finding::skipped(format!(
            "handshakes through your proxy not checked: the sandbox runs behind it ({proxy}), and the handshakes \
             above went to its mtls host directly; through the proxy, its own TLS settings decide first"
        )));
    }
    findings
}

/// The CAs the probe trusts for the server: the --ca file when given (it is
/// what the user's client trusts), else the sandbox root.
fn trusted_roots(
    args: &DoctorArgs,
    state: Option<&State>,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    if let Some(ca) = &args.ca {
        let name = ca.display().to_string();
        let text = std::fs::read_to_string(ca).map_err(|e| format!("cannot read {name}: {e}"))?;
        return pki::certs_from_pem(&text, &name).map_err(|e| e.to_string());
    }
    match state.map(|s| s.root.cert_der()) {
        Some(Ok(root)) => Ok(vec![root]),
        _ => Err(
            "no sandbox state to trust the server's certificate by, and no --ca given (pass --ca with the CA file \
             your client trusts)"
                .into(),
        ),
    }
}

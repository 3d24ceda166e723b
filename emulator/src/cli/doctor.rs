//! `mtls-sandbox doctor`: resolves which files to check, runs the checks of
//! [`crate::doctor`] and turns failures into exit code 1.

use std::path::PathBuf;

use clap::Args;

use super::{Failure, GlobalArgs};
use crate::info::SandboxInfo;
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
    use crate::doctor::{self, Level};
    let state = State::load(&global.state_dir).ok();
    let default = |name: &str| {
        state
            .as_ref()
            .map(|s| s.path(name))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let cert = args.cert.unwrap_or_else(|| default(files::CLIENT_CERT));
    let key = args.key.unwrap_or_else(|| default(files::CLIENT_KEY));
    match &state {
        Some(s) => println!(
            "Checking {} and {} against the sandbox in {}\n",
            cert.display(),
            key.display(),
            s.dir.display()
        ),
        None => println!(
            "Checking {} and {} (no sandbox state in {}: cannot tell whether they were issued by it)\n",
            cert.display(),
            key.display(),
            global.state_dir.display()
        ),
    }
    let (creds, mut findings) = doctor::read_credentials(&cert, &key);
    let records = state
        .as_ref()
        .and_then(|s| crate::records::Records::open(&s.path(files::RECORDS)).ok());
    let revoked: Vec<String> = records
        .as_ref()
        .and_then(|r| r.revoked_certificates().ok())
        .map(|list| list.into_iter().map(|(serial, _)| serial).collect())
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    findings.extend(doctor::check(&creds, state.as_ref(), now, &|serial| {
        revoked.iter().any(|r| r == serial)
    }));
    if let (Some(ca), Some(state)) = (&args.ca, &state) {
        findings.push(doctor::check_ca_file(ca, state));
    }
    let running = SandboxInfo::read(&global.state_dir.join(files::SANDBOX_JSON)).ok();
    if let Some(url) = args.url.or(running.map(|info| info.mtls_url)) {
        let roots = state
            .as_ref()
            .and_then(|s| s.root.cert_der().ok())
            .into_iter()
            .collect::<Vec<_>>();
        findings.push(doctor::probe(&url, &creds, &roots).await);
    }
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    if failed > 0 {
        return Err(anyhow::anyhow!("{failed} problem(s) found; each has its fix above").into());
    }
    println!("\nNo problems found.");
    Ok(())
}

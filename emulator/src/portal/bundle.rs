//! The workshop bundle (`bundle.zip`): everything one application's holder
//! needs in one download — key, certificate, chain, PKCS#12, a
//! `sandbox.json` whose paths are the bundle's own files, and a README with
//! the curl commands for these credentials. An attendee unzips it on their
//! own machine, where the instructor's state dir paths mean nothing.
//!
//! The bundle holds no portal link: it is a file that gets copied around,
//! and the link is a login.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::download::{self, Entry};
use super::session::Viewer;
use super::{Portal, PortalError, internal};
use crate::apps::DEFAULT_APP;
use crate::info::SandboxInfo;
use crate::oauth::client::AuthMethod;
use crate::state::files;
use crate::web::authorization::APP_TOKEN_HEADER;

/// The bundle's README.
pub const README: &str = "README.txt";

#[derive(serde::Deserialize)]
pub(super) struct BundleQuery {
    /// Whose bundle (the owner may ask for any application's).
    app: Option<String>,
}

/// `GET bundle.zip`: an application's link gets its own; the owner gets
/// `?app=NAME`'s, the default application's without it.
pub(super) async fn download(
    viewer: Viewer,
    State(portal): State<Arc<Portal>>,
    Query(query): Query<BundleQuery>,
) -> Result<Response, PortalError> {
    let asked = query.app.as_deref().filter(|name| !name.is_empty());
    let name = match (viewer.app(), asked) {
        (Some(own), Some(name)) if name != own.name => {
            return Err(PortalError::new(
                StatusCode::FORBIDDEN,
                format!("refused: this portal link is application {}'s, not {name}'s", own.name),
            ));
        }
        (Some(own), _) => own.name.clone(),
        (None, asked) => asked.unwrap_or(DEFAULT_APP).to_owned(),
    };
    let info = portal
        .apps
        .info(&name)
        .map_err(|e| PortalError::new(StatusCode::NOT_FOUND, format!("app={name}: {e}")))?;
    let bytes = zip(&name, &info).map_err(|e| internal(&e))?;
    tracing::info!(target: "portal", "bundle of application {name} downloaded");
    Ok(download::attachment(&format!("{name}_bundle.zip"), bytes))
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// The zip of application `name`, described by its `info`.
pub fn zip(name: &str, info: &SandboxInfo) -> Result<Vec<u8>, BundleError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| BundleError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let local = local(info);
    let (chain, cert, key, p12) = (
        read(&info.ca_chain)?,
        read(&info.client_cert)?,
        read(&info.client_key)?,
        read(&info.client_p12)?,
    );
    let json = local.to_json();
    let readme = readme(name, &local);
    let entries = [
        (file_name(&local.ca_chain), &chain[..], 0o644),
        (file_name(&local.client_cert), &cert[..], 0o644),
        (file_name(&local.client_key), &key[..], 0o600),
        (file_name(&local.client_p12), &p12[..], 0o600),
        (files::SANDBOX_JSON, json.as_bytes(), 0o600),
        (README, readme.as_bytes(), 0o644),
    ]
    .map(|(name, bytes, mode)| Entry { name, bytes, mode });
    Ok(download::zip(&entries)?)
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
}

/// `info` as the bundle's `sandbox.json` says it: paths relative to the
/// unzipped folder, no state dir of the instructor's, no portal login.
pub fn local(info: &SandboxInfo) -> SandboxInfo {
    let here = |path: &Path| PathBuf::from(file_name(path));
    SandboxInfo {
        ca_chain: here(&info.ca_chain),
        client_cert: here(&info.client_cert),
        client_key: here(&info.client_key),
        client_p12: here(&info.client_p12),
        state_dir: PathBuf::from("."),
        portal_url: None,
        portal_token: None,
        ..info.clone()
    }
}

/// The curl arguments that authenticate `client_id` at the token endpoint
/// with `method`, when curl alone can: a secret in the body or the
/// `Authorization` header, or the certificate the call already presents.
pub fn client_auth_args(method: AuthMethod, client_id: &str, secret: &str) -> Option<String> {
    match method {
        AuthMethod::ClientSecretBasic => Some(format!("-u '{client_id}:{secret}'")),
        AuthMethod::ClientSecretPost => Some(format!("-d client_id={client_id} -d client_secret={secret}")),
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => Some(format!("-d client_id={client_id}")),
        AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt => None,
    }
}

/// The README of application `name`'s bundle, whose `sandbox.json` is
/// `local` (paths relative to the bundle): the files, then three commands
/// to run from the unzipped folder — the app token on the mtls host, a
/// certificate-bound access token, and the API with that token.
pub fn readme(name: &str, local: &SandboxInfo) -> String {
    let tls = format!(
        "curl --cacert {} --cert {} --key {}",
        local.ca_chain.display(),
        local.client_cert.display(),
        local.client_key.display()
    );
    let method = AuthMethod::ALL
        .into_iter()
        .find(|m| m.name() == local.token_endpoint_auth_method);
    let token_request = match method.and_then(|m| client_auth_args(m, &local.client_id, &local.client_secret)) {
        Some(auth) => format!(
            "  {tls} \\\n    {auth} \\\n    -d grant_type=client_credentials -d scope=api {}\n",
            local.mtls_token_endpoint
        ),
        None => format!(
            "  Your client authenticates with {} (a signed client assertion): see the\n  \
             sandbox's README for how to make one, then POST it to {}\n",
            local.token_endpoint_auth_method, local.mtls_token_endpoint
        ),
    };
    format!(
        "mtls-sandbox · application {name}\n\
         \n\
         Sandbox-only credentials: they work against this sandbox and nowhere else.\n\
         Unzip, open a terminal in this folder and run the commands below.\n\
         \n\
         Files\n  \
           {chain}   the sandbox's CA chain: trust it (--cacert)\n  \
           {cert}   your client certificate\n  \
           {key}   its private key\n  \
           {p12}   both as PKCS#12 (password {p12_password})\n  \
           sandbox.json   URLs and credentials; its paths are these files\n\
         \n\
         Your credentials\n  \
           app token   {app_token}\n  \
           client id   {client_id}\n  \
           client secret   {client_secret} ({method_name})\n\
         \n\
         1. The mTLS host with your app token:\n\
         \n  \
           {tls} \\\n    \
             -H '{APP_TOKEN_HEADER}: {app_token}' {mtls}/banks/v1\n\
         \n\
         2. An access token for your OAuth client, bound to your certificate:\n\
         \n\
         {token_request}\
         \n\
         3. The API with that token (\"access_token\" in the answer of step 2):\n\
         \n  \
           export TOKEN=<access_token>\n  \
           {tls} \\\n    \
             -H \"Authorization: Bearer $TOKEN\" {mtls}/banks/v1\n",
        chain = local.ca_chain.display(),
        cert = local.client_cert.display(),
        key = local.client_key.display(),
        p12 = local.client_p12.display(),
        p12_password = local.p12_password,
        app_token = local.app_token,
        client_id = local.client_id,
        client_secret = local.client_secret,
        method_name = local.token_endpoint_auth_method,
        mtls = local.mtls_url,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str) -> SandboxInfo {
        serde_json::from_value(serde_json::json!({
            "sandbox_url": "https://ws.lan:4443", "mtls_url": "https://ws.lan:4444",
            "auth_url": "https://ws.lan:4445", "token_endpoint": "https://ws.lan:4445/oauth2/token",
            "mtls_token_endpoint": "https://ws.lan:4444/oauth2/token", "app_token": "APPTOKEN",
            "client_id": "CLIENTID", "client_secret": "SECRET", "token_endpoint_auth_method": method,
            "ca_chain": "/s/lean_public_cert_chain.pem", "client_cert": "/s/apps/alice/alice_cert.crt",
            "client_key": "/s/apps/alice/alice_private_key.pem", "client_p12": "/s/apps/alice/alice.p12",
            "p12_password": "P12", "pid": 1, "state_dir": "/s",
            "portal_url": "https://ws.lan:4443/portal?token=T", "portal_token": "T",
        }))
        .unwrap()
    }

    #[test]
    fn the_bundles_sandbox_json_names_its_own_files_and_holds_no_login() {
        let local = local(&info("client_secret_post"));
        assert_eq!(local.client_cert, PathBuf::from("alice_cert.crt"));
        assert_eq!(local.ca_chain, PathBuf::from("lean_public_cert_chain.pem"));
        assert_eq!(local.state_dir, PathBuf::from("."));
        assert!(local.portal_url.is_none() && local.portal_token.is_none());
        assert_eq!(local.mtls_url, "https://ws.lan:4444");
    }

    #[test]
    fn the_readme_has_the_three_calls_with_these_credentials() {
        let text = readme("alice", &local(&info("client_secret_basic")));
        let tls = "curl --cacert lean_public_cert_chain.pem --cert alice_cert.crt --key alice_private_key.pem";
        assert_eq!(text.matches(tls).count(), 3, "{text}");
        for needle in [
            "application alice",
            "-H 'lean-app-token: APPTOKEN' https://ws.lan:4444/banks/v1",
            "-u 'CLIENTID:SECRET' \\\n",
            "-d grant_type=client_credentials -d scope=api https://ws.lan:4444/oauth2/token\n",
            "-H \"Authorization: Bearer $TOKEN\" https://ws.lan:4444/banks/v1",
            "password P12",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(!text.contains("/s/"), "no path of the instructor's: {text}");
        let post = readme("alice", &local(&info("client_secret_post")));
        assert!(post.contains("-d client_id=CLIENTID -d client_secret=SECRET"), "{post}");
        let jwt = readme("alice", &local(&info("private_key_jwt")));
        assert!(
            jwt.contains("signed client assertion") && !jwt.contains("-d grant_type"),
            "{jwt}"
        );
    }
}

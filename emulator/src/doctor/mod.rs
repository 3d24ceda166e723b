//! `mtls-sandbox doctor`: checks a user's own credential files — the usual
//! reasons an mTLS call fails before it reaches any server — and says what
//! to change, with the command that does it.
//!
//! The checks are pure functions over the files' bytes and the sandbox
//! state; the live handshakes are in [`probe`]. Every finding that concerns
//! only some clients names the client family: OpenSSL-based clients build
//! the chain they send from their CA file, Go, Java and rustls send exactly
//! the certificate file — the same file can work for one and not the other.

pub mod probe;

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::key_type;
use crate::pki;
use crate::state::{State, files};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works for some clients or only here; not a failure.
    Warn,
    Fail,
    /// A check that did not run; the message says why.
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    /// The command or change that fixes it.
    pub fix: Option<String>,
}

impl Finding {
    fn ok(message: impl Into<String>) -> Self {
        Self {
            level: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn warn(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skipped(message: impl Into<String>) -> Self {
        Self {
            level: Level::Skipped,
            message: message.into(),
            fix: None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.level {
            Level::Ok => "✓",
            Level::Warn => "!",
            Level::Fail => "✗",
            Level::Skipped => "–",
        };
        write!(f, "{mark} {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

/// The user's files, read into memory.
pub struct Credentials {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
    pub key_pem: Option<String>,
}

/// Reads a certificate file (PEM, or DER) and a key file (PEM). Problems
/// become findings, not errors: a broken file is exactly what doctor is for.
pub fn read_credentials(cert_path: &Path, key_path: &Path) -> (Credentials, Vec<Finding>) {
    let mut findings = Vec::new();
    let name = |p: &Path| p.display().to_string();
    let certs = match std::fs::read(cert_path) {
        Err(e) => {
            findings.push(Finding::fail(
                format!("cannot read {}: {e}", name(cert_path)),
                "pass the path of your client certificate with --cert",
            ));
            Vec::new()
        }
        Ok(bytes) => parse_certs(&bytes, &name(cert_path), &mut findings),
    };
    let key_pem = match std::fs::read_to_string(key_path) {
        Err(e) => {
            findings.push(Finding::fail(
                format!("cannot read {} as a PEM key: {e}", name(key_path)),
                "pass the path of your PEM private key with --key",
            ));
            None
        }
        Ok(text) => match pki::key_from_pem(&text, &name(key_path)) {
            Ok(_) => Some(text),
            Err(e) => {
                findings.push(Finding::fail(
                    e.to_string(),
                    format!(
                        "{} must be a PEM private key (BEGIN PRIVATE KEY / EC PRIVATE KEY / RSA PRIVATE KEY)",
                        name(key_path)
                    ),
                ));
                None
            }
        },
    };
    let creds = Credentials {
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        certs,
        key_pem,
    };
    (creds, findings)
}

fn parse_certs(bytes: &[u8], name: &str, findings: &mut Vec<Finding>) -> Vec<CertificateDer<'static>> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN")
    {
        return match pki::certs_from_pem(text, name) {
            Ok(certs) => certs,
            Err(e) => {
                findings.push(Finding::fail(
                    e.to_string(),
                    format!(
                        "{name} must hold whole PEM certificates, each from its -----BEGIN CERTIFICATE----- to \
                         its -----END CERTIFICATE----- line: copy or download it again"
                    ),
                ));
                Vec::new()
            }
        };
    }
    if X509Certificate::from_der(bytes).is_ok() {
        findings.push(Finding::warn(
            format!("{name} is a DER (binary) certificate; most clients expect PEM"),
            format!("openssl x509 -inform der -in {name} -out {name}.pem"),
        ));
        return vec![CertificateDer::from(bytes.to_vec())];
    }
    findings.push(Finding::fail(
        format!("{name} holds no certificate (neither PEM nor DER)"),
        format!("use {} from the sandbox state dir", files::CLIENT_CERT),
    ));
    Vec::new()
}

/// Runs every offline check. `state` is the sandbox the files should
/// belong to, when known; `revoked` tells whether a serial (hex) is revoked.
pub fn check(
    creds: &Credentials,
    state: Option<&State>,
    now: OffsetDateTime,
    revoked: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let cert_name = creds.cert_path.display().to_string();
    let Some(leaf_der) = creds.certs.first() else {
        return out;
    };
    let Ok((_, leaf)) = X509Certificate::from_der(leaf_der) else {
        out.push(Finding::fail(
            format!("{cert_name}: the first certificate cannot be parsed"),
            "re-download or re-issue the certificate",
        ));
        return out;
    };
    out.push(Finding::ok(format!(
        "{cert_name}: {} certificate(s); the first is \"{}\"",
        creds.certs.len(),
        leaf.subject()
    )));

    if let Some(key_pem) = &creds.key_pem {
        let cert_key = key_type::describe_certificate_key(leaf_der).unwrap_or_else(|| "unknown".into());
        match pki::key_matches_cert(leaf_der, key_pem) {
            Ok(true) => {
                out.push(Finding::ok(format!(
                    "{} is the private key of this certificate ({cert_key})",
                    creds.key_path.display()
                )));
                out.extend(key_type_warning(&cert_key, &creds.key_path));
            }
            _ => out.push(Finding::fail(
                format!(
                    "{} is not the private key of \"{}\"{}",
                    creds.key_path.display(),
                    leaf.subject(),
                    match key_type::describe_private_key(key_pem) {
                        Some(kind) if kind != cert_key => {
                            format!(" (the certificate's key is {cert_key}, this one {kind})")
                        }
                        _ => String::new(),
                    }
                ),
                format!(
                    "use the key that was issued with the certificate ({} goes with {})",
                    files::CLIENT_KEY,
                    files::CLIENT_CERT
                ),
            )),
        }
    }

    let validity = leaf.validity();
    let (from, to) = (validity.not_before, validity.not_after);
    if now < from.to_datetime() {
        out.push(Finding::fail(
            format!("not valid before {from}"),
            "check the clock of the machine that issued it",
        ));
    } else if now > to.to_datetime() {
        out.push(Finding::fail(
            format!("expired on {to}"),
            "issue a new certificate and use it",
        ));
    } else {
        out.push(Finding::ok(format!("valid from {from} to {to}")));
    }

    match leaf.extended_key_usage() {
        Ok(Some(eku)) if !eku.value.client_auth && !eku.value.any => out.push(Finding::fail(
            "not allowed for client authentication (extended key usage lacks clientAuth — a server certificate?)",
            format!("use a client certificate such as {}", files::CLIENT_CERT),
        )),
        _ => out.push(Finding::ok("allowed for client authentication")),
    }

    check_chain_order(&creds.certs, &cert_name, &mut out);
    if let Some(state) = state {
        check_issuer(&leaf, creds.certs.len(), state, &cert_name, &mut out);
        let serial = hex::encode(leaf.raw_serial());
        if revoked(&serial) {
            out.push(Finding::fail(
                "this certificate has been revoked by the sandbox",
                "issue a new certificate and use it",
            ));
        }
    }
    out
}

/// The provider issues RSA keys, and its samples rely on it: Ruby's
/// `OpenSSL::PKey::RSA.new` refuses any other key ("incorrect pkey type").
fn key_type_warning(cert_key: &str, key_path: &Path) -> Option<Finding> {
    if key_type::is_rsa(cert_key) {
        return None;
    }
    Some(Finding::warn(
        format!(
            "{}: the key is {cert_key}, not RSA as the provider issues: code that reads it as RSA (Ruby's \
             OpenSSL::PKey::RSA.new, Java's KeyFactory.getInstance(\"RSA\")) fails on it",
            key_path.display()
        ),
        "read it with OpenSSL::PKey.read (any type), or use an RSA certificate: the portal's \"Generate new \
         certificate\" issues one ([app] key_type = \"rsa\", the default)",
    ))
}

/// Checks that a CA file the client trusts contains the sandbox root.
pub fn check_ca_file(ca_path: &Path, state: &State) -> Finding {
    let name = ca_path.display().to_string();
    let certs = std::fs::read_to_string(ca_path)
        .map_err(|e| e.to_string())
        .and_then(|text| pki::certs_from_pem(&text, &name).map_err(|e| e.to_string()));
    let fix = format!(
        "trust {} (curl: --cacert; requests: verify=; Node: ca)",
        state.path(files::CA_CHAIN).display()
    );
    match (certs, state.root.cert_der()) {
        (Ok(certs), Ok(root)) if certs.contains(&root) => Finding::ok(format!("{name} contains the sandbox root CA")),
        (Ok(_), _) => Finding::fail(
            format!("{name} does not contain this sandbox's root CA: the client will reject the server"),
            fix,
        ),
        (Err(e), _) => Finding::fail(format!("cannot use {name} as CA file: {e}"), fix),
    }
}

fn check_chain_order(certs: &[CertificateDer<'static>], cert_name: &str, out: &mut Vec<Finding>) {
    let parsed: Vec<X509Certificate<'_>> = certs
        .iter()
        .filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c))
        .collect();
    for pair in parsed.windows(2) {
        if pair[0].issuer() != pair[1].subject() {
            out.push(Finding::fail(
                format!(
                    "{cert_name}: certificates are out of order (\"{}\" is not issued by the next one, \"{}\")",
                    pair[0].subject(),
                    pair[1].subject()
                ),
                format!(
                    "put your own certificate first, then its issuer: cat {} {} > my_app_fullchain.pem",
                    files::CLIENT_CERT,
                    files::CA_CHAIN
                ),
            ));
            return;
        }
    }
}

fn check_issuer(leaf: &X509Certificate<'_>, count: usize, state: &State, cert_name: &str, out: &mut Vec<Finding>) {
    let Ok(int_der) = state.intermediate.cert_der() else {
        return;
    };
    let Ok((_, int)) = X509Certificate::from_der(&int_der) else {
        return;
    };
    let ours = leaf.issuer() == int.subject() && leaf.verify_signature(Some(int.public_key())).is_ok();
    if !ours {
        out.push(Finding::fail(
            format!("not issued by this sandbox (issuer \"{}\")", leaf.issuer()),
            format!("use {} from {}", files::CLIENT_CERT, state.dir.display()),
        ));
        return;
    }
    out.push(Finding::ok("issued by this sandbox's intermediate CA"));
    out.extend(family_verdicts(count, cert_name, state));
}

/// Whether each client family can use the certificate file as it is. The
/// mtls host needs the intermediate CA; OpenSSL-based clients find it in
/// the CA file they trust and send it along, the others send only the file.
fn family_verdicts(count: usize, cert_name: &str, state: &State) -> Vec<Finding> {
    if count > 1 {
        return vec![Finding::ok(format!(
            "{cert_name} includes the intermediate CA: every client (OpenSSL-based, Go, Java, rustls) sends the full chain"
        ))];
    }
    vec![
        Finding::ok(format!(
            "OpenSSL-based clients (curl, Python, Node, Ruby) with --cacert {}: will work (they find the intermediate \
             in that file and send it along)",
            files::CA_CHAIN
        )),
        Finding::warn(
            format!(
                "Go / Java / rustls clients: will be refused by the mtls host (TLS alert UnknownCA) — {cert_name} holds only the leaf \
                 certificate and these clients send only what the file holds. Providers hand the file out this way"
            ),
            format!(
                "append the intermediate and give those clients the result: cat {cert_name} {} > my_app_fullchain.pem",
                state.path(files::INTERMEDIATE_CERT).display()
            ),
        ),
    ]
}

/// Why a live handshake would prove nothing, if so: without a readable
/// certificate and its own key, every client fails before the server has a
/// say.
pub fn handshake_blocker(creds: &Credentials) -> Option<String> {
    let Some(leaf) = creds.certs.first() else {
        return Some(format!("{} holds no usable certificate", creds.cert_path.display()));
    };
    let Some(key_pem) = &creds.key_pem else {
        return Some(format!("{} holds no usable private key", creds.key_path.display()));
    };
    match pki::key_matches_cert(leaf, key_pem) {
        Ok(true) => None,
        _ => Some(format!(
            "{} is not the private key of the certificate in {}",
            creds.key_path.display(),
            creds.cert_path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertAndKey, ClientCertSpec};

    fn sandbox() -> (tempfile::TempDir, State) {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create(&tmp.path().join("s")).unwrap();
        (tmp, state)
    }

    fn creds(certs_pem: &str, key_pem: &str) -> Credentials {
        Credentials {
            cert_path: "cert.pem".into(),
            key_path: "key.pem".into(),
            certs: pki::certs_from_pem(certs_pem, "cert.pem").unwrap(),
            key_pem: Some(key_pem.into()),
        }
    }

    fn levels(findings: &[Finding]) -> Vec<Level> {
        findings.iter().map(|f| f.level).collect()
    }

    #[test]
    fn the_sandbox_leaf_passes_with_a_chain_warning_and_the_fullchain_passes_clean() {
        let (_tmp, state) = sandbox();
        let now = OffsetDateTime::now_utc();
        let leaf_only = check(
            &creds(&state.client.cert_pem, &state.client.key_pem),
            Some(&state),
            now,
            &|_| false,
        );
        assert!(!leaf_only.iter().any(|f| f.level == Level::Fail), "{leaf_only:?}");
        let warn = leaf_only.iter().find(|f| f.level == Level::Warn).unwrap();
        assert!(
            warn.message.starts_with("Go / Java / rustls clients: will be refused"),
            "{warn}"
        );
        assert!(
            warn.fix
                .as_ref()
                .unwrap()
                .ends_with("intermediate_ca.pem > my_app_fullchain.pem"),
            "{warn}"
        );
        assert!(
            leaf_only.iter().any(|f| f.level == Level::Ok
                && f.message
                    .starts_with("OpenSSL-based clients (curl, Python, Node, Ruby)")),
            "{leaf_only:?}"
        );

        let chain = std::fs::read_to_string(state.path(files::CA_CHAIN)).unwrap();
        let full = format!("{}{}", state.client.cert_pem, chain);
        let findings = check(&creds(&full, &state.client.key_pem), Some(&state), now, &|_| false);
        assert!(levels(&findings).iter().all(|l| *l == Level::Ok), "{findings:?}");
    }

    #[test]
    fn each_problem_is_reported_with_a_fix() {
        let (_tmp, state) = sandbox();
        let now = OffsetDateTime::now_utc();
        let fails = |findings: Vec<Finding>| -> Vec<String> {
            findings
                .into_iter()
                .filter(|f| f.level == Level::Fail)
                .map(|f| format!("{f}"))
                .collect()
        };
        let other = pki::create_hierarchy("x@y", now).unwrap();

        let wrong_key = fails(check(
            &creds(&state.client.cert_pem, &other.root.key_pem),
            Some(&state),
            now,
            &|_| false,
        ));
        assert!(wrong_key[0].contains("is not the private key"), "{wrong_key:?}");
        assert!(
            wrong_key[0].contains("(the certificate's key is RSA-2048, this one ECDSA P-256)"),
            "a key of the wrong type says so: {wrong_key:?}"
        );

        let p256 = pki::Ca::load(state.intermediate.clone())
            .unwrap()
            .issue_client(&ClientCertSpec::new("ec", now).with_key_type(crate::key_type::KeyType::P256))
            .unwrap();
        let findings = check(&creds(&p256.cert_pem, &p256.key_pem), Some(&state), now, &|_| false);
        assert!(
            !findings.iter().any(|f| f.level == Level::Fail)
                && findings.iter().any(|f| f.level == Level::Warn
                    && f.message.contains("the key is ECDSA P-256, not RSA")
                    && f.message.contains("OpenSSL::PKey::RSA.new")),
            "a P-256 key works here but not with RSA-only client code: {findings:?}"
        );

        let expired = fails(check(
            &creds(&state.client.cert_pem, &state.client.key_pem),
            Some(&state),
            now + time::Duration::days(800),
            &|_| false,
        ));
        assert!(expired[0].contains("expired on"), "{expired:?}");

        let stranger: CertAndKey = pki::Ca::load(other.intermediate.clone())
            .unwrap()
            .issue_client(&ClientCertSpec::new("s", now))
            .unwrap();
        let foreign = fails(check(
            &creds(&stranger.cert_pem, &stranger.key_pem),
            Some(&state),
            now,
            &|_| false,
        ));
        assert!(foreign[0].contains("not issued by this sandbox"), "{foreign:?}");

        let chain = std::fs::read_to_string(state.path(files::CA_CHAIN)).unwrap();
        let reversed = format!("{chain}{}", state.client.cert_pem);
        let out_of_order = fails(check(
            &creds(&reversed, &state.client.key_pem),
            Some(&state),
            now,
            &|_| false,
        ));
        assert!(
            out_of_order.iter().any(|f| f.contains("out of order")),
            "{out_of_order:?}"
        );

        let revoked = fails(check(
            &creds(&state.client.cert_pem, &state.client.key_pem),
            Some(&state),
            now,
            &|_| true,
        ));
        assert!(revoked[0].contains("revoked"), "{revoked:?}");
    }

    #[test]
    fn unreadable_files_become_findings() {
        let tmp = tempfile::tempdir().unwrap();
        let junk = tmp.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let (creds, findings) = read_credentials(&junk, &tmp.path().join("missing.pem"));
        assert!(creds.certs.is_empty() && creds.key_pem.is_none());
        assert_eq!(levels(&findings), vec![Level::Fail, Level::Fail]);
        assert!(findings[0].message.contains("junk.pem") && findings[1].message.contains("missing.pem"));
        assert!(
            handshake_blocker(&creds)
                .unwrap()
                .ends_with("junk.pem holds no usable certificate")
        );
    }

    #[test]
    fn a_handshake_runs_only_with_a_certificate_and_its_own_key() {
        let (_tmp, state) = sandbox();
        let own = creds(&state.client.cert_pem, &state.client.key_pem);
        assert_eq!(handshake_blocker(&own), None);
        let wrong = creds(&state.client.cert_pem, &state.root.key_pem);
        assert_eq!(
            handshake_blocker(&wrong).unwrap(),
            "key.pem is not the private key of the certificate in cert.pem"
        );
        let keyless = Credentials { key_pem: None, ..own };
        assert_eq!(
            handshake_blocker(&keyless).unwrap(),
            "key.pem holds no usable private key"
        );
    }
}

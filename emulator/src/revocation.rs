//! Revoking client certificates.
//!
//! The records table is the source of truth; the CRL file in the state dir
//! (`revoked_certs.crl.pem`, signed by the intermediate CA) is derived from
//! it. The mtls listener loads that CRL into its verifier, and a running
//! sandbox reloads it when the file changes — so `mtls-sandbox revoke` in
//! another terminal takes effect on the next handshake, without a restart;
//! connections opened before it are refused on their next request
//! ([`RevokedSerials`]).
//!
//! Inside a running sandbox, [`Revocations`] is the one way to revoke: it
//! writes the records and the CRL and pokes the reload, so the portal and
//! fault rules cannot do one without the other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;
use tokio::sync::Notify;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::clock::Clock;
use crate::pki;
use crate::records::Records;
use crate::state::{State, files};

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("{what} is not a certificate: {detail}")]
    NotACertificate { what: String, detail: String },
    #[error(
        "{what} (\"{subject}\") was not issued by this sandbox's CA, so this sandbox cannot revoke it. \
         Pass a certificate issued by the sandbox, e.g. my_app_cert.crt from its state dir"
    )]
    NotOurs { what: String, subject: String },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}

/// What [`revoke`] did.
#[derive(Debug, PartialEq)]
pub struct Revoked {
    pub subject: String,
    pub serial_hex: String,
    /// False when the certificate had already been revoked.
    pub newly: bool,
}

/// A running sandbox's revocations: revoking (records, CRL, reload) and
/// the per-request check against the CRL loaded now.
pub struct Revocations {
    state: State,
    records: Arc<Records>,
    clock: Arc<Clock>,
    /// Poked after a revocation so the mtls host reloads its CRL at once.
    changed: Arc<Notify>,
    loaded: RevokedSerials,
}

impl Revocations {
    pub fn new(state: State, records: Arc<Records>, clock: Arc<Clock>) -> Self {
        Self {
            loaded: RevokedSerials::load(&state),
            state,
            records,
            clock,
            changed: Arc::default(),
        }
    }

    /// The state dir the CRL is written to.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The records holding what was revoked.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Revokes the certificate in `cert_pem` (named `what` in errors) at the
    /// sandbox's "now", rewrites the CRL and has the mtls host reload it.
    pub fn revoke(&self, cert_pem: &str, what: &str) -> Result<Revoked, RevokeError> {
        let revoked = revoke(&self.state, &self.records, cert_pem, what, self.clock.now())?;
        self.changed.notify_one();
        Ok(revoked)
    }

    /// Whether the certificate `der` is on the CRL loaded now.
    pub fn is_revoked(&self, der: &[u8]) -> bool {
        self.loaded.contains(der)
    }

    /// Calls `reload` whenever the CRL file changes (a revocation here, or
    /// `mtls-sandbox revoke` in another process); after a successful
    /// reload the per-request check follows, and `revoke` learns the CRL is
    /// in force. Runs until aborted.
    pub fn watch(
        self: &Arc<Self>,
        mut reload: impl FnMut(&State) -> anyhow::Result<()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        mark_loaded(&self.state);
        let this = self.clone();
        tokio::spawn(watch(self.state.path(files::CRL), self.changed.clone(), move || {
            // What is marked loaded must be what was read: a CRL written
            // during the reload is the watcher's next change.
            let before = crl_digest(&this.state);
            match reload(&this.state) {
                Ok(()) => {
                    this.loaded.reload(&this.state);
                    if crl_digest(&this.state) == before {
                        mark_loaded(&this.state);
                    }
                    tracing::info!("revocation list changed: mtls host reloaded");
                }
                Err(e) => tracing::error!("revocation list changed but could not be loaded: {e:#}"),
            }
        }))
    }
}

/// Revokes the certificate in `cert_pem` (named `what` in errors) and
/// rewrites the CRL. Outside a running sandbox (the CLI, tests); inside,
/// use [`Revocations::revoke`].
pub fn revoke(
    state: &State,
    records: &Records,
    cert_pem: &str,
    what: &str,
    now: OffsetDateTime,
) -> Result<Revoked, RevokeError> {
    let der = pki::first_cert_der(cert_pem, what).map_err(|e| RevokeError::NotACertificate {
        what: what.into(),
        detail: e.to_string(),
    })?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| RevokeError::NotACertificate {
        what: what.into(),
        detail: e.to_string(),
    })?;
    let int_der = state.intermediate.cert_der()?;
    let (_, intermediate) = X509Certificate::from_der(&int_der).map_err(|e| RevokeError::NotACertificate {
        what: files::INTERMEDIATE_CERT.into(),
        detail: e.to_string(),
    })?;
    let subject = cert.subject().to_string();
    if cert.issuer().as_raw() != intermediate.subject().as_raw()
        || cert.verify_signature(Some(intermediate.public_key())).is_err()
    {
        return Err(RevokeError::NotOurs {
            what: what.into(),
            subject,
        });
    }
    let serial_hex = hex::encode(cert.raw_serial());
    let newly = records.revoke_certificate(&serial_hex, &subject, now)?;
    write_crl(state, records, now)?;
    Ok(Revoked {
        subject,
        serial_hex,
        newly,
    })
}

/// Rewrites the CRL file from the records, until it lists every revocation
/// they hold.
///
/// Revocations are written concurrently: two portal requests, or
/// `mtls-sandbox revoke` in another process beside the running sandbox.
/// Each writer reads the records, signs, and renames its CRL into place, so
/// a writer that read just before another's revocation was recorded can
/// rename after it and put back a CRL without it — a revoked certificate
/// the mtls host then accepts (64 parallel writers showed it). Hence each
/// writer reads the records again after renaming, and writes again while
/// they hold more than it wrote: whoever renames last has then checked that
/// its CRL is complete. The loop ends when no one revokes meanwhile.
pub fn write_crl(state: &State, records: &Records, now: OffsetDateTime) -> Result<(), RevokeError> {
    let ca = state.issuing_ca()?;
    let mut revoked = records.revoked_certificates()?;
    loop {
        let entries: Vec<(Vec<u8>, OffsetDateTime)> = revoked
            .iter()
            .filter_map(|(serial, at)| unhex(serial).map(|s| (s, *at)))
            .collect();
        let pem = ca.crl(&entries, entries.len() as u64 + 1, now)?;
        state.write(files::CRL, pem.as_bytes(), false)?;
        let recorded = records.revoked_certificates()?;
        let serials = |list: &[(String, OffsetDateTime)]| -> std::collections::BTreeSet<String> {
            list.iter().map(|(serial, _)| serial.clone()).collect()
        };
        if serials(&recorded) == serials(&revoked) {
            return Ok(());
        }
        revoked = recorded;
    }
}

/// The serial numbers (hex) the CRL file lists, or `None` when it is
/// missing or unreadable.
pub fn crl_serials(state: &State) -> Option<std::collections::BTreeSet<String>> {
    let der = load_crl(state)?;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).ok()?;
    Some(
        crl.iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect(),
    )
}

/// Rewrites the CRL unless it already lists exactly what the records hold.
/// A `revoke` killed between its two writes leaves the records ahead of the
/// CRL; the next start repairs that (and a consistent CRL costs no signing).
pub fn sync_crl(state: &State, records: &Records, now: OffsetDateTime) -> Result<(), RevokeError> {
    let recorded: std::collections::BTreeSet<String> = records
        .revoked_certificates()?
        .into_iter()
        .map(|(serial, _)| serial)
        .collect();
    if crl_serials(state).as_ref() != Some(&recorded) {
        write_crl(state, records, now)?;
    }
    Ok(())
}

/// The CRL currently in the state dir, if any.
pub fn load_crl(state: &State) -> Option<CertificateRevocationListDer<'static>> {
    CertificateRevocationListDer::from_pem_file(state.path(files::CRL)).ok()
}

/// A fingerprint of the CRL file as it is now (SHA-256, hex); `None` when
/// there is none yet.
pub fn crl_digest(state: &State) -> Option<String> {
    let bytes = std::fs::read(state.path(files::CRL)).ok()?;
    Some(hex::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref(),
    ))
}

/// Records which CRL the running mtls host has loaded, so `revoke` in
/// another process can return only once its revocation is in force.
pub fn mark_loaded(state: &State) {
    let digest = crl_digest(state).unwrap_or_default();
    if let Err(e) = state.write_runtime(files::CRL_LOADED, digest.as_bytes(), false) {
        tracing::warn!("{e}");
    }
}

/// Whether the running sandbox has loaded the CRL as it is now.
pub fn is_loaded(state: &State) -> bool {
    std::fs::read_to_string(state.path(files::CRL_LOADED)).ok() == Some(crl_digest(state).unwrap_or_default())
}

/// The serials (hex) of the CRL the mtls host has loaded, for the check on
/// every request: the handshake checks the CRL only once, and a connection
/// opened before a revocation would otherwise keep working on it.
#[derive(Debug, Default)]
pub struct RevokedSerials(std::sync::RwLock<Arc<std::collections::BTreeSet<String>>>);

impl RevokedSerials {
    /// The serials the state dir's CRL lists now.
    pub fn load(state: &State) -> Self {
        let loaded = Self::default();
        loaded.reload(state);
        loaded
    }

    /// Re-reads the CRL (after `watch` saw it change).
    pub fn reload(&self, state: &State) {
        let serials = Arc::new(crl_serials(state).unwrap_or_default());
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = serials;
    }

    /// Whether the certificate `der` is revoked; false for one that does not
    /// parse (the handshake judged it already).
    pub fn contains(&self, der: &[u8]) -> bool {
        let serials = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        !serials.is_empty()
            && X509Certificate::from_der(der).is_ok_and(|(_, cert)| serials.contains(&hex::encode(cert.raw_serial())))
    }
}

/// Watches the CRL file and calls `on_change` when its content changes.
/// Reading a CRL of a few KB twice a second costs nothing measurable and
/// works everywhere, unlike inotify; it catches `mtls-sandbox revoke` from
/// another process. A revocation inside the sandbox (portal, fault rule)
/// pokes `poke` instead, so it applies before the next handshake.
///
/// The content, not the mtime: two writes within one tick of the
/// filesystem's coarse clock (milliseconds) leave the same mtime, and the
/// second revocation would wait for some later change to take effect.
pub async fn watch(path: PathBuf, poke: Arc<Notify>, mut on_change: impl FnMut() + Send + 'static) {
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = poke.notified() => {}
        }
        let now = std::fs::read(&path).ok();
        if now != last {
            last = now;
            on_change();
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ClientCertSpec;

    #[test]
    fn revoking_writes_a_crl_and_refuses_foreign_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create(&tmp.path().join("s")).unwrap();
        let records = Records::open(&state.path(files::RECORDS)).unwrap();
        let now = OffsetDateTime::now_utc();

        let first = revoke(&state, &records, &state.client.cert_pem, "my_app_cert.crt", now).unwrap();
        assert!(first.newly && first.subject.contains("CN=my_app"));
        let again = revoke(&state, &records, &state.client.cert_pem, "my_app_cert.crt", now).unwrap();
        assert!(!again.newly);

        let serials = RevokedSerials::load(&state);
        assert!(serials.contains(&state.client.cert_der().unwrap()));
        let other = state
            .issuing_ca()
            .unwrap()
            .issue_client(&ClientCertSpec::new("other", now))
            .unwrap();
        assert!(!serials.contains(&other.cert_der().unwrap()));

        let der = load_crl(&state).expect("CRL written");
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
        let listed: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![first.serial_hex]);

        let foreign = pki::create_hierarchy("x@y", now).unwrap();
        let stranger = pki::Ca::load(foreign.intermediate)
            .unwrap()
            .issue_client(&ClientCertSpec::new("s", now))
            .unwrap();
        let err = revoke(&state, &records, &stranger.cert_pem, "stranger.pem", now).unwrap_err();
        assert!(err.to_string().contains("was not issued by this sandbox"), "{err}");
        let err = revoke(&state, &records, "nonsense", "junk.pem", now).unwrap_err();
        assert!(err.to_string().contains("junk.pem"), "{err}");
    }

    #[tokio::test]
    async fn a_rewrite_within_the_same_mtime_is_still_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("crl.pem");
        std::fs::write(&path, "first").unwrap();
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        let (changes, poke) = (
            Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            Arc::new(Notify::new()),
        );
        let seen = changes.clone();
        let task = tokio::spawn(watch(path.clone(), poke.clone(), move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        let count = || changes.load(std::sync::atomic::Ordering::SeqCst);
        let settle = || async {
            for _ in 0..50 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        settle().await;
        assert_eq!(count(), 0, "nothing changed yet");
        std::fs::write(&path, "second").unwrap();
        // As a second write in the same coarse clock tick leaves it.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(stamp)
            .unwrap();
        poke.notify_one();
        settle().await;
        assert_eq!(count(), 1, "a new content with the old mtime is a change");
        poke.notify_one();
        settle().await;
        assert_eq!(count(), 1, "the same content is not");
        task.abort();
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex(&hex::encode([0, 1, 0xab, 0xff])), Some(vec![0, 1, 0xab, 0xff]));
        assert_eq!(unhex("zz"), None);
    }
}

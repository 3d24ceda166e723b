//! The state directory: what files a sandbox consists of, creating them once,
//! and loading them on every later start.
//!
//! Rules this module guarantees:
//! - creation is all-or-nothing: the files are made in a temp directory and
//!   moved into place with one rename, so a crash never leaves half a sandbox;
//! - a later start reuses the files as they are, so certificates a user has
//!   copied elsewhere stay valid across restarts;
//! - a missing or corrupt file is an error that names the file and says what
//!   to do. We never regenerate silently: that would invalidate every copy of
//!   the old certificates without telling anyone.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entropy::Entropy;
use crate::fsutil::{PUBLIC_MODE, SECRET_MODE, write_atomic, write_replace};
use crate::key_type::KeyType;
use crate::pki::{self, CertAndKey, ClientCertSpec};

/// File names inside the state dir. The client-facing ones are named as a
/// hosted developer portal names its downloads.
pub mod files {
    pub const MANIFEST: &str = "state.json";
    pub const ROOT_CERT: &str = "root_ca.pem";
    pub const ROOT_KEY: &str = "root_ca_key.pem";
    pub const INTERMEDIATE_CERT: &str = "intermediate_ca.pem";
    pub const INTERMEDIATE_KEY: &str = "intermediate_ca_key.pem";
    pub const CA_CHAIN: &str = "lean_public_cert_chain.pem";
    pub const CLIENT_CERT: &str = "my_app_cert.crt";
    pub const CLIENT_KEY: &str = "my_app_private_key.pem";
    pub const CLIENT_P12: &str = "my_app.p12";
    pub const RECORDS: &str = "records.db";
    pub const CRL: &str = "revoked_certs.crl.pem";
    pub const SERVER_CERT: &str = "server_cert.pem";
    pub const SERVER_KEY: &str = "server_key.pem";
    pub const SANDBOX_JSON: &str = "sandbox.json";
    pub const SANDBOX_ENV: &str = "sandbox.env";
    /// Held by the running `up` (see `instance`).
    pub const LOCK: &str = "sandbox.lock";
    /// The running sandbox's clock when it is not the system clock.
    pub const CLOCK: &str = "clock.json";
    /// SHA-256 of the CRL the running mtls host has loaded.
    pub const CRL_LOADED: &str = "revoked_certs.loaded";
    /// System CA roots plus the sandbox chain, for `SSL_CERT_FILE` and friends.
    pub const TRUST_BUNDLE: &str = "trust_bundle.pem";
    /// Webhook URLs set at runtime (admin API, CLI, portal), per application.
    pub const WEBHOOKS: &str = "webhooks.json";
}

const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is missing from the state dir.\n  Restore it from a backup, or move {dir} aside and run \
         `mtls-sandbox certs --state-dir {dir}` to create a new sandbox \
         (certificates copied from the old one will stop working)."
    )]
    Missing { path: PathBuf, dir: PathBuf },
    #[error(
        "{path} is damaged: {detail}.\n  Restore it from a backup, or move {dir} aside and run \
         `mtls-sandbox certs --state-dir {dir}` to create a new sandbox \
         (certificates copied from the old one will stop working)."
    )]
    Corrupt {
        path: PathBuf,
        detail: String,
        dir: PathBuf,
    },
    #[error(
        "{dir} exists and is not empty, but has no {manifest}: it is not a mtls-sandbox state dir.\n  \
         Pick another --state-dir, or empty this directory."
    )]
    Foreign { dir: PathBuf, manifest: &'static str },
    #[error("could not create certificates: {0}")]
    Pki(#[from] pki::PkiError),
    /// A write failed because the disk is full, read-only or not ours.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageFailure),
    #[error(
        "{dir} is a mount point, and a new state dir is moved into place with one rename, which cannot \
         replace a mount point.\n  Use a directory inside it: --state-dir {dir}/sandbox"
    )]
    MountPoint { dir: PathBuf },
}

impl StateError {
    /// The disk's failure behind this error, if that is what it is.
    pub fn storage(&self) -> Option<&crate::storage::StorageFailure> {
        match self {
            StateError::Storage(failure) => Some(failure),
            _ => None,
        }
    }
}

/// The error of writing (`action`) `path`: a [`StateError::Storage`] when
/// the disk is at fault, so the message says what to do.
fn write_error(action: &'static str, path: PathBuf) -> impl FnOnce(std::io::Error) -> StateError {
    move |source| match crate::storage::StorageFailure::from_io(&path, &source) {
        Some(failure) => StateError::Storage(failure),
        None => StateError::Io { action, path, source },
    }
}

/// Credentials of the default application, as a portal would show them.
/// Kept in clear in the 0600 manifest because the startup summary must print
/// them on every start; they are sandbox-only by construction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppCredentials {
    pub name: String,
    pub app_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub p12_password: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    app: AppCredentials,
}

/// A loaded state dir: every file parsed and checked.
#[derive(Clone)]
pub struct State {
    pub dir: PathBuf,
    pub created_at: OffsetDateTime,
    /// True when this call created the state (first start).
    pub fresh: bool,
    pub app: AppCredentials,
    pub root: CertAndKey,
    pub intermediate: CertAndKey,
    pub client: CertAndKey,
}

impl State {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Loads the state in `dir`, creating it first if `dir` does not exist or
    /// is empty (with an RSA client key).
    pub fn load_or_create(dir: &Path) -> Result<State, StateError> {
        Self::load_or_create_with(dir, &Entropy::SYSTEM, KeyType::default())
    }

    /// [`State::load_or_create`] with keys, serials and credentials of a new
    /// state drawn from `entropy`, and a `client_key` client key. An existing
    /// state keeps the key it has, whatever its type.
    pub fn load_or_create_with(dir: &Path, entropy: &Entropy, client_key: KeyType) -> Result<State, StateError> {
        let dir = absolute(dir)?;
        if dir.join(files::MANIFEST).exists() {
            return Self::load(&dir);
        }
        if is_nonempty_dir(&dir)? {
            return Err(StateError::Foreign {
                dir,
                manifest: files::MANIFEST,
            });
        }
        create(&dir, entropy, client_key)?;
        let mut state = Self::load(&dir)?;
        state.fresh = true;
        Ok(state)
    }

    /// Loads an existing state dir; every file must be present and parse.
    pub fn load(dir: &Path) -> Result<State, StateError> {
        let dir = absolute(dir)?;
        let reader = Reader { dir: &dir };
        let manifest: Manifest = {
            let text = reader.read(files::MANIFEST)?;
            serde_json::from_str(&text).map_err(|e| reader.corrupt(files::MANIFEST, e))?
        };
        if manifest.version != MANIFEST_VERSION {
            return Err(reader.corrupt(
                files::MANIFEST,
                format!(
                    "unsupported version {} (this build reads {MANIFEST_VERSION})",
                    manifest.version
                ),
            ));
        }
        let root = reader.cert_and_key(files::ROOT_CERT, files::ROOT_KEY)?;
        let intermediate = reader.cert_and_key(files::INTERMEDIATE_CERT, files::INTERMEDIATE_KEY)?;
        let client = reader.cert_and_key(files::CLIENT_CERT, files::CLIENT_KEY)?;
        let chain = reader.read(files::CA_CHAIN)?;
        pki::certs_from_pem(&chain, files::CA_CHAIN).map_err(|e| reader.corrupt(files::CA_CHAIN, e))?;
        for name in [files::CLIENT_P12, files::RECORDS] {
            if !dir.join(name).is_file() {
                return Err(reader.missing(name));
            }
        }
        Ok(State {
            created_at: manifest.created_at,
            fresh: false,
            app: manifest.app,
            root,
            intermediate,
            client,
            dir,
        })
    }

    /// The CA that issues client and server certificates.
    pub fn issuing_ca(&self) -> Result<pki::Ca, StateError> {
        pki::Ca::load(self.intermediate.clone()).map_err(|e| StateError::Corrupt {
            path: self.path(files::INTERMEDIATE_KEY),
            detail: e.to_string(),
            dir: self.dir.clone(),
        })
    }

    /// Rewrites the manifest with new application credentials (the portal
    /// rotating the client secret), durably: the next start uses them.
    pub fn save_app(&self, app: &AppCredentials) -> Result<(), StateError> {
        self.write(files::MANIFEST, &manifest_bytes(self.created_at, app), true)
    }

    /// Writes a file into the state dir atomically and durably.
    pub fn write(&self, name: &str, bytes: &[u8], secret: bool) -> Result<(), StateError> {
        let path = self.path(name);
        let mode = if secret { SECRET_MODE } else { PUBLIC_MODE };
        write_atomic(&path, bytes, mode).map_err(write_error("write", path))
    }

    /// Writes a file that is regenerated on every start (readiness files,
    /// the server certificate) into the state dir: atomically, not durably.
    pub fn write_runtime(&self, name: &str, bytes: &[u8], secret: bool) -> Result<(), StateError> {
        let path = self.path(name);
        let mode = if secret { SECRET_MODE } else { PUBLIC_MODE };
        write_replace(&path, bytes, mode).map_err(write_error("write", path))
    }
}

fn manifest_bytes(created_at: OffsetDateTime, app: &AppCredentials) -> Vec<u8> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        created_at,
        app: app.clone(),
    };
    serde_json::to_vec_pretty(&manifest).expect("manifest serialises")
}

struct Reader<'a> {
    dir: &'a Path,
}

impl Reader<'_> {
    fn read(&self, name: &str) -> Result<String, StateError> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| self.corrupt(name, "not UTF-8 text")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing(name)),
            Err(source) => Err(StateError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn cert_and_key(&self, cert: &str, key: &str) -> Result<CertAndKey, StateError> {
        let cert_pem = self.read(cert)?;
        let cert_der = pki::first_cert_der(&cert_pem, cert).map_err(|e| self.corrupt(cert, e))?;
        let key_pem = self.read(key)?;
        pki::key_from_pem(&key_pem, key).map_err(|e| self.corrupt(key, e))?;
        if !pki::key_matches_cert(&cert_der, &key_pem).map_err(|e| self.corrupt(key, e))? {
            return Err(self.corrupt(key, format!("it is not the private key of {cert}")));
        }
        Ok(CertAndKey { cert_pem, key_pem })
    }

    fn missing(&self, name: &str) -> StateError {
        StateError::Missing {
            path: self.dir.join(name),
            dir: self.dir.to_path_buf(),
        }
    }

    fn corrupt(&self, name: &str, detail: impl ToString) -> StateError {
        StateError::Corrupt {
            path: self.dir.join(name),
            detail: detail.to_string(),
            dir: self.dir.to_path_buf(),
        }
    }
}

/// Builds a complete state in a sibling temp dir, then renames it to `dir`.
fn create(dir: &Path, entropy: &Entropy, client_key: KeyType) -> Result<(), StateError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let io = |action, path: &Path| write_error(action, path.to_path_buf());
    fs::create_dir_all(parent).map_err(io("create", parent))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.creating-{}", std::process::id()));
    // remove_dir_all removes a planted link itself, not what it points to;
    // the builder then creates a fresh dir or fails, and 0700 (not the
    // umask's default) keeps other users from listing or planting files.
    let _ = fs::remove_dir_all(&tmp);
    fs::DirBuilder::new()
        .mode(crate::fsutil::DIR_MODE)
        .create(&tmp)
        .map_err(io("create", &tmp))?;
    let result = populate(&tmp, entropy, client_key).and_then(|()| {
        // rename(2) may replace an empty directory, which covers a state
        // dir the user made beforehand.
        fs::rename(&tmp, dir).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => StateError::MountPoint { dir: dir.to_path_buf() },
            _ => io("create", dir)(e),
        })
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

fn populate(tmp: &Path, entropy: &Entropy, client_key: KeyType) -> Result<(), StateError> {
    let now = OffsetDateTime::now_utc();
    let hierarchy = pki::create_hierarchy_with(&owner(), now, entropy)?;
    let ca = pki::Ca::load(hierarchy.intermediate.clone())?.with_entropy(std::sync::Arc::new(entropy.fork()));
    let app_name = "my_app";
    let spec = ClientCertSpec::new(app_name, now).with_key_type(client_key);
    let chain_pem = format!("{}{}", hierarchy.intermediate.cert_pem, hierarchy.root.cert_pem);
    // The (empty) CRL too: written here, it is fsynced with the CA's files
    // instead of on its own on the way to the first start's ready.
    let empty_crl = ca.crl(&[], 1, now)?;
    let ca_files: [(&str, &[u8], u32); 6] = [
        (files::ROOT_CERT, hierarchy.root.cert_pem.as_bytes(), PUBLIC_MODE),
        (files::ROOT_KEY, hierarchy.root.key_pem.as_bytes(), SECRET_MODE),
        (
            files::INTERMEDIATE_CERT,
            hierarchy.intermediate.cert_pem.as_bytes(),
            PUBLIC_MODE,
        ),
        (
            files::INTERMEDIATE_KEY,
            hierarchy.intermediate.key_pem.as_bytes(),
            SECRET_MODE,
        ),
        (files::CA_CHAIN, chain_pem.as_bytes(), PUBLIC_MODE),
        (files::CRL, empty_crl.as_bytes(), PUBLIC_MODE),
    ];
    // Independent waits side by side: an RSA client key (a random prime
    // search of 100+ ms, unless the key pool has one), the CA's files and
    // records.db (each waiting on the disk for its fsyncs), and the .p12
    // (two PBKDF2 runs of ~10 ms each) while records.db is still being
    // made. A P-256 key is quick, and stays inline so that a seeded
    // entropy's draws keep their order (the client key, then the credentials).
    let chain = [hierarchy.intermediate.cert_der()?, hierarchy.root.cert_der()?];
    let (client, app, p12) = std::thread::scope(|scope| {
        let rsa = (!client_key.is_derivable()).then(|| scope.spawn(move || client_key.generate(&Entropy::SYSTEM)));
        let records = scope.spawn(|| create_records(tmp));
        let written = scope.spawn(|| write_durably(tmp, &ca_files));
        let client = match rsa {
            Some(thread) => {
                let key = thread.join().expect("client key generation panicked");
                ca.issue_client_with_key(&spec, key.map_err(pki::PkiError::from)?)?
            }
            None => ca.issue_client(&spec)?,
        };
        let app = AppCredentials {
            name: app_name.into(),
            app_token: entropy.alphanumeric(32),
            client_id: entropy.uuid(),
            client_secret: entropy.alphanumeric(40),
            p12_password: entropy.alphanumeric(16),
        };
        let p12 = pki::pkcs12(&client, &chain, &app.p12_password, app_name)?;
        records.join().expect("records.db creation panicked")?;
        written.join().expect("writing the CA files panicked")?;
        Ok::<_, StateError>((client, app, p12))
    })?;
    let manifest = manifest_bytes(now, &app);
    write_durably(
        tmp,
        &[
            (files::CLIENT_CERT, client.cert_pem.as_bytes(), PUBLIC_MODE),
            (files::CLIENT_KEY, client.key_pem.as_bytes(), SECRET_MODE),
            (files::CLIENT_P12, &p12, SECRET_MODE),
            (files::MANIFEST, &manifest, SECRET_MODE),
        ],
    )
}

/// Writes `entries` (name, bytes, mode) into `dir` and flushes them and
/// the directory to disk before returning. The fsyncs are issued side by
/// side: the filesystem then commits them together, where one after the
/// other each waits for a journal commit of its own (nine files: ~70 ms
/// against ~5 ms on a busy disk).
fn write_durably(dir: &Path, entries: &[(&str, &[u8], u32)]) -> Result<(), StateError> {
    let mut paths = Vec::with_capacity(entries.len() + 1);
    for (name, bytes, mode) in entries {
        let path = dir.join(name);
        write_replace(&path, bytes, *mode).map_err(write_error("write", path.clone()))?;
        paths.push(path);
    }
    paths.push(dir.to_path_buf());
    std::thread::scope(|scope| {
        let syncs: Vec<_> = paths
            .iter()
            .map(|path| {
                scope.spawn(move || {
                    fs::File::open(path)
                        .and_then(|f| f.sync_all())
                        .map_err(write_error("flush", path.clone()))
                })
            })
            .collect();
        syncs
            .into_iter()
            .try_for_each(|sync| sync.join().expect("fsync thread panicked"))
    })
}

/// Creates `records.db` (and its schema) in the state being built.
fn create_records(tmp: &Path) -> Result<(), StateError> {
    let records = tmp.join(files::RECORDS);
    crate::records::Records::create(&records).map_err(|e| StateError::Corrupt {
        path: records.clone(),
        detail: e.to_string(),
        dir: tmp.to_path_buf(),
    })?;
    Ok(())
}

/// `user@host`, written into CA subjects.
fn owner() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

fn absolute(dir: &Path) -> Result<PathBuf, StateError> {
    std::path::absolute(dir).map_err(|source| StateError::Io {
        action: "resolve",
        path: dir.to_path_buf(),
        source,
    })
}

fn is_nonempty_dir(dir: &Path) -> Result<bool, StateError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StateError::Io {
            action: "read",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_creates_and_later_starts_reuse() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let first = State::load_or_create(&dir).unwrap();
        assert!(first.fresh);
        let again = State::load_or_create(&dir).unwrap();
        assert!(!again.fresh);
        assert_eq!(first.client.cert_pem, again.client.cert_pem);
        assert_eq!(first.app.client_secret, again.app.client_secret);
        for secret in [
            files::ROOT_KEY,
            files::INTERMEDIATE_KEY,
            files::CLIENT_KEY,
            files::MANIFEST,
            files::CLIENT_P12,
        ] {
            let mode = fs::metadata(dir.join(secret)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{secret}");
        }
        // Only the state dir itself: no temp dirs left next to it.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "owner-only whatever the umask (issue #18 item 8)");
    }

    /// The key type of `my_app_private_key.pem`, of its certificate and of
    /// the key in `my_app.p12` (modulus bytes for RSA, 0 for EC).
    fn client_key_types(state: &State) -> (String, usize) {
        let der = state.client.cert_der().unwrap();
        let cert_key = crate::key_type::describe_certificate_key(&der).unwrap();
        assert!(pki::key_matches_cert(&der, &state.client.key_pem).unwrap());
        assert!(
            state.client.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8"
        );
        let p12 = fs::read(state.path(files::CLIENT_P12)).unwrap();
        let store = p12_keystore::KeyStore::from_pkcs12(&p12, &state.app.p12_password, Default::default()).unwrap();
        let (_, entry) = store.private_key_chain().unwrap();
        assert_eq!(
            entry.certs()[0].as_der(),
            der.as_ref(),
            "the .p12 holds the same certificate"
        );
        let modulus =
            aws_lc_rs::signature::RsaKeyPair::from_pkcs8(entry.key().as_der()).map_or(0, |k| k.public_modulus_len());
        (cert_key, modulus)
    }

    #[test]
    fn a_new_state_has_an_rsa_2048_client_key_unless_p256_is_asked_for() {
        let tmp = tempfile::tempdir().unwrap();
        let rsa = State::load_or_create(&tmp.path().join("rsa")).unwrap();
        assert_eq!(client_key_types(&rsa), ("RSA-2048".into(), 256));
        let p256 = State::load_or_create_with(&tmp.path().join("ec"), &Entropy::SYSTEM, KeyType::P256).unwrap();
        assert_eq!(client_key_types(&p256), ("ECDSA P-256".into(), 0));
        // An existing state keeps its key whatever is asked for now.
        let again = State::load_or_create_with(&p256.dir, &Entropy::SYSTEM, KeyType::Rsa).unwrap();
        assert!(!again.fresh);
        assert_eq!(again.client.key_pem, p256.client.key_pem);
    }

    #[test]
    fn empty_existing_dir_is_populated() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(State::load_or_create(tmp.path()).unwrap().fresh);
    }

    #[test]
    fn missing_file_is_named_and_not_regenerated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        State::load_or_create(&dir).unwrap();
        fs::remove_file(dir.join(files::CLIENT_KEY)).unwrap();
        let err = State::load_or_create(&dir).err().unwrap().to_string();
        assert!(err.contains(files::CLIENT_KEY) && err.contains("missing"), "{err}");
        assert!(!dir.join(files::CLIENT_KEY).exists());
    }

    #[test]
    fn corrupt_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        State::load_or_create(&dir).unwrap();
        fs::write(dir.join(files::CLIENT_CERT), "-----BEGIN CERTIFICATE-----\nAAAA").unwrap();
        let err = State::load(&dir).err().unwrap().to_string();
        assert!(err.contains(files::CLIENT_CERT) && err.contains("damaged"), "{err}");
        fs::write(dir.join(files::MANIFEST), "{").unwrap();
        let err = State::load(&dir).err().unwrap().to_string();
        assert!(err.contains(files::MANIFEST), "{err}");
    }

    #[test]
    fn key_that_does_not_match_its_certificate_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        State::load_or_create(&a).unwrap();
        State::load_or_create(&b).unwrap();
        fs::copy(b.join(files::CLIENT_KEY), a.join(files::CLIENT_KEY)).unwrap();
        let err = State::load(&a).err().unwrap().to_string();
        assert!(err.contains("is not the private key of my_app_cert.crt"), "{err}");
    }

    #[test]
    fn foreign_nonempty_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let err = State::load_or_create(tmp.path()).err().unwrap().to_string();
        assert!(err.contains("not a mtls-sandbox state dir"), "{err}");
        assert_eq!(fs::read_to_string(tmp.path().join("notes.txt")).unwrap(), "mine");
    }
}

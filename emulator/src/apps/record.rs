//! One application's files in the state dir: `apps/<name>/` holds its
//! credentials (`app.json`, 0600) and its client certificate under the
//! names a provider's portal gives the downloads (`<name>_cert.crt`,
//! `<name>_private_key.pem` 0600, `<name>.p12` 0600), plus the
//! `sandbox.json` / `sandbox.env` a running sandbox publishes for it.
//!
//! Creating is all-or-nothing, as `state` creates the state dir: the files
//! are made in a temp dir next to it and moved into place with one rename.
//! Deleting renames the dir aside before removing it. A crash therefore
//! leaves the whole application or none of it, and a later start never
//! sees half of one. No HTTP and no running set here (that is `Apps`).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AppError, AuthMode};
use crate::entropy::Entropy;
use crate::fsutil::{DIR_MODE, PUBLIC_MODE, SECRET_MODE, write_atomic};
use crate::key_type::KeyType;
use crate::pki::{self, ClientCertSpec};
use crate::state::{AppCredentials, State};

/// The directory under the state dir holding one directory per application.
pub const APPS_DIR: &str = "apps";
/// The application every sandbox has; its files stay at the top of the
/// state dir, as they were before there could be more than one.
pub const DEFAULT_APP: &str = "my_app";
/// An application's credentials, in its directory.
const RECORD: &str = "app.json";
const RECORD_VERSION: u32 = 1;
/// Longest application name: it becomes file names and a certificate CN.
const MAX_NAME: usize = 32;

/// Checks a new application's name: `[a-z0-9][a-z0-9_-]{0,31}`, so it is
/// safe as a directory and file name, in a URL path and in a certificate
/// subject, and two names never differ only by case.
pub fn validate_name(name: &str) -> Result<(), AppError> {
    let invalid = |why: &str| AppError::InvalidName {
        name: name.to_owned(),
        why: why.to_owned(),
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            return Err(invalid("it must start with a lowercase letter or a digit"));
        }
        Some(_) => {}
    }
    if name.len() > MAX_NAME {
        return Err(invalid(&format!("it is longer than {MAX_NAME} characters")));
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return Err(invalid("only lowercase letters, digits, '_' and '-' are allowed"));
    }
    Ok(())
}

/// What `app.json` holds: everything about an application but its keys.
/// The credentials are kept in clear (in a 0600 file) for the same reason
/// the default application's are in `state.json`: its `sandbox.json` must
/// show them on every start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRecord {
    version: u32,
    /// Who owns the customers and objects this application creates. New
    /// at every creation, so an application created again under a deleted
    /// one's name does not inherit its data.
    pub id: String,
    pub auth_mode: AuthMode,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub credentials: AppCredentials,
}

impl AppRecord {
    pub fn name(&self) -> &str {
        &self.credentials.name
    }
}

/// Where one application's files are.
#[derive(Debug, Clone, PartialEq)]
pub struct AppFiles {
    pub dir: PathBuf,
    name: String,
}

impl AppFiles {
    pub fn new(state_dir: &Path, name: &str) -> Self {
        Self {
            dir: state_dir.join(APPS_DIR).join(name),
            name: name.to_owned(),
        }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}_cert.crt", self.name))
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join(format!("{}_private_key.pem", self.name))
    }

    pub fn p12(&self) -> PathBuf {
        self.dir.join(format!("{}.p12", self.name))
    }

    pub fn record(&self) -> PathBuf {
        self.dir.join(RECORD)
    }

    pub fn sandbox_json(&self) -> PathBuf {
        self.dir.join(crate::state::files::SANDBOX_JSON)
    }

    pub fn sandbox_env(&self) -> PathBuf {
        self.dir.join(crate::state::files::SANDBOX_ENV)
    }
}

/// What a new application is made with.
pub struct NewApp<'a> {
    pub name: &'a str,
    pub auth_mode: AuthMode,
    pub key_type: KeyType,
    pub now: OffsetDateTime,
    pub entropy: &'a Entropy,
}

/// Creates `new`'s directory with its certificate (issued by the state's
/// intermediate CA, so the mtls host accepts it), key, PKCS#12 and record.
/// Refuses a name that already has a directory.
pub fn create(state: &State, new: &NewApp) -> Result<AppRecord, AppError> {
    validate_name(new.name)?;
    let files = AppFiles::new(&state.dir, new.name);
    if files.dir.exists() {
        return Err(AppError::Exists(new.name.to_owned()));
    }
    let parent = state.dir.join(APPS_DIR);
    make_dir(&parent, true)?;
    // Temp names from the system: a seeded run keeps its ids whatever is retried.
    let tmp = parent.join(format!(".{}.creating-{}", new.name, Entropy::SYSTEM.alphanumeric(8)));
    make_dir(&tmp, false)?;
    let made = populate(state, new, &tmp).and_then(|record| {
        // rename(2) refuses to replace a non-empty directory: two creations
        // of one name cannot both win.
        fs::rename(&tmp, &files.dir).map_err(|source| match source.raw_os_error() {
            Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => AppError::Exists(new.name.to_owned()),
            _ => io("create", &files.dir)(source),
        })?;
        Ok(record)
    });
    if made.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    made
}

fn populate(state: &State, new: &NewApp, tmp: &Path) -> Result<AppRecord, AppError> {
    let ca = state
        .issuing_ca()?
        .with_entropy(std::sync::Arc::new(new.entropy.fork()));
    let client = ca.issue_client(&ClientCertSpec::new(new.name, new.now).with_key_type(new.key_type))?;
    let credentials = AppCredentials {
        name: new.name.to_owned(),
        // The same shapes as the default application's (state.rs).
        app_token: new.entropy.alphanumeric(32),
        client_id: new.entropy.uuid(),
        client_secret: new.entropy.alphanumeric(40),
        p12_password: new.entropy.alphanumeric(16),
    };
    let chain = [state.intermediate.cert_der()?, state.root.cert_der()?];
    let p12 = pki::pkcs12(&client, &chain, &credentials.p12_password, new.name)?;
    let record = AppRecord {
        version: RECORD_VERSION,
        id: new.entropy.uuid(),
        auth_mode: new.auth_mode,
        created_at: new.now,
        credentials,
    };
    let files = AppFiles {
        dir: tmp.to_path_buf(),
        name: new.name.to_owned(),
    };
    let json = serde_json::to_vec_pretty(&record).expect("an application record serialises");
    for (path, bytes, mode) in [
        (files.cert(), client.cert_pem.as_bytes(), PUBLIC_MODE),
        (files.key(), client.key_pem.as_bytes(), SECRET_MODE),
        (files.p12(), &p12[..], SECRET_MODE),
        (files.record(), &json[..], SECRET_MODE),
    ] {
        write_atomic(&path, bytes, mode).map_err(io("write", &path))?;
    }
    Ok(record)
}

/// Rewrites an application's record (its auth mode changed), durably.
pub fn save(state_dir: &Path, record: &AppRecord) -> Result<(), AppError> {
    let path = AppFiles::new(state_dir, record.name()).record();
    let json = serde_json::to_vec_pretty(record).expect("an application record serialises");
    write_atomic(&path, &json, SECRET_MODE).map_err(io("write", &path))
}

/// Every application under `state_dir/apps`, by name. Leftovers of an
/// interrupted creation or deletion (dot-names) are removed; a damaged
/// application is an error naming the file, never silently dropped.
pub fn load_all(state_dir: &Path) -> Result<Vec<AppRecord>, AppError> {
    let parent = state_dir.join(APPS_DIR);
    let entries = match fs::read_dir(&parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io("read", &parent)(source)),
    };
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("read", &parent))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            let _ = fs::remove_dir_all(entry.path());
            continue;
        }
        records.push(load(state_dir, &name)?);
    }
    records.sort_by(|a, b| (a.created_at, a.name()).cmp(&(b.created_at, b.name())));
    Ok(records)
}

/// The id of the application `name` in `state_dir`, read from its record:
/// what a client registered for it from the command line stores
/// (`clients create --app`), with no sandbox running.
pub fn id_of(state_dir: &Path, name: &str) -> Result<String, AppError> {
    validate_name(name)?;
    if !AppFiles::new(state_dir, name).record().exists() {
        return Err(AppError::Unknown(name.to_owned()));
    }
    load(state_dir, name).map(|record| record.id)
}

fn load(state_dir: &Path, name: &str) -> Result<AppRecord, AppError> {
    let files = AppFiles::new(state_dir, name);
    let damaged = |path: &Path, detail: String| AppError::Damaged {
        path: path.to_path_buf(),
        detail,
        dir: files.dir.clone(),
        name: name.to_owned(),
    };
    validate_name(name).map_err(|e| damaged(&files.dir, e.to_string()))?;
    let path = files.record();
    let text = fs::read_to_string(&path).map_err(|e| damaged(&path, e.to_string()))?;
    let record: AppRecord = serde_json::from_str(&text).map_err(|e| damaged(&path, e.to_string()))?;
    if record.version != RECORD_VERSION {
        return Err(damaged(
            &path,
            format!(
                "unsupported version {} (this build reads {RECORD_VERSION})",
                record.version
            ),
        ));
    }
    if record.name() != name {
        return Err(damaged(
            &path,
            format!("it names application '{}', not '{name}'", record.name()),
        ));
    }
    for file in [files.cert(), files.key(), files.p12()] {
        if !file.is_file() {
            return Err(damaged(&file, "the file is missing".into()));
        }
    }
    Ok(record)
}

/// Removes an application's directory: renamed aside first, so a crash
/// midway leaves a dot-name the next start clears, not half an application.
pub fn remove(state_dir: &Path, name: &str) -> Result<(), AppError> {
    let files = AppFiles::new(state_dir, name);
    let aside = state_dir
        .join(APPS_DIR)
        .join(format!(".{name}.deleting-{}", Entropy::SYSTEM.alphanumeric(8)));
    fs::rename(&files.dir, &aside).map_err(io("remove", &files.dir))?;
    fs::remove_dir_all(&aside).map_err(io("remove", &aside))
}

fn make_dir(path: &Path, existing_ok: bool) -> Result<(), AppError> {
    match fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Err(e) if existing_ok && e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other.map_err(io("create", path)),
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AppError {
    let path = path.to_path_buf();
    move |source| AppError::Io { action, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn names_follow_the_rule_and_refusals_say_why() {
        for good in ["alice", "a", "0", "ci-job_7", &"x".repeat(32)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("Alice", "start with a lowercase"),
            ("-a", "start with"),
            ("a.b", "only lowercase"),
            ("a/b", "only lowercase"),
            ("bob Smith", "only lowercase"),
            (&"x".repeat(33), "longer than 32"),
        ] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("[a-z0-9]"), "{bad}: {err}");
        }
    }

    fn new_app(name: &str) -> NewApp<'_> {
        NewApp {
            name,
            auth_mode: AuthMode::Oauth,
            key_type: KeyType::P256,
            now: OffsetDateTime::now_utc(),
            entropy: &Entropy::SYSTEM,
        }
    }

    #[test]
    fn an_application_is_created_whole_loaded_again_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create_with(&tmp.path().join("s"), &Entropy::SYSTEM, KeyType::P256).unwrap();
        let made = create(&state, &new_app("alice")).unwrap();
        let files = AppFiles::new(&state.dir, "alice");
        assert!(files.cert().ends_with("apps/alice/alice_cert.crt"));
        let cert = fs::read_to_string(files.cert()).unwrap();
        let der = pki::first_cert_der(&cert, "cert").unwrap();
        assert!(pki::subject_of(&der).unwrap().contains("CN=alice"));
        assert!(pki::key_matches_cert(&der, &fs::read_to_string(files.key()).unwrap()).unwrap());
        for secret in [files.key(), files.p12(), files.record()] {
            let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", secret.display());
        }
        assert!(matches!(create(&state, &new_app("alice")), Err(AppError::Exists(_))));
        create(&state, &new_app("bob")).unwrap();
        let loaded = load_all(&state.dir).unwrap();
        let names: Vec<&str> = loaded.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(loaded[0].id, made.id);
        assert_eq!(loaded[0].auth_mode, AuthMode::Oauth);
        // Only the two applications: no temp dir left behind.
        assert_eq!(fs::read_dir(state.dir.join(APPS_DIR)).unwrap().count(), 2);
        remove(&state.dir, "alice").unwrap();
        assert!(!files.dir.exists());
        assert_eq!(load_all(&state.dir).unwrap().len(), 1);
    }

    #[test]
    fn leftovers_are_cleared_and_a_damaged_application_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create_with(&tmp.path().join("s"), &Entropy::SYSTEM, KeyType::P256).unwrap();
        create(&state, &new_app("alice")).unwrap();
        let leftover = state.dir.join(APPS_DIR).join(".bob.creating-x");
        fs::create_dir(&leftover).unwrap();
        assert_eq!(load_all(&state.dir).unwrap().len(), 1);
        assert!(!leftover.exists());
        let files = AppFiles::new(&state.dir, "alice");
        fs::remove_file(files.key()).unwrap();
        let err = load_all(&state.dir).unwrap_err().to_string();
        assert!(
            err.contains("alice_private_key.pem") && err.contains("apps delete alice"),
            "{err}"
        );
    }
}

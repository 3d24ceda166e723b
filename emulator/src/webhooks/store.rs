//! Where webhook URLs set at runtime (admin API, CLI, portal) are kept so
//! they survive a restart: `webhooks.json` in the state dir, keyed by
//! application name, owner-only (a receiver's URL may carry its secret).
//!
//! ```json
//! {"applications": {"my_app": {"url": "https://example.com/hooks"}}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::url::WebhookUrl;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    applications: BTreeMap<String, Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    url: String,
}

/// The stored URLs. A missing file is none; an unreadable one, or a URL in
/// it that is no longer accepted, is logged and skipped: the sandbox starts,
/// and the user sets the URL again.
pub fn load(path: &Path) -> BTreeMap<String, WebhookUrl> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!(
                "webhooks: cannot read {}: {e}; no stored webhook URL is used",
                path.display()
            );
            return BTreeMap::new();
        }
    };
    let file: File = match serde_json::from_str(&text) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(
                "webhooks: {} is not valid ({e}); set the webhook URL again",
                path.display()
            );
            return BTreeMap::new();
        }
    };
    file.applications
        .into_iter()
        .filter_map(|(app, entry)| match WebhookUrl::parse(&entry.url) {
            Ok(url) => Some((app, url)),
            Err(e) => {
                tracing::warn!("webhooks: {}: application '{app}': url {e}; ignored", path.display());
                None
            }
        })
        .collect()
}

/// Replaces the stored URLs with `urls`.
pub fn save(path: &Path, urls: &BTreeMap<String, WebhookUrl>) -> std::io::Result<()> {
    let file = File {
        applications: urls
            .iter()
            .map(|(app, url)| {
                (
                    app.clone(),
                    Entry {
                        url: url.as_str().to_owned(),
                    },
                )
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&file).expect("webhook settings serialise");
    crate::fsutil::write_atomic(path, &json, crate::fsutil::SECRET_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_round_trip_and_bad_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhooks.json");
        assert!(load(&path).is_empty());
        let mut urls = BTreeMap::new();
        urls.insert(
            "my_app".to_owned(),
            WebhookUrl::parse("https://example.com/h?t=1").unwrap(),
        );
        save(&path, &urls).unwrap();
        assert_eq!(load(&path), urls);
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path).is_empty());
        std::fs::write(&path, r#"{"applications": {"a": {"url": "http://example.com/"}}}"#).unwrap();
        assert!(load(&path).is_empty(), "a URL no longer accepted is skipped");
    }
}

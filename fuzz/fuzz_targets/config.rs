//! The config-file parser and its validation (clients, gateway routes,
//! fault rules), applied on top of the defaults. Relative file references
//! point into a directory that does not exist.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_sandbox::config::{Config, FileConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Absolute paths could name /dev/zero; only relative ones are exercised.
    if text.contains("= \"/") || text.contains("='/") || text.contains("= '/") {
        return;
    }
    let path = std::path::Path::new("/nonexistent-fuzz-dir/fuzz.toml");
    if let Ok(file) = FileConfig::parse(text, path) {
        let mut config = Config::bare("/nonexistent-fuzz-dir/state");
        let _ = file.apply(&mut config, path);
    }
});

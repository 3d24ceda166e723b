//! Access-token verification: any string must be refused or accepted
//! without panicking, against a fixed PS256 and ES256 key set.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_sandbox::oauth::keys::{KeySet, SigningAlg, SigningKey};
use mtls_sandbox::oauth::token;

fn keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| {
        let es = SigningKey::from_pem(SigningAlg::ES256, &SigningAlg::ES256.generate_pem().unwrap(), "es").unwrap();
        let ps = SigningKey::from_pem(SigningAlg::PS256, &SigningAlg::PS256.generate_pem().unwrap(), "ps").unwrap();
        let mut set = KeySet::new(es);
        set.retired.push(std::sync::Arc::new(ps));
        set
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(jwt) = std::str::from_utf8(data) {
        let _ = token::verify(jwt, keys(), "https://127.0.0.1:4445", "mtls-sandbox-api", time::OffsetDateTime::now_utc());
        let _ = token::looks_like_jwt(jwt);
    }
});

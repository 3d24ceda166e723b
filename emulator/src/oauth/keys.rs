//! The authorization server's signing keys: RSA-2048 for PS256 (the
//! default, as FAPI asks) or P-256 for ES256; stored as PKCS#8 PEM in the
//! state dir so tokens stay verifiable across restarts; published as a JWKS.

use crate::entropy::Entropy;
use crate::key_type::KeyType;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate a signing key: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("signing key {what} is unusable: {detail}")]
    Invalid { what: String, detail: String },
}

/// Which algorithm access tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum SigningAlg {
    #[default]
    PS256,
    ES256,
}

impl SigningAlg {
    pub fn algorithm(self) -> Algorithm {
        match self {
            SigningAlg::PS256 => Algorithm::PS256,
            SigningAlg::ES256 => Algorithm::ES256,
        }
    }

    /// The key file name in the state dir.
    pub fn file_name(self) -> &'static str {
        match self {
            SigningAlg::PS256 => "oauth_signing_key_ps256.pem",
            SigningAlg::ES256 => "oauth_signing_key_es256.pem",
        }
    }

    /// A new private key, PKCS#8 PEM.
    pub fn generate_pem(self) -> Result<String, KeyError> {
        self.generate_pem_with(&Entropy::SYSTEM)
    }

    /// A new private key; ES256 keys come from `entropy` (derived when
    /// seeded). RSA keys always come from aws-lc's own generator: it has no
    /// seeded variant.
    pub fn generate_pem_with(self, entropy: &Entropy) -> Result<String, KeyError> {
        let key = match self {
            SigningAlg::PS256 => KeyType::Rsa.generate(entropy)?,
            SigningAlg::ES256 => KeyType::P256.generate(entropy)?,
        };
        Ok(key.serialize_pem())
    }

    /// Starts generating a new key on a thread of its own, when that cannot
    /// change which key a seeded `entropy` gives: RSA keys never come from
    /// it (ES256 keys do, in the order of draws, so they stay inline and
    /// get `None`).
    ///
    /// A first start needs two RSA-2048 keys, the client's and this one,
    /// each a random prime search of tens of milliseconds; made side by side
    /// on two cores they cost the longer of the two instead of the sum.
    pub fn generate_in_background(self) -> Option<KeyInProgress> {
        (self == SigningAlg::PS256).then(|| KeyInProgress::spawn(self, move || self.generate_pem()))
    }
}

/// A signing key being generated on another thread
/// ([`SigningAlg::generate_in_background`]).
///
/// Dropped unused (a start that failed before it needed the key, such as
/// a state dir it cannot write), it waits for the thread: the process
/// would otherwise exit while aws-lc is mid-generation on it, and exit
/// tears down aws-lc's global locks under that thread, which then aborts
/// (SIGABRT after the clear error, exit 134 instead of 1; 3 of 60 starts
/// on a read-only parent).
pub struct KeyInProgress {
    alg: SigningAlg,
    thread: Option<std::thread::JoinHandle<Result<String, KeyError>>>,
}

impl KeyInProgress {
    fn spawn(alg: SigningAlg, generate: impl FnOnce() -> Result<String, KeyError> + Send + 'static) -> Self {
        Self {
            alg,
            thread: Some(std::thread::spawn(generate)),
        }
    }

    /// The key's PEM, once generated; `None` when it was made for another
    /// algorithm.
    pub fn join(mut self, alg: SigningAlg) -> Option<Result<String, KeyError>> {
        if alg != self.alg {
            return None;
        }
        self.wait()
    }

    fn wait(&mut self) -> Option<Result<String, KeyError>> {
        let thread = self.thread.take()?;
        Some(thread.join().expect("key generation does not panic"))
    }
}

impl Drop for KeyInProgress {
    fn drop(&mut self) {
        let _ = self.wait();
    }
}

/// One signing key with everything needed to sign, verify and publish.
pub struct SigningKey {
    pub alg: SigningAlg,
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    /// Parses the key for signing now (see [`super::signer::warm`]).
    pub fn warm(&self) -> Result<(), jsonwebtoken::errors::Error> {
        super::signer::warm(self.alg.algorithm(), &self.encoding)
    }

    pub fn from_pem(alg: SigningAlg, pem: &str, what: &str) -> Result<Self, KeyError> {
        // Before jsonwebtoken's first use, or it installs its own provider.
        super::signer::install();
        let invalid = |e: jsonwebtoken::errors::Error| KeyError::Invalid {
            what: what.into(),
            detail: e.to_string(),
        };
        let encoding = match alg {
            SigningAlg::PS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            SigningAlg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        }
        .map_err(invalid)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, alg.algorithm()).map_err(invalid)?;
        // RFC 7638 thumbprint as kid: stable for the key, nothing to store.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(invalid)?;
        Ok(Self {
            alg,
            kid,
            encoding,
            decoding,
            jwk,
        })
    }
}

/// The active key plus retired ones still accepted for verification.
#[derive(Clone)]
pub struct KeySet {
    pub active: Arc<SigningKey>,
    pub retired: Vec<Arc<SigningKey>>,
}

impl KeySet {
    pub fn new(active: SigningKey) -> Self {
        Self {
            active: Arc::new(active),
            retired: Vec::new(),
        }
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        std::iter::once(&self.active)
            .chain(self.retired.iter())
            .find(|k| k.kid == kid)
            .map(|k| k.as_ref())
    }

    /// The public JWKS (`GET /jwks.json`).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: std::iter::once(&self.active)
                .chain(self.retired.iter())
                .map(|k| k.jwk.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key generation nobody joined is waited for when dropped, so a
    /// failed start never exits while aws-lc works on another thread.
    #[test]
    fn a_key_in_progress_dropped_unused_waits_for_its_thread() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let key = KeyInProgress::spawn(SigningAlg::PS256, move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            flag.store(true, Ordering::SeqCst);
            Ok(String::new())
        });
        drop(key);
        assert!(
            done.load(Ordering::SeqCst),
            "the drop returned before the generation ended"
        );
    }

    #[test]
    fn keys_round_trip_through_pem_with_stable_kids() {
        for alg in [SigningAlg::PS256, SigningAlg::ES256] {
            let pem = alg.generate_pem().unwrap();
            let a = SigningKey::from_pem(alg, &pem, "k").unwrap();
            let b = SigningKey::from_pem(alg, &pem, "k").unwrap();
            assert_eq!(a.kid, b.kid);
            assert_eq!(a.kid.len(), 43, "base64url SHA-256");
            let jwks = serde_json::to_value(KeySet::new(a).jwks()).unwrap();
            assert_eq!(jwks["keys"][0]["kid"], b.kid.as_str());
            assert_eq!(jwks["keys"][0]["use"], "sig");
            assert!(jwks["keys"][0].get("d").is_none(), "no private parts in the JWKS");
        }
    }

    #[test]
    fn garbage_pem_names_the_key() {
        let err = SigningKey::from_pem(SigningAlg::PS256, "nope", "oauth_signing_key_ps256.pem")
            .err()
            .unwrap();
        assert!(err.to_string().contains("oauth_signing_key_ps256.pem"));
    }
}

//! A jsonwebtoken crypto provider that keeps parsed RSA keys.
//!
//! jsonwebtoken's aws-lc provider re-parses and re-validates the RSA private
//! key on every signature, which costs more than the signature itself and
//! capped PS256 issuance at ~30% of the machine's RSA signing rate. This
//! provider caches each parsed `RsaKeyPair` (keyed by the key's DER) and
//! delegates everything else — JOSE serialisation, verification, JWKs — to
//! jsonwebtoken's own aws-lc provider. Installed once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, RsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, aws_lc};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, EncodingKey};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: aws_lc::DEFAULT_PROVIDER.verifier_factory,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: aws_lc::DEFAULT_PROVIDER.jwk_utils.extract_rsa_public_key_components,
        extract_ec_public_key_coordinates: aws_lc::DEFAULT_PROVIDER.jwk_utils.extract_ec_public_key_coordinates,
        compute_digest: aws_lc::DEFAULT_PROVIDER.jwk_utils.compute_digest,
    },
};

/// Makes this the process's jsonwebtoken provider (idempotent).
///
/// Must run before jsonwebtoken's first use: any key operation installs its
/// default provider implicitly, after which ours can no longer be installed
/// (signing still works, only slower — hence a warning, not an error).
pub fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if PROVIDER.install_default().is_err() {
            tracing::warn!("another jsonwebtoken crypto provider was installed first; PS256 signing will be slower");
        }
    });
}

fn keys() -> &'static Mutex<HashMap<Vec<u8>, Arc<RsaKeyPair>>> {
    static KEYS: OnceLock<Mutex<HashMap<Vec<u8>, Arc<RsaKeyPair>>>> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let encoding: &'static dyn sig::RsaEncoding = match alg {
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
        _ => return (aws_lc::DEFAULT_PROVIDER.signer_factory)(alg, key),
    };
    let der = key.inner();
    let mut cache = keys().lock().unwrap_or_else(|p| p.into_inner());
    let pair = match cache.get(der) {
        Some(pair) => pair.clone(),
        None => {
            let pair = Arc::new(
                RsaKeyPair::from_der(der).map_err(|_| Error::from(ErrorKind::InvalidRsaKey("unparseable".into())))?,
            );
            cache.insert(der.to_vec(), pair.clone());
            pair
        }
    };
    Ok(Box::new(CachedRsa {
        pair,
        encoding,
        alg: *alg,
    }))
}

struct CachedRsa {
    pair: Arc<RsaKeyPair>,
    encoding: &'static dyn sig::RsaEncoding,
    alg: Algorithm,
}

impl signature::Signer<Vec<u8>> for CachedRsa {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(self.encoding, &SystemRandom::new(), msg, &mut out)
            .map_err(signature::Error::from_source)?;
        Ok(out)
    }
}

impl JwtSigner for CachedRsa {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{KeySet, SigningAlg, SigningKey};
    use super::super::token::{AccessClaims, issue, verify};

    #[test]
    fn cached_rsa_signatures_verify() {
        super::install();
        let key = SigningKey::from_pem(SigningAlg::PS256, &SigningAlg::PS256.generate_pem().unwrap(), "k").unwrap();
        let keys = KeySet::new(key);
        let now = time::OffsetDateTime::now_utc();
        for scope in ["api", "admin"] {
            let claims = AccessClaims::new("i", "a", "c", scope, None, now);
            let jwt = issue(&claims, &keys.active).unwrap();
            assert_eq!(verify(&jwt, &keys, "i", "a", now).unwrap(), claims);
        }
    }
}

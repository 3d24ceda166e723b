//! A jsonwebtoken crypto provider that keeps parsed signing keys.
//!
//! jsonwebtoken's aws-lc provider parses and validates the private key on
//! every signature: for RSA that costs more than the signature itself and
//! capped PS256 issuance at ~30% of the machine's RSA signing rate; for
//! P-256 the key check is a scalar multiplication, as expensive as the
//! signature. This provider caches each parsed key pair (keyed by algorithm
//! and the key's DER) and delegates everything else — JOSE serialisation,
//! verification, JWKs — to jsonwebtoken's own aws-lc provider. Installed
//! once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, aws_lc};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, EncodingKey};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: aws_lc::DEFAULT_PROVIDER.verifier_factory,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: rsa_public_key_components,
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
            tracing::warn!("another jsonwebtoken crypto provider was installed first; token signing will be slower");
        }
    });
}

/// A parsed signing key.
#[derive(Clone)]
enum Pair {
    Rsa(Arc<RsaKeyPair>),
    Ecdsa(Arc<EcdsaKeyPair>),
}

/// Parsed keys by their DER; looked up by slice, so a signature costs no
/// allocation.
type Cache = Mutex<HashMap<Vec<u8>, Pair>>;

fn cache() -> &'static Cache {
    static KEYS: OnceLock<Cache> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

/// The RSA padding for `alg`, or None when `alg` is not an RSA algorithm.
fn rsa_encoding(alg: Algorithm) -> Option<&'static dyn sig::RsaEncoding> {
    match alg {
        Algorithm::PS256 => Some(&sig::RSA_PSS_SHA256),
        Algorithm::RS256 => Some(&sig::RSA_PKCS1_SHA256),
        _ => None,
    }
}

fn parse(alg: Algorithm, der: &[u8]) -> jsonwebtoken::errors::Result<Pair> {
    if alg == Algorithm::ES256 {
        return EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(|pair| Pair::Ecdsa(Arc::new(pair)))
            .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey));
    }
    RsaKeyPair::from_der(der)
        .map(|pair| Pair::Rsa(Arc::new(pair)))
        .map_err(|_| Error::from(ErrorKind::InvalidRsaKey("unparseable".into())))
}

/// An RSA key's `n` and `e` for its JWK, read from its DER. aws-lc's
/// version parses and checks the whole private key only to read them, and
/// that check (`RSA_check_key`, ~2.5M instructions) was a seventh of a
/// warm start. The key is still parsed and checked once, for signing:
/// [`warm`] does it beside the last steps to ready.
fn rsa_public_key_components(der: &[u8]) -> jsonwebtoken::errors::Result<(Vec<u8>, Vec<u8>)> {
    use crate::pki::{rsa_public_components, unsigned};
    let (n, e) = rsa_public_components(der)
        .ok_or_else(|| Error::from(ErrorKind::InvalidRsaKey("not an RSAPrivateKey".into())))?;
    Ok((unsigned(n).to_vec(), unsigned(e).to_vec()))
}

/// Parses (and checks) `key` for signing with `alg` now, so that the first
/// token does not pay for it; an error says the key cannot sign.
pub fn warm(alg: Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<()> {
    new_signer(&alg, key).map(drop)
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let encoding = rsa_encoding(*alg);
    if encoding.is_none() && *alg != Algorithm::ES256 {
        return (aws_lc::DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let der = key.inner();
    let cached = cache().lock().unwrap_or_else(|p| p.into_inner()).get(der).cloned();
    let pair = match cached {
        Some(pair) => pair,
        None => {
            let pair = parse(*alg, der)?;
            cache()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(der.to_vec(), pair.clone());
            pair
        }
    };
    let signing = match (pair, encoding) {
        (Pair::Rsa(pair), Some(encoding)) => Signing::Rsa(pair, encoding),
        (Pair::Ecdsa(pair), None) => Signing::Ecdsa(pair),
        // A key of one type asked for with an algorithm of the other.
        _ => return Err(ErrorKind::InvalidKeyFormat.into()),
    };
    Ok(Box::new(Cached { signing, alg: *alg }))
}

enum Signing {
    Rsa(Arc<RsaKeyPair>, &'static dyn sig::RsaEncoding),
    Ecdsa(Arc<EcdsaKeyPair>),
}

struct Cached {
    signing: Signing,
    alg: Algorithm,
}

impl signature::Signer<Vec<u8>> for Cached {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.signing {
            Signing::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, msg, &mut out)
                    .map_err(signature::Error::from_source)?;
                Ok(out)
            }
            Signing::Ecdsa(pair) => Ok(pair
                .sign(&rng, msg)
                .map_err(signature::Error::from_source)?
                .as_ref()
                .to_vec()),
        }
    }
}

impl JwtSigner for Cached {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{KeySet, SigningAlg, SigningKey};
    use super::super::token::{AccessClaims, issue, verify};

    #[test]
    fn rsa_jwk_components_are_aws_lc_s() {
        super::install();
        let pem = SigningAlg::PS256.generate_pem().unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let aws_lc = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
            .jwk_utils
            .extract_rsa_public_key_components;
        let ours = super::rsa_public_key_components(key.inner()).unwrap();
        assert_eq!(ours, aws_lc(key.inner()).unwrap());
        assert_eq!(ours.1, [1, 0, 1]);
        assert!(super::rsa_public_key_components(b"not a key").is_err());
    }

    #[test]
    fn warm_parses_the_key_once_for_signing_and_refuses_a_damaged_one() {
        super::install();
        let key = SigningKey::from_pem(SigningAlg::PS256, &SigningAlg::PS256.generate_pem().unwrap(), "k").unwrap();
        key.warm().unwrap();
        // Its public half intact, its private half not: the JWK still reads
        // (n and e), signing cannot.
        let mut der = key.encoding.inner().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0xff;
        let damaged = jsonwebtoken::EncodingKey::from_rsa_der(&der);
        assert!(super::rsa_public_key_components(damaged.inner()).is_ok());
        assert!(super::warm(jsonwebtoken::Algorithm::PS256, &damaged).is_err());
    }

    #[test]
    fn cached_signatures_verify() {
        super::install();
        for alg in [SigningAlg::PS256, SigningAlg::ES256] {
            let key = SigningKey::from_pem(alg, &alg.generate_pem().unwrap(), "k").unwrap();
            let keys = KeySet::new(key);
            let now = time::OffsetDateTime::now_utc();
            for scope in ["api", "admin"] {
                let claims = AccessClaims::new("i", "a", "c", scope, None, now, scope.into());
                let jwt = issue(&claims, &keys.active).unwrap();
                assert_eq!(verify(&jwt, &keys, "i", "a", now).unwrap(), claims);
            }
        }
    }
}

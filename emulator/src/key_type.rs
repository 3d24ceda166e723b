//! Which kind of key an application's client certificate gets: RSA-2048 by
//! default, because that is what the provider's portal issues and what its
//! sample clients assume (Ruby's `OpenSSL::PKey::RSA.new` refuses anything
//! else), or P-256 when a user asks for it (`[app] key_type = "p256"`).
//!
//! The sandbox's own keys (CAs, server, ES256) stay P-256 whatever is set
//! here: they are never handed to a client, and P-256 keeps creating them
//! cheap. This module only makes and names keys; which certificates carry
//! them is `pki`'s business.

use rcgen::KeyPair;
use serde::Deserialize;
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::entropy::Entropy;

/// The algorithm of a client key, as written in the config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// RSA-2048, as the provider issues.
    #[default]
    Rsa,
    /// ECDSA on NIST P-256 (prime256v1).
    P256,
}

impl KeyType {
    /// A new key pair. P-256 keys come from `entropy` (derived when seeded);
    /// RSA keys always come from aws-lc's own generator (made ahead of time
    /// when the [key pool](crate::key_pool) has a spare), which has no
    /// seeded variant, so `--deterministic` cannot repeat them.
    pub fn generate(self, entropy: &Entropy) -> Result<KeyPair, rcgen::Error> {
        match self {
            KeyType::Rsa => crate::key_pool::rsa_2048(),
            KeyType::P256 => entropy.p256_key(),
        }
    }

    /// The config value (`key_type = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::P256 => "p256",
        }
    }

    /// Whether a seeded `Entropy` can derive keys of this type.
    pub fn is_derivable(self) -> bool {
        self == KeyType::P256
    }
}

/// The public key of a certificate in words: "RSA-2048", "ECDSA P-256", …
/// `None` when the certificate cannot be parsed.
pub fn describe_certificate_key(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(describe(cert.public_key()))
}

/// The type of a PEM private key (PKCS#8, SEC1 or PKCS#1) in the words of
/// [`describe_certificate_key`]; `None` when the key cannot be loaded.
pub fn describe_private_key(key_pem: &str) -> Option<String> {
    use rcgen::PublicKeyData;
    let key = KeyPair::from_pem(key_pem).ok()?;
    let spki_der = key.subject_public_key_info();
    let (_, spki) = SubjectPublicKeyInfo::from_der(&spki_der).ok()?;
    Some(describe(&spki))
}

/// Whether a description names an RSA key, the type the provider issues.
pub fn is_rsa(description: &str) -> bool {
    description.starts_with("RSA-")
}

fn describe(spki: &SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let modulus: Vec<u8> = rsa.modulus.iter().copied().skip_while(|b| *b == 0).collect();
            let bits = (modulus.len() * 8).saturating_sub(modulus.first().map_or(0, |b| b.leading_zeros() as usize));
            format!("RSA-{bits}")
        }
        Ok(PublicKey::EC(_)) if curve == Some(OID_EC_P256) => "ECDSA P-256".into(),
        Ok(PublicKey::EC(_)) if curve == Some(OID_NIST_EC_P384) => "ECDSA P-384".into(),
        Ok(PublicKey::EC(point)) => format!("ECDSA ({}-bit curve)", point.key_size()),
        _ => format!("a key of algorithm {}", spki.algorithm.algorithm),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed certificate for `key` (DER), for tests that need one.
    pub(crate) fn self_signed(key: &KeyPair) -> Vec<u8> {
        let params = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap();
        params.self_signed(key).unwrap().der().to_vec()
    }

    #[test]
    fn rsa_is_the_default_and_each_type_makes_its_own_key() {
        assert_eq!(KeyType::default(), KeyType::Rsa);
        let rsa = KeyType::Rsa.generate(&Entropy::SYSTEM).unwrap();
        assert!(rsa.serialize_pem().starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        assert_eq!(describe_certificate_key(&self_signed(&rsa)).unwrap(), "RSA-2048");
        assert_eq!(describe_private_key(&rsa.serialize_pem()).unwrap(), "RSA-2048");
        let ec = KeyType::P256.generate(&Entropy::SYSTEM).unwrap();
        assert_eq!(describe_certificate_key(&self_signed(&ec)).unwrap(), "ECDSA P-256");
        assert_eq!(describe_private_key(&ec.serialize_pem()).unwrap(), "ECDSA P-256");
        assert!(describe_private_key("not a key").is_none());
    }

    #[test]
    fn only_p256_keys_repeat_under_a_seed() {
        let key = |t: KeyType| t.generate(&Entropy::from_seed("s")).unwrap().serialize_der();
        assert_eq!(key(KeyType::P256), key(KeyType::P256));
        assert!(KeyType::P256.is_derivable() && !KeyType::Rsa.is_derivable());
    }
}

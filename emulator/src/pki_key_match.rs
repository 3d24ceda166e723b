//! Whether a private key file is the key of a certificate: checked for
//! every key of a state dir on every start.

use rcgen::KeyPair;

use super::PkiError;

/// Whether `key_pem` is the private key of the certificate `cert_der`.
pub fn key_matches_cert(cert_der: &[u8], key_pem: &str) -> Result<bool, PkiError> {
    use rcgen::PublicKeyData;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|e| PkiError::Pem {
        what: "certificate".into(),
        detail: e.to_string(),
    })?;
    if let Some(matches) = public_half_matches(&cert, key_pem) {
        return Ok(matches);
    }
    let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Pem {
        what: "private key".into(),
        detail: e.to_string(),
    })?;
    Ok(key.subject_public_key_info() == cert.public_key().raw)
}

/// For a PKCS#8 RSA key, or a P-256/P-384 key that carries its public
/// point: whether its public half is the certificate's; `None` for any
/// other key (or one that does not parse), which then goes through aws-lc.
///
/// Why not aws-lc: parsing a private key there runs its full consistency
/// check — for RSA `RSA_check_key` (~15M instructions, 4 ms), for EC a
/// scalar multiplication — and every start checks each key of the state
/// dir against its certificate: that was a third of a warm start. All the
/// check needs is that the key file is that certificate's key. A key whose
/// private half was damaged is still caught where it is used: the client
/// key by the TLS handshake of the client that presents it, the server key
/// by rustls, which parses (and checks) it when the listener is built, a
/// CA key by [`super::Ca::load`] when it is to sign ("CA private key: ...").
fn public_half_matches(cert: &x509_parser::certificate::X509Certificate<'_>, key_pem: &str) -> Option<bool> {
    use x509_parser::der_parser::{der::parse_der_sequence, oid};
    use x509_parser::public_key::PublicKey;
    let pem = pem::parse(key_pem).ok().filter(|p| p.tag() == "PRIVATE KEY")?;
    // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }
    let (_, info) = parse_der_sequence(pem.contents()).ok()?;
    let info = info.as_sequence().ok()?;
    let algorithm = info.get(1)?.as_sequence().ok()?;
    let private = info.get(2)?.as_slice().ok()?;
    let spki = cert.public_key();
    match algorithm.first()?.as_oid().ok()? {
        oid if *oid == oid!(1.2.840.113549.1.1.1) => {
            let (n, e) = rsa_public_components(private)?;
            let Ok(PublicKey::RSA(public)) = spki.parsed() else {
                return Some(false);
            };
            Some(unsigned(n) == unsigned(public.modulus) && unsigned(e) == unsigned(public.exponent))
        }
        oid if *oid == oid!(1.2.840.10045.2.1) => {
            let curve = algorithm.get(1)?.as_oid().ok()?;
            let point = ec_public_point(private)?;
            let cert_curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
            Some(
                spki.algorithm.algorithm == oid!(1.2.840.10045.2.1)
                    && cert_curve.as_ref() == Some(curve)
                    && point == &*spki.subject_public_key.data,
            )
        }
        _ => None,
    }
}

/// The modulus and public exponent of a PKCS#1 `RSAPrivateKey`, as the
/// DER INTEGERs hold them (a leading zero byte when the top bit is set).
pub(crate) fn rsa_public_components(pkcs1: &[u8]) -> Option<(&[u8], &[u8])> {
    use x509_parser::der_parser::der::parse_der_sequence;
    // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
    let (_, key) = parse_der_sequence(pkcs1).ok()?;
    let key = key.as_sequence().ok()?;
    Some((key.get(1)?.as_slice().ok()?, key.get(2)?.as_slice().ok()?))
}

/// An unsigned big-endian integer without its leading zero bytes.
pub(crate) fn unsigned(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[zeros..]
}

/// The public point an `ECPrivateKey` (RFC 5915) carries in its optional
/// `publicKey [1] BIT STRING`; `None` when it is absent.
fn ec_public_point(private: &[u8]) -> Option<&[u8]> {
    use x509_parser::der_parser::ber::{Class, Tag};
    use x509_parser::der_parser::der::{parse_der_bitstring, parse_der_sequence};
    // ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters OPTIONAL, [1] publicKey OPTIONAL }
    let (_, key) = parse_der_sequence(private).ok()?;
    let public = key
        .as_sequence()
        .ok()?
        .iter()
        .find(|field| field.header.class() == Class::ContextSpecific && field.header.tag() == Tag(1))?;
    let (_, bits) = parse_der_bitstring(public.as_slice().ok()?).ok()?;
    Some(bits.as_bitstring().ok()?.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_type::KeyType;
    use crate::key_type::tests::self_signed as leaf;

    /// A key of `kind` matches its own certificate and no other: not
    /// another key of its type, not a key of `other_type` (either way
    /// round); the fast path agrees with aws-lc on its own certificate.
    fn matches_only_its_own(kind: KeyType, other_type: KeyType) -> (String, KeyPair, KeyPair) {
        let entropy = crate::entropy::Entropy::SYSTEM;
        let key = kind.generate(&entropy).unwrap();
        let other_same = kind.generate(&entropy).unwrap();
        let other = other_type.generate(&entropy).unwrap();
        let pem = key.serialize_pem();
        assert!(key_matches_cert(&leaf(&key), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&other_same), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&other), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&key), &other.serialize_pem()).unwrap());
        assert_eq!(public_half_matches(&parsed(&leaf(&key)), &pem), Some(true));
        (pem, other_same, other)
    }

    #[test]
    fn an_rsa_key_matches_its_certificate_only() {
        matches_only_its_own(KeyType::Rsa, KeyType::P256);
    }

    #[test]
    fn an_ec_key_matches_its_certificate_only_by_its_public_point() {
        // The keys the sandbox writes carry their public point, so aws-lc
        // is not needed to tell.
        let (pem, other_p256, rsa) = matches_only_its_own(KeyType::P256, KeyType::Rsa);
        assert_eq!(public_half_matches(&parsed(&leaf(&other_p256)), &pem), Some(false));
        assert_eq!(public_half_matches(&parsed(&leaf(&rsa)), &pem), Some(false));
    }

    #[test]
    fn an_ec_key_without_its_public_point_goes_through_aws_lc() {
        // RFC 5915 makes the public point optional: the same key without it.
        let p256 = KeyType::P256.generate(&crate::entropy::Entropy::SYSTEM).unwrap();
        let der = p256.serialize_der();
        let public = ec_public_point(&pkcs8_private(&der)).unwrap().to_vec();
        let stripped = pkcs8_without_public_point(&der);
        let stripped_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", stripped.clone()));
        assert_eq!(ec_public_point(&pkcs8_private(&stripped)), None);
        assert_eq!(public_half_matches(&parsed(&leaf(&p256)), &stripped_pem), None);
        assert!(
            key_matches_cert(&leaf(&p256), &stripped_pem).unwrap(),
            "aws-lc derives the point"
        );
        assert_eq!(public, p256.public_key_raw());
    }

    /// The `privateKey` OCTET STRING's content of a PKCS#8 document.
    fn pkcs8_private(der: &[u8]) -> Vec<u8> {
        use x509_parser::der_parser::der::parse_der_sequence;
        let (_, info) = parse_der_sequence(der).unwrap();
        info.as_sequence().unwrap()[2].as_slice().unwrap().to_vec()
    }

    /// `der` (P-256 PKCS#8) rebuilt with an ECPrivateKey that keeps only
    /// its version and private scalar.
    fn pkcs8_without_public_point(der: &[u8]) -> Vec<u8> {
        use x509_parser::der_parser::der::parse_der_sequence;
        let tlv = |tag: u8, content: &[u8]| {
            assert!(content.len() < 128);
            [&[tag, content.len() as u8][..], content].concat()
        };
        let (_, info) = parse_der_sequence(der).unwrap();
        let info = info.as_sequence().unwrap();
        let (_, key) = parse_der_sequence(info[2].as_slice().unwrap()).unwrap();
        let scalar = key.as_sequence().unwrap()[1].as_slice().unwrap();
        let ec_private = tlv(0x30, &[tlv(0x02, &[1]), tlv(0x04, scalar)].concat());
        // AlgorithmIdentifier { id-ecPublicKey, prime256v1 }
        let algorithm = tlv(
            0x30,
            &[
                tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
                tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            ]
            .concat(),
        );
        tlv(0x30, &[tlv(0x02, &[0]), algorithm, tlv(0x04, &ec_private)].concat())
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_match() {
        let rsa = KeyType::Rsa.generate(&crate::entropy::Entropy::SYSTEM).unwrap();
        let pem = rsa.serialize_pem();
        let cut: String = pem
            .lines()
            .take(5)
            .chain(pem.lines().last())
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            key_matches_cert(&leaf(&rsa), &cut).is_err(),
            "a cut-off key is not silently accepted"
        );
    }

    fn parsed(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        use x509_parser::prelude::FromDer;
        x509_parser::certificate::X509Certificate::from_der(der).unwrap().1
    }
}

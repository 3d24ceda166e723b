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
    if let Some(matches) = rsa_key_matches(&cert, key_pem) {
        return Ok(matches);
    }
    let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Pem {
        what: "private key".into(),
        detail: e.to_string(),
    })?;
    Ok(key.subject_public_key_info() == cert.public_key().raw)
}

/// For a PKCS#8 RSA key: whether its modulus and public exponent are the
/// certificate's; `None` for any other key (or one that does not parse),
/// which then goes through aws-lc.
///
/// Why not aws-lc: parsing an RSA private key there runs its full
/// consistency check (`RSA_check_key`, ~15M instructions, 4 ms), and every
/// start checks the client key against its certificate: that was a third
/// of a warm start. The sandbox never signs with the client key, so all
/// the check needs is that the key file is that certificate's key; a key
/// whose private half was damaged is caught where it is used, by the TLS
/// handshake of the client that presents it.
fn rsa_key_matches(cert: &x509_parser::certificate::X509Certificate<'_>, key_pem: &str) -> Option<bool> {
    use x509_parser::der_parser::{der::parse_der_sequence, oid};
    use x509_parser::public_key::PublicKey;
    let pem = pem::parse(key_pem).ok().filter(|p| p.tag() == "PRIVATE KEY")?;
    // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }
    let (_, info) = parse_der_sequence(pem.contents()).ok()?;
    let info = info.as_sequence().ok()?;
    let algorithm = info.get(1)?.as_sequence().ok()?.first()?.as_oid().ok()?;
    if *algorithm != oid!(1.2.840.113549.1.1.1) {
        return None;
    }
    // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
    let (_, private) = parse_der_sequence(info.get(2)?.as_slice().ok()?).ok()?;
    let private = private.as_sequence().ok()?;
    let (n, e) = (private.get(1)?.as_slice().ok()?, private.get(2)?.as_slice().ok()?);
    let Ok(PublicKey::RSA(public)) = cert.public_key().parsed() else {
        return Some(false);
    };
    let strip = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|&x| x == 0).collect() };
    Some(strip(n) == strip(public.modulus) && strip(e) == strip(public.exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_type::KeyType;

    fn leaf(key: &KeyPair) -> Vec<u8> {
        let params = rcgen::CertificateParams::new(vec!["leaf".into()]).unwrap();
        params.self_signed(key).unwrap().der().to_vec()
    }

    #[test]
    fn an_rsa_key_matches_its_certificate_only() {
        let entropy = crate::entropy::Entropy::SYSTEM;
        let rsa = KeyType::Rsa.generate(&entropy).unwrap();
        let other_rsa = KeyType::Rsa.generate(&entropy).unwrap();
        let p256 = KeyType::P256.generate(&entropy).unwrap();
        let pem = rsa.serialize_pem();
        assert!(key_matches_cert(&leaf(&rsa), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&other_rsa), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&p256), &pem).unwrap());
        assert!(!key_matches_cert(&leaf(&rsa), &p256.serialize_pem()).unwrap());
        // The fast path reads the public half from the key file: it agrees
        // with aws-lc's full parse.
        assert_eq!(rsa_key_matches(&parsed(&leaf(&rsa)), &pem), Some(true));
        assert_eq!(
            rsa_key_matches(&parsed(&leaf(&rsa)), &p256.serialize_pem()),
            None,
            "not RSA: aws-lc decides"
        );
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

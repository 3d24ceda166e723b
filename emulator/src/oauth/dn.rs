//! Distinguished names for `tls_client_auth` (RFC 8705 §2.1.2): the string
//! a client registers (RFC 4514) parsed strictly, the certificate's subject
//! read from its DER, and the two compared as RFC 4517
//! `distinguishedNameMatch` does — same RDNs in the same order, attribute
//! types by OID, values with caseIgnoreMatch-style normalisation
//! (case-insensitive, insignificant spaces folded; RFC 4518).
//!
//! Owns no policy: client_auth decides what a mismatch means.

use std::fmt;

use x509_parser::x509::X509Name;

/// A parsed DN, RDNs in RFC 4514 string order (the most specific — usually
/// CN — first; the reverse of the certificate's DER order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Rdn>);

/// One RDN: a set of attribute type-and-values (usually one), kept sorted
/// so `CN=a+UID=b` equals `UID=b+CN=a`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rdn(Vec<Ava>);

#[derive(Debug, Clone)]
struct Ava {
    /// The attribute type's OID in dotted form.
    oid: String,
    /// The value as written, for display.
    value: String,
    /// The value as compared.
    folded: String,
}

/// Short names RFC 4514 §3 lists, plus the ones X.509 client certificates
/// commonly carry (eIDAS/open-banking certificates use
/// organizationIdentifier).
const NAMES: [(&str, &str); 16] = [
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("TITLE", "2.5.4.12"),
    ("GIVENNAME", "2.5.4.42"),
    ("ORGANIZATIONIDENTIFIER", "2.5.4.97"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

/// Characters that must be escaped inside an RFC 4514 value.
const SPECIAL: &str = "\"+,;<>\\";

impl Dn {
    /// Parses an RFC 4514 string. Spaces around `,`, `+` and `=` are
    /// tolerated (the common `CN=a, O=b` form); anything else malformed —
    /// an empty RDN, a part without `=`, an unknown attribute name, an
    /// unescaped special character — is refused with what to fix.
    pub fn parse(text: &str) -> Result<Dn, String> {
        if text.trim().is_empty() {
            return Err("the subject DN is empty; write it like CN=my_app,O=Example".into());
        }
        let mut rdns = Vec::new();
        for (i, rdn) in split_unescaped(text, ',')?.into_iter().enumerate() {
            let mut avas = Vec::new();
            for ava in split_unescaped(rdn, '+')? {
                avas.push(parse_ava(ava).map_err(|why| format!("RDN {} (\"{}\"): {why}", i + 1, rdn.trim()))?);
            }
            avas.sort();
            rdns.push(Rdn(avas));
        }
        Ok(Dn(rdns))
    }

    /// The subject (or issuer) of a certificate.
    pub fn from_x509(name: &X509Name<'_>) -> Dn {
        let mut rdns: Vec<Rdn> = name
            .iter()
            .map(|rdn| {
                let mut avas: Vec<Ava> = rdn
                    .iter()
                    .map(|ava| {
                        // A value that is no string type cannot equal a
                        // registered string: keep it as hex, RFC 4514 style.
                        let value = ava
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|_| format!("#{}", hex::encode(ava.attr_value().data)));
                        Ava {
                            oid: ava.attr_type().to_id_string(),
                            folded: fold(&value),
                            value,
                        }
                    })
                    .collect();
                avas.sort();
                Rdn(avas)
            })
            .collect();
        rdns.reverse();
        Dn(rdns)
    }

    /// Whether both name the same RDNs, in any order: a DN registered with
    /// its RDNs reversed deserves a hint rather than a bare mismatch.
    pub fn same_rdns_in_another_order(&self, other: &Dn) -> bool {
        let (mut a, mut b) = (self.0.clone(), other.0.clone());
        a.sort();
        b.sort();
        a == b && self != other
    }
}

impl PartialEq for Ava {
    fn eq(&self, other: &Self) -> bool {
        self.oid == other.oid && self.folded == other.folded
    }
}

impl Eq for Ava {}

impl PartialOrd for Ava {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ava {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.oid, &self.folded).cmp(&(&other.oid, &other.folded))
    }
}

/// RFC 4514 form, with short names where known: what to register.
impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, Rdn(avas)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in avas.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                let name = NAMES
                    .iter()
                    .find(|(_, oid)| *oid == ava.oid)
                    .map_or(ava.oid.as_str(), |(n, _)| n);
                write!(f, "{name}={}", escape(&ava.value))?;
            }
        }
        Ok(())
    }
}

/// caseIgnoreMatch after RFC 4518 insignificant-space handling: lower
/// case, no leading or trailing spaces, inner runs of spaces as one.
fn fold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn escape(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.chars().count() && c == ' ');
        if SPECIAL.contains(c) || edge {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits on `sep` where it is not escaped with a backslash.
fn split_unescaped(text: &str, sep: char) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    if let Some(empty) = parts.iter().position(|p| p.trim().is_empty()) {
        let what = if sep == ',' { "RDN" } else { "attribute after '+'" };
        return Err(format!(
            "empty {what} at position {} (stray '{sep}'?); write it like CN=my_app,O=Example",
            empty + 1
        ));
    }
    Ok(parts)
}

fn parse_ava(text: &str) -> Result<Ava, String> {
    let (name, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("\"{}\" is not type=value", text.trim()))?;
    let name = name.trim();
    let oid = if name.starts_with(|c: char| c.is_ascii_digit()) {
        let numeric = name
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        if !numeric {
            return Err(format!("\"{name}\" is neither an attribute name nor a dotted OID"));
        }
        name.to_owned()
    } else {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, oid)| (*oid).to_owned())
            .ok_or_else(|| {
                format!("unknown attribute type \"{name}\"; use a short name such as CN, O, OU, C or its dotted OID")
            })?
    };
    let value = unescape(raw.trim())?;
    if value.trim().is_empty() {
        return Err(format!("{name} has no value"));
    }
    Ok(Ava {
        oid,
        folded: fold(&value),
        value,
    })
}

fn unescape(raw: &str) -> Result<String, String> {
    if raw.starts_with('#') {
        return Err("hex-encoded values (#...) are not supported; write the value as text".into());
    }
    let mut bytes = Vec::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(h) if h.is_ascii_hexdigit() => {
                    let l = chars.next().filter(char::is_ascii_hexdigit).ok_or_else(|| {
                        format!("\"\\{h}\" is not an escape: use \\ before a special character or two hex digits")
                    })?;
                    bytes.push(u8::from_str_radix(&format!("{h}{l}"), 16).expect("two hex digits"));
                }
                Some(s) if SPECIAL.contains(s) || " #=".contains(s) => {
                    bytes.extend_from_slice(s.to_string().as_bytes());
                }
                _ => return Err("a '\\' must be followed by a special character or two hex digits".into()),
            },
            c if SPECIAL.contains(c) => {
                return Err(format!("'{c}' in a value must be escaped as \\{c}"));
            }
            c => bytes.extend_from_slice(c.to_string().as_bytes()),
        }
    }
    String::from_utf8(bytes).map_err(|_| "the escaped bytes are not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(a: &str, b: &str) -> bool {
        Dn::parse(a).unwrap() == Dn::parse(b).unwrap()
    }

    /// #18 item 11: order was ignored, garbage dropped, values case-sensitive.
    #[test]
    fn rdn_order_matters() {
        assert!(!matches("CN=a,O=b", "O=b,CN=a"));
        assert!(
            Dn::parse("CN=a,O=b")
                .unwrap()
                .same_rdns_in_another_order(&Dn::parse("O=b,CN=a").unwrap())
        );
        assert!(matches("CN=a+UID=x,O=b", "UID=x+CN=a,O=b"), "within one RDN, a set");
    }

    #[test]
    fn malformed_dns_are_refused_with_a_reason() {
        for (bad, why) in [
            ("CN=a,garbage", "is not type=value"),
            ("CN=a,,,", "empty RDN"),
            (",CN=a", "empty RDN"),
            ("", "empty"),
            ("XYZ=a", "unknown attribute type"),
            ("CN=", "no value"),
            ("CN=a;b", "escaped"),
            ("CN=a\\", "'\\'"),
            ("1.2.x=a", "dotted OID"),
            ("CN=a+", "empty attribute"),
        ] {
            let err = Dn::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn types_and_values_compare_case_insensitively_with_spaces_folded() {
        assert!(matches("CN=My  App , O=Example Ltd", "cn=my app,o=EXAMPLE LTD"));
        assert!(matches("CN=a,O=b", "2.5.4.3=a, 2.5.4.10=b"));
        assert!(matches("CN=a\\,b", "CN=A\\2cB"));
        assert!(!matches("CN=ab", "CN=a b"));
    }

    #[test]
    fn a_certificate_subject_reads_in_rfc_4514_order() {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example, Inc.");
        params.distinguished_name.push(rcgen::DnType::CommonName, "my_app");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        let subject = Dn::from_x509(parsed.subject());
        assert_eq!(subject.to_string(), "CN=my_app,O=Example\\, Inc.");
        assert_eq!(subject, Dn::parse("cn=MY_APP, o=example\\, inc.").unwrap());
        assert_ne!(subject, Dn::parse("O=Example\\, Inc.,CN=my_app").unwrap());
    }
}

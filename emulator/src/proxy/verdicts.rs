//! Forwarded chains already verified. A client behind a keep-alive proxy
//! sends the same certificate header on every request, and verifying its
//! chain (two signatures, ~100 µs) costs more than the rest of the request.
//!
//! A verdict holds while the verifier is the one that gave it (a CRL reload
//! replaces the verifier, so a revocation is seen at the next request) and
//! the sandbox clock is inside every certificate's validity (tests move the
//! clock). Only acceptances are kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::danger::ClientCertVerifier;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Entries kept before the cache is emptied (one per distinct header value).
const CAPACITY: usize = 1024;

struct Verdict {
    chain: Vec<Vec<u8>>,
    /// Held, not just compared: a freed verifier's address could be reused.
    verifier: Arc<dyn ClientCertVerifier>,
    /// Unix seconds: the latest notBefore and the earliest notAfter.
    valid: (i64, i64),
}

#[derive(Default)]
pub struct Verdicts {
    by_header: RwLock<HashMap<Vec<u8>, Verdict>>,
}

impl std::fmt::Debug for Verdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.by_header.read().map(|m| m.len()).unwrap_or_default();
        write!(f, "Verdicts({len})")
    }
}

impl Verdicts {
    /// The chain `verifier` accepted for this header value, if still valid at `now`.
    pub fn get(&self, value: &[u8], verifier: &Arc<dyn ClientCertVerifier>, now: i64) -> Option<Vec<Vec<u8>>> {
        let map = self.by_header.read().unwrap_or_else(|p| p.into_inner());
        let verdict = map.get(value)?;
        let current = Arc::ptr_eq(&verdict.verifier, verifier) && (verdict.valid.0..=verdict.valid.1).contains(&now);
        current.then(|| verdict.chain.clone())
    }

    /// Remembers that `verifier` accepted `chain`, sent as `value`.
    pub fn insert(&self, value: &[u8], chain: &[Vec<u8>], verifier: &Arc<dyn ClientCertVerifier>) {
        let Some(valid) = validity(chain) else {
            return;
        };
        let mut map = self.by_header.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        let verdict = Verdict {
            chain: chain.to_vec(),
            verifier: verifier.clone(),
            valid,
        };
        map.insert(value.to_vec(), verdict);
    }
}

/// When every certificate of `chain` is valid, in Unix seconds.
fn validity(chain: &[Vec<u8>]) -> Option<(i64, i64)> {
    chain.iter().try_fold((i64::MIN, i64::MAX), |(from, until), der| {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        Some((
            from.max(validity.not_before.timestamp()),
            until.min(validity.not_after.timestamp()),
        ))
    })
}

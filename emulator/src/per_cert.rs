//! A value computed once per client certificate: what a request derives from
//! its connection's certificate (the subject for the log line, the SHA-256
//! thumbprint for a token's `cnf` check) is the same on every request of a
//! keep-alive connection, and across the few certificates a sandbox's
//! clients present.
//!
//! Deriving it each time was a sixth of a keep-alive request (parsing the
//! certificate for its subject) and as much again for a bearer call
//! (hashing it): callgrind, issue #15. Entries are found by comparing DER
//! bytes, which costs less than hashing a kilobyte per request; the memo is
//! emptied when it holds [`PerCertificate::MAX`] certificates, so a client
//! minting certificates cannot grow it.
//!
//! A leaf: it knows nothing of what is computed.

use std::sync::RwLock;

pub struct PerCertificate<T> {
    known: RwLock<Vec<(Vec<u8>, T)>>,
}

impl<T> Default for PerCertificate<T> {
    fn default() -> Self {
        Self {
            known: RwLock::default(),
        }
    }
}

impl<T: Clone> PerCertificate<T> {
    /// Certificates remembered before the memo starts over.
    pub const MAX: usize = 64;

    /// The value for the certificate `der`, computed by `derive` the first
    /// time it is seen.
    pub fn get(&self, der: &[u8], derive: impl FnOnce(&[u8]) -> T) -> T {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        if let Some((_, value)) = known.iter().find(|(seen, _)| seen.as_slice() == der) {
            return value.clone();
        }
        drop(known);
        let value = derive(der);
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.push((der.to_vec(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn derives_once_per_certificate_and_starts_over_when_full() {
        let memo = PerCertificate::default();
        let calls = Cell::new(0);
        let len = |der: &[u8]| {
            calls.set(calls.get() + 1);
            der.len()
        };
        assert_eq!(memo.get(b"abc", len), 3);
        assert_eq!(memo.get(b"abc", len), 3);
        assert_eq!(memo.get(b"abcd", len), 4);
        assert_eq!(calls.get(), 2);
        let max = PerCertificate::<usize>::MAX;
        for i in 2..max {
            memo.get(&i.to_be_bytes(), len);
        }
        assert_eq!(memo.known.read().unwrap().len(), max);
        assert_eq!(memo.get(b"abcde", len), 5);
        let left = memo.known.read().unwrap().len();
        assert_eq!(left, 1, "emptied at the limit, then one added");
        assert_eq!(memo.get(b"abc", len), 3);
        assert_eq!(calls.get(), max + 2);
    }
}

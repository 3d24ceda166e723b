//! The verified-token cache: presented access tokens whose signature,
//! issuer and audience have been checked, with what that check produced.
//!
//! A CI suite presents the same token thousands of times; a hit must cost
//! far less than a verification. Two things made a hit cost ~9k
//! instructions (callgrind, issue #15): SipHash over the whole presented
//! token (a PS256 JWT is ~800 bytes) and a clone of its claims. So entries
//! are shared (`Arc`), and the map hashes only the token's last bytes
//! ([`TailHasher`]): a JWT ends in its signature and an opaque reference is
//! random, so the tail spreads entries as well as the whole would. Only the
//! hash is partial: a lookup still compares the whole token, so a token
//! differing anywhere is a miss, never another token's entry. And only
//! tokens that verified are inserted, so nobody can fill the map with
//! chosen tails.
//!
//! What can change after a token verified — the clock, revocations, key
//! rotation — is not this module's business: `Authority::verify` checks the
//! validity window and the revocations on every hit, and empties the cache
//! when the key rotates.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use super::token::AccessClaims;

/// A token that verified: its JWT form (an opaque reference resolved) and
/// its claims.
#[derive(Debug, PartialEq)]
pub struct Verified {
    pub jwt: String,
    pub claims: AccessClaims,
}

/// Presented token → what its verification produced.
#[derive(Default)]
pub struct VerifiedTokens {
    map: RwLock<HashMap<String, Arc<Verified>, BuildHasherDefault<TailHasher>>>,
}

impl VerifiedTokens {
    /// Entries kept before the cache is emptied.
    pub const MAX: usize = 10_000;

    /// The entry for exactly `presented`, if it verified before.
    pub fn get(&self, presented: &str) -> Option<Arc<Verified>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(presented)
            .cloned()
    }

    /// Remembers that `presented` verified as `verified`; returns the shared entry.
    pub fn insert(&self, presented: &str, verified: Verified) -> Arc<Verified> {
        let verified = Arc::new(verified);
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(presented.to_owned(), verified.clone());
        verified
    }

    /// Forgets every entry (the signing key changed).
    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Hashes the last [`TailHasher::TAIL`] bytes written to it. For the
/// cache's keys only (see the module doc): keys chosen by an adversary
/// would all collide.
#[derive(Default)]
pub struct TailHasher(u64);

impl TailHasher {
    const TAIL: usize = 16;
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(Self::TAIL)..];
        let mut words = [0u8; Self::TAIL];
        words[..tail.len()].copy_from_slice(tail);
        let (a, b) = words.split_at(8);
        let a = u64::from_le_bytes(a.try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        // One multiply-rotate round per word (the FxHash constant), so the
        // high bits hashbrown picks buckets with depend on every tail byte.
        for word in [a, b, bytes.len() as u64] {
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn verified(jti: &str) -> Verified {
        let now = time::OffsetDateTime::now_utc();
        let claims = AccessClaims::new("i", "a", "c", "api", None, now, jti.into());
        Verified {
            jwt: format!("jwt-{jti}"),
            claims,
        }
    }

    #[test]
    fn a_token_with_the_same_tail_is_another_token() {
        let cache = VerifiedTokens::default();
        let tail = "x".repeat(40);
        let first = cache.insert(&format!("a.{tail}"), verified("1"));
        assert_eq!(cache.get(&format!("a.{tail}")), Some(first));
        let hash = |s: &str| BuildHasherDefault::<TailHasher>::default().hash_one(s);
        assert_eq!(hash(&format!("a.{tail}")), hash(&format!("b.{tail}")));
        assert_eq!(
            cache.get(&format!("b.{tail}")),
            None,
            "same hash, different token: a miss"
        );
        cache.insert(&format!("b.{tail}"), verified("2"));
        assert_eq!(cache.get(&format!("a.{tail}")).unwrap().claims.jti, "1");
        assert_eq!(cache.get(&format!("b.{tail}")).unwrap().claims.jti, "2");
        assert_eq!(cache.get("short"), None);
    }

    #[test]
    fn tails_spread_and_the_cache_starts_over_when_full() {
        let hash = |s: &str| BuildHasherDefault::<TailHasher>::default().hash_one(s);
        assert_ne!(hash("header.payload.sig-a"), hash("header.payload.sig-b"));
        assert_ne!(hash(""), hash("a"));
        let cache = VerifiedTokens::default();
        for i in 0..VerifiedTokens::MAX {
            cache.insert(&format!("token-{i}"), verified("n"));
        }
        assert!(cache.get("token-0").is_some());
        cache.insert("one more", verified("m"));
        assert_eq!(cache.get("token-0"), None);
        assert!(cache.get("one more").is_some());
        cache.clear();
        assert_eq!(cache.get("one more"), None);
    }
}

//! Secret tokens: made from the operating system's random source, stored only as a hash.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new API token: `cpd_` and 64 hex digits (256 bits).
pub fn new_api_token() -> String {
    format!("cpd_{}", random_hex(32))
}

/// `bytes` random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The stored form of a token. Tokens carry 128 bits or more of randomness, so a plain
/// SHA-256 is enough: there is nothing to guess that a slow hash would protect.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a), hash(&a));
    }
}

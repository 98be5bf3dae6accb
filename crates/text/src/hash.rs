//! The feature hash.
//!
//! Written here rather than taken from a hashing crate on purpose: a trained model is
//! only valid for the exact hash it was trained with, so the function must never change
//! under a dependency update. FNV-1a (64 bit) is simple, well documented and fast on
//! the short strings we hash; the high bits are folded in because the model uses the
//! low bits as the bucket and one more as the sign.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running hash of a feature: a namespace, then the parts of the feature.
#[derive(Debug, Clone, Copy)]
pub struct FeatureHash(u64);

impl FeatureHash {
    /// Starts a hash in `namespace`, so equal strings in different roles (a word, a
    /// character n-gram, an emoji) land in different buckets.
    pub fn new(namespace: u8) -> Self {
        Self(FNV_OFFSET).bytes(&[namespace])
    }

    /// Adds bytes to the hash.
    #[inline]
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
        self
    }

    /// Adds a string and a separator, so ("ab", "c") and ("a", "bc") differ.
    #[inline]
    pub fn str(self, part: &str) -> Self {
        self.bytes(part.as_bytes()).bytes(&[0xff])
    }

    /// The final 64-bit value, with the high bits folded into the low ones.
    #[inline]
    pub fn finish(self) -> u64 {
        self.0 ^ (self.0 >> 29) ^ (self.0 >> 47)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_never_changes() {
        // Models on disk depend on this value: if this test fails, every shipped model
        // must be retrained and its format version raised.
        assert_eq!(
            FeatureHash::new(1).str("rellen").finish(),
            0xb156710c0b720f07
        );
    }

    #[test]
    fn namespaces_and_separators_separate() {
        let word = FeatureHash::new(1).str("ab").str("c").finish();
        assert_ne!(word, FeatureHash::new(1).str("a").str("bc").finish());
        assert_ne!(word, FeatureHash::new(2).str("ab").str("c").finish());
    }
}

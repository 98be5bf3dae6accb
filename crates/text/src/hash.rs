//! The feature hashes.
//!
//! Written here rather than taken from a hashing crate on purpose: a trained model is
//! only valid for the exact hash it was trained with, so the functions must never
//! change under a dependency update.
//!
//! Words go through FNV-1a (64 bit): simple, well documented, fine for a few bytes.
//! Character n-grams are the bulk of a post's features (three per character), so a
//! gram of up to seven bytes is packed into one integer and mixed with MurmurHash3's
//! 64-bit finaliser: a handful of instructions a gram instead of a loop over its
//! bytes. Longer grams (only possible with multi-byte characters) use FNV.

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

/// The longest gram, in bytes, that [`packed_gram`] takes; longer ones go through
/// [`FeatureHash`].
pub const MAX_PACKED_GRAM: usize = 7;

/// The hash of a short byte string packed big-endian into `packed` (first byte
/// highest), `len` bytes long (at most [`MAX_PACKED_GRAM`]), in `namespace`.
#[inline]
pub fn packed_gram(namespace: u8, packed: u64, len: usize) -> u64 {
    let mut k = packed ^ ((len as u64) << 56) ^ (u64::from(namespace) << 60);
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The hash of a gram of any length: packed when short, FNV otherwise; the same value
/// [`packed_gram`] gives for the same short bytes.
pub fn gram(namespace: u8, bytes: &[u8]) -> u64 {
    if bytes.len() <= MAX_PACKED_GRAM {
        let packed = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        packed_gram(namespace, packed, bytes.len())
    } else {
        FeatureHash::new(namespace).bytes(bytes).finish()
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
            0xb156_710c_0b72_0f07
        );
    }

    #[test]
    fn packed_gram_value_never_changes() {
        // As above: models depend on this value.
        assert_eq!(gram(4, b"<rel"), 0x6536_2e10_9690_0c87);
    }

    #[test]
    fn short_and_long_grams_differ_by_length_and_namespace() {
        assert_ne!(gram(4, b"ab"), gram(4, b"ab\0"));
        assert_ne!(gram(4, b"abc"), gram(5, b"abc"));
        assert_ne!(gram(4, "ééééé".as_bytes()), gram(4, "éééé".as_bytes()));
    }

    #[test]
    fn namespaces_and_separators_separate() {
        let word = FeatureHash::new(1).str("ab").str("c").finish();
        assert_ne!(word, FeatureHash::new(1).str("a").str("bc").finish());
        assert_ne!(word, FeatureHash::new(2).str("ab").str("c").finish());
    }
}

//! Authors pseudonymised at ingest with a keyed hash (HMAC-SHA256), so that the
//! engine can tell one author's posts apart from another's without ever holding
//! who the author is. Without the key a pseudonym cannot be linked back to an
//! author id, not even by hashing candidate ids.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// An author's pseudonym: the first 64 bits of the keyed hash of the author id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pseudonym(u64);

/// A key too short to pseudonymise with.
#[derive(Debug, thiserror::Error)]
#[error("the author key has {0} bytes; at least {min} are needed", min = Pseudonymiser::MIN_KEY_BYTES)]
pub struct KeyTooShort(pub usize);

/// Turns author ids into pseudonyms with one secret key.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl Pseudonymiser {
    /// The shortest key accepted, in bytes.
    pub const MIN_KEY_BYTES: usize = 16;

    /// A pseudonymiser keyed with `key` (at least [`Self::MIN_KEY_BYTES`] bytes).
    pub fn new(key: &[u8]) -> Result<Pseudonymiser, KeyTooShort> {
        if key.len() < Self::MIN_KEY_BYTES {
            return Err(KeyTooShort(key.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| KeyTooShort(key.len()))?;
        Ok(Pseudonymiser { mac })
    }

    /// The pseudonym of `author`.
    pub fn pseudonym(&self, author: &str) -> Pseudonym {
        let mut mac = self.mac.clone();
        mac.update(author.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Pseudonym(u64::from_be_bytes(first))
    }
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { key: <secret> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a key of sixteen+ bytes";

    #[test]
    fn the_same_author_gets_the_same_pseudonym_and_others_differ() {
        let p = Pseudonymiser::new(KEY).expect("key long enough");
        assert_eq!(p.pseudonym("user-1"), p.pseudonym("user-1"));
        assert_ne!(p.pseudonym("user-1"), p.pseudonym("user-2"));
    }

    #[test]
    fn another_key_gives_unlinkable_pseudonyms() {
        let one = Pseudonymiser::new(KEY).expect("key long enough");
        let other = Pseudonymiser::new(b"another key, also long").expect("key long enough");
        assert_ne!(one.pseudonym("user-1"), other.pseudonym("user-1"));
    }

    #[test]
    fn short_keys_are_refused_and_the_key_is_never_printed() {
        assert_eq!(Pseudonymiser::new(b"short").map(|_| ()).unwrap_err().0, 5);
        let shown = format!("{:?}", Pseudonymiser::new(KEY).expect("key long enough"));
        assert!(!shown.contains("sixteen"), "{shown}");
    }

    #[test]
    fn the_pseudonym_is_hmac_sha256_of_the_author() {
        let key = b"Jefe, a key long enough";
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(b"what do ya want for nothing?");
        let expected = mac.finalize().into_bytes();
        let p = Pseudonymiser::new(key).expect("key long enough");
        let Pseudonym(got) = p.pseudonym("what do ya want for nothing?");
        assert_eq!(got.to_be_bytes(), expected[..8]);
    }
}

//! The model file: versioned, checksummed, validated on load.
//!
//! Layout (little endian):
//!
//! ```text
//! "ONRUSTMODEL\0"        12 bytes, the magic
//! format version          u32
//! header length           u32
//! header                  JSON: language, feature config, calibration, bias, info, lexicon
//! bucket count            u32, non-zero buckets that follow
//! buckets                 (u32 index, 4 × f32 weights) each, indices strictly increasing
//! SHA-256                 32 bytes, of everything above
//! ```
//!
//! Only non-zero buckets are stored, so a model is a few MiB although it has 2^20
//! buckets in memory. Any damage (truncation, a flipped bit, a model of a newer
//! format, nonsense in the header) is a [`ModelError`], never a panic.

use onrust_text::{FeatureConfig, Lang, Lexicon};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Calibration, Model, ModelInfo, OUTPUTS};

const MAGIC: &[u8; 12] = b"ONRUSTMODEL\0";
/// The format this build reads and writes. Raise it whenever the layout or the
/// meaning of features (tokenizer, hash, feature set) changes.
pub const FORMAT_VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;
const BUCKET_LEN: usize = 4 + 4 * OUTPUTS;

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Not an onrust model at all.
    #[error("not an onrust model file (bad magic bytes)")]
    NotAModel,
    /// Written by another version of onrust.
    #[error("model format version {found}, but this onrust reads version {FORMAT_VERSION}: retrain the model or use a matching onrust")]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// The checksum does not match: the file is damaged or truncated.
    #[error("model file is damaged: checksum mismatch (truncated or corrupted)")]
    Corrupt,
    /// The file ends early.
    #[error("model file is truncated: {0}")]
    Truncated(&'static str),
    /// The header is not valid.
    #[error("model header is invalid: {0}")]
    Header(String),
    /// A bucket is outside the model's range or out of order.
    #[error("model bucket {index} is out of order or outside 0..{buckets}")]
    BadBucket {
        /// The bucket index found.
        index: u32,
        /// The model's bucket count.
        buckets: usize,
    },
    /// A weight is NaN or infinite.
    #[error("model weight in bucket {0} is not finite")]
    NonFinite(u32),
    /// The model is for another language than the one asked for.
    #[error("model is for language {found}, expected {expected}")]
    WrongLanguage {
        /// The language asked for.
        expected: Lang,
        /// The model's language.
        found: Lang,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    lang: String,
    bits: u8,
    char_ngram_min: u8,
    char_ngram_max: u8,
    word_bigrams: bool,
    calibration: Calibration,
    bias: [f32; OUTPUTS],
    info: ModelInfo,
    lexicon: Option<Vec<(String, f32)>>,
}

/// Serialises a model.
pub fn encode(model: &Model) -> Vec<u8> {
    let header = Header {
        lang: model.lang.as_str().to_string(),
        bits: model.features.bits,
        char_ngram_min: model.features.char_ngram_min,
        char_ngram_max: model.features.char_ngram_max,
        word_bigrams: model.features.word_bigrams,
        calibration: model.calibration,
        bias: model.bias,
        info: model.info.clone(),
        lexicon: model.lexicon.as_ref().map(|l| {
            l.sorted_entries()
                .into_iter()
                .map(|(w, p)| (w.to_string(), p))
                .collect()
        }),
    };
    // Serialising plain data with string keys cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = Vec::with_capacity(header.len() + model.non_zero_buckets() * BUCKET_LEN + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    let count_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count = 0u32;
    for (index, weights) in model.weights.iter().enumerate() {
        if weights.iter().all(|w| *w == 0.0) {
            continue;
        }
        count += 1;
        out.extend_from_slice(&(index as u32).to_le_bytes());
        for w in weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Reads and validates a model.
pub fn decode(bytes: &[u8]) -> Result<Model, ModelError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ModelError::NotAModel);
    }
    let mut reader = Reader {
        bytes,
        pos: MAGIC.len(),
    };
    let version = reader.u32("version")?;
    if version != FORMAT_VERSION {
        return Err(ModelError::UnsupportedVersion { found: version });
    }
    if bytes.len() < MAGIC.len() + 8 + CHECKSUM_LEN {
        return Err(ModelError::Truncated("no room for the checksum"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(ModelError::Corrupt);
    }
    reader.bytes = body;
    let header_len = reader.u32("header length")? as usize;
    let header: Header = serde_json::from_slice(reader.take(header_len, "header")?)
        .map_err(|e| ModelError::Header(e.to_string()))?;
    let lang = Lang::from_code(&header.lang)
        .ok_or_else(|| ModelError::Header(format!("language {:?} is not a code", header.lang)))?;
    let features = FeatureConfig {
        bits: header.bits,
        char_ngram_min: header.char_ngram_min,
        char_ngram_max: header.char_ngram_max,
        word_bigrams: header.word_bigrams,
    };
    features.validate().map_err(ModelError::Header)?;
    let calibration = header.calibration;
    let finite = [
        calibration.sentiment_temperature,
        calibration.tension_slope,
        calibration.tension_intercept,
    ]
    .iter()
    .chain(&header.bias)
    .all(|x| x.is_finite());
    if !finite || calibration.sentiment_temperature <= 0.0 {
        return Err(ModelError::Header(
            "calibration or bias is not a finite, positive-temperature set".into(),
        ));
    }
    let lexicon = header
        .lexicon
        .map(|entries| Lexicon::from_entries(entries.iter().map(|(w, p)| (w.as_str(), *p))));
    let mut model = Model::zeroed(lang, features, lexicon);
    model.calibration = calibration;
    model.bias = header.bias;
    model.info = header.info;
    let count = reader.u32("bucket count")? as usize;
    let buckets = features.buckets();
    if count > buckets {
        return Err(ModelError::Header(format!(
            "{count} buckets stored, model has {buckets}"
        )));
    }
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let index = reader.u32("bucket")?;
        if index as usize >= buckets || previous.is_some_and(|p| p >= index) {
            return Err(ModelError::BadBucket { index, buckets });
        }
        previous = Some(index);
        let mut weights = [0f32; OUTPUTS];
        for w in &mut weights {
            *w = f32::from_le_bytes(reader.array("weight")?);
            if !w.is_finite() {
                return Err(ModelError::NonFinite(index));
            }
        }
        model.weights[index as usize] = weights;
    }
    if reader.pos != body.len() {
        return Err(ModelError::Header(
            "trailing bytes after the buckets".into(),
        ));
    }
    Ok(model)
}

/// Reads a model and checks that it is for `expected`.
pub fn decode_for(bytes: &[u8], expected: Lang) -> Result<Model, ModelError> {
    let model = decode(bytes)?;
    if model.lang != expected {
        return Err(ModelError::WrongLanguage {
            expected,
            found: model.lang,
        });
    }
    Ok(model)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], ModelError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(ModelError::Truncated(what))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(ModelError::Truncated(what))?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ModelError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_model() -> Model {
        let features = FeatureConfig {
            bits: 10,
            ..FeatureConfig::default()
        };
        let lexicon = Lexicon::from_entries([("goed", 0.5), ("slecht", -0.6)]);
        let mut model = Model::zeroed(Lang::NL, features, Some(lexicon));
        model.weights[3] = [0.5, -0.25, 0.125, 2.0];
        model.weights[700] = [0.0, 0.0, 0.0, -1.5];
        model.bias = [0.1, 0.2, 0.3, -1.0];
        model.calibration.tension_slope = 0.8;
        model.info.trained_at = "2026-11-28".into();
        model
    }

    #[test]
    fn round_trips_exactly() {
        let model = small_model();
        assert_eq!(decode(&encode(&model)).expect("valid"), model);
    }

    #[test]
    fn flipped_bit_is_corrupt() {
        let mut bytes = encode(&small_model());
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        assert!(matches!(decode(&bytes), Err(ModelError::Corrupt)));
    }

    #[test]
    fn truncation_is_an_error_at_every_length() {
        let bytes = encode(&small_model());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "length {len} accepted");
        }
    }

    #[test]
    fn other_files_and_versions_are_named() {
        assert!(matches!(
            decode(b"{\"not\": \"a model\"}"),
            Err(ModelError::NotAModel)
        ));
        let mut bytes = encode(&small_model());
        bytes[12..16].copy_from_slice(&99u32.to_le_bytes());
        let error = decode(&bytes).expect_err("newer version");
        assert!(error.to_string().contains("version 99"), "{error}");
    }

    #[test]
    fn wrong_language_is_refused() {
        let bytes = encode(&small_model());
        let error = decode_for(&bytes, Lang::EN).expect_err("nl model for en");
        assert!(matches!(error, ModelError::WrongLanguage { .. }));
        assert!(decode_for(&bytes, Lang::NL).is_ok());
    }

    #[test]
    fn only_non_zero_buckets_are_stored() {
        let model = small_model();
        let mut empty = model.clone();
        empty.weights.iter_mut().for_each(|w| *w = [0.0; OUTPUTS]);
        assert_eq!(encode(&model).len() - encode(&empty).len(), 2 * BUCKET_LEN);
    }
}

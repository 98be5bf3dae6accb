//! The classifiers of onrust: per-language linear models that score a post's
//! sentiment (neg/neu/pos) and public-safety tension (a calibrated probability).
//!
//! - [`example`]: labelled posts, as `onrust train` and `onrust eval` read them.
//! - [`model`]: a trained model and its prediction.
//! - [`format`]: the versioned, checksummed model file.
//! - [`train`]: the trainer (sparse AdaGrad logistic regression) and [`calibrate`]
//!   (Platt scaling through linfa, temperature scaling).
//! - [`metrics`]: accuracy, macro-F1, per-class precision and recall, calibration.
//! - [`scorer`]: text in, scores out: language, featurizer and the right model.
//!
//! Invariants: no I/O (model files come in and go out as bytes), no clock (the
//! training date is passed in), no global state.

pub mod calibrate;
pub mod example;
pub mod format;
pub mod metrics;
pub mod model;
pub mod scorer;
pub mod train;

pub use example::{Example, ExampleError, Sentiment};
pub use format::ModelError;
pub use model::{Calibration, Model, ModelInfo, Prediction};
pub use scorer::{Score, Scorer};
pub use train::{train, TrainError, TrainingConfig, TrainingProgress};

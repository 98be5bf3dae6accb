//! The signal core of onrust: from scored posts to alerts.
//!
//! - [`post`]: the input post (contract section 1), decoded and validated; every
//!   rejection has a named reason.
//! - [`areas`]: the areas file (contract section 2) and locating a post in an area.
//! - [`window`]: per-area sliding windows in event time, bounded by the longest window.
//! - [`baseline`]: an area's own normal, per hour of day, robust to incidents.
//! - [`stats`]: the evidence-aware statistics the rules use.
//! - [`rules`]: rules, their defaults, and the firing/resolving state machine.
//! - [`pseudonym`]: authors replaced by a keyed hash before anything keeps them.
//! - [`engine`]: the event-time engine: watermark, evaluation, alerts with evidence.
//! - [`watermark`]: event time over several partitions, idleness and alignment.
//! - [`inputs`]: the engine fed from several partitions, far-ahead posts held back.
//!
//! Invariants: no I/O (files come in as text), no clock (event time comes with each
//! post; the caller passes arrival time), no global state. State is keyed by area, so
//! areas can be split across processes.

pub mod accumulate;
pub mod areas;
pub mod baseline;
pub mod dedup;
pub mod engine;
pub mod inputs;
pub mod mask;
pub mod post;
pub mod pseudonym;
pub mod rules;
pub mod stats;
pub mod watermark;
pub mod window;

pub use areas::{Area, Areas, AreasError, Located};
pub use post::{decode, GeoPoint, Limits, Post, Rejection, TimeSource};
pub use pseudonym::{Pseudonym, Pseudonymiser};

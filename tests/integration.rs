//! End-to-end tests of the `onrust` binary: every test runs the real command line
//! through [`support::onrust`], in a fresh temporary directory where it writes files.

mod support;

mod replay;
mod score;
mod shipped_models;
mod train_eval;

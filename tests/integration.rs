//! End-to-end tests of the `onrust` binary: every test runs the real command line
//! through [`support::onrust`], in a fresh temporary directory where it writes files.

mod services;
mod support;

mod browser;
mod daemon;
mod demo;
mod deploy;
mod hostile;
mod observability;
mod partitions;
mod replay;
mod score;
mod shipped_models;
mod train_eval;

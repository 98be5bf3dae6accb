//! `onrust`: early warning of public-safety tension from social-media posts.
//!
//! This crate is the edge: it parses the command line, reads and writes files and
//! standard streams, reads the clock, and maps errors to exit codes (0 success,
//! 2 bad usage or configuration, 1 other failure). Everything it computes comes from
//! the pure library crates under `crates/`.

mod daemon;
mod data;
mod eval;
mod lines;
mod models;
mod pipeline;
mod replay;
mod score;
mod settings;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Early warning of public-safety tension from social-media posts.
#[derive(Parser)]
#[command(name = "onrust", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(daemon::RunArgs),
    Demo(daemon::DemoArgs),
    Score(score::ScoreArgs),
    Replay(replay::ReplayArgs),
    Train(train::TrainArgs),
    Eval(eval::EvalArgs),
}

/// Parses an ISO 639-1 code for the command line.
pub fn parse_lang(code: &str) -> Result<onrust_text::Lang, String> {
    onrust_text::Lang::from_code(code)
        .ok_or_else(|| format!("{code:?} is not an ISO 639-1 language code"))
}

/// An error that is the user's to fix: bad usage or configuration (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => daemon::run(&args),
        Command::Demo(args) => daemon::demo(&args),
        Command::Score(args) => score::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onrust: error: {error:#}");
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

//! eastwest-exporter: parse the command line, start tracing, run the lib.

use std::process::ExitCode;

use clap::Parser;
use eastwest_exporter::config::Cli;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EASTWEST_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match eastwest_exporter::main_with(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eastwest-exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `eastwest-dashboard`: parse the command line, load the configuration,
//! start tracing and run the server (see the library).

use std::process::ExitCode;

use clap::Parser;
use eastwest_dashboard::{run, shutdown_signal, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = eastwest_core::clock::from_env() {
        eprintln!("eastwest-dashboard: {err}");
        return ExitCode::FAILURE;
    }
    if cli.hash_token {
        let mut token = String::new();
        if let Err(err) = std::io::stdin().read_line(&mut token) {
            eprintln!("eastwest-dashboard: cannot read the token: {err}");
            return ExitCode::FAILURE;
        }
        let token = token.trim_end_matches(['\r', '\n']);
        if token.is_empty() {
            eprintln!("eastwest-dashboard: empty token on standard input");
            return ExitCode::FAILURE;
        }
        println!("{}", eastwest_dashboard::auth::token_digest_hex(token));
        return ExitCode::SUCCESS;
    }
    let config = match cli.config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("eastwest-dashboard: {err}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check_config {
        for warning in config.tls.warnings() {
            eprintln!("eastwest-dashboard: warning: {warning}");
        }
        let scheme = if config.tls.enabled() {
            "https"
        } else {
            "http"
        };
        println!(
            "configuration ok: listen {scheme}://{}, ClickHouse {} database {}",
            config.listen, config.clickhouse.url, config.clickhouse.database
        );
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("eastwest-dashboard: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eastwest-dashboard: {err}");
            ExitCode::FAILURE
        }
    }
}

//! `eastwest-tui`: parse the command line and the config file, then run the
//! view, print one snapshot, or check the configuration (see the library).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use eastwest_tui::api::HttpClient;
use eastwest_tui::app::{App, Settings};
use eastwest_tui::config::default_file;
use eastwest_tui::{color_enabled, once, run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = cli.config.clone().or_else(|| {
        default_file(
            std::env::var_os("XDG_CONFIG_HOME").map(Into::into),
            std::env::var_os("HOME").map(Into::into),
        )
    });
    let config = match cli.resolve(file) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("eastwest-tui: {err}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check_config {
        print!("{}", config.describe());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("eastwest-tui: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // A request may take the interval, and at least 5 s.
    let timeout = config.interval.max(Duration::from_secs(5));
    let client = match HttpClient::new(&config.server, config.token.clone(), timeout) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("eastwest-tui: {err}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        server: client.server().to_string(),
        range: config.range.clone(),
        dataset: config.dataset.clone(),
        limit: config.limit,
        color: color_enabled(std::env::var_os("NO_COLOR")),
    };
    let mut app = App::new(settings);
    app.filter = config.filter.clone();
    if cli.once {
        let query = app.query();
        return match runtime.block_on(once::render(&client, &query, &app.filter, cli.format)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("eastwest-tui: {err}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(client, app, config.interval)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eastwest-tui: terminal error: {err}");
            ExitCode::FAILURE
        }
    }
}

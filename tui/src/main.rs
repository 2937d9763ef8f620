//! `eastwest-tui`: parse the command line and run the view or print one
//! snapshot (see the library).

use std::process::ExitCode;

use clap::Parser;
use eastwest_tui::{color_enabled, once, run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("eastwest-tui: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let client = match cli.client() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("eastwest-tui: {err}");
            return ExitCode::FAILURE;
        }
    };
    if cli.once {
        return match runtime.block_on(once::render(&client, cli.format)) {
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
    let color = color_enabled(std::env::var_os("NO_COLOR"));
    match runtime.block_on(run(client, cli.interval, color)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eastwest-tui: terminal error: {err}");
            ExitCode::FAILURE
        }
    }
}

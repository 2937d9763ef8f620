//! `eastwest-labgen`: write the lab capture and its truth.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Generate the eastwest lab: lab.pcap (a small virtual data center seen
/// through SPAN, ERSPAN I/II/III and the VXLAN and NVGRE underlays) and expected.json
/// (the flows a correct exporter reports). Deterministic: the same bytes on
/// every run.
#[derive(Debug, Parser)]
#[command(name = "eastwest-labgen", version)]
struct Cli {
    /// Directory to write lab.pcap and expected.json into.
    #[arg(long, default_value = "lab")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match eastwest_labgen::write(&cli.out) {
        Ok(lab) => {
            println!(
                "wrote {} frames ({} bytes) to {} and {}",
                lab.expected.frames,
                lab.pcap.len(),
                cli.out.join(eastwest_labgen::PCAP_FILE).display(),
                cli.out.join(eastwest_labgen::EXPECTED_FILE).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eastwest-labgen: {e}");
            ExitCode::FAILURE
        }
    }
}

//! eastwest-loadgen: send NetFlow v9 from simulated eastwest exporters at a
//! fixed rate (see [`eastwest_loadgen`]).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use eastwest_loadgen::{self as loadgen, LoadConfig};

/// Send NetFlow v9 (the eastwest exporter's own templates and encoder) from
/// several simulated exporters at a fixed flow rate, e.g. to benchmark a
/// collector over loopback. Prints what was sent.
#[derive(Debug, Parser)]
#[command(name = "eastwest-loadgen", version)]
struct Cli {
    /// Collector UDP address.
    #[arg(long, default_value = "127.0.0.1:2055")]
    target: SocketAddr,
    /// Simulated exporters, each with its own socket and observation domain.
    #[arg(long, default_value_t = 4)]
    exporters: u32,
    /// Flow records per second, all exporters together.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Stop after this many flow records (whole packets, so a few more) ...
    #[arg(long)]
    flows: Option<u64>,
    /// ... else after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Largest export packet in bytes (the exporter's encode.mtu).
    #[arg(long, default_value_t = 1400)]
    mtu: usize,
    /// Dataset named in the options record (empty = live traffic).
    #[arg(long, default_value = "")]
    dataset: String,
    /// Print the result as one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    let config = LoadConfig {
        target: cli.target,
        exporters: cli.exporters,
        rate: cli.rate,
        flows: cli.flows,
        duration: Duration::from_secs_f64(cli.duration.max(0.0)),
        mtu: cli.mtu,
        dataset: cli.dataset.clone(),
        start_ms: now_ms.saturating_sub(60_000),
    };
    match loadgen::run(&config) {
        Ok(r) => {
            let secs = r.elapsed.as_secs_f64();
            if cli.json {
                println!(
                    "{{\"datagrams\":{},\"flows\":{},\"packets\":{},\"bytes\":{},\"send_errors\":{},\"seconds\":{secs:.3},\"flows_per_sec\":{:.0},\"rate\":{}}}",
                    r.datagrams, r.flows, r.packets, r.bytes, r.send_errors, r.flows_per_sec(), cli.rate
                );
            } else {
                println!(
                    "sent {} flows ({} packets, {} bytes) in {} datagrams from {} exporters to {} in {secs:.2} s: {:.0} flows/s (asked {}); {} send errors",
                    r.flows, r.packets, r.bytes, r.datagrams, cli.exporters, cli.target, r.flows_per_sec(), cli.rate, r.send_errors
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("eastwest-loadgen: {err}");
            ExitCode::from(2)
        }
    }
}

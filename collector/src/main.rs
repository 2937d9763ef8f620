//! eastwest-collector: parse the command line, load the config, start
//! tracing, call [`eastwest_collector::run`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use eastwest_collector::config::Config;
use eastwest_collector::enrich::Enricher;
use eastwest_collector::verdict::Judge;

/// Receive NetFlow v9 / IPFIX / v5, enrich flows with the VM inventory,
/// judge them against the segmentation policy, store them in ClickHouse.
///
/// The inventory (and the CSV files it imports) and the policy are re-read
/// when they change (enrich.reload_interval_ms) and on SIGHUP; inventory
/// events posted to the dashboard are polled from ClickHouse
/// (enrich.events_poll_ms). A file that does not load keeps the running
/// version (log, eastwest_collector_policy_reload_errors_total, GET /status).
#[derive(Debug, Parser)]
#[command(name = "eastwest-collector", version)]
struct Cli {
    /// TOML configuration file (see deploy/collector.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Validate the configuration, inventory and policy, then exit.
    #[arg(long)]
    check_config: bool,
    /// UDP address to receive NetFlow on; repeat for several
    /// [default: 127.0.0.1:2055].
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Accept NetFlow only from this exporter network (CIDR or address,
    /// IPv4 or IPv6); repeat for several. Others are counted
    /// (eastwest_collector_receive_denied_total) and dropped [default: all].
    #[arg(long, value_name = "CIDR")]
    allow: Vec<String>,
    /// ClickHouse HTTP interface [default: http://127.0.0.1:18123].
    #[arg(long)]
    clickhouse_url: Option<String>,
    /// ClickHouse database [default: eastwest].
    #[arg(long)]
    database: Option<String>,
    /// VM inventory (TOML; may import CSV files, see deploy/inventory.toml).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Segmentation policy (TOML).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Serve /metrics, /healthz and /status on this address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Value of the dataset column [default: live].
    #[arg(long)]
    dataset_default: Option<String>,
}

impl Cli {
    fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        if !self.listen.is_empty() {
            config.receive.listen.clone_from(&self.listen);
        }
        if !self.allow.is_empty() {
            config.receive.allow.clone_from(&self.allow);
        }
        if let Some(url) = &self.clickhouse_url {
            config.clickhouse.url.clone_from(url);
        }
        if let Some(database) = &self.database {
            config.clickhouse.database.clone_from(database);
        }
        if let Some(path) = &self.inventory {
            config.enrich.inventory = Some(path.clone());
        }
        if let Some(path) = &self.policy {
            config.enrich.policy = Some(path.clone());
        }
        if let Some(addr) = self.http {
            config.http.listen = Some(addr);
        }
        if let Some(dataset) = &self.dataset_default {
            config.enrich.dataset_default.clone_from(dataset);
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Load inventory and policy as `run` would, and say what was found.
fn check(config: &Config) -> Result<String, String> {
    let inventory = config.enrich.inventory.as_deref();
    Enricher::load(inventory).map_err(|e| format!("inventory: {e}"))?;
    let judge = Judge::load(config.enrich.policy.as_deref()).map_err(|e| format!("policy: {e}"))?;
    let listen: Vec<String> = config
        .receive
        .listen
        .iter()
        .map(|a| a.to_string())
        .collect();
    Ok(format!(
        "config ok: listen {}, allow {}, clickhouse {} database {}, inventory {}, policy {}",
        listen.join(" "),
        if config.receive.allow.is_empty() {
            "all".to_string()
        } else {
            config.receive.allow.join(" ")
        },
        config.clickhouse.url,
        config.clickhouse.database,
        inventory.map_or("none".to_string(), |p| p.display().to_string()),
        judge
            .revision()
            .map_or("none".to_string(), |r| format!("revision {r}")),
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = eastwest_core::clock::from_env() {
        eprintln!("eastwest-collector: {err}");
        return ExitCode::from(2);
    }
    let config = match cli.config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("eastwest-collector: {err}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        return match check(&config) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("eastwest-collector: {err}");
                ExitCode::from(2)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("eastwest-collector: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(eastwest_collector::run(config, shutdown_signal()));
    // A stage stuck past the stop deadline is not waited for again here.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eastwest-collector: {err}");
            ExitCode::FAILURE
        }
    }
}

//! Configuration: the TOML file (`--config`, every key optional,
//! `deny_unknown_fields`) and the command line, whose flags override it.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::cache::CacheConfig;
use crate::capture::FileReader;
use crate::encode::EncodeConfig;
use crate::send::Speed;
use crate::serve::EvidenceConfig;
use crate::store::StoreConfig;

/// `[capture]`: where frames come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// pcap / pcapng files, read in order.
    pub read: Vec<PathBuf>,
    /// Interface to capture on live (promiscuous) when no file is given.
    pub interface: Option<String>,
    /// Bytes captured per frame, live.
    pub snaplen: i32,
    /// BPF filter for live capture ("" = everything).
    pub filter: String,
    /// Kernel capture buffer (packet ring) of live capture, KiB.
    pub buffer_kib: u32,
    /// Live capture: read the kernel's drop counters and log them every
    /// this many seconds.
    pub stats_interval_secs: u64,
    /// Which code reads files: "auto" (the built-in reader: classic pcap
    /// and pcapng, files and stdin), "direct" (the built-in reader around
    /// the page cache) or "libpcap".
    pub file_reader: FileReader,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            read: Vec::new(),
            interface: None,
            snaplen: 65_535,
            filter: String::new(),
            buffer_kib: 16_384,
            stats_interval_secs: 10,
            file_reader: FileReader::Auto,
        }
    }
}

/// `[decap]`: unwrapping and attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecapConfig {
    /// Most nested encapsulations unwrapped.
    pub max_depth: usize,
    /// Inventory file for attribution (hosts' mirror sources, sessions,
    /// VTEPs).
    pub inventory: Option<PathBuf>,
    /// The exporter's own host name (default: the machine's host name).
    pub host: Option<String>,
    /// The exporter's own observation domain (default: its host's domain
    /// in the inventory, else 0).
    pub domain: Option<u32>,
}

impl Default for DecapConfig {
    fn default() -> Self {
        DecapConfig {
            max_depth: eastwest_core::decap::DEFAULT_MAX_DEPTH,
            inventory: None,
            host: None,
            domain: None,
        }
    }
}

/// `[send]`: collectors and replay pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendConfig {
    /// Collectors, `HOST:PORT`; every export packet goes to each.
    pub export: Vec<String>,
    /// Replay speed of files: "max", "realtime" or "Nx".
    pub speed: Speed,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            export: vec!["127.0.0.1:2055".into()],
            speed: Speed::Max,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub capture: CaptureConfig,
    pub decap: DecapConfig,
    pub cache: CacheConfig,
    pub encode: EncodeConfig,
    pub send: SendConfig,
    pub store: StoreConfig,
    pub evidence: EvidenceConfig,
}

/// A problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Read a TOML config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// True when the exporter only serves its packet store (no capture).
    pub fn serves_only(&self) -> bool {
        self.capture.read.is_empty()
            && self.capture.interface.is_none()
            && self.store.dir.is_some()
            && self.evidence.listen.is_some()
    }

    /// Check what parsing cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        match (&self.capture.read.is_empty(), &self.capture.interface) {
            // Serving a store without capturing.
            (true, None) if self.serves_only() => {}
            (true, None) => {
                return invalid("nothing to capture: give --read FILE or --interface IFACE")
            }
            (false, Some(_)) => return invalid("--read and --interface exclude each other"),
            _ => {}
        }
        if self.capture.snaplen <= 0 {
            return invalid("capture.snaplen must be positive");
        }
        if self.capture.buffer_kib == 0 || self.capture.buffer_kib > 2_097_151 {
            return invalid("capture.buffer_kib must be between 1 and 2097151 (2 GiB)");
        }
        if self.capture.stats_interval_secs == 0 {
            return invalid("capture.stats_interval_secs must be at least 1");
        }
        if self.send.export.is_empty() {
            return invalid("send.export needs at least one HOST:PORT");
        }
        if self.decap.max_depth == 0 {
            return invalid("decap.max_depth must be at least 1");
        }
        if self.cache.max_flows == 0 {
            return invalid("cache.max_flows must be at least 1");
        }
        if !(1..=64).contains(&self.cache.workers) {
            return invalid("cache.workers must be between 1 and 64");
        }
        if self.store.dir.is_some() {
            self.store.validate().map_err(ConfigError::Invalid)?;
        }
        if !self.evidence.url.is_empty() && self.store.dir.is_none() {
            return invalid("evidence.url announces the packet store: give --packet-store DIR");
        }
        if self.evidence.listen.is_some() && self.store.dir.is_none() {
            return invalid("evidence.listen serves the packet store: give --packet-store DIR");
        }
        self.evidence.checked().map_err(ConfigError::Invalid)?;
        crate::encode::Encoder::new(&self.encode)
            .map(|_| ())
            .map_err(|e| ConfigError::Invalid(format!("encode: {e}")))
    }
}

/// eastwest-exporter: meter mirrored traffic (SPAN, ERSPAN I/II/III,
/// VXLAN, Geneve) from pcap/pcapng files or a live interface and export
/// NetFlow v9 over UDP.
///
/// Flags override the config file; see exporter/README.md for every key.
#[derive(Debug, Clone, Parser)]
#[command(name = "eastwest-exporter", version)]
pub struct Cli {
    /// TOML config file (every key optional; flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration (and the inventory), print it, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Read frames from pcap/pcapng FILEs, in order (repeatable).
    #[arg(long = "read", short = 'r', value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Capture live on IFACE (promiscuous, wall-clock time).
    #[arg(long, short = 'i', value_name = "IFACE", conflicts_with = "read")]
    pub interface: Option<String>,
    /// Bytes captured per frame, live [default: 65535].
    #[arg(long, value_name = "BYTES")]
    pub snaplen: Option<i32>,
    /// BPF capture filter, live (e.g. "proto gre or udp port 4789").
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Which code reads files: auto (the built-in reader, classic pcap and
    /// pcapng, files and stdin; it names the byte offset of damage), direct
    /// (the built-in reader, a regular file read around the page cache:
    /// less CPU, at the storage's read rate) or libpcap [default: auto].
    #[arg(long, value_name = "READER")]
    pub file_reader: Option<FileReader>,
    /// Kernel capture buffer of live capture in KiB [default: 16384].
    #[arg(long, value_name = "KIB")]
    pub buffer_kib: Option<u32>,
    /// Live: log the kernel's drop counters every SECS seconds [default: 10].
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<u64>,
    /// Collector to send to, HOST:PORT (repeatable) [default: 127.0.0.1:2055].
    #[arg(long = "export", short = 'e', value_name = "HOST:PORT")]
    pub export: Vec<String>,
    /// Replay pacing of files: max, realtime or a factor like 10x [default: max].
    #[arg(long, value_name = "SPEED")]
    pub speed: Option<Speed>,
    /// Inventory file used to attribute tunneled frames to hosts.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// The exporter's own host name [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// The exporter's own observation domain [default: from the inventory, else 0].
    #[arg(long, value_name = "N")]
    pub domain: Option<u32>,
    /// Most nested encapsulations unwrapped [default: 4].
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// Inactive timeout in seconds [default: 15].
    #[arg(long, value_name = "SECS")]
    pub inactive_timeout: Option<u64>,
    /// Active timeout in seconds [default: 60].
    #[arg(long, value_name = "SECS")]
    pub active_timeout: Option<u64>,
    /// Most flows in the cache; beyond it the oldest are expired [default: 65536].
    #[arg(long, value_name = "N")]
    pub max_flows: Option<usize>,
    /// Threads: above 1, the flow table is sharded by flow hash over N
    /// workers, each decapsulating a share of the frames [default: 1].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Largest export packet payload in bytes [default: 1400].
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
    /// Re-send templates every N export packets per domain [default: 20].
    #[arg(long, value_name = "N")]
    pub template_refresh_packets: Option<u32>,
    /// Re-send templates every SECS seconds [default: 30].
    #[arg(long, value_name = "SECS")]
    pub template_refresh_secs: Option<u64>,
    /// Mark a replay as dataset NAME (at most 32 bytes), sent to the
    /// collector in the options record so an investigation's flows stay
    /// apart from live data [default: "" = live].
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Keep the captured frames in a packet store in DIR (replaying files:
    /// an index pointing into them).
    #[arg(long, value_name = "DIR")]
    pub packet_store: Option<PathBuf>,
    /// Serve the packet store's frames (GET /packets) on ADDRESS:PORT.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub evidence_listen: Option<String>,
    /// Announce URL as the evidence server's in the NetFlow options record
    /// (default: http:// and the listen address).
    #[arg(long, value_name = "URL")]
    pub evidence_url: Option<String>,
    /// Serve the packets over HTTPS with this PEM certificate chain
    /// (`evidence.tls.cert`; needs --evidence-tls-key).
    #[arg(long, value_name = "FILE")]
    pub evidence_tls_cert: Option<PathBuf>,
    /// PEM private key of --evidence-tls-cert: PKCS#8, RSA or SEC1
    /// (`evidence.tls.key`).
    #[arg(long, value_name = "FILE")]
    pub evidence_tls_key: Option<PathBuf>,
    /// Print the SHA-256 of the token read from standard input (for
    /// evidence.token_sha256) and exit.
    #[arg(long)]
    pub hash_token: bool,
    /// Print the run's counters as one JSON object on stdout at the end.
    #[arg(long)]
    pub stats_json: bool,
}

impl Cli {
    /// The config file (if any) with the flags applied over it.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !self.read.is_empty() {
            c.capture.read = self.read.clone();
            c.capture.interface = None;
        }
        if let Some(i) = &self.interface {
            c.capture.interface = Some(i.clone());
            c.capture.read.clear();
        }
        set(&mut c.capture.snaplen, self.snaplen);
        set(&mut c.capture.filter, self.filter.clone());
        set(&mut c.capture.buffer_kib, self.buffer_kib);
        set(&mut c.capture.file_reader, self.file_reader);
        set(&mut c.capture.stats_interval_secs, self.stats_interval);
        if !self.export.is_empty() {
            c.send.export = self.export.clone();
        }
        set(&mut c.send.speed, self.speed);
        if self.inventory.is_some() {
            c.decap.inventory = self.inventory.clone();
        }
        if self.host.is_some() {
            c.decap.host = self.host.clone();
        }
        if self.domain.is_some() {
            c.decap.domain = self.domain;
        }
        set(&mut c.decap.max_depth, self.max_depth);
        set(&mut c.cache.inactive_timeout_secs, self.inactive_timeout);
        set(&mut c.cache.active_timeout_secs, self.active_timeout);
        set(&mut c.cache.max_flows, self.max_flows);
        set(&mut c.cache.workers, self.workers);
        set(&mut c.encode.mtu, self.mtu);
        set(
            &mut c.encode.template_refresh_packets,
            self.template_refresh_packets,
        );
        set(
            &mut c.encode.template_refresh_secs,
            self.template_refresh_secs,
        );
        set(&mut c.encode.dataset, self.dataset.clone());
        if self.packet_store.is_some() {
            c.store.dir = self.packet_store.clone();
        }
        if self.evidence_listen.is_some() {
            c.evidence.listen = self.evidence_listen.clone();
        }
        set(&mut c.evidence.url, self.evidence_url.clone());
        if self.evidence_tls_cert.is_some() {
            c.evidence.tls.cert = self.evidence_tls_cert.clone();
        }
        if self.evidence_tls_key.is_some() {
            c.evidence.tls.key = self.evidence_tls_key.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("eastwest-exporter").chain(args.iter().copied()))
            .expect("valid arguments")
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("ew-exporter-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("exporter.toml");
        std::fs::write(
            &path,
            "[capture]\nread = [\"a.pcap\"]\n[cache]\ninactive_timeout_secs = 5\n\
             [encode]\nmtu = 9000\n[send]\nexport = [\"10.0.0.1:9995\"]\nspeed = \"10x\"\n",
        )
        .expect("write");
        let p = path.to_str().expect("utf-8");
        let c = cli(&["--config", p]).config().expect("config");
        assert_eq!(c.capture.read, vec![PathBuf::from("a.pcap")]);
        assert_eq!(c.cache.inactive_timeout_secs, 5);
        assert_eq!(c.cache.active_timeout_secs, 60);
        assert_eq!(c.encode.mtu, 9000);
        assert_eq!(c.send.speed, Speed::Factor(10.0));
        let c = cli(&[
            "--config", p, "--mtu", "1200", "-r", "b.pcap", "--speed", "max",
        ])
        .config()
        .expect("config");
        assert_eq!(c.encode.mtu, 1200);
        assert_eq!(c.capture.read, vec![PathBuf::from("b.pcap")]);
        assert_eq!(c.send.speed, Speed::Max);
        assert_eq!(c.send.export, vec!["10.0.0.1:9995".to_owned()]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let err = toml::from_str::<Config>("[cache]\ninactive = 3\n").expect_err("unknown key");
        assert!(err.to_string().contains("inactive"), "{err}");
        assert!(toml::from_str::<Config>("[send]\nspeed = \"fast\"\n").is_err());
        assert!(toml::from_str::<Config>("colour = 1\n").is_err());
        assert!(cli(&["--mtu", "100", "-r", "x.pcap"]).config().is_err());
        assert!(cli(&[]).config().is_err(), "nothing to capture");
        let long = "x".repeat(33);
        let err = cli(&["--dataset", &long, "-r", "x.pcap"])
            .config()
            .expect_err("dataset too long");
        assert!(err.to_string().contains("33 bytes"), "{err}");
        let c = cli(&["--dataset", &long[..32], "-r", "x.pcap"])
            .config()
            .expect("32 bytes fit");
        assert_eq!(c.encode.dataset.len(), 32);
        assert!(Cli::try_parse_from(["x", "-r", "a", "-i", "eth0"]).is_err());
    }

    #[test]
    fn the_deploy_example_parses_with_the_store_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/exporter.toml");
        let c = Config::load(&path).expect("deploy/exporter.toml");
        assert_eq!(c.store, StoreConfig::default());
        assert_eq!(c.evidence, EvidenceConfig::default());
    }

    #[test]
    fn store_and_evidence_are_checked() {
        let dir = std::env::temp_dir().join(format!("ew-exporter-evidence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("exporter.toml");
        let p = path.to_str().expect("utf-8");
        let digest = eastwest_core::token::digest_hex("t");
        std::fs::write(&path, format!("[evidence]\ntoken_sha256 = \"{digest}\"\n")).expect("write");
        let err = cli(&[
            "--config",
            p,
            "--evidence-listen",
            "127.0.0.1:9181",
            "-r",
            "x.pcap",
        ])
        .config()
        .expect_err("evidence without a store");
        assert!(err.to_string().contains("--packet-store"), "{err}");
        let err = cli(&["--evidence-url", "http://esx-03:9181", "-r", "x.pcap"])
            .config()
            .expect_err("an announced URL without a store");
        assert!(err.to_string().contains("evidence.url"), "{err}");
        let c = cli(&[
            "--evidence-url",
            "http://esx-03:9181",
            "--packet-store",
            "/tmp/s",
            "-r",
            "x.pcap",
        ])
        .config()
        .expect("a replay announcing its later server");
        assert_eq!(c.evidence.url, "http://esx-03:9181");
        let c = cli(&[
            "--config",
            p,
            "--evidence-listen",
            "127.0.0.1:9181",
            "--packet-store",
            "/tmp/s",
        ])
        .config()
        .expect("serving only");
        assert!(c.serves_only());
        std::fs::write(&path, "[evidence]\ntoken_sha256 = \"abc\"\n").expect("write");
        let err = cli(&[
            "--config",
            p,
            "--evidence-listen",
            "127.0.0.1:9181",
            "--packet-store",
            "/tmp/s",
        ])
        .config()
        .expect_err("a bad digest");
        assert!(err.to_string().contains("evidence.token_sha256"), "{err}");
        std::fs::write(&path, "[store]\nsegment_bytes = 65536\nmax_bytes = 65536\n")
            .expect("write");
        let err = cli(&["--config", p, "--packet-store", "/tmp/s", "-r", "x.pcap"])
            .config()
            .expect_err("max_bytes below two segments");
        assert!(err.to_string().contains("store.max_bytes"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn defaults() {
        let c = cli(&["-r", "x.pcap"]).config().expect("config");
        assert_eq!(c.send.export, vec!["127.0.0.1:2055".to_owned()]);
        assert_eq!(c.send.speed, Speed::Max);
        assert_eq!(c.encode, EncodeConfig::default());
        assert_eq!(c.cache, CacheConfig::default());
        assert_eq!(c.decap.max_depth, 4);
        let text = toml::to_string(&c).expect("serializes");
        let back: Config = toml::from_str(&text).expect("round trip");
        assert_eq!(back, c);
    }
}

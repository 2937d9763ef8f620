//! What the alerter remembers between polls, and in `state_file`
//! across restarts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::message::Alert;

/// An alert the webhook has not taken yet.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pending {
    pub(super) alert: Alert,
    /// When the webhook first failed to take it.
    pub(super) since_ms: u64,
    /// Counted as sent (another destination took it).
    pub(super) counted: bool,
}

/// What the alerter remembers between polls, and in
/// [`AlertsConfig::state_file`](super::AlertsConfig::state_file) across restarts.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Memory {
    /// [`MEMORY_VERSION`]: a file of another layout is set aside.
    version: u32,
    /// Per conversation: when it last alerted, and its last flow then.
    pub(super) sent: HashMap<String, (u64, u64)>,
    /// Current co-residency periods announced (host, VMs, since).
    pub(super) periods: HashSet<String>,
    /// Alerts the webhook did not take yet, oldest first.
    pub(super) pending: VecDeque<Pending>,
}

const MEMORY_VERSION: u32 = 1;

impl Memory {
    pub(super) fn new() -> Memory {
        Memory {
            version: MEMORY_VERSION,
            ..Memory::default()
        }
    }

    /// The memory kept in `path`: empty when there is none yet. A file
    /// that cannot be understood (damaged, another version) is renamed to
    /// `PATH.bad` and named in the log, and the alerter starts afresh; one
    /// it may not read is an error (the service's permissions are wrong).
    pub(super) fn load(path: &Path) -> std::io::Result<Memory> {
        let shown = path.display();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "alerts.state_file: {shown}: the directory {} does not exist",
                    dir.display()
                ),
            ));
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Memory::new()),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("alerts.state_file: cannot read {shown}: {e}"),
                ))
            }
        };
        let why = match serde_json::from_slice::<Memory>(&bytes) {
            Ok(memory) if memory.version == MEMORY_VERSION => return Ok(memory),
            Ok(memory) => format!(
                "version {}, this dashboard keeps version {MEMORY_VERSION}",
                memory.version
            ),
            // serde_json names the line, column and field.
            Err(e) => e.to_string(),
        };
        let aside = PathBuf::from(format!("{shown}.bad"));
        let moved = std::fs::rename(path, &aside);
        tracing::error!(
            file = %shown, %why, set_aside = %aside.display(), rename = ?moved.err(),
            "alerts: the state file is not usable; starting with no memory of earlier alerts"
        );
        Ok(Memory::new())
    }
}

/// Write `bytes` to `path` atomically: a temporary file beside it,
/// synced, then renamed over it.
pub(super) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

//! An alert and its two forms: the webhook's JSON and an RFC 5424
//! syslog line.

use serde::{Deserialize, Serialize};

use eastwest_api::word::Word;

use crate::model::Violation;

/// One alert, as the webhook receives it (`kind` tells which).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// A violating conversation.
    Violation(Box<Violation>),
    /// VMs of two zones that must not share a host do.
    Coresidency {
        host: String,
        zones: [String; 2],
        vms: [String; 2],
        /// Epoch ms; 0 = since the inventory's beginning.
        since_ms: u64,
        severity: String,
    },
}

impl Alert {
    fn severity(&self) -> &str {
        match self {
            Alert::Violation(v) => v.severity.word(),
            Alert::Coresidency { severity, .. } => severity,
        }
    }

    /// The syslog line's message.
    pub fn message(&self) -> String {
        match self {
            Alert::Violation(v) => format!(
                "violation {} -> {} proto {} port {} ({} -> {}) rule {:?} severity {} flows {} bytes {} last_ms {}",
                name_or(&v.client_vm, v.client_addr.as_deref()),
                name_or(&v.server_vm, v.server_addr.as_deref()),
                v.proto,
                v.server_port,
                v.client_zone,
                v.server_zone,
                v.rule,
                v.severity.word(),
                v.flows,
                v.bytes,
                v.last_ms
            ),
            Alert::Coresidency {
                host,
                zones,
                vms,
                since_ms,
                ..
            } => format!(
                "coresidency host {host} zones {} and {} must not share a host: {} and {} since_ms {since_ms}",
                zones[0], zones[1], vms[0], vms[1]
            ),
        }
    }

    /// The whole RFC 5424 line: `<PRI>1 TIMESTAMP HOST eastwest-dashboard
    /// PID MSGID - MSG`.
    pub fn syslog_line(&self, facility: u8, now_ms: u64, hostname: &str) -> String {
        let level = match self.severity() {
            "critical" => 2,
            "high" => 3,
            "medium" => 4,
            "low" => 5,
            _ => 6,
        };
        let msgid = match self {
            Alert::Violation(_) => "violation",
            Alert::Coresidency { .. } => "coresidency",
        };
        let pri = u16::from(facility) * 8 + level;
        format!(
            "<{pri}>1 {} {} eastwest-dashboard {} {msgid} - {}",
            rfc3339_ms(now_ms),
            if hostname.is_empty() { "-" } else { hostname },
            std::process::id(),
            self.message()
        )
    }
}

fn name_or(vm: &str, addr: Option<&str>) -> String {
    if vm.is_empty() {
        addr.unwrap_or("?").to_string()
    } else {
        vm.to_string()
    }
}

fn rfc3339_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

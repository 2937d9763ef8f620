//! The `/` filter: what the user types, parsed, and its match against a
//! conversation.

use crate::api::Conversation;

/// The `/` filter: `vm:NAME`, `zone:NAME`, `verdict:V` and `port:N` go to
/// the server (exact match, on the endpoints that take them) and are checked
/// again here; free words are matched here (a word matches a VM, address, zone or host containing it,
/// case-insensitively). All terms must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub vm: Option<String>,
    pub zone: Option<String>,
    pub verdict: Option<String>,
    pub port: Option<u16>,
    pub words: Vec<String>,
}

impl Filter {
    /// Parse what the user typed; the error names the bad term.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for term in text.split_whitespace() {
            match term.split_once(':') {
                Some(("vm", v)) if !v.is_empty() => filter.vm = Some(v.to_string()),
                Some(("zone", v)) if !v.is_empty() => filter.zone = Some(v.to_string()),
                Some(("verdict", v)) => match v {
                    "allowed" | "violation" | "unknown" => filter.verdict = Some(v.to_string()),
                    _ => {
                        return Err(format!(
                            "verdict is allowed, violation or unknown, got {v:?}"
                        ))
                    }
                },
                Some(("port", v)) => {
                    filter.port = Some(
                        v.parse()
                            .map_err(|_| format!("port is a number 0…65535, got {v:?}"))?,
                    );
                }
                Some((key, _)) if matches!(key, "vm" | "zone") => {
                    return Err(format!("{key}: needs a name"))
                }
                // `host:x` is a mistake; `fd00::1` is an address, a word.
                Some((key, rest))
                    if !key.is_empty()
                        && key.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
                        && !rest.contains(':') =>
                {
                    return Err(format!(
                        "unknown filter {key:?}: use vm:, zone:, port:, verdict: or a word"
                    ))
                }
                _ => filter.words.push(term.to_lowercase()),
            }
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Does a conversation pass?
    pub fn matches(&self, c: &Conversation) -> bool {
        let vm_ok = self
            .vm
            .as_ref()
            .is_none_or(|vm| c.client_vm == *vm || c.server_vm == *vm);
        let zone_ok = self
            .zone
            .as_ref()
            .is_none_or(|z| c.client_zone == *z || c.server_zone == *z);
        let verdict_ok = self
            .verdict
            .as_ref()
            .is_none_or(|v| c.verdict.as_str() == v);
        let port_ok = self.port.is_none_or(|p| c.server_port == p);
        let words_ok = self.words.iter().all(|w| {
            [
                c.client(),
                c.server(),
                &c.client_zone,
                &c.server_zone,
                &c.client_host,
                &c.server_host,
            ]
            .iter()
            .any(|field| field.to_lowercase().contains(w))
        });
        vm_ok && zone_ok && verdict_ok && port_ok && words_ok
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut terms = Vec::new();
        if let Some(v) = &self.vm {
            terms.push(format!("vm:{v}"));
        }
        if let Some(v) = &self.zone {
            terms.push(format!("zone:{v}"));
        }
        if let Some(v) = &self.verdict {
            terms.push(format!("verdict:{v}"));
        }
        if let Some(v) = &self.port {
            terms.push(format!("port:{v}"));
        }
        terms.extend(self.words.iter().cloned());
        f.write_str(&terms.join(" "))
    }
}

//! The parameters of the API: the raw query string as the client sent it
//! ([`RawParams`]), which parameters each endpoint takes ([`allowed`]), and
//! the checked, typed query the store runs ([`Params`]). Parsing is pure: the
//! current time is passed in, so relative ranges are tested
//! deterministically.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eastwest_core::policy::VerdictKind;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Span of the default time range (no `from`, `to` or `range`): the last 24 h.
pub const DEFAULT_SPAN: Duration = Duration::from_secs(24 * 3600);

/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: u64 = 100;

/// The query string as sent, for every endpoint. Every field is optional
/// text, checked by [`Params`]; names no endpoint knows are refused here, and
/// [`RawParams::allow_only`] refuses those a given endpoint does not take,
/// so a typo is a 400, not a silently ignored filter. Each field's doc and
/// `param` attribute are its OpenAPI parameter ([`doc`] picks each
/// endpoint's from its [`allowed`] list and describes those whose schema it
/// gives).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RawParams {
    /// window start: RFC 3339 or epoch seconds
    pub from: Option<String>,
    /// window end (exclusive): RFC 3339 or epoch seconds
    pub to: Option<String>,
    /// `all` or a span ending now (15m, 1h, 24h, 7d), rounded out to whole minutes (hours from 2 days)
    pub range: Option<String>,
    /// `live` or a replay's name
    pub dataset: Option<String>,
    /// VM name, as client or server
    pub vm: Option<String>,
    /// the other VM of `vm`
    pub peer: Option<String>,
    /// the client's or the server's host
    pub host: Option<String>,
    /// zone, as client or server
    pub zone: Option<String>,
    /// the client's zone
    pub client_zone: Option<String>,
    /// the server's zone
    pub server_zone: Option<String>,
    #[param(schema_with = doc::verdict)]
    pub verdict: Option<String>,
    /// rule severity
    pub severity: Option<String>,
    /// the rule, exactly
    pub rule: Option<String>,
    #[param(schema_with = doc::same_host)]
    pub same_host: Option<String>,
    /// IP protocol number or tcp, udp, icmp, icmpv6, sctp
    pub proto: Option<String>,
    /// server (service) port
    #[param(value_type = Option<u16>, minimum = 0, maximum = 65535)]
    pub port: Option<String>,
    /// rows per page (1 to api.max_limit)
    #[param(value_type = Option<u64>, minimum = 1, default = 100)]
    pub limit: Option<String>,
    /// rows to skip
    #[param(value_type = Option<u64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    #[param(schema_with = doc::sort)]
    pub sort: Option<String>,
    #[param(schema_with = doc::format)]
    pub format: Option<String>,
}

impl RawParams {
    /// The names of the parameters present in the request.
    fn present(&self) -> Vec<&'static str> {
        let all = [
            ("from", &self.from),
            ("to", &self.to),
            ("range", &self.range),
            ("dataset", &self.dataset),
            ("vm", &self.vm),
            ("peer", &self.peer),
            ("host", &self.host),
            ("zone", &self.zone),
            ("client_zone", &self.client_zone),
            ("server_zone", &self.server_zone),
            ("verdict", &self.verdict),
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("same_host", &self.same_host),
            ("proto", &self.proto),
            ("port", &self.port),
            ("limit", &self.limit),
            ("offset", &self.offset),
            ("sort", &self.sort),
            ("format", &self.format),
        ];
        all.into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k)
            .collect()
    }

    /// Refuse any parameter not in `allowed` (the endpoint's list).
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), ParamError> {
        match self.present().into_iter().find(|p| !allowed.contains(p)) {
            Some(name) if allowed.is_empty() => {
                Err(bad(format!("{name}: this endpoint takes no parameters")))
            }
            Some(name) => Err(bad(format!(
                "{name}: not a parameter of this endpoint (it takes: {})",
                allowed.join(", ")
            ))),
            None => Ok(()),
        }
    }
}

pub mod doc;

/// Parameters of each endpoint.
pub mod allowed {
    /// The time window and dataset, taken by every endpoint with data.
    const W: [&str; 4] = ["from", "to", "range", "dataset"];
    /// The conversation filters.
    const F: [&str; 10] = [
        "vm",
        "host",
        "zone",
        "client_zone",
        "server_zone",
        "verdict",
        "severity",
        "same_host",
        "proto",
        "port",
    ];

    const fn cat<const A: usize, const B: usize, const N: usize>(
        a: [&'static str; A],
        b: [&'static str; B],
    ) -> [&'static str; N] {
        let mut out = [""; N];
        let mut i = 0;
        while i < A {
            out[i] = a[i];
            i += 1;
        }
        while i < N {
            out[i] = b[i - A];
            i += 1;
        }
        out
    }

    pub const CONVERSATIONS: [&str; 18] = cat(
        cat::<4, 10, 14>(W, F),
        ["limit", "offset", "sort", "format"],
    );
    pub const TIMESERIES: [&str; 15] = cat(cat::<4, 10, 14>(W, F), ["format"]);
    pub const MATRIX: [&str; 7] = cat(W, ["verdict", "same_host", "format"]);
    pub const VIOLATIONS: [&str; 11] = cat(
        W,
        [
            "vm", "zone", "severity", "rule", "limit", "offset", "format",
        ],
    );
    pub const FLOWS: [&str; 13] = cat(
        W,
        [
            "vm", "peer", "proto", "port", "verdict", "rule", "limit", "offset", "format",
        ],
    );
    pub const VM: [&str; 6] = cat(W, ["limit", "offset"]);
    pub const HOSTS: [&str; 5] = cat(W, ["format"]);
    pub const HOST: [&str; 7] = cat(W, ["limit", "offset", "format"]);
    pub const EXPORTERS: [&str; 1] = ["format"];
    pub const DATASETS: [&str; 1] = ["format"];
    pub const REPORT: [&str; 5] = cat(W, ["format"]);
}

/// A request parameter the API cannot use; the message names the parameter
/// and is safe to send to the client (it only quotes the client's input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

fn bad(msg: impl Into<String>) -> ParamError {
    ParamError(msg.into())
}

/// The `verdict` filter's value of `text`; the error names the words.
fn parse_verdict(text: &str) -> Result<VerdictKind, ParamError> {
    VerdictKind::parse(text).ok_or_else(|| {
        bad(format!(
            "verdict: expected allowed, violation or unknown, got {text:?}"
        ))
    })
}

/// The time window, as epoch milliseconds, `[from_ms, to_ms)`; `None` for
/// all time (`range=all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl TimeWindow {
    /// Whether both bounds fall on multiples of `step_ms`.
    pub fn aligned_to(self, step_ms: u64) -> bool {
        self.from_ms.is_multiple_of(step_ms) && self.to_ms.is_multiple_of(step_ms)
    }
}

/// Columns a conversation list can be sorted by. Each maps to one output
/// column of the conversations query; nothing else reaches `ORDER BY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Bytes,
    Packets,
    Flows,
    BytesFwd,
    BytesRev,
    StartMs,
    EndMs,
    ClientVm,
    ServerVm,
    ClientZone,
    ServerZone,
    Proto,
    ServerPort,
    Verdict,
    Severity,
}

impl SortKey {
    const ALL: [SortKey; 15] = [
        SortKey::Bytes,
        SortKey::Packets,
        SortKey::Flows,
        SortKey::BytesFwd,
        SortKey::BytesRev,
        SortKey::StartMs,
        SortKey::EndMs,
        SortKey::ClientVm,
        SortKey::ServerVm,
        SortKey::ClientZone,
        SortKey::ServerZone,
        SortKey::Proto,
        SortKey::ServerPort,
        SortKey::Verdict,
        SortKey::Severity,
    ];

    /// The API name, which is also the output column it sorts by.
    pub fn column(self) -> &'static str {
        match self {
            SortKey::Bytes => "bytes",
            SortKey::Packets => "packets",
            SortKey::Flows => "flows",
            SortKey::BytesFwd => "bytes_fwd",
            SortKey::BytesRev => "bytes_rev",
            SortKey::StartMs => "start_ms",
            SortKey::EndMs => "end_ms",
            SortKey::ClientVm => "client_vm",
            SortKey::ServerVm => "server_vm",
            SortKey::ClientZone => "client_zone",
            SortKey::ServerZone => "server_zone",
            SortKey::Proto => "proto",
            SortKey::ServerPort => "server_port",
            SortKey::Verdict => "verdict",
            SortKey::Severity => "severity",
        }
    }
}

/// Sort order: a whitelisted column and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    /// `bytes` (ascending) or `-bytes` (descending).
    pub fn parse(text: &str) -> Result<Sort, ParamError> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let key = SortKey::ALL
            .into_iter()
            .find(|k| k.column() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.column()).collect();
                bad(format!(
                    "sort: expected one of {} (prefix - for descending), got {text:?}",
                    names.join(", ")
                ))
            })?;
        Ok(Sort { key, descending })
    }

    /// The form [`Sort::parse`] reads.
    pub fn to_param(self) -> String {
        format!(
            "{}{}",
            if self.descending { "-" } else { "" },
            self.key.column()
        )
    }
}

impl Default for Sort {
    fn default() -> Sort {
        Sort {
            key: SortKey::Bytes,
            descending: true,
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Csv,
    /// The report only.
    Html,
    /// The report only.
    Pdf,
}

impl Format {
    /// `json`/`csv`, and `html`/`pdf` where `documents` (the report).
    fn parse(text: Option<&str>, documents: bool) -> Result<Format, ParamError> {
        match text {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("html") if documents => Ok(Format::Html),
            Some("pdf") if documents => Ok(Format::Pdf),
            Some(other) if documents => Err(bad(format!(
                "format: expected json, csv, html or pdf, got {other:?}"
            ))),
            Some(other) => Err(bad(format!("format: expected json or csv, got {other:?}"))),
        }
    }
}

/// Filters on conversations (and the flows behind them). `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub dataset: Option<String>,
    /// As client or server.
    pub vm: Option<String>,
    /// The other side of `vm` (flows endpoint).
    pub peer: Option<String>,
    /// The client's or the server's host.
    pub host: Option<String>,
    /// As client or server zone.
    pub zone: Option<String>,
    pub client_zone: Option<String>,
    pub server_zone: Option<String>,
    pub verdict: Option<VerdictKind>,
    pub severity: Option<String>,
    pub rule: Option<String>,
    pub same_host: Option<bool>,
    pub proto: Option<u8>,
    /// The server (service) port.
    pub port: Option<u16>,
}

/// Every parameter of a request, checked. Endpoints take the parts they
/// need; [`RawParams::allow_only`] has refused the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub window: Option<TimeWindow>,
    pub filters: Filters,
    pub limit: u64,
    pub offset: u64,
    pub sort: Sort,
    pub format: Format,
}

/// A checked conversations query (the same [`Params`], named for its use).
pub type ConversationQuery = Params;

impl Params {
    /// Check `raw` against the rules of the API, with `now` for relative
    /// ranges and `max_limit` as the largest page. `documents`: the
    /// endpoint also renders `html` and `pdf`.
    pub fn parse_for(
        raw: &RawParams,
        now: SystemTime,
        max_limit: u64,
        documents: bool,
    ) -> Result<Params, ParamError> {
        let now_ms = epoch_ms(now);
        let window = match (&raw.range, &raw.from, &raw.to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(bad("range: use either range or from/to, not both"))
            }
            (Some(range), None, None) => parse_range(range)?.map(|span| relative(now_ms, span)),
            (None, None, None) => Some(relative(now_ms, duration_ms(DEFAULT_SPAN))),
            (None, from, to) => {
                let to_ms = match to {
                    Some(text) => parse_time("to", text)?,
                    None => now_ms.saturating_add(1),
                };
                let from_ms = match from {
                    Some(text) => parse_time("from", text)?,
                    None => to_ms.saturating_sub(duration_ms(DEFAULT_SPAN)),
                };
                if from_ms >= to_ms {
                    return Err(bad("from: must be before to"));
                }
                Some(TimeWindow { from_ms, to_ms })
            }
        };
        let limit = match &raw.limit {
            Some(text) => parse_u64("limit", text)?,
            None => DEFAULT_LIMIT.min(max_limit),
        };
        if limit == 0 || limit > max_limit {
            return Err(bad(format!("limit: must be between 1 and {max_limit}")));
        }
        let offset = match &raw.offset {
            Some(text) => parse_u64("offset", text)?,
            None => 0,
        };
        let same_host = match raw.same_host.as_deref() {
            None | Some("") => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => {
                return Err(bad(format!(
                    "same_host: expected true, false, 1 or 0, got {other:?}"
                )))
            }
        };
        let proto = non_empty(&raw.proto).map(|p| parse_proto(&p)).transpose()?;
        let port = non_empty(&raw.port)
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad(format!("port: expected 0 to 65535, got {p:?}")))
            })
            .transpose()?;
        Ok(Params {
            window,
            filters: Filters {
                dataset: non_empty(&raw.dataset),
                vm: non_empty(&raw.vm),
                peer: non_empty(&raw.peer),
                host: non_empty(&raw.host),
                zone: non_empty(&raw.zone),
                client_zone: non_empty(&raw.client_zone),
                server_zone: non_empty(&raw.server_zone),
                verdict: non_empty(&raw.verdict)
                    .map(|v| parse_verdict(&v))
                    .transpose()?,
                severity: non_empty(&raw.severity),
                rule: non_empty(&raw.rule),
                same_host,
                proto,
                port,
            },
            limit,
            offset,
            sort: raw
                .sort
                .as_deref()
                .map(Sort::parse)
                .transpose()?
                .unwrap_or_default(),
            format: Format::parse(raw.format.as_deref(), documents)?,
        })
    }

    /// [`Params::parse_for`] for a list endpoint (JSON or CSV).
    pub fn parse(raw: &RawParams, now: SystemTime, max_limit: u64) -> Result<Params, ParamError> {
        Params::parse_for(raw, now, max_limit, false)
    }
}

/// A relative range ending now, rounded out to whole minutes, whole 10
/// minutes for spans of 6 hours or more, whole hours for two days or more,
/// so that a rollup answers it: the edges of a long window then read
/// `flows_10m` (or `flows_1h`), never `flows_1m`, whose rows grow with the
/// flows (on a busy day it holds a row per conversation and minute).
fn relative(now_ms: u64, span_ms: u64) -> TimeWindow {
    let unit = if span_ms >= 2 * 86_400_000 {
        3_600_000
    } else if span_ms >= 6 * 3_600_000 {
        600_000
    } else {
        60_000
    };
    let to_ms = (now_ms / unit + 1) * unit;
    let from_ms = now_ms.saturating_sub(span_ms) / unit * unit;
    TimeWindow { from_ms, to_ms }
}

/// `6`, or a name: `tcp`, `udp`, `icmp`, `icmpv6`, `sctp`.
fn parse_proto(text: &str) -> Result<u8, ParamError> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmpv6" => Ok(58),
        "sctp" => Ok(132),
        other => other.parse().map_err(|_| {
            bad(format!(
                "proto: expected a protocol number (0-255) or tcp, udp, icmp, icmpv6, sctp, got {text:?}"
            ))
        }),
    }
}

/// An empty parameter (`?vm=`) means "no filter", as HTML forms send it.
fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

fn parse_u64(name: &str, text: &str) -> Result<u64, ParamError> {
    text.parse()
        .map_err(|_| bad(format!("{name}: expected a whole number, got {text:?}")))
}

/// `all` (no window) or a span: a positive number followed by `m`, `h` or `d`.
fn parse_range(text: &str) -> Result<Option<u64>, ParamError> {
    if text == "all" {
        return Ok(None);
    }
    let err = || {
        bad(format!(
            "range: expected all or a span like 1h, 24h, 7d, got {text:?}"
        ))
    };
    let unit_ms = match text.chars().last() {
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        _ => return Err(err()),
    };
    let count: u64 = text[..text.len() - 1].parse().map_err(|_| err())?;
    if count == 0 {
        return Err(err());
    }
    count.checked_mul(unit_ms).map(Some).ok_or_else(err)
}

/// RFC 3339 (`2026-11-02T10:00:00Z`) or epoch seconds (`1793613600`), as
/// epoch milliseconds.
pub fn parse_time(name: &str, text: &str) -> Result<u64, ParamError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| bad(format!("{name}: epoch seconds out of range: {text:?}")));
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        bad(format!(
            "{name}: expected RFC 3339 (2026-11-02T10:00:00Z) or epoch seconds, got {text:?}"
        ))
    })?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| bad(format!("{name}: before 1970: {text:?}")))
}

/// Milliseconds since the epoch; 0 for a clock before 1970.
pub fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(duration_ms).unwrap_or(0)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: u64 = 1_795_000_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS)
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ConversationQuery, ParamError> {
        let query: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
        let raw = axum::extract::Query::<RawParams>::try_from_uri(&uri)
            .unwrap()
            .0;
        ConversationQuery::parse(&raw, now(), 1000)
    }

    #[test]
    fn defaults_are_the_last_day() {
        let q = parse(&[]).unwrap();
        assert_eq!(
            q.window,
            Some(TimeWindow {
                from_ms: (NOW_MS - 86_400_000) / 600_000 * 600_000,
                to_ms: (NOW_MS / 600_000 + 1) * 600_000
            })
        );
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.offset, 0);
        assert_eq!(q.sort, Sort::default());
        assert_eq!(q.format, Format::Json);
        assert_eq!(q.filters.verdict, None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse(&[("range", "all")]).unwrap().window, None);
        let hour = parse(&[("range", "1h")]).unwrap().window.unwrap();
        assert!(hour.aligned_to(60_000), "{hour:?}");
        assert!(hour.from_ms <= NOW_MS - 3_600_000 && hour.to_ms > NOW_MS);
        assert!(hour.to_ms - hour.from_ms <= 3_600_000 + 60_000);
        let day = parse(&[("range", "24h")]).unwrap().window.unwrap();
        assert!(day.aligned_to(600_000), "{day:?}");
        assert!(day.from_ms <= NOW_MS - 86_400_000 && day.to_ms > NOW_MS);
        assert!(day.to_ms - day.from_ms <= 86_400_000 + 600_000);
        // Under 6 hours: whole minutes, so at most a minute more.
        let five = parse(&[("range", "5h")]).unwrap().window.unwrap();
        assert!(five.aligned_to(60_000), "{five:?}");
        assert!(five.to_ms - five.from_ms <= 5 * 3_600_000 + 60_000);
        let week = parse(&[("range", "7d")]).unwrap().window.unwrap();
        assert!(week.aligned_to(3_600_000), "{week:?}");
        assert!(week.from_ms <= NOW_MS - 7 * 86_400_000 && week.to_ms > NOW_MS);
        for bad in ["", "0h", "h", "7w", "-1d", "99999999999999999d"] {
            assert!(parse(&[("range", bad)]).is_err(), "{bad}");
        }
        assert!(parse(&[("range", "1h"), ("from", "10")]).is_err());
    }

    #[test]
    fn times_rfc3339_and_epoch() {
        let q = parse(&[("from", "2026-11-02T00:00:00Z"), ("to", "1793664000")]).unwrap();
        assert_eq!(
            q.window,
            Some(TimeWindow {
                from_ms: 1_793_577_600_000,
                to_ms: 1_793_664_000_000
            })
        );
        let offset = parse(&[
            ("from", "2026-11-02T01:00:00%2B01:00"),
            ("to", "1793664000"),
        ]);
        assert_eq!(offset.unwrap().window.unwrap().from_ms, 1_793_577_600_000);
        assert!(parse(&[("from", "yesterday")]).is_err());
        assert!(parse(&[("from", "1793664000"), ("to", "1793664000")]).is_err());
        // `to` alone: one day before it.
        let q = parse(&[("to", "1793664000")]).unwrap().window.unwrap();
        assert_eq!(q.from_ms, 1_793_664_000_000 - 86_400_000);
    }

    #[test]
    fn filters_and_paging() {
        let q = parse(&[
            ("verdict", "violation"),
            ("same_host", "1"),
            ("vm", "payroll-01"),
            ("zone", ""),
            ("limit", "5"),
            ("offset", "10"),
            ("sort", "-packets"),
            ("format", "csv"),
        ])
        .unwrap();
        assert_eq!(q.filters.verdict, Some(VerdictKind::Violation));
        assert_eq!(q.filters.same_host, Some(true));
        assert_eq!(q.filters.vm.as_deref(), Some("payroll-01"));
        assert_eq!(q.filters.zone, None);
        let q2 = parse(&[("proto", "udp"), ("port", "53"), ("client_zone", "dmz")]).unwrap();
        assert_eq!(q2.filters.proto, Some(17));
        assert_eq!(q2.filters.port, Some(53));
        assert_eq!(q2.filters.client_zone.as_deref(), Some("dmz"));
        assert_eq!((q.limit, q.offset), (5, 10));
        assert_eq!(
            q.sort,
            Sort {
                key: SortKey::Packets,
                descending: true
            }
        );
        assert_eq!(q.format, Format::Csv);
    }

    #[test]
    fn bad_values_are_refused_with_the_parameter_named() {
        for (k, v) in [
            ("verdict", "maybe"),
            ("same_host", "yes"),
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "-1"),
            ("offset", "x"),
            ("sort", "bytes;DROP"),
            ("sort", "--bytes"),
            ("format", "xml"),
            ("format", "pdf"),
            ("proto", "tcpx"),
            ("proto", "256"),
            ("port", "70000"),
        ] {
            let err = parse(&[(k, v)]).unwrap_err();
            assert!(err.0.starts_with(k), "{k}={v}: {err}");
        }
    }

    #[test]
    fn endpoints_refuse_parameters_they_do_not_take() {
        let raw = RawParams {
            sort: Some("bytes".into()),
            ..RawParams::default()
        };
        raw.allow_only(&allowed::CONVERSATIONS).unwrap();
        let err = raw.allow_only(&allowed::MATRIX).unwrap_err();
        assert!(err.0.starts_with("sort: not a parameter"), "{err}");
        assert!(allowed::CONVERSATIONS.contains(&"format"));
        assert!(allowed::TIMESERIES.contains(&"port"));
    }

    #[test]
    fn sort_round_trips() {
        for key in SortKey::ALL {
            for descending in [false, true] {
                let sort = Sort { key, descending };
                assert_eq!(Sort::parse(&sort.to_param()).unwrap(), sort);
            }
        }
    }
}

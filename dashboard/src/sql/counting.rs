//! Counting each conversation once: sums per conversation and observation
//! point, the best-ranked points' counters per conversation.

use crate::query::Filters;

use super::source::where_filters;
use super::statement::Sql;

/// How much of a conversation the grouped queries carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Detail {
    /// Every column of [`crate::model::Conversation`], the hosts, the
    /// policy revision and the observation points (a page of
    /// conversations, the host view).
    Full,
    /// What orders and ranks conversations without their costly columns:
    /// the verdict and counters, and of the columns of [`KEY_COLUMNS`]
    /// those named (what a page is sorted by, what the report groups by):
    /// a page sorted by bytes reads none of the VMs, zones, protocol,
    /// port, severity or times (a page's keys, the newest violations, the
    /// report's violations). Taking the zones alone costs about a sixth of
    /// a page's keys statement (100M flows over 7 days: 126 ms with them,
    /// 102 ms without).
    Keys(&'static [&'static str]),
    /// Only the zones, the verdict and the counters, both directions
    /// together (totals, the zone matrix, the time series): the per-row
    /// `argMax`es of the hosts and the revision and the per-point arrays
    /// are the costliest aggregates after the grouping itself, and these
    /// queries never read them. Both directions are summed together: two
    /// sums fewer than per direction, and three counters per point instead
    /// of five.
    Counters,
    /// The counters of [`Detail::Counters`], and where the conversation
    /// ran: its hosts (as [`Detail::Full`] takes them), `same_host` and
    /// last seen (the host view's totals per host).
    Hosts,
}

/// The columns a conversation is sorted or grouped by besides its verdict
/// and counters, which [`Detail::Full`] always carries, [`Detail::Keys`]
/// those it names and [`Detail::Counters`] and [`Detail::Hosts`] the zones
/// ([`ZONES`]): (name, the source column and the conversation's output;
/// its aggregate per observation point; then per conversation).
static KEY_COLUMNS: [(&str, &str, &str); 9] = [
    (
        "client_vm",
        "any(client_vm) AS p_cvm",
        "any(p_cvm) AS client_vm",
    ),
    (
        "server_vm",
        "any(server_vm) AS p_svm",
        "any(p_svm) AS server_vm",
    ),
    (
        "client_zone",
        "any(client_zone) AS p_cz",
        "any(p_cz) AS client_zone",
    ),
    (
        "server_zone",
        "any(server_zone) AS p_sz",
        "any(p_sz) AS server_zone",
    ),
    ("proto", "any(proto) AS p_proto", "any(p_proto) AS proto"),
    (
        "server_port",
        "any(server_port) AS p_port",
        "any(p_port) AS server_port",
    ),
    (
        "severity",
        "any(severity) AS p_sev",
        "any(p_sev) AS severity",
    ),
    (
        "start_ms",
        "min(start_ms) AS o_start",
        "min(o_start) AS start_ms",
    ),
    ("end_ms", "max(end_ms) AS o_end", "max(o_end) AS end_ms"),
];

/// The zones, of [`KEY_COLUMNS`]: what the zone matrix, the time series'
/// cross-zone counts, the host view and the report group or filter by.
pub(super) const ZONES: &[&str] = &["client_zone", "server_zone"];

/// Of [`KEY_COLUMNS`], what sorting by the output `column` needs: itself
/// when it is one of them, else nothing (the verdict and counters are
/// always there).
pub(super) fn keys_to_sort_by(column: &str) -> &'static [&'static str] {
    KEY_COLUMNS
        .iter()
        .find(|(name, _, _)| *name == column)
        .map_or(&[], |(name, _, _)| std::slice::from_ref(name))
}

/// The aggregates of the [`KEY_COLUMNS`] `named`, per observation point
/// or per conversation, each followed by `, `.
fn key_aggregates(named: &[&str], per_point: bool) -> String {
    KEY_COLUMNS
        .iter()
        .filter(|(name, _, _)| named.contains(name))
        .map(|(_, point, conversation)| {
            format!("{}, ", if per_point { point } else { conversation })
        })
        .collect()
}

/// Per conversation and observation point (and time bucket when
/// `bucket_ms` is set, as `t_ms`): the conversation's key columns (`p_*`),
/// counters summed (`o_*`), and `o_local`, the best `point_rank` of the
/// point: a mirror of the VM's port (SPAN/ERSPAN) 4 at the client's host,
/// 2 at the server's, +1 over an underlay (VXLAN, Geneve, NVGRE, routed
/// GRE), which sees the same packets again; an underlay 4 at either end's
/// host. An underlay is one point for both directions (its rows are
/// attributed per direction to the sending host), so its `p_obs` is the
/// array of its observers.
///
/// Rows are grouped on the 64-bit hashes every oriented row carries
/// (`conv_hash` of the conversation's key columns, `point_hash` of it with
/// observer and capture path; stored in the rollups, see
/// [`eastwest_clickhouse::schema::ROLLUP_DERIVED`]): grouping on a dozen
/// String/LowCardinality columns, or hashing them per row at query time,
/// is the slowest step of these queries on ClickHouse 18.16. The columns
/// themselves are taken with `any()`. Two conversations would have to
/// collide in CityHash64 to be merged (about 1 in 10^7 for a million
/// conversations in one window).
pub(super) fn per_observation_point(
    source: impl FnOnce(&[&str]) -> Sql,
    filters: &Filters,
    bucket_ms: Option<u64>,
    detail: Detail,
) -> Sql {
    let (t_col, t_key) = match bucket_ms {
        Some(step) => (
            format!("intDiv(start_ms, {step}) * {step} AS t_ms, "),
            "t_ms, ",
        ),
        None => (String::new(), ""),
    };
    let (filter, filter_columns) = where_filters(filters);
    let mut columns = vec![
        "conv_hash",
        "point_hash",
        "point_rank",
        "verdict",
        "bytes_fwd",
        "bytes_rev",
        "packets_fwd",
        "packets_rev",
        "flows",
    ];
    if bucket_ms.is_some() {
        columns.push("start_ms");
    }
    let every_key: Vec<&str> = KEY_COLUMNS.iter().map(|(name, _, _)| *name).collect();
    let keys = key_aggregates(&every_key, true);
    let extra = match detail {
        Detail::Full => {
            columns.extend(&every_key);
            columns.extend([
                "client_addr",
                "server_addr",
                "rule",
                "same_host",
                "observer",
                "encap",
                "client_host",
                "server_host",
                "policy_revision",
            ]);
            format!(
                "{keys}any({}) AS p_ckey, any({}) AS p_skey, any(rule) AS p_rule, any(same_host) AS p_same, \
                 groupUniqArray(observer) AS p_obs, any(encap) AS p_encap, \
                 argMax(client_host, end_ms) AS o_ch, argMax(server_host, end_ms) AS o_sh, \
                 argMax(policy_revision, end_ms) AS o_rev, ",
                addr_key("client"),
                addr_key("server"),
            )
        }
        Detail::Keys(named) => {
            columns.extend(named);
            key_aggregates(named, true)
        }
        Detail::Counters => {
            columns.extend(ZONES);
            key_aggregates(ZONES, true)
        }
        Detail::Hosts => {
            columns.extend(ZONES);
            columns.extend(["end_ms", "same_host", "client_host", "server_host"]);
            format!(
                "{}max(end_ms) AS o_end, any(same_host) AS p_same, \
                 argMax(client_host, end_ms) AS o_ch, argMax(server_host, end_ms) AS o_sh, ",
                key_aggregates(ZONES, true)
            )
        }
    };
    columns.extend(filter_columns);
    distinct(&mut columns);
    let sums = match detail {
        Detail::Counters | Detail::Hosts => {
            "sum(bytes_fwd + bytes_rev) AS o_b, sum(packets_fwd + packets_rev) AS o_p, "
        }
        Detail::Full | Detail::Keys(_) => {
            "sum(bytes_fwd) AS o_bf, sum(bytes_rev) AS o_br, \
             sum(packets_fwd) AS o_pf, sum(packets_rev) AS o_pr, "
        }
    };
    let head = format!(
        "SELECT {t_col}any(conv_hash) AS h_conv, {extra}\
           any(verdict) AS p_verdict, \
           {sums}sum(flows) AS o_flows, max(point_rank) AS o_local \
         FROM "
    );
    let mut sql = source(&columns).wrap(&head, "").then(filter);
    sql.push(&format!(" GROUP BY {t_key}point_hash"));
    sql
}

/// Each column once, in the order first named.
pub(super) fn distinct(columns: &mut Vec<&str>) {
    let mut seen = std::collections::HashSet::new();
    columns.retain(|c| seen.insert(*c));
}

/// A side's address where its VM is unknown, else zeros: what tells two
/// conversations of unknown VMs apart (as in `conv_hash`).
pub(super) fn addr_key(side: &str) -> String {
    format!("if({side}_vm = '', {side}_addr, toFixedString('', 16))")
}

/// A conversation's counters from its observation points (the rows of
/// [`per_observation_point`], with rank `o_local` and `bytes`), each
/// `(expression, alias)` of `counters` summed over the points counted:
/// those of the best rank when it is local to the client's or the
/// server's host (rank 2 and up), summed over them, as a VM runs on one
/// host at a time: the hosts before and after a vMotion each saw part of
/// the conversation, never the same packets; otherwise (observers on
/// neither host) the one point of that rank that saw the most bytes, as
/// two such observers may see the same packets. Arrays per conversation,
/// so it stays one grouping level.
pub(super) fn counted(bytes: &str, counters: &[(&str, &str)]) -> String {
    let fields: Vec<&str> = counters.iter().map(|(expr, _)| *expr).collect();
    let mut sql = format!(
        "max(o_local) AS c_rank, groupArray((o_local, {bytes}, {})) AS c_points, \
         arrayFilter(p -> tupleElement(p, 1) = c_rank, c_points) AS c_best, \
         if(c_rank >= 2, c_best, \
            arraySlice(arrayReverseSort(p -> tupleElement(p, 2), c_best), 1, 1)) AS c_counted",
        fields.join(", ")
    );
    for (i, (_, alias)) in counters.iter().enumerate() {
        sql.push_str(&format!(
            ", arraySum(arrayMap(p -> tupleElement(p, {}), c_counted)) AS {alias}",
            i + 3
        ));
    }
    sql
}

/// One row per conversation (per `t_ms` bucket when `bucket_ms` is set),
/// with its hash `h_conv`. [`Detail::Full`]: the columns of
/// [`crate::model::Conversation`] (by name), plus `policy_revision` and
/// `points` (per observation point: observer, encap, flows, bytes) at the
/// end. [`Detail::Keys`]: the key columns it names. [`Detail::Counters`]:
/// `client_zone`, `server_zone`, `verdict`, `flows`, `packets` and `bytes`;
/// [`Detail::Hosts`]: those, `end_ms`, `client_host`, `server_host` and
/// `same_host`.
pub(super) fn per_conversation(
    source: impl FnOnce(&[&str]) -> Sql,
    filters: &Filters,
    bucket_ms: Option<u64>,
    detail: Detail,
) -> Sql {
    let t = if bucket_ms.is_some() { "t_ms, " } else { "" };
    let counters = match detail {
        Detail::Counters | Detail::Hosts => counted(
            "o_b",
            &[("o_flows", "flows"), ("o_p", "packets"), ("o_b", "bytes")],
        ),
        Detail::Full | Detail::Keys(_) => format!(
            "{}, packets_fwd + packets_rev AS packets, bytes_fwd + bytes_rev AS bytes",
            counted(
                "o_bf + o_br",
                &[
                    ("o_flows", "flows"),
                    ("o_pf", "packets_fwd"),
                    ("o_bf", "bytes_fwd"),
                    ("o_pr", "packets_rev"),
                    ("o_br", "bytes_rev"),
                ],
            )
        ),
    };
    let counters = format!("any(p_verdict) AS verdict, {counters}");
    let every_key: Vec<&str> = KEY_COLUMNS.iter().map(|(name, _, _)| *name).collect();
    let keys = key_aggregates(&every_key, false);
    let head = match detail {
        Detail::Full => format!(
            "SELECT {t}h_conv, {keys}any(p_ckey) AS client_addr, \
               argMax(o_ch, o_end) AS client_host, \
               any(p_skey) AS server_addr, \
               argMax(o_sh, o_end) AS server_host, \
               any(p_rule) AS rule, any(p_same) AS same_host, \
               arraySort(groupUniqArrayArray(p_obs)) AS observers, {counters}, \
               argMax(o_rev, o_end) AS policy_revision, \
               groupArray((arrayStringConcat(arraySort(p_obs), ','), p_encap, o_flows, o_bf + o_br)) AS points \
             FROM "
        ),
        Detail::Keys(named) => format!(
            "SELECT {t}h_conv, {}{counters} FROM ",
            key_aggregates(named, false)
        ),
        Detail::Counters => format!(
            "SELECT {t}h_conv, {}{counters} FROM ",
            key_aggregates(ZONES, false)
        ),
        Detail::Hosts => format!(
            "SELECT {t}h_conv, {}max(o_end) AS end_ms, argMax(o_ch, o_end) AS client_host, \
               argMax(o_sh, o_end) AS server_host, any(p_same) AS same_host, {counters} FROM ",
            key_aggregates(ZONES, false)
        ),
    };
    per_observation_point(source, filters, bucket_ms, detail)
        .wrap(&head, &format!(" GROUP BY {t}h_conv"))
}

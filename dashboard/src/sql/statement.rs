//! A statement as text with `?` placeholders and the values bound to them,
//! and the quoted table names statements read.

use super::resolution::Resolution;

/// A value bound to a `?` of the SQL, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    U64(u64),
    U32(u32),
    U16(u16),
    U8(u8),
}

/// SQL text and the values of its `?`s, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub(super) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub(super) fn bind(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self
    }

    /// `text` with `?`s, then their values.
    pub(super) fn clause(&mut self, text: &str, args: impl IntoIterator<Item = Arg>) -> &mut Sql {
        self.push(text);
        self.args.extend(args);
        self
    }

    /// Wrap: `before (self) after`, keeping the arguments.
    pub(super) fn wrap(self, before: &str, after: &str) -> Sql {
        Sql {
            text: format!("{before}({}){after}", self.text),
            args: self.args,
        }
    }

    /// Append another statement part and its arguments.
    pub(super) fn then(mut self, other: Sql) -> Sql {
        self.text.push_str(&other.text);
        self.args.extend(other.args);
        self
    }
}

/// ` AND column IN (?, ...)` of `keys` (conversation hashes; not empty).
pub(super) fn keys_in(column: &str, keys: &[u64]) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(" AND {column} IN ("));
    for (i, key) in keys.iter().enumerate() {
        sql.push(if i == 0 { "?" } else { ", ?" });
        sql.bind(Arg::U64(*key));
    }
    sql.push(")");
    sql
}

/// Table names, quoted with their database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub flows: String,
    pub flows_1m: String,
    pub flows_10m: String,
    pub flows_1h: String,
    pub flows_1d: String,
    pub exporters: String,
    pub datasets: String,
    pub observed_1m: String,
    pub conversations_seen: String,
    /// `conversations_1h`: `flows_1h` sorted by conversation (a page's
    /// conversations read by their keys, [`super::conversation_page`]).
    pub conversations_1h: String,
    /// `placements_1h` and `placements_1d`: which VM ran on which host,
    /// per hour and day (read by `placements_source`).
    pub placements_1h: String,
    pub placements_1d: String,
    pub flow_exporters: String,
    pub series_buckets: String,
}

impl Tables {
    pub(super) fn of(&self, resolution: Resolution) -> &str {
        match resolution {
            Resolution::Raw => &self.flows,
            Resolution::Minute => &self.flows_1m,
            Resolution::TenMinutes => &self.flows_10m,
            Resolution::Hour => &self.flows_1h,
            Resolution::Day => &self.flows_1d,
        }
    }

    /// The placement table answering whole buckets of `resolution`, if
    /// there is one (hours and days).
    pub(super) fn placements_of(&self, resolution: Resolution) -> Option<&str> {
        match resolution {
            Resolution::Hour => Some(&self.placements_1h),
            Resolution::Day => Some(&self.placements_1d),
            _ => None,
        }
    }
}

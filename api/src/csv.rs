//! CSV of the API's lists (RFC 4180, a header line): the columns are the
//! row struct's fields, in their order, declared once with `api_row!` (in the crate root);
//! booleans are 0/1, lists space-separated, enums their words.

use eastwest_core::flow::Encap;
use eastwest_core::policy::VerdictKind;
use eastwest_core::severity::Severity;

use crate::word::Word;

/// A row of a list that also exports as CSV: the header and the fields in
/// that order.
pub trait CsvRow {
    const COLUMNS: &'static [&'static str];
    fn fields(&self) -> Vec<String>;
}

/// One value as a CSV field (before quoting).
pub trait CsvField {
    fn csv(&self) -> String;
}

impl CsvField for String {
    fn csv(&self) -> String {
        self.clone()
    }
}

/// Absent is empty.
impl CsvField for Option<String> {
    fn csv(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

/// 0 or 1.
impl CsvField for bool {
    fn csv(&self) -> String {
        u8::from(*self).to_string()
    }
}

macro_rules! number_fields {
    ($($t:ty),*) => {$(
        impl CsvField for $t {
            fn csv(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
number_fields!(u8, u16, u32, u64);

/// The items, space-separated.
impl<T: CsvField> CsvField for Vec<T> {
    fn csv(&self) -> String {
        self.iter().map(CsvField::csv).collect::<Vec<_>>().join(" ")
    }
}

impl CsvField for VerdictKind {
    fn csv(&self) -> String {
        self.word().to_string()
    }
}

impl CsvField for Option<Severity> {
    fn csv(&self) -> String {
        self.word().to_string()
    }
}

impl CsvField for Option<Encap> {
    fn csv(&self) -> String {
        self.word().to_string()
    }
}

/// RFC 4180 CSV with a header line.
pub fn to_csv<R: CsvRow>(rows: &[R]) -> String {
    let mut out = R::COLUMNS.join(",");
    out.push_str("\r\n");
    for row in rows {
        let quoted: Vec<String> = row.fields().iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field, quoted when it needs to be.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Declare a row struct once: the struct as written (its attributes, serde
/// and all) and its [`CsvRow`], whose columns are the field names in order
/// and whose fields are each field's [`CsvField`].
#[macro_export]
macro_rules! api_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl $crate::csv::CsvRow for $name {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn fields(&self) -> Vec<String> {
                vec![$($crate::csv::CsvField::csv(&self.$field)),*]
            }
        }
    };
}

//! The query parameters as OpenAPI parameters: the schemas of the
//! parameters whose text has a fixed set of words, and one
//! [`IntoParams`] type per endpoint, which takes from [`RawParams`] the
//! parameters of the endpoint's [`allowed`] list (the list
//! the handler enforces), in that list's order.

use eastwest_api::word::words;
use eastwest_api::VerdictKind;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::IntoParams;

use super::{allowed, RawParams, SortKey};

fn string_of(words: impl IntoIterator<Item = String>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words))
}

/// `verdict`: one of the verdict's words.
pub fn verdict() -> Object {
    string_of(words(VerdictKind::ALL).map(String::from)).build()
}

/// `same_host`: a boolean as text.
pub fn same_host() -> Object {
    string_of(["true", "false", "1", "0"].map(String::from)).build()
}

/// `sort`: a column, ascending or (`-`) descending.
pub fn sort() -> Object {
    let words = SortKey::ALL
        .iter()
        .flat_map(|key| [key.column().to_string(), format!("-{}", key.column())]);
    string_of(words).default(Some("-bytes".into())).build()
}

/// `format` of a list: JSON or CSV.
pub fn format() -> Object {
    string_of(["json", "csv"].map(String::from))
        .default(Some("json".into()))
        .build()
}

/// `format` of the report, which also prints HTML and PDF.
fn report_format() -> Object {
    string_of(["json", "csv", "html", "pdf"].map(String::from))
        .default(Some("json".into()))
        .build()
}

/// The descriptions of the parameters whose schema is a function above
/// (`utoipa` takes no doc comment with a `schema_with`).
const DESCRIPTIONS: [(&str, &str); 4] = [
    ("verdict", "verdict"),
    ("same_host", "both VMs on one host"),
    ("sort", "column, `-` prefix for descending"),
    ("format", "output format"),
];

/// The parameters named in `names`, in that order.
fn pick(names: &[&str]) -> Vec<Parameter> {
    let mut all = RawParams::into_params(|| Some(ParameterIn::Query));
    for param in &mut all {
        if let Some((_, text)) = DESCRIPTIONS.iter().find(|(name, _)| param.name == *name) {
            param.description = Some((*text).to_string());
        }
    }
    names
        .iter()
        .filter_map(|name| all.iter().find(|p| p.name == *name).cloned())
        .collect()
}

/// `/packets` takes the parameters of `/flows` and ignores the page and
/// the format (it answers every matching flow's packets, as pcapng).
const PACKETS: [&str; 10] = [
    "from", "to", "range", "dataset", "vm", "peer", "proto", "port", "verdict", "rule",
];

macro_rules! endpoint_params {
    ($($(#[$attr:meta])* $name:ident = $list:expr;)*) => {$(
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $name;

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                pick(&$list)
            }
        }
    )*};
}

endpoint_params! {
    /// `GET /conversations`.
    Conversations = allowed::CONVERSATIONS;
    /// `GET /timeseries`.
    Timeseries = allowed::TIMESERIES;
    /// `GET /zones/matrix`.
    Matrix = allowed::MATRIX;
    /// `GET /violations`.
    Violations = allowed::VIOLATIONS;
    /// `GET /flows`.
    Flows = allowed::FLOWS;
    /// `GET /packets`.
    Packets = PACKETS;
    /// `GET /vms/{name}`.
    Vm = allowed::VM;
    /// `GET /hosts`.
    Hosts = allowed::HOSTS;
    /// `GET /hosts/{name}`.
    Host = allowed::HOST;
    /// `GET /exporters`.
    Exporters = allowed::EXPORTERS;
    /// `GET /datasets`.
    Datasets = allowed::DATASETS;
}

/// `GET /report`: the window and the report's `format`.
#[derive(Debug)]
pub struct Report;

impl IntoParams for Report {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = pick(&allowed::REPORT);
        for param in params.iter_mut().filter(|p| p.name == "format") {
            param.schema = Some(report_format().into());
        }
        params
    }
}

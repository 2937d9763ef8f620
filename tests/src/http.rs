//! HTTP as the tests speak it: one request over a plain socket, and a
//! `/metrics` answer checked by a strict parser.

use anyhow::{bail, Context, Result};

/// A `/metrics` answer read by a strict parser of the Prometheus text
/// format 0.0.4 (`openmetrics-parser`): name, label and value syntax, label
/// escapes, one `# HELP` and one `# TYPE` per family before its samples,
/// sample names that fit the family's type (`_bucket`, `_sum`, `_count` of
/// a histogram). Each family's name and type (`counter`, `gauge`,
/// `histogram`); a family without help text is an error too.
pub fn metric_families(text: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
        .map_err(|err| anyhow::anyhow!("not the Prometheus text format: {err:?}\n{text}"))?;
    let mut families = std::collections::BTreeMap::new();
    for (name, family) in exposition.families {
        if family.help.trim().is_empty() {
            bail!("{name} has no help text");
        }
        families.insert(name, family.family_type.to_string());
    }
    Ok(families)
}

/// One HTTP/1.1 request to 127.0.0.1:`port` over a plain socket (the
/// target is sent as given, not normalised), `Connection: close`; the
/// status code and the body. Gives up after `timeout`.
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: std::time::Duration,
) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("no HTTP status in {text:?}"))?;
    let body = match text.split_once("\r\n\r\n") {
        Some((head, rest))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(rest)
        }
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

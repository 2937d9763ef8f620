//! Connecting: a client adapted to each server's version, the schema
//! migrated on every node.

use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::{migrate, query_settings, ServerVersion};

use super::{Connection, SinkError};
use crate::config::SinkConfig;

/// Longest the server may take to say its version (the first request of a
/// connection).
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to every node and migrate its schema, then the inserting
/// client.
pub(super) async fn connection(config: &SinkConfig) -> Result<Connection, SinkError> {
    let layout = config.layout();
    let mut nodes = Vec::new();
    for url in config.nodes() {
        let (client, _, text) = adapted_client(config, &url).await?;
        migrate(&client, &layout)
            .await
            .map_err(|source| SinkError::Migrate {
                url: url.clone(),
                database: config.database.clone(),
                source,
            })?;
        tracing::info!(%url, server = %text.trim(), database = %config.database, cluster = ?config.cluster, "sink: connected, schema up to date");
        nodes.push(client.with_database(&config.database));
    }
    // Inserts go to `url` (with a cluster: any node; its Distributed
    // tables route the rows to the shards).
    let (client, version, _) = adapted_client(config, &config.url).await?;
    // Through a Distributed table, wait until the shards stored the rows
    // before confirming the insert (else it is only queued on this node's
    // disk).
    let client = match config.cluster {
        Some(_) => client.with_setting("insert_distributed_sync", "1"),
        None => client,
    };
    Ok(Connection {
        client: client.with_database(&config.database),
        nodes,
        version,
    })
}

/// A client for the server at `url`, adapted to its version (see the
/// `sink` module docs), without a database; with the version and its text.
pub(super) async fn adapted_client(
    config: &SinkConfig,
    url: &str,
) -> Result<(Client, ServerVersion, String), SinkError> {
    if url.starts_with("https://") {
        if let Some(problem) = eastwest_clickhouse::http::trust_problems() {
            tracing::warn!(url, "sink: {problem}");
        }
    }
    let mut client = eastwest_clickhouse::http::client()
        .with_url(url)
        .with_validation(false);
    if !config.user.is_empty() {
        client = client.with_user(&config.user);
    }
    if !config.password.is_empty() {
        client = client.with_password(&config.password);
    }
    // Bounded: a server that accepts connections and answers nothing
    // (stuck, or its disk gone) counts as unreachable, so the sink keeps
    // spooling and retrying instead of waiting on it.
    let probe = client.query("SELECT version()").fetch_one();
    let text: String = tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .unwrap_or(Err(clickhouse::error::Error::TimedOut))
        .map_err(|source| SinkError::Unreachable {
            url: url.to_string(),
            source,
        })?;
    let version = ServerVersion::parse(&text).ok_or_else(|| SinkError::Version {
        url: url.to_string(),
        version: text.clone(),
    })?;
    if !version.needs_legacy_settings() {
        client = client.with_validation(true);
    }
    for (name, value) in query_settings(version) {
        client = client.with_setting(*name, *value);
    }
    Ok((client, version, text))
}

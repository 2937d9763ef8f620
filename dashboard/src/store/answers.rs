//! The [`Store`] answers over ClickHouse: each endpoint's statements run
//! and their rows assembled.

use std::collections::HashMap;

use eastwest_clickhouse::schema::partitions;

use super::{ClickHouseStore, Store, StoreError};
use crate::model::{
    Conversation, ConversationRow, Counters, DescribedRow, ExporterRow, FlowRecord, FlowRecordRow,
    HostRow, HostVms, MatrixCell, Page, Placement, Point, Totals, Violation, ViolationRow,
};
use crate::model::{Dataset, DatasetRow, ExporterSource};
use crate::query::{Params, TimeWindow};
use crate::report::{IntraHost, LossRow, PointRow, ReportData, ZonePairViolations};
use crate::sql::{self, Resolution};

/// The answer of [`sql::conversation_keys_and_totals`] in `TSV`: a row per
/// conversation of the page (its key, then its counters), then an empty
/// line and the totals row (`WITH TOTALS`; absent when nothing matched).
pub fn keys_and_totals(tsv: &[u8]) -> Result<(Vec<(u64, Counters)>, Totals), String> {
    let text = std::str::from_utf8(tsv).map_err(|e| format!("keys and totals: {e}"))?;
    let numbers = |line: &str| -> Result<[u64; 8], String> {
        let fields = line
            .split('\t')
            .map(str::parse::<u64>)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| format!("keys and totals: {e} in {line:?}"))?;
        <[u64; 8]>::try_from(fields.as_slice()).map_err(|_| {
            format!(
                "keys and totals: {} fields in {line:?}, not 8",
                fields.len()
            )
        })
    };
    let mut keys = Vec::new();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let [key, _, _, flows, packets, bytes, packets_fwd, bytes_fwd] = numbers(line)?;
        let counters = Counters {
            flows,
            packets,
            bytes,
            packets_fwd,
            bytes_fwd,
        };
        keys.push((key, counters));
    }
    let totals = match lines.next() {
        Some(line) => {
            let [_, conversations, violations, flows, packets, bytes, _, _] = numbers(line)?;
            Totals {
                conversations,
                violations,
                flows,
                packets,
                bytes,
            }
        }
        None => Totals::default(),
    };
    Ok((keys, totals))
}

impl Store for ClickHouseStore {
    async fn conversations(&self, params: &Params) -> Result<(Page, Resolution), StoreError> {
        let settled = self.settled(params).await?;
        let params = &settled;
        let resolution = Resolution::for_window(params.window);
        let (rows, totals) = if params.limit <= sql::MAX_PAGE_KEYS {
            // The page's keys and the totals from the cheap grouping, then
            // those conversations alone in full.
            let keys = sql::conversation_keys_and_totals(&self.tables, resolution, params);
            let text = self
                .with_timeout(async { self.query(&keys).fetch_bytes("TSV")?.collect().await })
                .await?;
            let (keys, totals) = keys_and_totals(&text).map_err(StoreError::Query)?;
            let rows = if keys.is_empty() {
                Vec::new()
            } else {
                let hashes: Vec<u64> = keys.iter().map(|(key, _)| *key).collect();
                let page = sql::conversation_page(&self.tables, resolution, params, &hashes);
                // Their first and last seen, beside (see `sql::seen_lookup`).
                let (rows, seen) = self
                    .all_with_seen::<DescribedRow>(
                        &page,
                        params.window,
                        params.filters.dataset.as_deref(),
                        &hashes,
                    )
                    .await?;
                let mut described: HashMap<u64, DescribedRow> = rows
                    .into_iter()
                    .map(|mut row| {
                        (row.start_ms, row.end_ms) = sql::seen_times(
                            params.window,
                            (row.start_ms, row.end_ms),
                            seen.get(&row.conv_hash).copied(),
                        );
                        (row.conv_hash, row)
                    })
                    .collect();
                // In the keys' order. A conversation gone between the two
                // statements (a TTL's merge) is left out.
                keys.iter()
                    .filter_map(|(key, counters)| {
                        described.remove(key).map(|row| row.with(*counters))
                    })
                    .collect()
            };
            (rows, totals)
        } else {
            let totals = sql::conversation_totals(&self.tables, resolution, params);
            let page = sql::conversations_in_one(&self.tables, resolution, params);
            tokio::try_join!(
                self.all::<ConversationRow>(&page),
                self.one::<Totals>(&totals),
            )?
        };
        let page = Page {
            totals,
            conversations: rows.into_iter().map(Conversation::from).collect(),
        };
        Ok((page, resolution.used_for(params.window)))
    }

    async fn matrix(&self, params: &Params) -> Result<(Vec<MatrixCell>, Resolution), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let cells = self
            .all::<MatrixCell>(&sql::matrix(&self.tables, resolution, params))
            .await?;
        Ok((cells, resolution.used_for(params.window)))
    }

    async fn violations(&self, params: &Params) -> Result<(Vec<Violation>, u64), StoreError> {
        self.newest_violations(params).await
    }

    async fn violations_rolled_up(&self, params: &Params) -> Result<Vec<Violation>, StoreError> {
        let resolution = Resolution::for_window(params.window);
        let page = sql::violations(&self.tables, params, resolution);
        let rows = self.all::<ViolationRow>(&page).await?;
        Ok(rows.into_iter().map(Violation::from).collect())
    }

    async fn flows(&self, params: &Params) -> Result<(Vec<FlowRecord>, u64), StoreError> {
        let (page, total) = sql::flows(&self.tables, params);
        let (rows, total) =
            tokio::try_join!(self.all::<FlowRecordRow>(&page), self.one::<u64>(&total),)?;
        Ok((rows.into_iter().map(FlowRecord::from).collect(), total))
    }

    async fn placements(&self, params: &Params, vm: &str) -> Result<Vec<Placement>, StoreError> {
        let resolution = Resolution::for_window(params.window);
        self.all(&sql::vm_placements(&self.tables, resolution, params, vm))
            .await
    }

    async fn hosts(
        &self,
        params: &Params,
    ) -> Result<(Vec<HostRow>, Vec<HostVms>, Resolution), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let hosts = sql::hosts(&self.tables, resolution, params);
        let vms = sql::host_vms(&self.tables, resolution, params, None);
        let (rows, vms) =
            tokio::try_join!(self.all::<HostRow>(&hosts), self.all::<HostVms>(&vms),)?;
        Ok((rows, vms, resolution.used_for(params.window)))
    }

    async fn host_vms(&self, params: &Params, host: &str) -> Result<Vec<String>, StoreError> {
        let resolution = Resolution::for_window(params.window);
        let rows = self
            .all::<HostVms>(&sql::host_vms(&self.tables, resolution, params, Some(host)))
            .await?;
        Ok(rows.into_iter().flat_map(|r| r.vms).collect())
    }

    async fn timeseries(
        &self,
        params: &Params,
        window: TimeWindow,
        step_ms: u64,
    ) -> Result<(Vec<Point>, Resolution), StoreError> {
        let resolution = Resolution::for_step(step_ms);
        let points = if self.sealed_series && super::sealed::sealable(&params.filters, step_ms) {
            self.sealed_series(window, &params.filters, step_ms).await?
        } else {
            self.live_series(window, &params.filters, step_ms).await?
        };
        Ok((points, resolution.used_for(Some(window))))
    }

    async fn rows_in(
        &self,
        resolution: Resolution,
        window: TimeWindow,
        dataset: Option<&str>,
        at_most: u64,
    ) -> Result<u64, StoreError> {
        self.one::<u64>(&sql::rows_in(
            &self.tables,
            resolution,
            window,
            dataset,
            at_most,
        ))
        .await
    }

    async fn time_span(&self, dataset: Option<&str>) -> Result<Option<(u64, u64)>, StoreError> {
        let (first, last, count) = self
            .one::<(u64, u64, u64)>(&sql::time_span(&self.tables, dataset))
            .await?;
        Ok((count > 0).then_some((first, last)))
    }

    async fn report(&self, params: &Params) -> Result<(ReportData, Resolution), StoreError> {
        let t = &self.tables;
        let resolution = Resolution::for_window(params.window);
        let (points, vm_hosts, violations, intra_host, losses) = (
            sql::report_points(t, params),
            sql::report_vm_hosts(t, resolution, params),
            sql::report_violations(t, resolution, params),
            sql::report_intra_host(t, resolution, params),
            sql::report_exporter_losses(t, params),
        );
        let (points, vm_hosts, violations, intra_host, losses) = tokio::try_join!(
            self.all::<PointRow>(&points),
            self.all::<String>(&vm_hosts),
            self.all::<ZonePairViolations>(&violations),
            self.all::<IntraHost>(&intra_host),
            self.all::<LossRow>(&losses),
        )?;
        Ok((
            ReportData {
                points,
                vm_hosts,
                violations,
                intra_host,
                losses,
            },
            resolution.used_for(params.window),
        ))
    }

    async fn exporters(&self) -> Result<(Vec<ExporterRow>, ExporterSource), StoreError> {
        let rows: Vec<ExporterRow> = self.all(&sql::exporters(&self.tables)).await?;
        if !rows.is_empty() {
            return Ok((rows, ExporterSource::Exporters));
        }
        let rows = self.all(&sql::exporters_from_flows(&self.tables)).await?;
        Ok((rows, ExporterSource::Flows))
    }

    async fn announced_exporters(&self) -> Result<Vec<ExporterRow>, StoreError> {
        self.all(&sql::exporters(&self.tables)).await
    }

    async fn datasets(&self) -> Result<Vec<Dataset>, StoreError> {
        let rows: Vec<DatasetRow> = self.all(&sql::datasets(&self.tables)).await?;
        let mut bytes: HashMap<String, u64> = HashMap::new();
        for partition in self.partitions().await? {
            *bytes.entry(partition.dataset).or_default() += partition.bytes;
        }
        Ok(rows
            .into_iter()
            .map(|r| Dataset {
                bytes: bytes.get(&r.dataset).copied().unwrap_or(0),
                name: r.dataset,
                live: false,
                flows: r.flows,
                first_ms: r.first_ms,
                last_ms: r.last_ms,
                stored_first_ms: u64::from(r.stored_first) * 1000,
                stored_last_ms: u64::from(r.stored_last) * 1000,
            })
            .collect())
    }

    async fn delete_dataset(&self, dataset: &str) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for partition in self.partitions().await? {
            if partition.dataset == dataset {
                self.with_timeout(partitions::apply(
                    &self.client,
                    &self.layout,
                    &partition,
                    partitions::Action::Drop,
                ))
                .await?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with_timeout(self.client.query("SELECT 1").fetch_one::<u8>())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_then_the_totals_row() {
        let tsv = b"11\t1\t0\t5\t50\t500\t30\t300\n7\t1\t1\t2\t20\t200\t20\t0\n\n\
                    0\t30\t4\t70\t700\t7000\t400\t4000\n";
        let (keys, totals) = keys_and_totals(tsv).unwrap();
        let counters = |flows, packets, bytes, packets_fwd, bytes_fwd| Counters {
            flows,
            packets,
            bytes,
            packets_fwd,
            bytes_fwd,
        };
        assert_eq!(
            keys,
            vec![
                (11, counters(5, 50, 500, 30, 300)),
                (7, counters(2, 20, 200, 20, 0))
            ]
        );
        assert_eq!(
            totals,
            Totals {
                conversations: 30,
                violations: 4,
                flows: 70,
                packets: 700,
                bytes: 7000
            }
        );
        // A page past the end: the totals alone.
        let (keys, totals) = keys_and_totals(b"\n0\t30\t4\t70\t700\t7000\t1\t1\n").unwrap();
        assert!(keys.is_empty());
        assert_eq!(totals.conversations, 30);
        // Nothing matched.
        assert_eq!(
            keys_and_totals(b"").unwrap(),
            (Vec::new(), Totals::default())
        );
        // Not what the statement returns: an error, not a panic.
        assert!(keys_and_totals(b"11\t1\n")
            .unwrap_err()
            .contains("2 fields"));
        assert!(keys_and_totals(b"x\t1\t0\t5\t50\t500\t1\t1\n").is_err());
        assert!(keys_and_totals(b"\n0\t30\t4\t70\t700\t7000\n").is_err());
        assert!(keys_and_totals(&[0xff, b'\n']).is_err());
    }
}

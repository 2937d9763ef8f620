use super::*;
use crate::v9_builder as v9;
use eastwest_clickhouse::schema::addr_from_bytes;
use eastwest_core::netflow::{
    field, FIELDS_V4, OPTION_FIELDS, OPTION_SCOPES, TEMPLATE_OPTIONS, TEMPLATE_V4,
};

const BOOT_MS: u64 = 1_700_000_000_000;
const UPTIME_MS: u32 = 60_000;
const EXPORT_SECS: u32 = 1_700_000_060;

fn config(max_exporters: usize) -> DecodeConfig {
    DecodeConfig {
        max_exporters,
        ..DecodeConfig::default()
    }
}

fn datagram(exporter: &str, payload: Vec<u8>) -> Datagram {
    Datagram {
        exporter: exporter.parse().unwrap(),
        received_ms: 1_700_000_061_234,
        payload,
    }
}

/// The exporter's own layout: options record naming the host, template
/// 256, one record.
fn eastwest_packet(flow: &v9::Flow) -> Vec<u8> {
    v9::packet(
        7,
        0,
        UPTIME_MS,
        EXPORT_SECS,
        4,
        &[
            v9::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
            v9::data(TEMPLATE_OPTIONS, &[v9::domain_name_record(7, "esx-07")]),
            v9::template(TEMPLATE_V4, FIELDS_V4),
            v9::data(TEMPLATE_V4, &[v9::record(flow, FIELDS_V4, BOOT_MS)]),
        ],
    )
}

#[test]
fn keeps_the_32_bit_gre_key_and_the_gre_encapsulations() {
    for (encap, name) in [
        (eastwest_core::flow::Encap::Nvgre, "nvgre"),
        (eastwest_core::flow::Encap::Gre, "gre"),
    ] {
        let mut flow = v9::sample_flow(4, BOOT_MS + 10_000);
        flow.vni = 0x1234_5602;
        flow.observation_point = eastwest_core::netflow::observation_point(encap, 0);
        let mut decoder = Decoder::new(&config(8));
        let mut rows = Vec::new();
        let report = decoder.decode(
            &datagram("192.0.2.9:5000", eastwest_packet(&flow)),
            "live",
            &mut rows,
        );
        assert_eq!(report.errors, []);
        let [row] = &rows[..] else {
            panic!("one row: {rows:?}")
        };
        assert_eq!(
            (row.encap.map(eastwest_core::flow::Encap::as_str), row.vni),
            (Some(name), 0x1234_5602)
        );
    }
}

#[test]
fn maps_every_field_of_the_eastwest_template() {
    let mut flow = v9::sample_flow(4, BOOT_MS + 10_000);
    flow.observation_point =
        eastwest_core::netflow::observation_point(eastwest_core::flow::Encap::ErspanIII, 33);
    let mut decoder = Decoder::new(&config(8));
    let mut rows = Vec::new();
    let report = decoder.decode(
        &datagram("192.0.2.9:5000", eastwest_packet(&flow)),
        "live",
        &mut rows,
    );
    assert_eq!(report.errors, []);
    assert_eq!((report.flows, rows.len()), (1, 1));
    let row = &rows[0];
    assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
    assert_eq!(addr_from_bytes(row.dst_addr), IpAddr::V4(flow.dst));
    assert_eq!(
        addr_from_bytes(row.exporter),
        "192.0.2.9".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        row.src_addr[..12],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
    );
    assert_eq!((row.src_port, row.dst_port, row.proto), (40_004, 443, 6));
    assert_eq!((row.packets, row.bytes, row.sampling), (5, 500, 1));
    assert_eq!(
        (row.start_ms, row.end_ms),
        (BOOT_MS + 10_000, BOOT_MS + 11_500)
    );
    assert_eq!(row.start, 1_700_000_010);
    assert_eq!(row.date, (BOOT_MS / 86_400_000) as u16);
    assert_eq!(row.received, 1_700_000_061);
    assert_eq!((row.src_mac, row.dst_mac), (flow.src_mac, flow.dst_mac));
    assert_eq!((row.vlan, row.vni), (101, 10101));
    assert_eq!(
        (row.encap, row.session),
        (Some(eastwest_core::flow::Encap::ErspanIII), 33)
    );
    assert_eq!((row.source_id, row.observer.as_str()), (7, "esx-07"));
    assert_eq!(
        (row.dataset.as_str(), row.verdict.as_str()),
        ("live", "unknown")
    );
}

#[test]
fn uptime_times_when_there_are_no_absolute_ones() {
    let fields: Vec<(u16, u16)> = FIELDS_V4
        .iter()
        .copied()
        .filter(|&(kind, _)| {
            kind != field::FLOW_START_MILLISECONDS && kind != field::FLOW_END_MILLISECONDS
        })
        .collect();
    let flow = v9::sample_flow(1, BOOT_MS + 20_000);
    let payload = v9::packet(
        1,
        0,
        UPTIME_MS,
        EXPORT_SECS,
        2,
        &[
            v9::template(300, &fields),
            v9::data(300, &[v9::record(&flow, &fields, BOOT_MS)]),
        ],
    );
    let mut rows = Vec::new();
    Decoder::new(&config(8)).decode(&datagram("192.0.2.1:1", payload), "live", &mut rows);
    // Export at BOOT + 60 s with uptime 60 s: FIRST_SWITCHED 20 s → BOOT + 20 s.
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].start_ms, rows[0].end_ms),
        (BOOT_MS + 20_000, BOOT_MS + 21_500)
    );
    assert_eq!(rows[0].observer, "", "no options record: enrich names it");
}

#[test]
fn templates_are_scoped_per_exporter() {
    // Both exporters call their template 256; B swaps the port fields.
    let a: Vec<(u16, u16)> = vec![(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)];
    let b: Vec<(u16, u16)> = vec![(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (1, 8), (2, 8)];
    let flow = v9::sample_flow(9, BOOT_MS);
    let mut decoder = Decoder::new(&config(8));
    let mut rows = Vec::new();
    for (exporter, fields) in [("192.0.2.1:9", &a), ("192.0.2.2:9", &b)] {
        let payload = v9::packet(
            1,
            0,
            UPTIME_MS,
            EXPORT_SECS,
            1,
            &[v9::template(256, fields)],
        );
        decoder.decode(&datagram(exporter, payload), "live", &mut rows);
    }
    for (exporter, fields) in [("192.0.2.2:9", &b), ("192.0.2.1:9", &a)] {
        let record = v9::record(&flow, fields, BOOT_MS);
        let payload = v9::packet(1, 1, UPTIME_MS, EXPORT_SECS, 1, &[v9::data(256, &[record])]);
        let report = decoder.decode(&datagram(exporter, payload), "live", &mut rows);
        assert_eq!(report.errors, [], "{exporter}");
    }
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
        assert_eq!((row.src_port, row.dst_port), (flow.src_port, flow.dst_port));
        assert_eq!((row.packets, row.bytes), (flow.packets, flow.bytes));
    }
}

#[test]
fn missing_template_and_sequence_gaps_are_reported() {
    let flow = v9::sample_flow(1, BOOT_MS);
    let data = v9::data(TEMPLATE_V4, &[v9::record(&flow, FIELDS_V4, BOOT_MS)]);
    let mut decoder = Decoder::new(&DecodeConfig {
        template_wait_ms: 0,
        ..config(8)
    });
    let mut rows = Vec::new();
    let report = decoder.decode(
        &datagram(
            "192.0.2.1:1",
            v9::packet(
                1,
                1010,
                UPTIME_MS,
                EXPORT_SECS,
                1,
                std::slice::from_ref(&data),
            ),
        ),
        "live",
        &mut rows,
    );
    assert_eq!(report.errors, [ErrorReason::MissingTemplate]);
    assert!(rows.is_empty());
    let template = v9::template(TEMPLATE_V4, FIELDS_V4);
    let next = |seq| {
        v9::packet(
            1,
            seq,
            UPTIME_MS,
            EXPORT_SECS,
            2,
            &[template.clone(), data.clone()],
        )
    };
    let dg = |seq| datagram("192.0.2.1:1", next(seq));
    assert_eq!(
        decoder.decode(&dg(1011), "live", &mut rows).sequence_gaps,
        0
    );
    // 1012, 1013 and 1014 missed.
    assert_eq!(
        decoder.decode(&dg(1015), "live", &mut rows).sequence_gaps,
        3
    );
    assert_eq!(
        decoder.decode(&dg(1016), "live", &mut rows).sequence_gaps,
        0
    );
    assert_eq!(rows.len(), 3);
    // 1013 after all: late, decoded, no new gap.
    let report = decoder.decode(&dg(1013), "live", &mut rows);
    assert_eq!((report.sequence_gaps, report.late, report.flows), (0, 1, 1));
    // 1016 again: a replayed datagram, counted and not decoded twice.
    let report = decoder.decode(&dg(1016), "live", &mut rows);
    assert_eq!(
        (report.errors.as_slice(), report.flows),
        (&[ErrorReason::Duplicate][..], 0)
    );
    assert_eq!(rows.len(), 4);
    // An exporter restart (counter back to 0, more than 64 packets
    // behind) is neither loss nor replay.
    let report = decoder.decode(&dg(0), "live", &mut rows);
    assert_eq!((report.sequence_gaps, report.late, report.flows), (0, 0, 1));
    let stats = &decoder.exporter_stats()[0];
    assert_eq!(
        (stats.packets, stats.flows, stats.sequence_gaps, stats.late),
        (6, 5, 3, 1)
    );
    // The first datagram (no template) and the duplicate.
    assert_eq!(stats.errors, 2);
}

#[test]
fn data_before_its_template_is_held_then_decoded() {
    let flow = v9::sample_flow(1, BOOT_MS);
    let data = v9::data(TEMPLATE_V4, &[v9::record(&flow, FIELDS_V4, BOOT_MS)]);
    let template = v9::template(TEMPLATE_V4, FIELDS_V4);
    let at = |seq: u32, ms: u64, flowsets: &[Vec<u8>]| Datagram {
        exporter: "192.0.2.1:1".parse().unwrap(),
        received_ms: ms,
        payload: v9::packet(1, seq, UPTIME_MS, EXPORT_SECS, 1, flowsets),
    };
    let mut decoder = Decoder::new(&DecodeConfig {
        template_wait_ms: 1000,
        ..config(8)
    });
    let mut rows = Vec::new();
    // Two data packets, then one with the template: all three decoded.
    let report = decoder.decode(&at(1, 0, &[data.clone(), data.clone()]), "live", &mut rows);
    assert_eq!((report.held, report.errors.len(), report.flows), (2, 0, 0));
    decoder.decode(&at(2, 100, std::slice::from_ref(&data)), "live", &mut rows);
    assert_eq!(decoder.held().0, 3);
    let report = decoder.decode(
        &at(3, 200, std::slice::from_ref(&template)),
        "live",
        &mut rows,
    );
    assert_eq!((report.flows, report.errors.len()), (3, 0));
    assert_eq!(decoder.held(), (0, 0));
    assert!(rows
        .iter()
        .all(|r| r.packets == flow.packets && r.bytes == flow.bytes));
    let stats = &decoder.exporter_stats()[0];
    assert_eq!((stats.packets, stats.flows, stats.errors), (3, 3, 0));

    // Another exporter's template 256 does not release this one's data.
    let mut decoder = Decoder::new(&DecodeConfig {
        template_wait_ms: 1000,
        ..config(8)
    });
    rows.clear();
    decoder.decode(&at(1, 0, std::slice::from_ref(&data)), "live", &mut rows);
    let other = Datagram {
        exporter: "192.0.2.2:1".parse().unwrap(),
        ..at(1, 10, std::slice::from_ref(&template))
    };
    decoder.decode(&other, "live", &mut rows);
    assert_eq!((rows.len(), decoder.held().0), (0, 1));
    // Past the wait it is counted as missing its template.
    let report = decoder.decode(&at(2, 1000, &[]), "live", &mut rows);
    assert!(
        report.errors.contains(&ErrorReason::MissingTemplate),
        "{report:?}"
    );
    assert_eq!(decoder.held(), (0, 0));

    // The memory bound drops the oldest held flowset first.
    let one = at(1, 0, std::slice::from_ref(&data)).payload.len();
    let mut decoder = Decoder::new(&DecodeConfig {
        template_wait_ms: 1000,
        template_wait_bytes: one * 2,
        ..config(8)
    });
    let mut errors = Vec::new();
    for seq in 1..=3 {
        errors.extend(
            decoder
                .decode(&at(seq, 0, std::slice::from_ref(&data)), "live", &mut rows)
                .errors,
        );
    }
    assert_eq!(errors, [ErrorReason::MissingTemplate]);
    assert_eq!(decoder.held(), (2, one * 2));
}

#[test]
fn the_fast_path_reads_records_as_netflow_parser_does() {
    // Two layouts: the exporter's own, and one with uptime times, a
    // 3-byte counter and padding after the records.
    let odd: Vec<(u16, u16)> = vec![
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 3),
        (2, 4),
        (22, 4),
        (21, 4),
    ];
    for fields in [FIELDS_V4, odd.as_slice()] {
        let records: Vec<Vec<u8>> = (0..5)
            .map(|i| v9::record(&v9::sample_flow(i, BOOT_MS + 5_000), fields, BOOT_MS))
            .collect();
        let data = v9::data(300, &records);
        let template = v9::template(300, fields);
        // Slow: template and data in one packet, all through netflow_parser.
        let mut slow = Vec::new();
        let payload = v9::packet(
            1,
            0,
            UPTIME_MS,
            EXPORT_SECS,
            6,
            &[template.clone(), data.clone()],
        );
        Decoder::new(&config(8)).decode(&datagram("192.0.2.1:1", payload), "live", &mut slow);
        // Fast: template first, then a data-only packet.
        let mut decoder = Decoder::new(&config(8));
        let mut fast = Vec::new();
        let payload = v9::packet(1, 0, UPTIME_MS, EXPORT_SECS, 1, &[template]);
        decoder.decode(&datagram("192.0.2.1:1", payload), "live", &mut fast);
        assert!(decoder.domains.values().all(|d| d.plans.contains_key(&300)));
        let payload = v9::packet(1, 1, UPTIME_MS, EXPORT_SECS, 5, &[data]);
        let report = decoder.decode(&datagram("192.0.2.1:1", payload), "live", &mut fast);
        assert_eq!((report.flows, report.errors.len()), (5, 0));
        assert_eq!(slow.len(), 5);
        assert_eq!(fast, slow);
    }
}

#[test]
fn a_template_flood_is_bounded_per_scope_and_counted() {
    let cap = 16;
    let mut decoder = Decoder::new(&DecodeConfig {
        max_templates: cap,
        ..config(8)
    });
    let mut rows = Vec::new();
    // 1,000 packets of 10 new templates each: 10,000 template ids.
    let mut evicted = 0;
    for n in 0..1000u16 {
        let templates: Vec<Vec<u8>> = (0..10)
            .map(|i| v9::template(256 + n * 10 + i, FIELDS_V4))
            .collect();
        let payload = v9::packet(1, u32::from(n), UPTIME_MS, EXPORT_SECS, 10, &templates);
        let report = decoder.decode(&datagram("192.0.2.9:9", payload), "live", &mut rows);
        evicted += report.templates_evicted;
    }
    assert_eq!(evicted, 10_000 - cap as u64);
    assert!(decoder.domains.values().all(|d| d.plans.len() <= cap));
    let kept: usize = decoder
        .parser
        .v9_info()
        .iter()
        .map(|(_, i)| i.v9.current_size)
        .sum();
    assert!(kept <= cap, "the parser keeps {kept} templates");
    // The latest template still decodes, through either path.
    let last = 256 + 9999;
    let records = vec![v9::record(
        &v9::sample_flow(1, BOOT_MS + 5_000),
        FIELDS_V4,
        BOOT_MS,
    )];
    let payload = v9::packet(
        1,
        1000,
        UPTIME_MS,
        EXPORT_SECS,
        1,
        &[v9::data(last, &records)],
    );
    let report = decoder.decode(&datagram("192.0.2.9:9", payload), "live", &mut rows);
    assert_eq!((report.flows, report.errors.len()), (1, 0));
}

#[test]
fn a_redefined_template_replaces_the_old_one() {
    let flow = v9::sample_flow(5, BOOT_MS);
    let old: Vec<(u16, u16)> = vec![(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)];
    let new: Vec<(u16, u16)> = vec![(12, 4), (8, 4), (4, 1), (1, 8), (2, 8), (11, 2), (7, 2)];
    let mut decoder = Decoder::new(&config(8));
    let mut rows = Vec::new();
    for (seq, fields) in [(1, &old), (2, &new)] {
        let payload = v9::packet(
            1,
            seq,
            UPTIME_MS,
            EXPORT_SECS,
            2,
            &[
                v9::template(256, fields),
                v9::data(256, &[v9::record(&flow, fields, BOOT_MS)]),
            ],
        );
        let report = decoder.decode(&datagram("192.0.2.1:9", payload), "live", &mut rows);
        assert_eq!(report.errors, []);
    }
    // Data alone after the redefinition uses the new layout.
    let payload = v9::packet(
        1,
        3,
        UPTIME_MS,
        EXPORT_SECS,
        1,
        &[v9::data(256, &[v9::record(&flow, &new, BOOT_MS)])],
    );
    decoder.decode(&datagram("192.0.2.1:9", payload), "live", &mut rows);
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(addr_from_bytes(row.src_addr), IpAddr::V4(flow.src));
        assert_eq!(addr_from_bytes(row.dst_addr), IpAddr::V4(flow.dst));
        assert_eq!((row.src_port, row.dst_port), (flow.src_port, flow.dst_port));
        assert_eq!((row.packets, row.bytes), (flow.packets, flow.bytes));
    }
    assert_eq!(decoder.exporter_stats()[0].templates, 1);
}

#[test]
fn dataset_from_options_and_exporter_stats() {
    let flow = v9::sample_flow(2, BOOT_MS);
    let replay = |seq: u32, dataset: &str| {
        v9::packet(
            7,
            seq,
            UPTIME_MS,
            EXPORT_SECS,
            4,
            &[
                v9::options_template(TEMPLATE_OPTIONS, OPTION_SCOPES, OPTION_FIELDS),
                v9::data(
                    TEMPLATE_OPTIONS,
                    &[v9::evidence_record(
                        7,
                        "esx-07",
                        dataset,
                        "http://192.0.2.9:9181",
                    )],
                ),
                v9::template(TEMPLATE_V4, FIELDS_V4),
                v9::data(
                    TEMPLATE_V4,
                    &[
                        v9::record(&flow, FIELDS_V4, BOOT_MS),
                        v9::record(&flow, FIELDS_V4, BOOT_MS),
                    ],
                ),
            ],
        )
    };
    let mut decoder = Decoder::new(&config(8));
    let mut rows = Vec::new();
    decoder.decode(
        &datagram("192.0.2.9:5000", replay(0, "incident-42")),
        "live",
        &mut rows,
    );
    // A live exporter without a dataset field, template 256 as well.
    decoder.decode(
        &datagram("192.0.2.10:5000", eastwest_packet(&flow)),
        "live",
        &mut rows,
    );
    // Sequence 1 then 5: one gap.
    decoder.decode(
        &datagram("192.0.2.9:5000", replay(1, "incident-42")),
        "live",
        &mut rows,
    );
    decoder.decode(
        &datagram("192.0.2.9:5000", replay(5, "incident-42")),
        "live",
        &mut rows,
    );
    let datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    assert_eq!(
        datasets,
        [
            "incident-42",
            "incident-42",
            "live",
            "incident-42",
            "incident-42",
            "incident-42",
            "incident-42"
        ]
    );
    let stats = decoder.exporter_stats();
    assert_eq!(stats.len(), 2, "{stats:?}");
    let (replayer, live) = (&stats[0], &stats[1]);
    assert_eq!(replayer.exporter, "192.0.2.9".parse::<IpAddr>().unwrap());
    assert_eq!(
        (replayer.port, replayer.source_id, replayer.version),
        (5000, 7, 9)
    );
    assert_eq!(
        (replayer.name.as_str(), replayer.dataset.as_str()),
        ("esx-07", "incident-42")
    );
    assert_eq!(replayer.evidence_url, "http://192.0.2.9:9181");
    assert_eq!(
        (replayer.packets, replayer.flows, replayer.sequence_gaps),
        (3, 6, 3)
    );
    assert_eq!((replayer.templates, replayer.errors), (2, 0));
    assert_eq!(
        (replayer.first_seen_ms, replayer.last_seen_ms),
        (1_700_000_061_234, 1_700_000_061_234)
    );
    assert_eq!(live.exporter, "192.0.2.10".parse::<IpAddr>().unwrap());
    assert_eq!((live.name.as_str(), live.dataset.as_str()), ("esx-07", ""));
    assert_eq!(live.evidence_url, "", "its options record announces none");
    assert_eq!((live.packets, live.flows, live.templates), (1, 1, 2));
    // An empty dataset name turns the exporter back to live.
    rows.clear();
    decoder.decode(
        &datagram("192.0.2.9:5000", replay(6, "")),
        "live",
        &mut rows,
    );
    assert!(rows.iter().all(|r| r.dataset == "live"), "{rows:?}");
    assert_eq!(decoder.exporter_stats()[0].dataset, "");
}

/// xorshift64: deterministic "random" bytes.
fn noise(state: &mut u64) -> u8 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 24) as u8
}

#[test]
fn garbage_truncation_and_corruption_never_panic() {
    let flow = v9::sample_flow(3, BOOT_MS);
    let good = eastwest_packet(&flow);
    let mut decoder = Decoder::new(&config(4));
    let mut rows = Vec::new();
    let mut errors = 0;
    for len in 0..good.len() {
        let report = decoder.decode(
            &datagram("192.0.2.1:1", good[..len].to_vec()),
            "live",
            &mut rows,
        );
        errors += report.errors.len();
    }
    assert!(errors > 0, "truncated packets must be reported");
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20_000u32 {
        let mut payload = if round % 2 == 0 {
            let len = usize::from(noise(&mut state)) * 4;
            let mut bytes: Vec<u8> = (0..len).map(|_| noise(&mut state)).collect();
            // Valid versions, so the parser goes past the first check.
            if bytes.len() >= 2 {
                bytes[0] = 0;
                bytes[1] = [5, 9, 10][usize::from(noise(&mut state)) % 3];
            }
            bytes
        } else {
            good.clone()
        };
        if round % 2 == 1 {
            for _ in 0..1 + noise(&mut state) % 8 {
                let at = usize::from(noise(&mut state)) % payload.len();
                payload[at] = noise(&mut state);
            }
        }
        // A few exporters, so corrupted templates land in several scopes.
        let exporter = format!("192.0.2.{}:9", round % 5);
        decoder.decode(&datagram(&exporter, payload), "live", &mut rows);
        rows.clear();
    }
    let mut fresh = Vec::new();
    let report =
        Decoder::new(&config(4)).decode(&datagram("192.0.2.200:1", good), "live", &mut fresh);
    assert_eq!((report.flows, report.errors.len()), (1, 0));
}

//! The statements' text: placeholders, bounds, parts.

use super::conversations::*;
use crate::query::{Filters, Params, Sort, TimeWindow};

use super::flows::*;
use super::inventory::*;
use super::matrix::*;
use super::report::*;
use super::resolution::*;
use super::seen::*;
use super::series::*;
use super::statement::*;
use super::violations::*;
use crate::query::Format;
use eastwest_core::policy::VerdictKind;

fn tables() -> Tables {
    Tables {
        flows: "`db`.`flows`".into(),
        flows_1m: "`db`.`flows_1m`".into(),
        flows_10m: "`db`.`flows_10m`".into(),
        flows_1h: "`db`.`flows_1h`".into(),
        flows_1d: "`db`.`flows_1d`".into(),
        exporters: "`db`.`exporters`".into(),
        datasets: "`db`.`datasets`".into(),
        observed_1m: "`db`.`observed_1m`".into(),
        flow_exporters: "`db`.`flow_exporters`".into(),
        conversations_seen: "`db`.`conversations_seen`".into(),
        series_buckets: "`db`.`series_buckets`".into(),
        conversations_1h: "`db`.`conversations_1h`".into(),
        placements_1h: "`db`.`placements_1h`".into(),
        placements_1d: "`db`.`placements_1d`".into(),
    }
}

fn params() -> Params {
    Params {
        window: Some(TimeWindow {
            from_ms: 1_793_577_600_000,
            to_ms: 1_793_664_000_000,
        }),
        filters: Filters {
            dataset: Some("lab".into()),
            vm: Some("x' OR 1=1 --".into()),
            verdict: Some(VerdictKind::Violation),
            same_host: Some(true),
            port: Some(443),
            ..Filters::default()
        },
        limit: 10,
        offset: 0,
        sort: Sort::default(),
        format: Format::Json,
    }
}

fn check(sql: &Sql) {
    assert_eq!(
        sql.text.matches('?').count(),
        sql.args.len(),
        "{}",
        sql.text
    );
    assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
}

#[test]
fn placeholders_match_arguments_and_values_stay_out() {
    let t = tables();
    let p = params();
    for resolution in [
        Resolution::Raw,
        Resolution::Minute,
        Resolution::TenMinutes,
        Resolution::Hour,
        Resolution::Day,
    ] {
        let page = conversation_page(&t, resolution, &p, &[1, 2, 3]);
        check(&page);
        if let Some(lookup) = seen_lookup(&t, p.window, Some("a'b"), &[1, 2, 3]) {
            check(&lookup);
        }
        assert!(page.args.contains(&Arg::Text("x' OR 1=1 --".into())));
        check(&conversation_totals(&t, resolution, &p));
        check(&conversation_keys_and_totals(&t, resolution, &p));
        check(&conversations_in_one(&t, resolution, &p));
        check(&matrix(&t, resolution, &p));
        check(&timeseries(
            &t,
            resolution,
            p.window.unwrap(),
            &p.filters,
            3_600_000,
        ));
        let hour = TimeWindow {
            from_ms: 0,
            to_ms: 3_600_000,
        };
        check(&bucket_counts(&t, Some(hour), Some("a'b"), 300_000));
        check(&bucket_counts(&t, None, None, 300_000));
        check(&sealed_buckets(&t, hour, Some("a'b"), 300_000));
        check(&sealed_buckets(&t, hour, None, 3_600_000));
        check(&hosts(&t, resolution, &p));
        check(&host_vms(&t, resolution, &p, Some("esx-01")));
        check(&vm_placements(&t, resolution, &p, "a'b"));
    }
    for resolution in [Resolution::Raw, Resolution::Hour] {
        check(&violations(&t, &p, resolution));
        check(&violation_count(&t, &p, resolution));
    }
    check(&stored_end(&t, Some("a'b")));
    check(&ended_by(&t, 1_000, 3_600_000, Some("a'b")));
    let slice = TimeWindow {
        from_ms: 3_600_000,
        to_ms: 7_200_000,
    };
    check(&newest_in(&t, &p, slice, 1001));
    let parts = [(Resolution::Hour, slice), (Resolution::Raw, slice)];
    check(&violations_of(&t, &p, &parts, &[1, 2]));
    let (page, total) = flows(&t, &p);
    check(&page);
    check(&total);
    // The raw listing bounds the sort key's `start`, not only `start_ms`.
    assert!(
        total
            .text
            .contains("start >= toDateTime(?) AND start <= toDateTime(?)"),
        "{}",
        total.text
    );
    assert!(total.args.contains(&Arg::U32(1_793_663_999)));
    check(&exporters(&t));
    check(&report_points(&t, &p));
    for resolution in [
        Resolution::Raw,
        Resolution::Minute,
        Resolution::TenMinutes,
        Resolution::Hour,
        Resolution::Day,
    ] {
        check(&report_violations(&t, resolution, &p));
        check(&report_intra_host(&t, resolution, &p));
        check(&report_vm_hosts(&t, resolution, &p));
    }
    check(&report_exporter_losses(&t, &p));
    // The dates of the window: 2026-11-02 and the day before 2026-11-03,
    // in the page's rows and in the lookup of their first and last seen.
    let page = conversations_in_one(&t, Resolution::Raw, &p);
    assert_eq!(
        page.args.iter().filter(|a| **a == Arg::U16(20_759)).count(),
        4
    );
    assert!(page.text.contains("ANY LEFT JOIN"), "{}", page.text);
}

#[test]
fn the_coarsest_table_that_answers() {
    let w = |from_ms, to_ms| TimeWindow { from_ms, to_ms };
    let (d, h, m) = (86_400_000, 3_600_000, 60_000);
    assert_eq!(Resolution::for_step(0), Resolution::Hour);
    assert_eq!(Resolution::for_step(60_000), Resolution::Minute);
    assert_eq!(Resolution::for_step(300_000), Resolution::Minute);
    assert_eq!(Resolution::for_step(1_800_000), Resolution::TenMinutes);
    assert_eq!(Resolution::for_step(7_200_000), Resolution::Hour);
    assert_eq!(Resolution::for_step(3 * d), Resolution::Day);
    assert_eq!(Resolution::for_step(1_000), Resolution::Raw);
    assert_eq!(Resolution::for_window(None), Resolution::Hour);
    assert_eq!(Resolution::for_window(Some(w(5, 5 + d))), Resolution::Hour);
    assert_eq!(
        Resolution::for_window(Some(w(5, 5 + 7 * d))),
        Resolution::Day
    );
    use Resolution::{Day, Hour, Minute, Raw, TenMinutes};
    assert_eq!(split(w(h, 25 * h), Hour), vec![(Hour, w(h, 25 * h))]);
    // A 24-hour view ending at a minute: edges from flows_10m and
    // flows_1m.
    assert_eq!(
        split(w(h + 5 * m, 25 * h + 5 * m), Hour),
        vec![
            (Minute, w(h + 5 * m, h + 10 * m)),
            (TenMinutes, w(h + 10 * m, 2 * h)),
            (Hour, w(2 * h, 25 * h)),
            (Minute, w(25 * h, 25 * h + 5 * m)),
        ]
    );
    // Unaligned: raw milliseconds at both ends.
    assert_eq!(
        split(w(h + 1, 4 * h - 1), Hour),
        vec![
            (Raw, w(h + 1, h + m)),
            (Minute, w(h + m, h + 10 * m)),
            (TenMinutes, w(h + 10 * m, 2 * h)),
            (Hour, w(2 * h, 3 * h)),
            (TenMinutes, w(3 * h, 3 * h + 50 * m)),
            (Minute, w(3 * h + 50 * m, 4 * h - m)),
            (Raw, w(4 * h - m, 4 * h - 1)),
        ]
    );
    // Too short for a whole hour: ten minutes, minutes and raw only.
    assert_eq!(
        split(w(h + 30 * m, h + 40 * m + 1), Hour),
        vec![
            (TenMinutes, w(h + 30 * m, h + 40 * m)),
            (Raw, w(h + 40 * m, h + 40 * m + 1))
        ]
    );
    assert_eq!(split(w(h + 1, h + 2), Hour), vec![(Raw, w(h + 1, h + 2))]);
    // A week ending at a minute: whole days, hours around them.
    assert_eq!(
        split(w(d + 3 * h, 8 * d + 3 * h + 10 * m), Day),
        vec![
            (Hour, w(d + 3 * h, 2 * d)),
            (Day, w(2 * d, 8 * d)),
            (Hour, w(8 * d, 8 * d + 3 * h)),
            (TenMinutes, w(8 * d + 3 * h, 8 * d + 3 * h + 10 * m)),
        ]
    );
    // The parts tile the window.
    for (from, to) in [
        (1, 10 * h + 7),
        (h, h + 1),
        (59_999, 3 * h + 60_001),
        (7, 9 * d + 5 * h + 3),
    ] {
        let parts = split(w(from, to), Day);
        assert_eq!(parts.first().map(|p| p.1.from_ms), Some(from));
        assert_eq!(parts.last().map(|p| p.1.to_ms), Some(to));
        for pair in parts.windows(2) {
            assert_eq!(pair[0].1.to_ms, pair[1].1.from_ms);
        }
    }
    assert_eq!(Hour.used_for(Some(w(h + 1, 4 * h - 1))), Hour);
    assert_eq!(Hour.used_for(Some(w(h + 1, 3 * h - 1))), TenMinutes);
    assert_eq!(Day.used_for(Some(w(d + 3 * h, 8 * d))), Day);
    assert_eq!(Hour.used_for(Some(w(h + m, h + 3 * m))), Minute);
    assert_eq!(Hour.used_for(Some(w(h + 1, h + 2))), Raw);
    assert_eq!(Minute.used_for(None), Minute);
}

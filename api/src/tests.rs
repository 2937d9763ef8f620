use super::*;

#[test]
fn csv_quotes_what_needs_quoting() {
    let cell = MatrixCell {
        client_zone: "a,b".into(),
        server_zone: "z\"q\nx".into(),
        conversations: 1,
        flows: 2,
        packets: 3,
        bytes: 4,
        violations: 0,
        violation_bytes: 0,
    };
    let csv = to_csv(&[cell]);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "client_zone,server_zone,conversations,flows,packets,bytes,violations,violation_bytes"
    );
    assert_eq!(lines[1], "\"a,b\",\"z\"\"q\nx\",1,2,3,4,0,0");
}

fn conversation() -> Conversation {
    Conversation {
        client_vm: String::new(),
        client_addr: Some("10.0.0.7".into()),
        client_zone: "unzoned".into(),
        client_host: String::new(),
        server_vm: "db-01".into(),
        server_addr: None,
        server_zone: "db".into(),
        server_host: "esx-02".into(),
        proto: 6,
        server_port: 5432,
        verdict: VerdictKind::Violation,
        rule: "web may not reach db".into(),
        severity: Some(Severity::High),
        same_host: false,
        observers: vec!["esx-01".into(), "esx-02".into()],
        flows: 2,
        packets_fwd: 1,
        bytes_fwd: 2,
        packets_rev: 3,
        bytes_rev: 4,
        packets: 4,
        bytes: 6,
        start_ms: 5,
        end_ms: 6,
    }
}

#[test]
fn a_conversation_is_the_json_and_csv_of_before() {
    let c = conversation();
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        "{\"client_vm\":\"\",\"client_addr\":\"10.0.0.7\",\"client_zone\":\"unzoned\",\
         \"client_host\":\"\",\"server_vm\":\"db-01\",\"server_addr\":null,\
         \"server_zone\":\"db\",\"server_host\":\"esx-02\",\"proto\":6,\"server_port\":5432,\
         \"verdict\":\"violation\",\"rule\":\"web may not reach db\",\"severity\":\"high\",\
         \"same_host\":false,\"observers\":[\"esx-01\",\"esx-02\"],\"flows\":2,\
         \"packets_fwd\":1,\"bytes_fwd\":2,\"packets_rev\":3,\"bytes_rev\":4,\"packets\":4,\
         \"bytes\":6,\"start_ms\":5,\"end_ms\":6}"
    );
    assert_eq!(
        to_csv(std::slice::from_ref(&c)),
        "client_vm,client_addr,client_zone,client_host,server_vm,server_addr,server_zone,\
         server_host,proto,server_port,verdict,rule,severity,same_host,observers,flows,\
         packets_fwd,bytes_fwd,packets_rev,bytes_rev,packets,bytes,start_ms,end_ms\r\n\
         ,10.0.0.7,unzoned,,db-01,,db,esx-02,6,5432,violation,web may not reach db,high,0,\
         esx-01 esx-02,2,1,2,3,4,4,6,5,6\r\n"
    );
    let back: Conversation = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    // Allowed: no severity is "".
    let allowed = Conversation {
        verdict: VerdictKind::Allowed,
        severity: None,
        ..c
    };
    let json = serde_json::to_value(&allowed).unwrap();
    assert_eq!(json["verdict"], "allowed");
    assert_eq!(json["severity"], "");
}

#[test]
fn unknown_words_do_not_decode() {
    let mut json = serde_json::to_value(conversation()).unwrap();
    json["severity"] = "urgent".into();
    let err = serde_json::from_value::<Conversation>(json).unwrap_err();
    assert!(err.to_string().contains("urgent"), "{err}");
}

#[test]
fn a_violation_lists_its_observation_points_in_csv() {
    let v = Violation {
        severity: Some(Severity::Critical),
        observation_points: vec![
            ObservationPoint {
                observer: "esx-01".into(),
                encap: Some(Encap::ErspanII),
                flows: 1,
                bytes: 2,
            },
            ObservationPoint {
                observer: "esx-02".into(),
                encap: None,
                flows: 1,
                bytes: 2,
            },
        ],
        ..Violation::default()
    };
    let fields = v.fields();
    assert_eq!(fields.len(), Violation::COLUMNS.len());
    assert_eq!(fields[9], "critical");
    assert_eq!(fields[17], "esx-01/erspan2 esx-02/");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["observation_points"][0]["encap"], "erspan2");
    assert_eq!(json["observation_points"][1]["encap"], "");
}

#[test]
fn every_csv_row_has_its_header_width() {
    assert_eq!(conversation().fields().len(), Conversation::COLUMNS.len());
    assert_eq!(Point::default().fields().len(), Point::COLUMNS.len());
    assert_eq!(
        FlowRecord::default().fields().len(),
        FlowRecord::COLUMNS.len()
    );
    assert_eq!(
        HostSummary::default().fields().len(),
        HostSummary::COLUMNS.len()
    );
    assert_eq!(
        ExporterStatus::default().fields().len(),
        ExporterStatus::COLUMNS.len()
    );
    assert_eq!(Dataset::default().fields().len(), Dataset::COLUMNS.len());
}

#[test]
fn older_one_direction_rows_decode() {
    let c: Conversation = serde_json::from_str(
        r#"{"src_vm":"web-01","dst_vm":"db-01","dst_port":5432,"proto":6,"verdict":"allowed"}"#,
    )
    .unwrap();
    assert_eq!(
        (c.client_vm.as_str(), c.server_vm.as_str(), c.server_port),
        ("web-01", "db-01", 5432)
    );
    assert_eq!(c.severity, None);
}
